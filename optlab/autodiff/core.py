"""The kernel: Variable, Function and generation-ordered backpropagation.

Every derivative is written with differentiable functions, so the graph of a gradient can itself be
differentiated (``create_graph=True``). When no graph is wanted the same derivative code runs on bare
ndarrays, at numpy speed: a function given no Variable returns a plain array and records nothing.
"""
from __future__ import annotations

import contextlib
import heapq
import itertools
import weakref
from typing import Any, Iterator, Sequence

import numpy as np


class Config:
    """Global switch: record the graph or not (see `no_grad`)."""

    enable_backprop = True


@contextlib.contextmanager
def using_config(name: str, value: Any) -> Iterator[None]:
    """Set one `Config` attribute for the duration of a block, restoring the previous value."""
    old = getattr(Config, name)
    setattr(Config, name, value)
    try:
        yield
    finally:
        setattr(Config, name, old)


def no_grad() -> contextlib.AbstractContextManager:
    """Record no graph inside the block; nestable, restores the previous state on exit."""
    return using_config("enable_backprop", False)


def enable_grad() -> contextlib.AbstractContextManager:
    """Record the graph inside the block, even within `no_grad`."""
    return using_config("enable_backprop", True)


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


class Variable:
    """A node holding an ndarray, its gradient and the Function that created it."""

    __slots__ = ("data", "name", "grad", "creator", "generation", "__weakref__")
    __array_ufunc__ = None  # numpy defers to our reflected operators: ndarray * Variable -> Variable

    def __init__(self, data: Any, name: str | None = None) -> None:
        self.data = as_data(data)
        self.name = name
        self.grad: Variable | None = None
        self.creator: Function | None = None
        self.generation = 0

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

    def unchain(self) -> None:
        """Forget the creator: this variable becomes a leaf."""
        self.creator = None

    def unchain_backward(self) -> None:
        """Cut the whole graph behind this variable (truncated backprop)."""
        funcs = [self.creator] if self.creator is not None else []
        self.unchain()
        while funcs:
            for x in funcs.pop().inputs:
                if isinstance(x, Variable) and x.creator is not None:
                    funcs.append(x.creator)
                    x.unchain()

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
        for v, g in zip(targets, _caller_grads([grads[id(v)] for v in targets], seed)):
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
        out.append(g)
    return out


def _shape(x: Any) -> tuple[int, ...]:
    """np.shape(x), without its overhead for the usual ndarray or Variable (hot in every backward)."""
    if isinstance(x, np.ndarray):
        return x.shape
    if isinstance(x, Variable):
        return x.data.shape
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
    ``optlab.autodiff.functions`` and numpy operators only. Built-ins give one VJP per input in `vjps`.
    """

    __slots__ = ("inputs", "output", "generation", "kwargs")
    vjps: tuple = ()
    # Optional shortcuts for a one-input f whose gradient is gy scattered into zeros (getitem), used when
    # its input already has a gradient: add_grad_into(buf, gy, **kwargs) adds into that array in place
    # (raw mode); add_grad_onto(acc, gy, **kwargs) returns acc plus it, differentiably (create_graph).
    add_grad_into = None
    add_grad_onto = None
    # Forward mode: one JVP per input, ``jvp(t, y, *xs, **kwargs)``, the output's tangent from that input's
    # tangent t, on bare arrays (None: the input is a constant). See `jvp` and `Dual`.
    jvps: tuple = ()

    def __call__(self, *inputs: Any, **kwargs: Any) -> Any:
        xs = []
        generation = -1
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
        if generation < 0:
            return y  # no Variable in sight: a plain array, nothing to record
        if generation >= _DUAL:
            return _dual_output(self, inputs, xs, y, kwargs)
        out = _new_variable(y if y.__class__ is np.ndarray else np.asarray(y))
        if Config.enable_backprop:
            _link(self, inputs, kwargs, generation, out)
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
        return [vjp(gy, y, *xs, **kwargs) if isinstance(x, Variable) else None
                for x, vjp in zip(self.inputs, self.vjps)]


def _link(f: Function, inputs: tuple, kwargs: dict, generation: int, out: Variable) -> None:
    """Record f as out's creator: the one edge an operation adds to the graph."""
    f.inputs = inputs
    f.kwargs = kwargs
    f.generation = generation
    f.output = weakref.ref(out)
    out.creator = f
    out.generation = generation + 1


def _primitive_apply(cls: type, forward: Any) -> Any:
    """The callable of a primitive: `Function.__call__` for a `cls` node, written out in one frame.

    Recording is the per-op overhead of every graph (forward passes and create_graph backward passes
    alike), so the node is built right here rather than through ``cls()(*args)``.
    """
    def apply(*args: Any, **kwargs: Any) -> Any:
        generation = -1
        for a in args:
            if isinstance(a, Variable) and a.generation > generation:
                generation = a.generation
        if generation < 0:
            return forward(*args, **kwargs)  # no Variable: plain numpy, nothing to record
        xs = [a.data if isinstance(a, Variable) else a for a in args]
        try:
            y = forward(*xs, **kwargs)
        except _FORWARD_ERRORS as e:
            raise _forward_error(cls.__name__, e, xs) from None
        if generation >= _DUAL:
            return _dual_output(cls(), args, xs, y, kwargs)
        out = _new_variable(y if y.__class__ is np.ndarray else np.asarray(y))
        if Config.enable_backprop:
            _link(cls(), args, kwargs, generation, out)
        return out

    return apply


# ----------------------------------------------------------------------------------------------
# Forward mode: values that carry a tangent through every primitive, by its JVP rules.

_DUAL = 1 << 62  # a Dual's generation: above any recorded one, so the max over inputs spots a Dual


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
        seed = np.ones_like(y.data)
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


def _backprop(y: Variable, seed: Any, create_graph: bool, keep: Any = None, stop_generation: int = 0,
              retain_graph: bool = True, only: set[int] | None = None) -> tuple[dict[int, Any], list[Variable]]:
    """Push `seed` from y back through its graph in decreasing generation order (a heap, no recursion).

    Returns the gradients by variable id, the leaves reached (and, when `keep` is True, every variable
    reached) in order of first arrival. Gradients of intermediate variables are dropped once
    used unless `keep` is True or holds their id. Functions older than `stop_generation` cannot lead
    to a wanted input and are not visited, nor are functions missing from `only` (ids) when given. Without `retain_graph` each function lets go of its inputs
    once its VJPs have run, so intermediate arrays are freed as the pass goes (torch's default; the
    functional transforms use it on graphs nobody else holds).
    """
    grads: dict[int, Any] = {id(y): seed}
    reached = [y]
    heap: list = []  # (-generation, arrival, function, its output): the heap holds the output alive
    counter = itertools.count()

    def push(x: Variable) -> None:
        # called when x is first reached; x is f's only output, so each function is pushed at most once
        f = x.creator
        if f is None:
            reached.append(x)
        else:
            if keep is True:
                reached.append(x)
            if f.generation >= stop_generation and (only is None or id(f) in only):
                heapq.heappush(heap, (-f.generation, next(counter), f, x))

    # Raw mode only: ids whose gradient is an array allocated here and shared with nobody, so further
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

    def scatter_into(f: Function, x: Variable, gy: np.ndarray, y: np.ndarray) -> None:
        """Raw mode: add f's input gradient into x's gradient, without a zero-padded temporary."""
        k = id(x)
        buf = grads.get(k)
        if buf is None:  # first arrival: f's VJP makes a fresh zero-padded array, private to us
            grads[k] = f.vjps[0](gy, y, x.data, **f.kwargs)
            owned.add(k)
            push(x)
            return
        if k not in owned or buf.dtype != np.result_type(buf, gy):
            buf = grads[k] = np.array(buf, np.result_type(buf, gy))
            owned.add(k)
        f.add_grad_into(buf, gy, **f.kwargs)

    if y.creator is not None and y.creator.generation >= stop_generation:
        heapq.heappush(heap, (-y.creator.generation, next(counter), y.creator, y))
    with using_config("enable_backprop", create_graph):
        while heap:
            _, _, f, out = heapq.heappop(heap)
            k = id(out)
            gy = grads[k] if keep is True or (keep and k in keep) else grads.pop(k)
            owned.discard(k)  # gy may now be passed on as is (add's backward): no longer private
            inputs = f.inputs
            if inputs is None:
                raise RuntimeError(f"backward through a {type(f).__name__} node whose graph was already "
                                   f"freed by a pass with retain_graph=False")
            gxs: Sequence[Any] = ()  # the shortcuts below add into grads themselves
            if create_graph and f.add_grad_onto is not None and id(inputs[0]) in grads:
                grads[id(inputs[0])] = f.add_grad_onto(grads[id(inputs[0])], gy, **f.kwargs)
            elif not create_graph and f.add_grad_into is not None and isinstance(inputs[0], Variable):
                scatter_into(f, inputs[0], gy, out.data)
            else:
                # with create_graph the VJPs get Variables and record the gradient's graph; else bare arrays
                y_, xs = (out, inputs) if create_graph else (out.data, [x.data if isinstance(x, Variable) else x
                                                                     for x in inputs])
                if type(f).backward is Function.backward:  # a primitive: call its VJPs right here
                    gxs = [vjp(gy, y_, *xs, **f.kwargs) if isinstance(x, Variable) else None
                           for x, vjp in zip(inputs, f.vjps)]
                else:
                    gxs = f.backward(gy, y_, *xs, **f.kwargs)
            if not retain_graph:  # `inputs` stays alive here until its gradients are passed on
                f.inputs = None
            for x, gx in zip(inputs, gxs):
                if gx is None or not isinstance(x, Variable):
                    continue
                if _shape(gx) != x.data.shape:
                    raise RuntimeError(f"{type(f).__name__}.backward returned a gradient of shape "
                                       f"{np.shape(gx)} for an input of shape {x.shape}")
                k = id(x)
                if k in grads:
                    accumulate(k, gx)
                else:  # first arrival
                    grads[k] = gx
                    push(x)
    return grads, reached


def _leading_to(y: Variable, targets: set[int], stop_generation: int) -> set[int]:
    """Ids of the functions behind y from which a variable in `targets` (ids) can be reached: a depth-first
    walk, each function marked after its inputs' creators (torch's exec_info does the same)."""
    leads: set[int] = set()
    visited: set[int] = set()
    stack: list[tuple[Function, bool]] = [(y.creator, False)] if y.creator is not None else []
    while stack:
        f, inputs_done = stack.pop()
        if inputs_done:
            if any(isinstance(x, Variable) and (id(x) in targets or id(x.creator) in leads) for x in f.inputs):
                leads.add(id(f))
        elif id(f) not in visited and f.generation >= stop_generation:
            visited.add(id(f))
            stack.append((f, True))
            stack.extend((x.creator, False) for x in f.inputs if isinstance(x, Variable) and x.creator is not None)
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
    keep = {id(x) for x in inputs}
    stop = min((x.generation for x in inputs), default=0)
    # An input made inside the graph (MAML's adapted parameters, a transform's identity node) has a history
    # behind it that backprop would otherwise walk for nothing: visit only functions that lead to an input.
    only = _leading_to(y, keep, stop) if any(x.creator is not None for x in inputs) else None
    grads, _ = _backprop(y, seed, create_graph, keep=keep, stop_generation=stop, retain_graph=retain_graph,
                         only=only)
    return _caller_grads([grads.get(id(x)) for x in inputs], seed)
