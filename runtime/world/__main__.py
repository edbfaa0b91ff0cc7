"""python -m runtime.world --out demo.mp4: write the demo stream and its ground truth."""

import sys

from runtime.world.stream import main

sys.exit(main())
