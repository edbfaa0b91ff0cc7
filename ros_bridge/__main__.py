import sys

from ros_bridge.cli import main

sys.exit(main())
