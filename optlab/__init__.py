"""optlab: optimization research in Python."""
__version__ = "0.1.0"
