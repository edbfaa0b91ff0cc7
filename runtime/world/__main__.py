"""python -m runtime.world --out demo.mp4: write the demo stream and its ground truth."""

import sys

from runtime.world.stream import main

if __name__ == "__main__":  # importing the package's __main__ (the import checks do) must not run it
    sys.exit(main())
