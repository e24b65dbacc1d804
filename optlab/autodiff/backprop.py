"""Backpropagation: generation-ordered (a heap, no recursion), for `Variable.backward` and `gradients`."""
from __future__ import annotations

import heapq
import itertools
from typing import Any, Callable, Sequence

import numpy as np

from .config import _DUAL, level_base, using_config
from .node import (
    _NODES,
    Dual,
    Edge,
    Function,
    MixedModesError,
    Variable,
    _cast,
    _new_variable,
    _resolve,
    _shape,
    as_data,
)


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


def _seed(y: Variable, grad: Any, create_graph: bool, where: str) -> Any:
    """The cotangent that starts backpropagation: ones, or `grad` checked against y's shape."""
    if y.data.dtype.kind == "c":
        raise TypeError(f"{where}: the output is complex ({y.data.dtype}); the kernel differentiates real "
                        f"functions only: keep every step real")
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


def _output_variable(f: Function) -> Variable | None:
    """f's output as a Variable for a recording VJP: the live one, or rebuilt from the saved array."""
    v = f.output()
    if v is None and f.saved is not None:
        v = _new_variable(f.saved)
        v.creator, v.generation = f, f.generation + 1
    return v


def _run_vjps(f: Function, inputs: tuple, gy: Any, create_graph: bool) -> Sequence[Any]:
    """f's input gradients from its output's gy. With create_graph the VJPs get Variables and record the
    gradient's graph; else bare arrays (an edge stays an edge: its VJP reads only its shape). A None VJP
    gives its input no gradient (HIPS's zeros). `inputs` is f.inputs (not freed)."""
    xs: Sequence[Any]
    if create_graph:
        y, xs = _output_variable(f), inputs
    else:
        y, xs = f.saved, [x.data if isinstance(x, Variable) else x for x in inputs]
    if not f.primitive:  # a user's Function: a one-input backward may return its gradient bare, as DeZero's
        gxs = f.backward(gy, y, *xs, **f.kwargs)
        return gxs if isinstance(gxs, (tuple, list)) else (gxs,)
    if len(inputs) == 1 and f.vjps[0] is not None:  # most functions: one input, no list to build
        return (f.vjps[0](gy, y, *xs, **f.kwargs),)
    return [vjp(gy, y, *xs, **f.kwargs) if vjp is not None and isinstance(x, _NODES) else None
            for x, vjp in zip(inputs, f.vjps)]


def _check_not_freed(f: Function) -> None:
    if f.inputs is None:
        raise RuntimeError(f"backward through a {type(f).__name__} node whose graph was already freed by a "
                           f"pass with retain_graph=False")


def _wrong_shape(f: Function, gx: Any, shape: tuple) -> None:
    raise RuntimeError(f"{type(f).__name__}.backward returned a gradient of shape {np.shape(gx)} for an "
                       f"input of shape {shape}")


class _Pass:
    """One backward pass's state: the gradients by key (`_resolve`), the variables reached, the heap of
    functions still to visit, and which gradient arrays the pass owns (raw mode adds into those in place)."""

    __slots__ = ("counter", "create_graph", "grads", "heap", "keep", "keep_all", "only", "owned", "reached",
                 "stop_generation")

    def __init__(self, y: Variable, seed: Any, create_graph: bool, keep: Any, stop_generation: int,
                 only: set[int] | None) -> None:
        k, f, _ = _resolve(y)
        self.grads: dict[int, Any] = {k: seed}
        self.reached = [y]
        self.heap: list = []  # (-generation, arrival, function)
        self.counter = itertools.count()
        # Raw mode only: keys whose gradient is an array allocated here and shared with nobody, so further
        # contributions may be added into it in place (a VJP may return gy itself, or one array twice).
        self.owned: set[int] = set()
        self.create_graph, self.keep, self.keep_all = create_graph, keep, keep is True
        self.stop_generation, self.only = stop_generation, only
        if f is not None:
            self.visit(f)

    def visit(self, f: Function) -> None:
        """Put f on the heap (called when its output is first reached, so at most once per function),
        unless it is older than `stop_generation` or missing from `only`: then it cannot lead to an input."""
        if f.generation >= self.stop_generation and (self.only is None or id(f) in self.only):
            heapq.heappush(self.heap, (-f.generation, next(self.counter), f))

    def arrive(self, g: Function | None, v: Variable | None) -> None:
        """A first gradient for v (g: its creator, None for a leaf): a leaf is reached, a creator visited."""
        if g is None:
            if v is not None:  # always, for a leaf
                self.reached.append(v)
            return
        if self.keep_all and v is not None:
            self.reached.append(v)
        self.visit(g)

    def accumulate(self, k: int, gx: Any) -> None:
        """Add a further gradient gx into grads[k] (in place into an array the pass owns)."""
        grads = self.grads
        if k in self.owned and grads[k].dtype == np.result_type(grads[k], gx):
            grads[k] += gx
        else:
            grads[k] = grads[k] + gx
            if not self.create_graph and type(grads[k]) is np.ndarray:
                self.owned.add(k)

    def shortcut(self, f: Function, x: Any, gy: Any) -> bool:
        """Step 2 for getitem (`Function.add_grad_into`): gy added into its input's gradient directly,
        without a zero-padded temporary; x is f's one input. False when the VJP must run instead."""
        add_into, add_onto = f.add_grad_into, f.add_grad_onto
        if not isinstance(x, _NODES) or add_into is None or add_onto is None:
            return False
        if not self.create_graph:
            self.scatter_into(f, x, gy, add_into)
            return True
        k = _resolve(x)[0]
        if k not in self.grads:
            return False
        self.grads[k] = add_onto(self.grads[k], gy, **f.kwargs)
        return True

    def scatter_into(self, f: Function, x: Any, gy: np.ndarray, add_into: Callable[..., None]) -> None:
        """Raw mode: add f's input gradient into x's gradient in place (a fresh zero-padded array, ours,
        on first arrival)."""
        k, g, v = _resolve(x)
        grads, owned = self.grads, self.owned
        buf = grads.get(k)
        if buf is None:
            grads[k] = f.vjps[0](gy, f.saved, x.data if isinstance(x, Variable) else x, **f.kwargs)
            owned.add(k)
            self.arrive(g, v)
            return
        if k not in owned or buf.dtype != np.result_type(buf, gy):
            buf = grads[k] = np.array(buf, np.result_type(buf, gy))
            owned.add(k)
        add_into(buf, gy, **f.kwargs)


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
    state = _Pass(y, seed, create_graph, keep, stop_generation, only)
    grads, reached, heap, owned, counter = state.grads, state.reached, state.heap, state.owned, state.counter
    keep_all, accumulate, shortcut = state.keep_all, state.accumulate, state.shortcut
    heappop, heappush, heappushpop, ndarray = heapq.heappop, heapq.heappush, heapq.heappushpop, np.ndarray
    # The three steps are written out in this loop, with `_resolve` and `_Pass.arrive`/`visit` inlined: it
    # runs once per node and its inner loop once per edge. Measured (chain of 150 nodes, grad): the same
    # steps as `_Pass` methods (take, hand_out, arrive) cost 8.4-11.6% (median, min of 21 rounds).
    after: Function | None = None  # the first function the last hand-out visited, not yet on the heap
    after_count = 0
    with using_config("enable_backprop", create_graph):
        while True:
            # 1. the next function by generation, and its output's gradient (dropped unless kept). The first
            # function a step visits skips the heap when it is the newest (always, along a chain).
            if after is not None:
                f = heappushpop(heap, (-after.generation, after_count, after))[2] if heap else after
                after = None
            elif heap:
                f = heappop(heap)[2]
            else:
                break
            k = id(f)
            gy = grads[k] if keep_all or (keep and k in keep) else grads.pop(k)
            owned.discard(k)  # gy may now be passed on as is (add's backward): no longer private
            inputs = f.inputs
            if not inputs:
                _check_not_freed(f)
                continue  # cut off by unchain
            # 2. its VJPs, or getitem's shortcut that adds into the gradients itself
            if f.add_grad_into is not None and shortcut(f, inputs[0], gy):
                gxs: Sequence[Any] = ()
            elif create_graph or not f.primitive or len(inputs) != len(f.vjps) or len(inputs) > 2:
                gxs = _run_vjps(f, inputs, gy, create_graph)
            else:  # raw mode, one or two inputs: `_run_vjps` written out (with the heap skip above, chain grad
                # 6.27M -> 5.23M instructions per call, callgrind: -17%)
                vjps, y, kwargs = f.vjps, f.saved, f.kwargs
                if len(inputs) == 1:
                    x, vjp = inputs[0], vjps[0]
                    # `__class__ is` first (nearly every input), isinstance for a user's subclass of Variable
                    xd = x.data if x.__class__ is Variable or isinstance(x, Variable) else x
                    gxs = (None if vjp is None else vjp(gy, y, xd, **kwargs),)
                else:
                    (a, b), (va, vb) = inputs, vjps
                    xa = a.data if a.__class__ is Variable or isinstance(a, Variable) else a
                    xb = b.data if b.__class__ is Variable or isinstance(b, Variable) else b
                    gxs = (None if va is None or not isinstance(a, _NODES) else va(gy, y, xa, xb, **kwargs),
                           None if vb is None or not isinstance(b, _NODES) else vb(gy, y, xa, xb, **kwargs))
            if not retain_graph:  # `inputs` stays alive here until its gradients are handed out
                f.inputs = f.saved = None
            # 3. each input's part: added to its gradient, or stored and its creator visited on first arrival
            for x, gx in zip(inputs, gxs):
                if gx is None:
                    continue
                if isinstance(x, Variable):
                    g = x.creator
                    k, v, shape = (id(x) if g is None else id(g)), x, x.data.shape
                elif x.__class__ is Edge:
                    g, shape = x.creator, x.shape
                    v = g.output()
                    k, g = (id(v), None) if v is not None and v.creator is None else (id(g), g)
                else:
                    continue
                if (gx.shape if gx.__class__ is ndarray else _shape(gx)) != shape:
                    _wrong_shape(f, gx, shape)
                if k in grads:
                    accumulate(k, gx)
                    continue
                grads[k] = gx
                if g is None:
                    reached.append(v)
                    continue
                if keep_all and v is not None:
                    reached.append(v)
                if g.generation >= stop_generation and (only is None or id(g) in only):
                    if after is None:
                        after, after_count = g, next(counter)
                    else:
                        heappush(heap, (-g.generation, next(counter), g))
    return state.grads, state.reached


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
            entries = [_resolve(x) for x in f.inputs or () if isinstance(x, _NODES)]
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
            if g.creator is not None:
                grads[i] = _cast(g, x.data.dtype)
            else:  # a constant gradient: the copy keeps its generation, the level it was made at (jit reads it)
                grads[i] = cast = _new_variable(g.data.astype(x.data.dtype))
                cast.generation = g.generation
    return grads


def backward(self: Variable, retain_grad: bool = False, create_graph: bool = False, grad: Any = None) -> None:
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
        if g is None:  # never: every target was reached, so it has a gradient
            continue
        if v.grad is None:
            v.grad = g
        else:
            v.grad = v.grad + g if create_graph else _new_variable(v.grad.data + g.data)


Variable.backward = backward  # here, beside the pass it runs
