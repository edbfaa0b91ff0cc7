"""One small adapter per model family: how to load it, what its input is, and how it preprocesses.

Importing this package registers every family (export/models/registry.py), in the order below:
the order `--family` lists them in.
"""

from export.models import videomae  # noqa: F401,I001  (each family registers itself; this order is --family's)
from export.models import xclip  # noqa: F401
from export.models import clip_meanpool  # noqa: F401
from export.models import videotext_motion  # noqa: F401
