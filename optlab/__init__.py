"""optlab: optimization research in Python."""
from .api import minimize
from .hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["hookimpl", "minimize", "__version__"]
