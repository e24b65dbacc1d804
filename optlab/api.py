"""`optlab.minimize`: scipy.optimize.minimize's signature and semantics, run by optlab's methods.

`fun` is either written with `optlab.autodiff.functions` (derivatives not given come by autodiff) or
plain numpy with the derivatives a method needs (`jac`, `hess`/`hessp`). The run goes through the
same counting oracle and convergence test as an experiment (`optlab.optim.run`); unlike an
experiment, an exception raised by `fun` (or by the method) propagates, as in scipy.
"""
from __future__ import annotations

import difflib
import inspect
import warnings
from typing import Any, Callable

import numpy as np
import pydantic
from scipy.optimize import OptimizeResult

from .autodiff import Variable
from .autodiff import functions as F
from .optim.base import Stalled
from .optim.loop import run
from .optim.malloc import keep_freed_memory
from .optim.oracle import BudgetExhausted
from .optim.problem import Problem
from .optim.stopping import Budget, Stopping
from .registry import PluginError, registry

# scipy's method names (lower case) -> the optlab optimizer that runs them
SCIPY_METHODS = {
    "bfgs": "scipy.bfgs",             # no dense BFGS of our own: scipy's, through our oracle and test
    "l-bfgs-b": "lbfgs",              # ours, unbounded
    "cg": "scipy.cg",
    "newton-cg": "newton-cg",         # ours: line-search truncated Newton on HVPs
    "trust-ncg": "trust-ncg",         # ours: Steihaug-Toint CG in a trust region
    "trust-krylov": "scipy.trust-krylov",
    "trust-exact": "scipy.trust-exact",
}
NO_COUNTERPART = ("nelder-mead", "powell", "cobyla", "cobyqa", "slsqp", "tnc", "trust-constr", "dogleg")
DEFAULT_METHOD = "lbfgs"  # scipy's default is BFGS; ours is its limited-memory form, in optlab itself
# scipy's option names for a method's parameter -> the name of the same parameter in our optimizer
OPTION_ALIASES = {"lbfgs": {"maxcor": "memory"},
                  "trust-ncg": {"initial_trust_radius": "radius", "max_trust_radius": "max_radius"}}
BUDGET_OPTIONS = {"maxiter": "iterations", "maxfun": "oracle_calls", "maxfev": "oracle_calls",
                  "seconds": "seconds"}
# scipy's gtol bounds the final gradient, as the default (scaled gradient) test's sgtol does; our `gtol` is
# the relative test's (||g|| <= gtol ||g0||), which a start with a huge gradient fools
STOPPING_OPTIONS = {"gtol": "sgtol"}
CALLBACK_STATUS, CALLBACK_MESSAGE = 99, "`callback` raised `StopIteration`."  # scipy's own


class MinimizeResult(OptimizeResult):
    """scipy's OptimizeResult; its repr leaves out the per-iteration trace and the counts dict."""

    def __repr__(self) -> str:
        return repr(OptimizeResult({k: v for k, v in self.items() if k not in ("trace", "counts")}))


class _CallbackStop(Exception):
    """The user's callback raised StopIteration: unwinds the method (scipy's own would swallow a StopIteration)."""


class _Watch:
    """What the run saw: the last iterate (for the callback) and the first exception from fun or the method."""

    def __init__(self) -> None:
        self.x: np.ndarray | None = None
        self.g: np.ndarray | None = None
        self.error: BaseException | None = None
        self.stopped = False

    def keep(self, e: BaseException) -> None:
        if self.error is None and not isinstance(e, (BudgetExhausted, Stalled, _CallbackStop)):
            self.error = e


def minimize(fun: Callable[..., Any], x0: Any, args: Any = (), method: str | None = None,
             jac: Callable[..., Any] | bool | None = None, hess: Callable[..., Any] | None = None,
             hessp: Callable[..., Any] | None = None, bounds: Any = None, tol: float | None = None,
             callback: Callable[..., Any] | None = None, options: dict[str, Any] | None = None, *,
             budget: Budget | dict[str, Any] | None = None, stopping: Stopping | dict[str, Any] | None = None,
             f_star: float | None = None, seed: int = 0, mallopt: bool = True) -> MinimizeResult:
    """Minimize fun(x, *args) from x0, as scipy.optimize.minimize does, with optlab's methods.

    `method`: a scipy name (case-insensitive, see SCIPY_METHODS) or any registered optimizer;
    `tol` (and options gtol) is the tolerance of the default scaled gradient test (`stopping.sgtol`),
    taken at the final point as scipy's gtol is; `options` holds maxiter,
    maxfun/maxfev, gtol, seconds, disp, and the optimizer's own parameters. Keyword-only extras:
    `budget`, `stopping` (optlab's models or dicts), `f_star` (known minimum), `seed`, and `mallopt`:
    by default glibc's mmap and trim thresholds are raised for this process (optlab.optim.malloc), so that
    large arrays reuse freed memory rather than fault in fresh pages; `mallopt=False` (or the environment
    variable OPTLAB_MALLOPT=0) leaves the allocator alone.
    Returns scipy's fields (x in x0's shape, fun, jac, nit, nfev, njev, nhev, status, success,
    message) plus `status_name`, `counts` and the per-iteration `trace`.
    """
    if not isinstance(args, tuple):
        if isinstance(args, str) and method is None and _known_method(args):
            raise TypeError(f"args={args!r} looks like a method name: pass method={args!r} "
                            "(the third positional argument is args, as in scipy)")
        args = (args,)
    name = resolve_method(method)
    _refuse_unsupported(method or f"{name} (the default)", bounds, jac, hess, hessp)
    options = dict(options or {})
    disp = bool(options.pop("disp", False))
    budget_model = _model(Budget, "budget", budget, _take(options, BUDGET_OPTIONS))
    stopping_given = {"sgtol": tol} if tol is not None else {}
    stopping_model = _model(Stopping, "stopping", stopping, {**stopping_given, **_take(options, STOPPING_OPTIONS)})
    aliases = OPTION_ALIASES.get(name, {})
    params = {aliases.get(k, k): v for k, v in options.items()}
    optimizer = registry().get("optimizers", name)(**params)
    if (hess is not None or hessp is not None) and getattr(optimizer, "order", 2) < 2:
        warnings.warn(f"method {method or name!r} does not use Hessian information (hess/hessp)",
                      RuntimeWarning, stacklevel=2)  # scipy's warning

    if mallopt:
        keep_freed_memory()
    x0 = np.asarray(x0)
    shape = x0.shape
    watch = _Watch()
    problem = Problem(name=getattr(fun, "__name__", "fun"), x0=x0.reshape(-1), f_star=f_star,
                      **_derivatives(fun, args, jac, hess, hessp, shape, watch))
    watched = (_WatchedBlackBox if hasattr(optimizer, "minimize") else _Watched)(optimizer, watch)
    on_iterate = None if callback is None else _callback(callback, watch, shape)
    result = run(watched, problem, budget_model, stopping_model, seed=seed, callback=on_iterate)
    if watch.error is not None:
        raise watch.error
    if watch.stopped:
        result.update(status=CALLBACK_STATUS, success=False, message=CALLBACK_MESSAGE, status_name="callback")
    result.x = np.asarray(result.x).reshape(shape)
    if result.jac is not None:
        result.jac = np.asarray(result.jac).reshape(shape)
    if disp:
        print(result.message)
    return MinimizeResult(result)


def _refuse_unsupported(method: str, bounds: Any, jac: Any, hess: Any, hessp: Any) -> None:
    """One ValueError line for what scipy accepts and optlab cannot do: bounds, finite differences."""
    if bounds is not None:
        raise ValueError(f"method {method!r} does not support bounds: optlab's methods are unconstrained "
                         "(use scipy.optimize.minimize with method='L-BFGS-B' for bounds)")
    for label, given in (("hess", hess), ("hessp", hessp)):
        if given is not None and not callable(given):
            raise ValueError(f"{label}={given!r}: give a function (finite differences and quasi-Newton "
                             f"updates are not supported), or leave it None for autodiff")
    if jac is not None and not callable(jac) and not isinstance(jac, bool):
        raise ValueError(f"jac={jac!r}: give a function, True (fun returns (f, g)), or None for autodiff "
                         "(finite differences are not supported)")


def _known_method(name: str) -> bool:
    return name.lower() in SCIPY_METHODS or registry().find("optimizers", name) is not None


def resolve_method(method: str | None) -> str:
    """The registered optimizer that runs `method` (an optlab name, or a scipy name in any case)."""
    if method is None:
        return DEFAULT_METHOD
    if not isinstance(method, str):
        raise TypeError(f"method must be a name, got {type(method).__name__}")
    if registry().find("optimizers", method) is not None:  # imports only the plugin that provides it
        return method
    lower = method.lower()
    if lower in SCIPY_METHODS:
        return SCIPY_METHODS[lower]
    if lower in NO_COUNTERPART:
        raise ValueError(f"scipy's method {method!r} has no optlab counterpart (optlab's methods are "
                         f"unconstrained and use derivatives); scipy names accepted: "
                         f"{', '.join(SCIPY_METHODS)}; or use scipy.optimize.minimize")
    if registry().find("optimizers", lower) is not None:
        return lower
    known = registry().entries("optimizers")["optimizers"]
    close = difflib.get_close_matches(lower, [*known, *SCIPY_METHODS], n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(sorted(known))}"
    raise PluginError(f"unknown optimizer {method!r}; {hint}")


def _take(options: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """Remove the options in `names` from `options`, renamed to optlab's fields."""
    return {names[k]: options.pop(k) for k in list(options) if k in names}


def _model(model: type[pydantic.BaseModel], label: str, given: Any, extra: dict[str, Any]) -> Any:
    """`given` (a model, a dict or None) with `extra` fields, validated; a mistake is one ValueError line."""
    data = given.model_dump() if isinstance(given, model) else dict(given or {})
    try:
        return model(**{**data, **extra})
    except pydantic.ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            raise ValueError(f"{label}: unknown key {key!r} (keys: {', '.join(model.model_fields)})") from None
        raise ValueError(f"{label}.{key}: {err['msg']}, got {err.get('input')!r}") from None


# --- fun and its derivatives as a Problem on flat arrays ------------------------------------------

def _derivatives(fun: Callable, args: tuple, jac: Any, hess: Callable | None, hessp: Callable | None,
                 shape: tuple[int, ...], watch: _Watch) -> dict[str, Any]:
    """The Problem's objective and whatever derivatives the user gave, on flat vectors."""
    size = int(np.prod(shape))

    def shaped(x: Any) -> Any:
        if isinstance(x, Variable):
            return x if x.shape == shape else F.reshape(x, shape)
        return x.reshape(shape)

    def call(f: Callable, *xs: Any) -> Any:
        try:
            return f(*(shaped(x) for x in xs), *args)
        except TypeError as e:
            if not isinstance(xs[0], Variable):
                watch.keep(e)
                raise
            hint = _autodiff_hint(e)
            watch.keep(hint)
            raise hint from e
        except Exception as e:
            watch.keep(e)
            raise

    out: dict[str, Any] = {}
    if jac is True:
        memo: dict[str, Any] = {}

        def value_and_grad(x: np.ndarray) -> tuple[Any, np.ndarray]:
            if memo.get("x") is None or not np.array_equal(memo["x"], x):
                f, g = call(fun, x)
                memo.update(x=x.copy(), f=f, g=np.asarray(g, dtype=float).reshape(size))
            return memo["f"], memo["g"]

        out["objective"] = lambda x: call(fun, x)[0] if isinstance(x, Variable) else value_and_grad(x)[0]
        out["gradient"] = lambda x: value_and_grad(x)[1]
    else:
        out["objective"] = lambda x: call(fun, x)
        if callable(jac):
            out["gradient"] = lambda x: np.asarray(call(jac, x), dtype=float).reshape(size)
    if hess is not None:
        out["hessian"] = lambda x: np.asarray(call(hess, x), dtype=float).reshape(size, size)
    if hessp is not None:
        out["hvp"] = lambda x, v: np.asarray(call(hessp, x, v), dtype=float).reshape(size)
    return out


def _autodiff_hint(e: TypeError) -> TypeError:
    """A TypeError raised while fun ran on a Variable: say how to write fun for autodiff."""
    text = str(e)
    # numpy's functions with an F twin run it on a Variable; the kernel's line for one without a twin
    # ("... on a Variable: ...") already says what to call
    numpy = ("ufunc" in text or "unexpected keyword argument 'out'" in text) and "on a Variable" not in text
    what = ("a numpy function was applied to an optlab Variable: use optlab.autodiff.functions "
            "instead (F.exp, F.sum, F.sin, ...)" if numpy else
            "fun was called with an optlab Variable to differentiate it by autodiff")
    return TypeError(f"{text}: {what}; or pass your own derivatives (jac=, hess=/hessp=)")


# --- the optimizer, watched ---------------------------------------------------------------------

class _Watched:
    """The optimizer as the loop sees it, keeping the last iterate for the callback and its first exception."""

    def __init__(self, inner: Any, watch: _Watch) -> None:
        self.inner, self.watch = inner, watch
        self.name, self.order = inner.name, inner.order

    def _seen(self, state: Any) -> Any:
        self.watch.x, self.watch.g = state.x, state.g
        return state

    def init(self, oracle: Any, x0: np.ndarray) -> Any:
        try:
            return self._seen(self.inner.init(oracle, x0))
        except Exception as e:
            self.watch.keep(e)
            raise

    def step(self, oracle: Any, state: Any) -> Any:
        try:
            return self._seen(self.inner.step(oracle, state))
        except Exception as e:
            self.watch.keep(e)
            raise


class _WatchedBlackBox(_Watched):
    """A black-box method (scipy's), watched through the `record` it is given."""

    def minimize(self, oracle: Any, x0: np.ndarray, budget: Budget, record: Callable) -> Any:
        def seen(x: np.ndarray, f: float, g: np.ndarray | None) -> str | None:
            self.watch.x, self.watch.g = x, g
            return record(x, f, g)

        try:
            return self.inner.minimize(oracle, x0, budget, seen)
        except Exception as e:
            self.watch.keep(e)
            raise


def _callback(callback: Callable, watch: _Watch, shape: tuple[int, ...]) -> Callable[[dict], None]:
    """The loop's per-iterate hook calling the user's callback as scipy does (not at x0)."""
    try:
        modern = set(inspect.signature(callback).parameters) == {"intermediate_result"}
    except (TypeError, ValueError):
        modern = False

    def on_iterate(row: dict[str, Any]) -> None:
        if row["iter"] == 0 or watch.x is None:
            return
        x = np.array(watch.x).reshape(shape)
        try:
            if modern:
                g = None if watch.g is None else np.array(watch.g).reshape(shape)
                callback(intermediate_result=OptimizeResult(x=x, fun=row["f"], jac=g, nit=row["iter"],
                                                            nfev=row["nfev"], njev=row["ngev"]))
            else:
                callback(x)
        except StopIteration:
            watch.stopped = True
            raise _CallbackStop from None
        except Exception as e:
            watch.keep(e)
            raise

    return on_iterate
