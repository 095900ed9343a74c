"""coolpapers: a self-hosted papers.cool."""

__version__ = "0.1.0"
