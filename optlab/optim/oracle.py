"""The counting oracle: every method, ours and scipy's, sees the problem only through it."""
from __future__ import annotations

import random
import time
import types
from dataclasses import dataclass, fields
from typing import Any, Callable

import numpy as np

from ..autodiff import Variable, functional, gradients
from ..autodiff import hessian as hessian_of
from ..autodiff import jacobian as jacobian_of
from ..autodiff.jit import JitError, Jitted
from ..autodiff.jit import jit as jit_of
from .problem import Problem
from .status import Status


@dataclass
class Counts:
    """Oracle calls by kind, and seconds spent inside the oracle."""

    nfev: int = 0
    ngev: int = 0
    nhvp: float = 0  # fractional after sub-sampled products (Oracle.sampled_hvp)
    nhess: int = 0
    seconds: float = 0.0

    @property
    def calls(self) -> float:
        return self.nfev + self.ngev + self.nhvp + self.nhess

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class BudgetExhausted(Exception):
    """Raised by the oracle when a run has used its oracle calls; the runner ends the run there."""

    status = Status.BUDGET


class TimeLimit(BudgetExhausted):
    """Raised by the oracle when a run has used its seconds."""

    status = Status.TIME_LIMIT


class Oracle:
    """f, grad, f_and_grad, hvp and hessian of a problem on numpy arrays, each call counted and timed.

    Derivatives come from the kernel (reverse mode; HVPs by double backprop) unless the problem gives
    analytic ones. `f_and_grad` counts one f and one gradient, like scipy's ``jac=True``.
    Budgets are enforced here, so every method, whoever owns its loop, stops at the same call.
    The last gradient evaluated is kept in `last` (x, f, g) so a judge can read it without a call.
    """

    def __init__(self, problem: Problem, max_calls: int | None = None, max_seconds: float | None = None,
                 jit: bool = True) -> None:
        self.problem = problem
        self.counts = Counts()
        self.max_calls = max_calls
        self.deadline = None if max_seconds is None else time.perf_counter() + max_seconds
        self.last: tuple[np.ndarray, float, np.ndarray] | None = None
        self._objective = problem.objective
        # jit (issue 15, on by default): f, f+grad, hvp and the Hessian traced once and replayed, bit for bit
        # equal to eager; counts are the same either way. A replay does not run the objective's Python, so
        # the objective must be pure (docs/architecture.md, "jit, session 2"): a stochastic problem
        # (resample), an objective that changes state it can reach during a call (_SideEffects) and one the
        # tracer cannot follow (JitError) run eagerly. `jit_mode` says which and why.
        self._jitted: dict[str, Jitted] | None = None
        self._probation = False
        self._data: Callable[[], tuple[np.ndarray, ...]] = tuple
        if not jit:
            self.jit_mode = "eager: jit off"
        elif problem.resample is not None and (problem.batched is None or problem.batch is None):
            self.jit_mode = "eager: stochastic problem (resample) without batched/batch"
        else:
            # A stochastic problem's sample is an explicit input of the traced program (session 4): drawn in
            # Python by resample, read by batch() at each call and passed to the replay, so no replay can use
            # a stale batch. A deterministic problem is the same with no data: fn(x), batch() == ().
            self.jit_mode = "jit"
            stochastic = problem.resample is not None
            fn = problem.batched if stochastic else problem.objective
            data = problem.batch if stochastic else tuple
            assert fn is not None and data is not None
            self._data = data
            f = self._watched = _SideEffects(fn)
            self._jitted = {"f": jit_of(f), "vg": jit_of(functional.value_and_grad(f)),
                            "hvp": jit_of(lambda x, v, *d: functional.hvp(lambda y: f(y, *d), x, v)),
                            "hessian": jit_of(lambda x, *d: hessian_of(lambda y: f(y, *d))(x))}
            self._probation = True  # the first call runs eagerly, watched: a stateful objective never replays
            self._objective = (lambda x: f(x, *data())) if stochastic else f

    def _run(self, kind: str, eager: Callable[..., Any], *args: Any) -> Any:
        """The jitted `kind` on args, or `eager` once jit is off, the objective is stateful or untraceable."""
        if self._jitted is None:
            return eager(*args)
        if self._probation:
            self._probation = False
            out = eager(*args)
            self._objective = self.problem.objective
            self._check_side_effects()
            return out
        if kind not in self._jitted:
            return eager(*args)
        try:
            out = self._jitted[kind](*args, *self._data())
        except JitError as e:
            self._jitted, self.jit_mode = None, f"eager: not traceable ({e})"
            return eager(*args)
        if self._jitted[kind].gave_up:  # guards that fail at every call: this kind runs eagerly, unwatched
            del self._jitted[kind]
            self.jit_mode += f"; eager {kind}: its guarded values change at every call"
            return out
        if self._watched.changed:  # seen while tracing: this call's values are eager's, later ones will be
            self._check_side_effects()
        return out

    def _check_side_effects(self) -> None:
        if self._watched.changed:
            self._jitted, self.jit_mode = None, f"eager: the objective changed {self._watched.changed} during a call"

    def _timed(self, kind: str, fn: Callable[[], Any], amount: float = 1) -> Any:
        if self.max_calls is not None and self.counts.calls >= self.max_calls:
            raise BudgetExhausted(f"oracle budget of {self.max_calls} calls used")
        start = time.perf_counter()
        if self.deadline is not None and start > self.deadline:
            raise TimeLimit("time budget used")
        try:
            return fn()
        finally:
            self.counts.seconds += time.perf_counter() - start
            setattr(self.counts, kind, getattr(self.counts, kind) + amount)

    def _value(self, x: np.ndarray) -> float:
        y = self._run("f", self._objective, x)
        return float(y.data if isinstance(y, Variable) else y)

    def _value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        if self._jitted is not None:
            value, g = self._run("vg", self._eager_value_and_grad, x)
            return float(value), np.asarray(g)
        return self._eager_value_and_grad(x)

    def _eager_value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        xv = Variable(x)
        y = self._objective(xv)
        (g,) = gradients(y, [xv], retain_graph=False) if isinstance(y, Variable) else (None,)
        return float(y.data if isinstance(y, Variable) else y), (np.zeros_like(x) if g is None else g.data)

    def _analytic_value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        assert self.problem.value_and_gradient is not None
        value, g = self.problem.value_and_gradient(x)
        return float(value), np.asarray(g)

    def f(self, x: np.ndarray) -> float:
        return self._timed("nfev", lambda: self._value(x))

    def grad(self, x: np.ndarray) -> np.ndarray:
        gradient = self.problem.gradient
        if gradient is not None:
            return self._timed("ngev", lambda: np.asarray(gradient(x)))
        value, g = self._timed("ngev", lambda: self._value_and_grad(x))
        self.last = (x.copy(), value, g)
        return g

    def f_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        if self.problem.value_and_gradient is not None:
            value, g = self._timed("ngev", lambda: self._analytic_value_and_grad(x))
            self.counts.nfev += 1
        elif self.problem.gradient is not None:
            value, g = self.f(x), self.grad(x)
        else:
            value, g = self._timed("ngev", lambda: self._value_and_grad(x))
            self.counts.nfev += 1
        self.last = (x.copy(), value, g)
        return value, g

    def hvp(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        hvp, hessian = self.problem.hvp, self.problem.hessian
        if hvp is not None:
            return self._timed("nhvp", lambda: np.asarray(hvp(x, v)))
        if hessian is not None:
            return self._timed("nhvp", lambda: np.asarray(hessian(x)) @ v)
        return self._timed("nhvp", lambda: self._run("hvp", lambda a, b: functional.hvp(self._objective, a, b), x, v))

    def sampled_hvp(self, x: np.ndarray, v: np.ndarray, indices: np.ndarray) -> np.ndarray:
        """H_S v, the Hessian of a finite sum's terms `indices` (`Problem.sample`) times v, counted as |S|/m of
        one HVP: the kernel's product on a sample costs the share of terms it touches."""
        if self.problem.sample is None or not self.problem.terms:
            raise ValueError(f"problem {self.problem.name!r} has no finite-sum view (terms and sample)")
        objective = self.problem.sample(indices)
        hv = self._timed("nhvp", lambda: np.asarray(functional.hvp(objective, x, v)), len(indices) / self.problem.terms)
        self.counts.nhvp = round(self.counts.nhvp, 9)  # a sum of shares stays readable: 215.8, not 215.8000000000002
        return hv

    def residuals(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """r(x) and its Jacobian for a sum-of-squares problem (`Problem.residuals`), counted as one f and one
        Hessian: like a dense Hessian, a dense Jacobian costs the kernel one pass per variable."""
        if self.problem.residuals is None:
            raise ValueError(f"problem {self.problem.name!r} has no residuals view")
        residuals = self.problem.residuals

        def both() -> tuple[np.ndarray, np.ndarray]:
            r = residuals(x)
            r = np.asarray(r.data if isinstance(r, Variable) else r, dtype=float)
            return r, np.asarray(jacobian_of(residuals)(x), dtype=float).reshape(r.size, x.size)

        r, J = self._timed("nhess", both)
        self.counts.nfev += 1
        return r, J

    def hessian(self, x: np.ndarray) -> np.ndarray:
        hessian = self.problem.hessian
        if hessian is not None:
            return self._timed("nhess", lambda: np.asarray(hessian(x)))
        return self._timed("nhess", lambda: self._run("hessian", hessian_of(self._objective), x))


# ----------------------------------------------------------------------------------------------
# The purity guard: what an objective's call changes, which a replay (not running its Python) would not.

_ATOMS = (type(None), bool, int, str, bytes)
_OPAQUE = (types.ModuleType, type, types.BuiltinFunctionType, types.BuiltinMethodType)
_DEPTH = 4  # how far from the objective state is looked for (closures of closures, attributes of objects)
_ITEMS = 64  # how many items of a container are looked at


class _SideEffects:
    """The objective, watched: each call compares the state it can reach (closure cells, defaults, the
    globals its code names, attributes of the object or bound self, recursively) before and after, and
    `changed` names what changed (a call counter, a cache, a list appended to)."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.changed = ""
        self.__name__ = getattr(fn, "__name__", type(fn).__name__)

    def __call__(self, x: Any, *data: Any) -> Any:
        before = _reachable(self.fn)
        y = self.fn(x, *data)
        after = _reachable(self.fn)
        if before != after and not self.changed:
            self.changed = next((k for k in after if before.get(k) != after[k]), "its state")
        return y


def _reachable(fn: Any) -> dict[str, Any]:
    """name -> fingerprint of everything fn's call could change (see _SideEffects)."""
    out: dict[str, Any] = {"numpy.random": _random_state(np.random.mtrand._rand), "random": hash(random.getstate())}
    _walk(fn, getattr(fn, "__name__", type(fn).__name__), 0, out, set())
    return out


def _random_state(v: Any) -> Any:
    """A generator's position (numpy's Generator, RandomState or BitGenerator): a draw moves it, and a
    replay would repeat the traced draw."""
    state = v.get_state(legacy=False) if isinstance(v, np.random.RandomState) else (
        v.bit_generator.state if isinstance(v, np.random.Generator) else v.state)
    return _state_key(state)


def _state_key(v: Any) -> Any:
    """A generator state (dicts of ints and arrays) as a comparable value, arrays by their bytes: repr
    formatted MT19937's 624-word key as text: 1.2 ms a call against 0.06 ms, 4-6 calls per run."""
    if isinstance(v, dict):
        return tuple((k, _state_key(x)) for k, x in v.items())
    if isinstance(v, np.ndarray):
        return (v.dtype.str, v.shape, v.tobytes())
    return v


def _walk(v: Any, name: str, depth: int, out: dict[str, Any], seen: set[int]) -> None:
    if isinstance(v, _ATOMS):
        out[name] = v
    elif isinstance(v, float):
        out[name] = v.hex()  # nan equals itself
    elif isinstance(v, np.ndarray):
        out[name] = (id(v), v.shape, v.dtype.str, hash(v.tobytes()) if v.dtype != object else None)
    elif isinstance(v, (np.generic, complex)):
        out[name] = repr(v)
    elif isinstance(v, (np.random.Generator, np.random.RandomState, np.random.BitGenerator)):
        out[name] = _random_state(v)
    elif isinstance(v, _OPAQUE) or depth >= _DEPTH or id(v) in seen:
        out[name] = id(v)
    else:
        seen.add(id(v))
        for key, item in _parts(v):
            _walk(item, f"{name}{key}", depth + 1, out, seen)
        if isinstance(v, (list, dict, set, bytearray)):
            out[name + ".len"] = len(v)


def _parts(v: Any) -> list[tuple[str, Any]]:
    """The named parts of a value that its call, or a call of a function holding it, could change."""
    if isinstance(v, (list, tuple)):
        return [(f"[{i}]", x) for i, x in enumerate(v[:_ITEMS])]
    if isinstance(v, dict):
        return [(f"[{k!r}]", x) for k, x in list(v.items())[:_ITEMS]]
    if isinstance(v, (set, frozenset, bytearray)):
        return []
    if isinstance(v, types.FunctionType):
        code, names = v.__code__, set[str]()
        stack = [code]
        while stack:
            c = stack.pop()
            names.update(c.co_names)
            stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
        cells = [(f".{n}", c.cell_contents) for n, c in zip(code.co_freevars, v.__closure__ or ())
                 if _filled(c)]
        named = [(f".{n}", v.__globals__[n]) for n in sorted(names) if n in v.__globals__]
        return [*cells, *named, (".__defaults__", v.__defaults__), (".__kwdefaults__", v.__kwdefaults__),
                (".__dict__", v.__dict__)]
    if isinstance(v, types.MethodType):
        return [(".__self__", v.__self__), (".__func__", v.__func__)]
    parts = [(".__dict__", v.__dict__)] if hasattr(v, "__dict__") else []
    call = next((k.__dict__["__call__"] for k in type(v).__mro__ if "__call__" in k.__dict__), None)
    if isinstance(call, types.FunctionType):
        parts.append((".__call__", call))
    return parts


def _filled(cell: Any) -> bool:
    try:
        _ = cell.cell_contents
    except ValueError:  # not yet assigned
        return False
    return True
