"""optlab: optimization research in Python.

`import optlab` stays light: `minimize`, `hookimpl` (pluggy) and the subpackages (`optlab.autodiff`,
`optlab.problems`, `optlab.optim`, ...) are imported on first use, so the command line and plugins start fast.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import autodiff, experiment, optim, problems, registry
    from .api import minimize
    from .hookspecs import hookimpl

__version__ = "0.1.0"
SUBMODULES = ("autodiff", "experiment", "optim", "problems", "registry")
__all__ = ["__version__", "autodiff", "experiment", "hookimpl", "minimize", "optim", "problems", "registry"]


def __getattr__(name: str) -> Any:
    """Import `minimize`, `hookimpl` and the subpackages when first asked for (PEP 562)."""
    if name == "minimize":
        from .api import minimize

        return minimize
    if name == "hookimpl":
        from .hookspecs import hookimpl

        return hookimpl
    if name in SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'optlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
