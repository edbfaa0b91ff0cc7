"""python -m runtime.triton_repo: the tubelet-triton command line."""

import sys

from runtime.triton_repo.cli import main

if __name__ == "__main__":
    sys.exit(main())
