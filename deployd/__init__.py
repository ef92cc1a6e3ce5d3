"""deployd: a self-hosted deployment platform for one Linux server."""

__version__ = "0.1.0"
