"""The kernel: Variable, Function and generation-ordered backpropagation.

Every derivative is written with differentiable functions, so the graph of a gradient can itself be
differentiated (``create_graph=True``). When no graph is wanted the same derivative code runs on bare
ndarrays, at numpy speed: a function given no Variable returns a plain array and records nothing.
"""
from __future__ import annotations

import heapq
import itertools
import weakref
from typing import Any, Sequence

import numpy as np


class Config:
    """Global state: record the graph or not (see `no_grad`), and the level of the innermost running
    transform (0 outside every transform; see `transform_level`)."""

    enable_backprop = True
    level = 0
    forward_mode = False  # a jvp is carrying its tangent through f on Duals


class using_config:  # noqa: N801 (used like a function, as DeZero's)
    """Set one `Config` attribute for the duration of a block, restoring the previous value.

    A class rather than a generator context manager: every transform and backward pass enters one,
    and this is four times cheaper.
    """

    __slots__ = ("name", "value", "old")

    def __init__(self, name: str, value: Any) -> None:
        self.name, self.value = name, value

    def __enter__(self) -> None:
        self.old = getattr(Config, self.name)
        setattr(Config, self.name, self.value)

    def __exit__(self, *exc: Any) -> None:
        setattr(Config, self.name, self.old)


def no_grad() -> using_config:
    """Record no graph inside the block; nestable, restores the previous state on exit."""
    return using_config("enable_backprop", False)


def enable_grad() -> using_config:
    """Record the graph inside the block, even within `no_grad`."""
    return using_config("enable_backprop", True)


# ----------------------------------------------------------------------------------------------
# Levels: a value's generation also says which transform made it, so no transform confuses its own
# perturbation with an enclosing one's (JAX's trace levels, HIPS autograd's boxes).
#
# A transform running at level L (1 outermost) makes its leaves with generation -L * 2**40; outside every
# transform leaves start at 0, as in DeZero. An operation's generation is the max over its inputs plus one,
# so a value's generation lies in [-L * 2**40, -(L - 1) * 2**40) exactly when everything it depends on
# was made at level L or deeper. At or above -(L - 1) * 2**40 it depends on something from outside the
# transform (a Variable held by a closure, an enclosing transform's input): `made_outside` tells the
# transform to record its derivative's graph and return Variables, so the enclosing transform can
# differentiate it. The ordering backprop needs (a creator's generation below its consumer's) holds as
# before, since generations still grow by one along every edge.

_LEVEL_SHIFT = 40  # 10**12 operations deep within one level
_DUAL = 1 << 62  # a Dual's generation: above any recorded one, so the max over inputs spots a Dual
_NO_VARIABLE = -(1 << 63)  # below every generation: "no Variable among the inputs"


def level_base() -> int:
    """The generation of a leaf made now: the innermost running transform's level, shifted."""
    return -(Config.level << _LEVEL_SHIFT)


class transform_level:  # noqa: N801 (used like a function, as using_config)
    """Run a transform's body one level deeper than the running one; `as` gives its level."""

    __slots__ = ()

    def __enter__(self) -> int:
        Config.level += 1
        return Config.level

    def __exit__(self, *exc: Any) -> None:
        Config.level -= 1


def made_outside(y: Any, level: int) -> bool:
    """Whether y depends on a value made outside the transform running at `level` (see above)."""
    return isinstance(y, Variable) and y.generation >= -((level - 1) << _LEVEL_SHIFT)


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


class Variable:
    """A node holding an ndarray, its gradient and the Function that created it."""

    __slots__ = ("data", "name", "grad", "creator", "generation", "__weakref__")
    # numpy defers to our reflected operators: ndarray * Variable -> Variable. A ufunc called on a Variable
    # (np.sin(x)) raises numpy's TypeError. A method here would dispatch ufuncs to F, but every
    # ndarray-on-the-left operator would then go through numpy's override machinery: measured 6.3 -> 9.1 us
    # per ndarray * Variable, which recorded backward passes (hvp) do at every node.
    __array_ufunc__ = None

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        """numpy functions (np.sum, np.mean, np.concatenate, ...) on a Variable run their twin in F, so
        they are differentiated; one without a twin is a TypeError that says what to do."""
        twin = NUMPY_TWINS.get(func)
        if twin is None:
            raise TypeError(f"numpy.{func.__name__} was called on a Variable and has no differentiable twin in "
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

    def __eq__(self, other: Any) -> Any:  # type: ignore[override]
        return self.data == _data(other)

    def __ne__(self, other: Any) -> Any:  # type: ignore[override]
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
                stack.extend(x for x in f.inputs if isinstance(x, _NODES))
                if v is not None:
                    v.creator = None
                f.inputs = ()

    def backward(self, retain_grad: bool = False, create_graph: bool = False, grad: Any = None) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's `.grad`.

        A non-scalar output is seeded with ones (the gradient of ``sum(self)``), as DeZero does;
        pass `grad` to seed with another cotangent of the same shape. With `create_graph` the
        gradients are Variables with graphs of their own, ready to be differentiated again.
        """
        if self.__class__ is Dual:
            raise MixedModesError("backward: reverse mode through a forward-mode Dual (from jvp) is not supported")
        seed = _seed(self, grad, create_graph, "backward")
        grads, reached = _backprop(self, seed, create_graph, keep=None if not retain_grad else True)
        targets = [v for v in reached if v.creator is None or retain_grad]
        for v, g in zip(targets, _in_dtypes(_caller_grads([grads[_resolve(v)[0]] for v in targets], seed), targets)):
            if v.grad is None:
                v.grad = g
            else:
                v.grad = v.grad + g if create_graph else _new_variable(v.grad.data + g.data)


def _caller_grads(grads: Sequence[Any], seed: Any) -> list[Variable | None]:
    """Gradients as Variables the caller may keep (None stays None; a recorded Variable is as it is).

    An array this pass made is wrapped as it is, once; anything else is copied, so the caller may write
    to it: a view (reshape, broadcast), the caller's own seed, or an array given to several inputs
    (a + b gives both its gy).
    """
    out, seen = [], set()
    for g in grads:
        if g is not None and not isinstance(g, Variable):
            if type(g) is not np.ndarray or not g.flags.owndata or g is seed or id(g) in seen:
                g = np.array(g)
            seen.add(id(g))
            g = _new_variable(g)
            g.generation = level_base()
        out.append(g)
    return out


def _shape(x: Any) -> tuple[int, ...]:
    """np.shape(x), without its overhead for the usual ndarray or Variable (hot in every backward)."""
    if isinstance(x, np.ndarray):
        return x.shape
    if isinstance(x, Variable):
        return x.data.shape
    if isinstance(x, Function):  # an edge standing for the function's output
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

    __slots__ = ("inputs", "output", "generation", "kwargs", "shape", "saved")
    vjps: tuple = ()
    # What each VJP reads: reads[j] holds the positions of the inputs VJP j reads and -1 for the output
    # (entries past its end read nothing). An intermediate input that no VJP of this node reads is not
    # held: `inputs` keeps its creator instead (an edge, with `shape` and `ndim` for the VJPs), so its
    # array is freed as soon as nothing else holds it, as torch keeps only saved tensors. The output's
    # array is kept in `saved` only when read. None (any class-based Function): everything is kept.
    reads: tuple | None = None
    hold: tuple | None = None  # `reads` worked out for one and two inputs (`_hold_plans`), set with it
    # An optional pair of shortcuts for a one-input f whose gradient is gy scattered into zeros (getitem),
    # used when its input already has a gradient: add_grad_into(buf, gy, **kwargs) adds into that array in
    # place (raw mode); add_grad_onto(acc, gy, **kwargs) returns acc plus it, differentiably (create_graph).
    add_grad_into = None
    add_grad_onto = None
    # Forward mode: one JVP per input, ``jvp(t, y, *xs, **kwargs)``, the output's tangent from that input's
    # tangent t, on bare arrays (None: the input is a constant). See `jvp` and `Dual`.
    jvps: tuple = ()
    ndim = property(lambda self: len(self.shape))  # an edge's, for VJPs that ask their input's ndim

    primitive = True  # backward is the VJPs in `vjps` (set per class: False when backward is overridden)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.primitive = cls.backward is Function.backward
        if "reads" in cls.__dict__:
            cls.hold = _hold_plans(cls.reads)

    def __call__(self, *inputs: Any, **kwargs: Any) -> Any:
        xs = []
        generation = _NO_VARIABLE
        for x in inputs:
            if isinstance(x, Variable):
                xs.append(x.data)
                if x.generation > generation:
                    generation = x.generation
            else:
                xs.append(x)
        try:
            y = self.forward(*xs, **kwargs)
        except _FORWARD_ERRORS as e:
            raise _forward_error(type(self).__name__, e, xs) from None
        if generation == _NO_VARIABLE:
            return y  # no Variable in sight: a plain array, nothing to record
        if generation >= _DUAL:
            return _dual_output(self, inputs, xs, y, kwargs)
        out = _new_variable(y if y.__class__ is np.ndarray else np.asarray(y))
        if Config.enable_backprop:
            _link(self, inputs, kwargs, generation, out)
        else:
            out.generation = level_base()  # a constant of the running transform
        return out

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
                for x, vjp in zip(self.inputs, self.vjps)]


def _link(f: Function, inputs: tuple, kwargs: dict, generation: int, out: Variable) -> None:
    """Record f as out's creator, holding what its VJPs read (`Function.reads`)."""
    hold = f.hold
    if hold is None:
        f.saved = out.data
    else:
        n = len(inputs)
        if n == 1:  # most operations have one or two inputs: their plans are looked up, not worked out
            plan = hold[0]
            if plan[0]:
                inputs = (_edge(inputs[0]),)
        elif n == 2:
            a, b = inputs
            plan = hold[isinstance(a, Variable) + 2 * isinstance(b, Variable)]
            if plan[0]:
                inputs = (_edge(a), _edge(b) if plan[1] else b)
            elif plan[1]:
                inputs = (a, _edge(b))
        else:
            plan = _plan(f.reads, [isinstance(x, Variable) for x in inputs])
            inputs = tuple([_edge(x) if release else x for x, release in zip(inputs, plan)])
        f.saved = out.data if plan[-1] else None
    f.inputs = inputs
    f.kwargs = kwargs
    f.generation = generation
    f.output = weakref.ref(out)
    out.creator = f
    out.generation = generation + 1


def _edge(x: Variable) -> Any:
    """What a node holds of an input it does not read: the input's creator (which learns the shape the
    VJPs may ask), or the input itself when it is a leaf."""
    f = x.creator
    if f is None:
        return x
    f.shape = x.data.shape
    return f


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


def _primitive_apply(cls: type, forward: Any) -> Any:
    """The callable of a primitive: `Function.__call__` for a `cls` node, written out in one frame.

    Recording is the per-op overhead of every graph (forward passes and create_graph backward passes
    alike), so the node is built right here rather than through ``cls()(*args)``.
    """
    def apply(*args: Any, **kwargs: Any) -> Any:
        for a in args:
            if isinstance(a, Variable):
                break
        else:
            return forward(*args, **kwargs)  # no Variable: plain numpy, nothing to record
        generation = _NO_VARIABLE
        xs = []
        for a in args:
            if isinstance(a, Variable):
                xs.append(a.data)
                if a.generation > generation:
                    generation = a.generation
            else:
                xs.append(a)
        try:
            y = forward(*xs, **kwargs)
        except _FORWARD_ERRORS as e:
            raise _forward_error(cls.__name__, e, xs) from None
        if generation >= _DUAL:
            return _dual_output(cls(), args, xs, y, kwargs)
        out = new(Variable)  # _new_variable, inlined
        out.data = y if y.__class__ is np.ndarray else np.asarray(y)
        out.name = out.grad = out.creator = None
        out.generation = 0
        if Config.enable_backprop:
            _link(cls(), args, kwargs, generation, out)
        else:
            out.generation = level_base()  # a constant of the running transform
        return out

    new = Variable.__new__
    return apply


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


# ----------------------------------------------------------------------------------------------
# Forward mode: values that carry a tangent through every primitive, by its JVP rules.



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


def _seed(y: Variable, grad: Any, create_graph: bool, where: str) -> Any:
    """The cotangent that starts backpropagation: ones, or `grad` checked against y's shape."""
    if grad is None:
        seed = np.ones(y.data.shape, y.data.dtype)
    else:
        if not isinstance(grad, Variable):
            grad = as_data(grad, f"{where}: seed gradient")
        if grad.shape != y.shape:
            raise ValueError(f"{where}: seed gradient has shape {grad.shape} "
                             f"but the output has shape {y.shape}")
        seed = grad
    if create_graph:
        # An array seed is a constant: kept bare, so the parts of the gradient that depend on the
        # seed alone stay plain arrays and are not recorded (nor differentiated again, as in hvp).
        return seed
    return seed.data if isinstance(seed, Variable) else seed


_NODES = (Variable, Function)  # what an input entry that carries a gradient is (a Function: an edge)


def _resolve(x: Any) -> tuple[int, Function | None, Variable | None]:
    """An input entry (a Variable, or an edge: the creator of a value nobody reads) as its gradient's key
    (the creator's id, or a leaf's own), its creator (None for a leaf) and its Variable if alive."""
    if isinstance(x, Variable):
        f = x.creator
        return (id(x) if f is None else id(f)), f, x
    v = x.output()
    if v is not None and v.creator is None:  # unchained since it was recorded: a leaf now
        return id(v), None, v
    return id(x), x, v


def _output_variable(f: Function) -> Variable | None:
    """f's output as a Variable for a recording VJP: the live one, or rebuilt from the saved array."""
    v = f.output()
    if v is None and f.saved is not None:
        v = _new_variable(f.saved)
        v.creator, v.generation = f, f.generation + 1
    return v


def _backprop(y: Variable, seed: Any, create_graph: bool, keep: Any = None, stop_generation: int = -_DUAL,
              retain_graph: bool = True, only: set[int] | None = None) -> tuple[dict[int, Any], list[Variable]]:
    """Push `seed` from y back through its graph in decreasing generation order (a heap, no recursion).

    Returns the gradients by key (`_resolve`), the leaves reached (and, when `keep` is True, every live
    variable reached) in order of first arrival. Gradients of intermediate variables are dropped once
    used unless `keep` is True or holds their key. Functions older than `stop_generation` cannot lead
    to a wanted input and are not visited, nor are functions missing from `only` (ids) when given.
    Without `retain_graph` each function lets go of its inputs once its VJPs have run, so intermediate
    arrays are freed as the pass goes (torch's default; the transforms use it on graphs nobody else holds).
    """
    k, f, _ = _resolve(y)
    grads: dict[int, Any] = {k: seed}
    reached = [y]
    heap: list = []  # (-generation, arrival, function)
    counter = itertools.count()

    def push(f: Function | None, v: Variable | None) -> None:
        # called when f's output (or the leaf v) is first reached, so each function is pushed at most once
        if f is None:
            reached.append(v)
        else:
            if keep is True and v is not None:
                reached.append(v)
            if f.generation >= stop_generation and (only is None or id(f) in only):
                heapq.heappush(heap, (-f.generation, next(counter), f))

    # Raw mode only: keys whose gradient is an array allocated here and shared with nobody, so further
    # contributions may be added into it in place (a VJP may return gy itself, or one array twice).
    owned: set[int] = set()

    def accumulate(k: int, gx: Any) -> None:
        """Add a further gradient gx into grads[k]."""
        if k in owned and grads[k].dtype == np.result_type(grads[k], gx):
            grads[k] += gx
        else:
            grads[k] = grads[k] + gx
            if not create_graph and type(grads[k]) is np.ndarray:
                owned.add(k)

    def scatter_into(f: Function, x: Any, gy: np.ndarray) -> None:
        """Raw mode: add f's input gradient into x's gradient, without a zero-padded temporary."""
        k, g, v = _resolve(x)
        buf = grads.get(k)
        if buf is None:  # first arrival: f's VJP makes a fresh zero-padded array, private to us
            grads[k] = f.vjps[0](gy, f.saved, x.data if isinstance(x, Variable) else x, **f.kwargs)
            owned.add(k)
            push(g, v)
            return
        if k not in owned or buf.dtype != np.result_type(buf, gy):
            buf = grads[k] = np.array(buf, np.result_type(buf, gy))
            owned.add(k)
        f.add_grad_into(buf, gy, **f.kwargs)

    if f is not None:
        push(f, None)
    keep_all = keep is True
    heappop, heappush, ndarray = heapq.heappop, heapq.heappush, np.ndarray  # locals: this loop is hot
    with using_config("enable_backprop", create_graph):
        while heap:
            f = heappop(heap)[2]
            k = id(f)
            gy = grads[k] if keep_all or (keep and k in keep) else grads.pop(k)
            owned.discard(k)  # gy may now be passed on as is (add's backward): no longer private
            inputs = f.inputs
            if not inputs:
                if inputs is None:
                    raise RuntimeError(f"backward through a {type(f).__name__} node whose graph was already "
                                       f"freed by a pass with retain_graph=False")
                continue  # cut off by unchain
            gxs: Sequence[Any] = ()  # the shortcuts below add into grads themselves
            k0 = _resolve(inputs[0])[0] if f.add_grad_into is not None and isinstance(inputs[0], _NODES) else None
            if create_graph and k0 in grads:
                grads[k0] = f.add_grad_onto(grads[k0], gy, **f.kwargs)
            elif not create_graph and k0 is not None:
                scatter_into(f, inputs[0], gy)
            else:
                # with create_graph the VJPs get Variables and record the gradient's graph; else bare arrays
                # (an edge stays an edge: its VJP reads only its shape)
                y_, xs = (_output_variable(f), inputs) if create_graph else (
                    f.saved, [x.data if isinstance(x, Variable) else x for x in inputs])
                if f.primitive:  # call its VJPs right here (None: the input gets no gradient, HIPS's zeros)
                    if len(inputs) == 1 and f.vjps[0] is not None:
                        gxs = (f.vjps[0](gy, y_, *xs, **f.kwargs),)
                    else:
                        gxs = [vjp(gy, y_, *xs, **f.kwargs) if vjp is not None and isinstance(x, _NODES) else None
                               for x, vjp in zip(inputs, f.vjps)]
                else:
                    gxs = f.backward(gy, y_, *xs, **f.kwargs)
            if not retain_graph:  # `inputs` stays alive here until its gradients are passed on
                f.inputs = f.saved = None
            for x, gx in zip(inputs, gxs):
                if gx is None:
                    continue
                if isinstance(x, Variable):  # _resolve, inlined for the usual case
                    g = x.creator
                    k, v, shape = (id(x) if g is None else id(g)), x, x.data.shape
                elif isinstance(x, Function):  # an edge
                    v, shape = x.output(), x.shape
                    k, g = (id(v), None) if v is not None and v.creator is None else (id(x), x)
                else:
                    continue
                if (gx.shape if gx.__class__ is ndarray else _shape(gx)) != shape:
                    raise RuntimeError(f"{type(f).__name__}.backward returned a gradient of shape "
                                       f"{np.shape(gx)} for an input of shape {shape}")
                if k in grads:
                    accumulate(k, gx)
                    continue
                grads[k] = gx  # first arrival: push, inlined
                if g is None:
                    reached.append(v)
                    continue
                if keep_all and v is not None:
                    reached.append(v)
                if g.generation >= stop_generation and (only is None or id(g) in only):
                    heappush(heap, (-g.generation, next(counter), g))
    return grads, reached


def _leading_to(y: Variable, targets: set[int], stop_generation: int) -> set[int]:
    """Ids of the functions behind y from which a target (keys, see `_resolve`) can be reached: a
    depth-first walk, each function marked after its inputs' creators (torch's exec_info does the same)."""
    leads: set[int] = set()
    visited: set[int] = set()
    # (function, None) to visit; (function, its resolved inputs) to mark once those have been visited
    stack: list[tuple[Function, list | None]] = [(y.creator, None)] if y.creator is not None else []
    while stack:
        f, entries = stack.pop()
        if entries is not None:
            if any(k in targets or k in leads for k, _, _ in entries):
                leads.add(id(f))
        elif id(f) not in visited and f.generation >= stop_generation:
            visited.add(id(f))
            entries = [_resolve(x) for x in f.inputs if isinstance(x, _NODES)]
            stack.append((f, entries))
            stack.extend((g, None) for _, g, _ in entries if g is not None)
    return leads


def gradients(y: Variable, inputs: Sequence[Variable], grad: Any = None, create_graph: bool = False,
              retain_graph: bool = True) -> list[Any]:
    """d(y)/d(inputs) as a list (None where y does not depend on an input), like torch.autograd.grad.

    No `.grad` is touched. Inputs may be intermediate variables: backpropagation stops there. With
    `retain_graph=False` the graph is freed as the pass goes and cannot be backpropagated again.
    """
    if y.__class__ is Dual or any(x.__class__ is Dual for x in inputs):
        raise MixedModesError("gradients: reverse mode through a forward-mode Dual (from jvp) is not "
                              "supported; call jvp on Variables to nest it inside reverse mode")
    seed = _seed(y, grad, create_graph, "gradients")
    keys = [_resolve(x)[0] for x in inputs]
    keep = set(keys)
    generations = {x.generation for x in inputs}
    stop = min(generations, default=-_DUAL)
    # Inputs made inside the graph at different depths (MAML's adapted parameters) let the generation bound
    # through the history of the deeper ones, which backprop would walk for nothing: then visit only the
    # functions that lead to an input.
    only = _leading_to(y, keep, stop) if len(generations) > 1 else None
    grads, _ = _backprop(y, seed, create_graph, keep=keep, stop_generation=stop, retain_graph=retain_graph,
                         only=only)
    return _in_dtypes(_caller_grads([grads.get(k) for k in keys], seed), inputs)


def _in_dtypes(grads: list[Variable | None], inputs: Sequence[Variable]) -> list[Variable | None]:
    """Each gradient in its input's dtype (a float32 input met by a float64 constant gets a float32
    gradient, as torch and JAX give); cast differentiably when the gradient is recorded."""
    for i, (g, x) in enumerate(zip(grads, inputs)):
        if g is not None and g.data.dtype != x.data.dtype:
            grads[i] = _cast(g, x.data.dtype) if g.creator is not None else _new_variable(g.data.astype(x.data.dtype))
    return grads
