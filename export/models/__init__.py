"""One small adapter per model family: how to load it, what its input is, and how it preprocesses."""
