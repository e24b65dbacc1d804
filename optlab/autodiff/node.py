"""The recorded graph: Variable (a value and its gradient), Function (an operation and its derivative
rules), the recording of an operation's node (`recorder`), and forward mode's Dual.

Every derivative is written with differentiable functions, so the graph of a gradient can itself be
differentiated (``create_graph=True``). When no graph is wanted the same derivative code runs on bare
ndarrays, at numpy speed: a function given no Variable returns a plain array and records nothing.
"""
from __future__ import annotations

import sys
import weakref
from typing import Any, Callable, ClassVar, Sequence

import numpy as np

from .config import _DUAL, _LEVEL_SHIFT, _NO_VARIABLE, Config, level_base


def as_data(data: Any, where: str = "Variable") -> np.ndarray:
    """Convert to a float ndarray: floats keep their dtype, bool and int become float64."""
    if isinstance(data, Variable):
        raise TypeError(f"{where}: got a Variable where an array is expected (use .data)")
    try:
        arr = np.asarray(data)
    except (ValueError, TypeError) as e:
        raise TypeError(f"{where}: data is not a regular numeric array: {e}") from None
    kind = arr.dtype.kind
    if kind == "f":
        return arr
    if kind in "biu":
        return arr.astype(np.float64)
    raise TypeError(f"{where}: data must be numeric (bool, int or float), got dtype {arr.dtype}")


NUMPY_TWINS: dict[Any, Any] = {}  # numpy function -> its F twin (`Variable.__array_function__`), filled by F
UFUNC_TWINS: dict[Any, Any] = {}  # numpy ufunc -> its F twin (`Variable.__array_ufunc__`), filled by F
# ufuncs with boolean results (no gradient): computed on the data, as Variable's comparisons are
_DATA_UFUNCS = frozenset([np.equal, np.not_equal, np.less, np.less_equal, np.greater, np.greater_equal, np.isnan,
                          np.isinf, np.isfinite, np.signbit, np.logical_and, np.logical_or, np.logical_xor,
                          np.logical_not])
# ufunc methods whose differentiable counterpart is another F function
_METHOD_TWINS = {(np.add, "reduce"): "F.sum", (np.multiply, "reduce"): "F.prod", (np.maximum, "reduce"): "F.max",
                 (np.minimum, "reduce"): "F.min", (np.add, "accumulate"): "F.cumsum",
                 (np.multiply, "outer"): "F.outer"}
# scipy.special's ufuncs that are F's forwards, built on first use (functions._SPECIAL)
_SPECIAL_TWINS = {"expit": "sigmoid", "erf": "erf"}


_Method = Callable[..., Any]  # an operator or method installed on Variable after its definition


class Variable:
    """A node holding an ndarray, its gradient and the Function that created it."""

    __slots__ = ("data", "name", "grad", "creator", "generation", "__weakref__")

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """numpy's ufuncs on a Variable (np.sin(x), and ndarray * Variable, which numpy sends here) run their
        twin in F, so they are differentiated; anything else is `_ufunc_elsewhere`'s (docs/architecture.md,
        "numpy's ufuncs on a Variable": the cost of this route, measured)."""
        if method == "__call__" and not kwargs:
            twin = UFUNC_TWINS.get(ufunc)
            if twin is not None:
                return twin(*inputs)
        return _ufunc_elsewhere(ufunc, method, inputs, kwargs)

    # Installed by the modules that define them (functions.py: the operators, as F's functions;
    # backprop.py: backward, beside the pass it runs); declared here for type checkers.
    __add__: ClassVar[_Method]
    __radd__: ClassVar[_Method]
    __sub__: ClassVar[_Method]
    __rsub__: ClassVar[_Method]
    __mul__: ClassVar[_Method]
    __rmul__: ClassVar[_Method]
    __truediv__: ClassVar[_Method]
    __rtruediv__: ClassVar[_Method]
    __pow__: ClassVar[_Method]
    __rpow__: ClassVar[_Method]
    __matmul__: ClassVar[_Method]
    __rmatmul__: ClassVar[_Method]
    __neg__: ClassVar[_Method]
    __abs__: ClassVar[_Method]
    __getitem__: ClassVar[_Method]
    reshape: ClassVar[_Method]
    transpose: ClassVar[_Method]
    sum: ClassVar[_Method]
    backward: ClassVar[Callable[..., None]]

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        """numpy functions (np.sum, np.mean, np.concatenate, ...) on a Variable run their twin in F, so
        they are differentiated; one without a twin is a TypeError that says what to do."""
        twin = NUMPY_TWINS.get(func)
        if twin is None:
            from . import functions as F  # the error path only (F imports this module)

            name = func.__name__
            if callable(getattr(F, name, None)):  # a namesake whose signature or result differs (lstsq)
                raise TypeError(f"numpy.{name} was called on a Variable; call F.{name} instead (differentiable; "
                                f"its arguments or result differ from numpy's, see its docstring)")
            raise TypeError(f"numpy.{name} was called on a Variable and has no differentiable twin in "
                            f"optlab.autodiff.functions; call it on x.data (no gradient) or write it with F")
        return twin(*args, **kwargs)

    def __init__(self, data: Any, name: str | None = None) -> None:
        self.data = as_data(data)
        self.name = name
        self.grad: Variable | None = None
        self.creator: Function | None = None
        self.generation = level_base()  # a leaf of the innermost running transform (see `transform_level`)

    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    dtype = property(lambda self: self.data.dtype)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        body = str(self.data).replace("\n", "\n" + " " * 9)
        return f"variable({body})" if self.name is None else f"variable({body}, name={self.name!r})"

    def cleargrad(self) -> None:
        self.grad = None

    # Comparisons compare the data, elementwise, as numpy does, and return boolean ndarrays (no gradient).
    # Hashing stays by identity (as torch's tensors), so Variables still key dicts and sets.
    __hash__ = object.__hash__

    def __eq__(self, other: Any) -> Any:
        return self.data == _data(other)

    def __ne__(self, other: Any) -> Any:
        return self.data != _data(other)

    def __lt__(self, other: Any) -> np.ndarray:
        return self.data < _data(other)

    def __le__(self, other: Any) -> np.ndarray:
        return self.data <= _data(other)

    def __gt__(self, other: Any) -> np.ndarray:
        return self.data > _data(other)

    def __ge__(self, other: Any) -> np.ndarray:
        return self.data >= _data(other)

    def unchain(self) -> None:
        """Forget the creator: this variable becomes a leaf (and a consumer that holds only the former
        creator, see `Function.reads`, finds nothing behind it)."""
        f, self.creator = self.creator, None
        if f is not None:
            f.inputs = ()

    def unchain_backward(self) -> None:
        """Cut the whole graph behind this variable (truncated backprop)."""
        stack: list[Any] = [self]
        while stack:
            _, f, v = _resolve(stack.pop())
            if f is not None:
                stack.extend(x for x in f.inputs or () if isinstance(x, _NODES))
                if v is not None:
                    v.creator = None
                f.inputs = ()


def _ufunc_elsewhere(ufunc: Any, method: str, inputs: tuple, kwargs: dict) -> Any:
    """A ufunc call on a Variable that is not a plain call of a twin in F: a boolean ufunc is computed on
    the data; scipy.special's expit and erf build their twins (F.sigmoid, F.erf); anything else (out=,
    another keyword, a method such as reduce, a ufunc F has no twin for) is a one-line TypeError naming
    the F function to call, or saying that there is none."""
    name = ufunc.__name__
    shown = f"np.{name}" if getattr(np, name, None) is ufunc else name
    called = shown if method == "__call__" else f"{shown}.{method}"
    twin = UFUNC_TWINS.get(ufunc)
    instead = _twin_name(twin) if twin is not None else None
    out = kwargs.get("out", ())
    if method == "__call__" and ufunc in _DATA_UFUNCS and not any(isinstance(o, Variable) for o in out):
        from . import functions as F  # F._data, which jit hooks while tracing: the mask is a program value

        return ufunc(*[F._data(x) for x in inputs], **kwargs)
    if out:
        raise TypeError(f"{called}(..., out=...) on a Variable: writing into out= would drop the gradient; "
                        + (f"call {instead} and use its result" if instead else "call it on x.data (no gradient)"))
    if method != "__call__":
        counterpart = _METHOD_TWINS.get((ufunc, method))
        if counterpart is not None:
            raise TypeError(f"{called} on a Variable: use {counterpart} (numpy's ufunc methods do not differentiate)")
        raise TypeError(f"{called} on a Variable: numpy's ufunc methods do not differentiate and F has no twin "
                        f"for it; call it on x.data (no gradient) or write it with F")
    if instead is not None:
        raise TypeError(f"{called} on a Variable with {', '.join(f'{k}=' for k in kwargs)}: {instead} takes no "
                        f"such argument; call {instead}(...) without it")
    special = sys.modules.get("scipy.special")
    if name in _SPECIAL_TWINS and special is not None and getattr(special, name, None) is ufunc and not kwargs:
        from . import functions as F  # the first call only: F registers the twin it builds (F._lazy)

        return getattr(F, _SPECIAL_TWINS[name])(*inputs)
    raise TypeError(f"{called} on a Variable: the ufunc has no differentiable twin in optlab.autodiff.functions; "
                    f"call it on x.data (no gradient) or write it with F")


def _twin_name(twin: Any) -> str:
    """`F.name` for a twin (a primitive's name is its public one: F.abs's is "abs")."""
    return "F." + twin.__name__


def _shape(x: Any) -> tuple[int, ...]:
    """np.shape(x), without its overhead for the usual ndarray or Variable (hot in every backward)."""
    if isinstance(x, np.ndarray):
        return x.shape
    if isinstance(x, Variable):
        return x.data.shape
    if x.__class__ is Edge:
        return x.shape
    return np.shape(x)


def _data(x: Any) -> Any:
    """The array behind a Variable; anything else as it is."""
    return x.data if isinstance(x, Variable) else x


def _new_variable(data: np.ndarray) -> Variable:
    """Wrap an ndarray without the checks of `Variable.__init__` (the hot path of every op)."""
    v = Variable.__new__(Variable)
    v.data = data
    v.name = None
    v.grad = None
    v.creator = None
    v.generation = 0
    return v


_FORWARD_ERRORS = (ValueError, TypeError, IndexError, np.linalg.LinAlgError)


def _forward_error(name: str, e: Exception, xs: Sequence[Any]) -> Exception:
    """The forward's error, of the same type, naming the function and the input shapes."""
    shapes = ", ".join(str(np.shape(x)) for x in xs)
    message = f"{name}: {e} (input shapes: {shapes})"
    try:
        return type(e)(message)
    except TypeError:  # numpy's UFuncTypeError family takes (ufunc, dtypes), not a message
        return TypeError(message)


class Function:
    """One recorded operation: `forward` on ndarrays, `backward` with differentiable functions.

    ``backward(gy, y, *xs, **kwargs)`` returns one gradient per input (None for a constant). It gets
    Variables when a graph of the gradient is wanted and bare ndarrays otherwise, so write it with
    ``optlab.autodiff.functions`` and numpy operators only. Built-ins give one VJP per input in `vjps`,
    one JVP per input in `jvps` (forward mode) and what the VJPs read in `reads` (what the graph keeps).
    """

    __slots__ = ("inputs", "output", "generation", "kwargs", "saved")
    inputs: tuple | None  # what the node holds of its inputs (None once freed by a retain_graph=False pass)
    output: Any  # a weak reference to the output Variable
    generation: int
    kwargs: dict
    saved: Any  # the output's array, when a VJP reads it
    vjps: tuple = ()
    # What each VJP reads: reads[j] holds the positions of the inputs VJP j reads and -1 for the output
    # (entries past its end read nothing). An intermediate input that no VJP of this node reads is not
    # held: `inputs` keeps an `Edge` to its creator instead (with the shape and dtype the VJPs ask), so its
    # array is freed as soon as nothing else holds it, as torch keeps only saved tensors. The output's
    # array is kept in `saved` only when read. None (any class-based Function): everything is kept.
    reads: tuple | None = None
    hold: tuple | None = None  # `reads` worked out for one and two inputs (`_hold_plans`), set with it
    # An optional pair of shortcuts for a one-input f whose gradient is gy scattered into zeros (getitem),
    # used when its input already has a gradient: add_grad_into(buf, gy, **kwargs) adds into that array in
    # place (raw mode); add_grad_onto(acc, gy, **kwargs) returns acc plus it, differentiably (create_graph).
    add_grad_into: ClassVar[Callable[..., None] | None] = None
    add_grad_onto: ClassVar[Callable[..., Any] | None] = None
    # Forward mode: one JVP per input, ``jvp(t, y, *xs, **kwargs)``, the output's tangent from that input's
    # tangent t, on bare arrays (None: the input is a constant). See `jvp` and `Dual`.
    jvps: tuple = ()

    primitive = True  # backward is the VJPs in `vjps` (set per class: False when backward is overridden)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.primitive = cls.backward is Function.backward
        if "reads" in cls.__dict__:
            cls.hold = _hold_plans(cls.reads)

    def __call__(self, *inputs: Any, **kwargs: Any) -> Any:
        return recorder(self)(*inputs, **kwargs)

    def forward(self, *xs: Any, **kwargs: Any) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def jvp(self, ts: Sequence[Any], y: np.ndarray, *xs: Any, **kwargs: Any) -> Any:
        """The output's tangent from the inputs' tangents `ts` (None: zero), all bare arrays."""
        if not self.jvps:
            raise NotImplementedError(f"{type(self).__name__} has no JVP rules (forward mode): give it "
                                      f"`jvps` or a `jvp` method")
        t = None
        for ti, rule in zip(ts, self.jvps):
            if ti is not None and rule is not None:
                c = rule(ti, y, *xs, **kwargs)
                t = c if t is None else t + c
        return t if t is None or _shape(t) == y.shape else np.broadcast_to(t, y.shape)

    def backward(self, gy: Any, y: Any, *xs: Any, **kwargs: Any) -> Sequence[Any]:
        return [vjp(gy, y, *xs, **kwargs) if vjp is not None and isinstance(x, _NODES) else None
                for x, vjp in zip(self.inputs or (), self.vjps)]


def recorder(op: Any) -> Callable:
    """The one recording routine, for `op`: a primitive's node class (the routine is then that
    primitive's callable, so a call is one Python frame) or a Function instance (`Function.__call__`).
    A tracer hooks here. Without a Variable among the arguments the routine returns the forward's bare
    array (every VJP of a first-order backward pass takes that path); with Duals, a Dual (forward mode);
    otherwise a Variable whose creator is the node (unless under no_grad)."""
    forward, make_node = op.forward, op.__class__ is type

    def record(*args: Any, **kwargs: Any) -> Any:
        # Which arguments are Variables (`pattern`, a bit per argument, for `Function.hold`) and the
        # generation of the newest: one and two arguments (nearly every call) are unpacked without a loop.
        # Written out here, with the node's linking (`Function.reads`) inlined below: chain forward 2.64M ->
        # 2.24M instructions per call (callgrind), chain grad -7% (the loops and the _link frame it replaced).
        xs: tuple
        n = len(args)
        if n == 1:
            a = args[0]
            if a.__class__ is Variable:
                xs, generation, pattern = (a.data,), a.generation, 0
            elif isinstance(a, Variable):  # a Dual, or a user's subclass of Variable
                xs, generation, pattern = _unpack(args)
            else:
                generation = _NO_VARIABLE
        elif n == 2:
            a, b = args
            if a.__class__ is Variable and b.__class__ is Variable:
                generation, other = a.generation, b.generation
                if other > generation:
                    generation = other
                xs, pattern = (a.data, b.data), 3
            elif a.__class__ is Variable and not isinstance(b, Variable):
                xs, generation, pattern = (a.data, b), a.generation, 1
            elif b.__class__ is Variable and not isinstance(a, Variable):
                xs, generation, pattern = (a, b.data), b.generation, 2
            elif isinstance(a, Variable) or isinstance(b, Variable):  # a Dual, or a user's subclass of Variable
                xs, generation, pattern = _unpack(args)
            else:
                generation = _NO_VARIABLE
        else:
            xs, generation, pattern = _unpack(args)
        if generation == _NO_VARIABLE:
            if _tracer is not None:  # jit is tracing: a bare call on traced arrays is recorded too
                return _tracer(forward, args, kwargs, None, None)
            return forward(*args, **kwargs)  # no Variable: plain numpy, nothing to record
        node = op() if make_node else op
        try:
            y = forward(*xs, **kwargs)
        except _FORWARD_ERRORS as e:
            raise _forward_error(type(node).__name__, e, xs) from None
        if generation >= _DUAL:
            return _dual_output(node, args, xs, y, kwargs)
        out = _new(Variable)  # _new_variable, inlined: recording is the per-op cost of every graph
        out.data = y = y if y.__class__ is np.ndarray else np.asarray(y)
        out.name = out.grad = out.creator = None
        if _tracer is not None:  # jit is tracing: it records this call (optlab/autodiff/jit.py)
            _tracer(forward, args, kwargs, y, out)
        if not Config.enable_backprop:
            out.generation = level_base()  # a constant of the running transform
            return out
        # _link: out's creator is the node, holding what its VJPs read (`Function.reads`)
        hold = node.hold
        if hold is None:
            node.saved = y
        else:
            plan = hold[pattern] if n <= 2 else _plan(node.reads or (), [isinstance(x, Variable) for x in args])
            if n == 1:
                if plan[0]:
                    args = (_edge(a),)
            elif n == 2:
                if plan[0]:
                    args = (_edge(a), _edge(b) if plan[1] else b)
                elif plan[1]:
                    args = (a, _edge(b))
            else:
                args = tuple([_edge(x) if release else x for x, release in zip(args, plan)])
            node.saved = y if plan[-1] else None
        node.inputs = args
        node.kwargs = kwargs
        node.generation = generation
        node.output = _weakref(out)
        out.creator = node
        out.generation = generation + 1
        return out

    return record


def _unpack(args: tuple) -> tuple[tuple, int, int]:
    """The arrays behind `args`, the newest generation among its Variables (`_NO_VARIABLE`: none) and
    the Variable pattern (`record`'s, for two arguments)."""
    generation, pattern, xs = _NO_VARIABLE, 0, []
    for i, a in enumerate(args):
        if isinstance(a, Variable):
            xs.append(a.data)
            pattern |= 1 << i
            if a.generation > generation:
                generation = a.generation
        else:
            xs.append(a)
    return tuple(xs), generation, pattern if len(args) == 2 else 0


_new = object.__new__
_weakref = weakref.ref
# Set by jit while it traces: told of every call (forward, args, kwargs, y, out; y and out None: a bare call)
_tracer: Callable | None = None


class Edge:
    """What a node holds of an intermediate input that none of its VJPs reads: the way back to the
    input's creator, and the shape and dtype the VJPs may ask; not the array, which is freed as soon as
    nothing else holds it (torch keeps only its saved tensors the same way)."""

    __slots__ = ("creator", "dtype", "shape")

    def __init__(self, creator: Function, shape: tuple, dtype: Any) -> None:
        self.creator, self.shape, self.dtype = creator, shape, dtype

    ndim = property(lambda self: len(self.shape))


def _edge(x: Variable) -> Any:
    """What a node holds of an input it does not read: an `Edge` to its creator, or the input itself
    when it is a leaf."""
    f = x.creator
    if f is None:
        return x
    e, data = _new(Edge), x.data  # Edge(...) without its __init__ frame: one per released input
    e.creator, e.shape, e.dtype = f, data.shape, data.dtype
    return e


def _plan(reads: tuple, is_variable: Sequence[bool]) -> tuple[bool, ...]:
    """Per input, whether it is a Variable no VJP that will run reads (release it), then whether one reads
    the output."""
    used = {i for r, v in zip(reads, is_variable) if v for i in r}
    return (*[v and i not in used for i, v in enumerate(is_variable)], -1 in used)


def _hold_plans(reads: tuple | None) -> tuple | None:
    """`Function.hold` for `reads`: the plan for one input, then for two by Variable pattern (1, 2, 3)."""
    if reads is None:
        return None
    return (_plan(reads, [True]), *[_plan(reads, [bool(m & 1), bool(m & 2)]) for m in (1, 2, 3)])


class _Cast(Function):
    """x in another float dtype; its gradient goes back in x's dtype."""

    __slots__ = ()
    reads = ()

    def forward(self, x: np.ndarray, dtype: Any, source: Any) -> np.ndarray:
        return x.astype(dtype)

    def backward(self, gy: Any, y: Any, x: Any, dtype: Any, source: Any) -> list:
        return [_cast(gy, source)]

    def jvp(self, ts: Sequence[Any], y: np.ndarray, x: Any, dtype: Any, source: Any) -> Any:
        return None if ts[0] is None else ts[0].astype(dtype)


def _cast(x: Any, dtype: Any) -> Any:
    """x as `dtype`, differentiably (nothing recorded when it already is)."""
    source = x.dtype
    return x if source == dtype else _Cast()(x, dtype=np.dtype(dtype), source=source)


class Dual(Variable):
    """A value and its tangent (None: zero) in forward mode: a function of Duals returns a Dual whose
    tangent its JVP rules give. Nothing is recorded; reverse mode sees a Dual as an error, not a leaf."""

    __slots__ = ("tangent",)

    def __init__(self, data: Any, tangent: Any = None) -> None:
        super().__init__(data)
        self.generation = _DUAL
        self.tangent = None if tangent is None else as_data(tangent, "Dual tangent")


def _new_dual(data: np.ndarray, tangent: Any) -> Dual:
    d = Dual.__new__(Dual)
    d.data, d.tangent, d.name, d.grad, d.creator, d.generation = data, tangent, None, None, None, _DUAL
    return d


class MixedModesError(TypeError):
    """Forward mode met a Variable recorded for reverse mode (jvp of a function that differentiates)."""


def _dual_output(f: Function, args: Sequence[Any], xs: Sequence[Any], y: Any, kwargs: dict) -> Dual:
    """f's output y (already computed from the primal values xs) with its tangent from f's JVP rules."""
    for a in args:
        if isinstance(a, Variable) and a.__class__ is not Dual:
            raise MixedModesError(f"{type(f).__name__}: a forward-mode Dual meets a Variable recorded for "
                                  f"reverse mode; forward mode does not nest inside reverse mode here")
    y = y if y.__class__ is np.ndarray else np.asarray(y)
    return _new_dual(y, f.jvp([a.tangent if a.__class__ is Dual else None for a in args], y, *xs, **kwargs))


_NODES = (Variable, Edge)  # what an input entry that carries a gradient is


def _resolve(x: Any) -> tuple[int, Function | None, Variable | None]:
    """An input entry (a Variable, or an `Edge`) as its gradient's key (the creator's id, or a leaf's
    own), its creator (None for a leaf) and its Variable if alive."""
    if isinstance(x, Variable):
        f = x.creator
        return (id(x) if f is None else id(f)), f, x
    f = x.creator
    v = f.output()
    if v is not None and v.creator is None:  # unchained since it was recorded: a leaf now
        return id(v), None, v
    return id(f), f, v


def made_outside(y: Any, level: int) -> bool:
    """Whether y depends on a value made outside the transform running at `level` (see above)."""
    return isinstance(y, Variable) and y.generation >= -((level - 1) << _LEVEL_SHIFT)
