"""Functional transforms: grad, value_and_grad, jacobian, hessian, hvp, jvp, vjp, ggnvp, elementwise_grad.

They take and return numpy arrays, or pytrees of them (tuples, lists, dicts; see `tree`). Each runs one
level deeper than the transform around it (`core.transform_level`); when its function's output depends
on a value from outside (an outer transform's input, a Variable held by a closure) or its arguments are
Variables, it records its derivative's graph and returns Variables, which is all it takes to nest:
``grad(grad(f))``, or an inner ``grad`` closing over the outer input. Each transform starts its inputs
at fresh nodes (`identity`), so backpropagation stops there and never spills into an enclosing graph.

`jvp` is forward mode: f applied to `Dual`s carrying v, one pass (inside another jvp's forward pass, on
Variables, or when f itself differentiates or has a Function without JVP rules, the double-VJP trick
instead). `hvp` is reverse-over-reverse (Pearlmutter's double backprop). Forward-over-reverse was built
and measured slower on every problem tried (docs/architecture.md), so it is not used.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from . import functions as F
from .backprop import _caller_grads, gradients
from .config import Config, enable_grad, transform_level, using_config
from .node import Dual, MixedModesError, Variable, _data, made_outside
from .primitive import SELF_ADJOINT
from .tree import TreeDef, flatten, is_leaf, tree_map, unflatten

identity = F.primitive("identity", lambda x: x, lambda g, y, x: g, jvp=SELF_ADJOINT, reads=((),))


def _start(x: Any) -> Variable:
    """A fresh input node: a leaf for an array, an identity node over a Variable (to keep nesting)."""
    return identity(x) if isinstance(x, Variable) else Variable(x)


def _finish(v: Any, like: Variable, nested: bool) -> Any:
    """Zeros where the output did not depend on the input; bare arrays unless nested."""
    if v is None:
        v = Variable(np.zeros_like(like.data))
    return v if nested else v.data


def _name(f: Callable) -> str:
    return getattr(f, "__name__", type(f).__name__)


def _as_output(y: Any, f: Callable, where: str) -> Variable:
    """f's result as one Variable; a result that cannot be one is an error naming f and what to do."""
    if isinstance(y, Variable):
        v = y
    elif y is None:
        raise TypeError(f"{where}: {_name(f)} returned None; it must return its value (did it miss a return?)")
    elif isinstance(y, (list, tuple, dict)):
        raise TypeError(f"{where}: {_name(f)} returned a {type(y).__name__}; it must return one array "
                        f"(use F.stack or F.concatenate to join values; with has_aux=True return (value, aux))")
    else:
        try:
            v = Variable(y)
        except TypeError as e:
            raise TypeError(f"{where}: {_name(f)} returned {type(y).__name__}, not a numeric array ({e})") from None
    if v.data.dtype.kind == "c":
        raise TypeError(f"{where}: {_name(f)} computed a complex value ({v.data.dtype}); the kernel "
                        f"differentiates real functions only: keep every step of {_name(f)} real")
    return v


def _as_outputs(y: Any, f: Callable, where: str) -> tuple[list[Variable], TreeDef]:
    """f's result as the Variables at its pytree's leaves (jacobian, jvp and vjp allow pytree outputs)."""
    if y is None:
        _as_output(y, f, where)
    leaves, treedef = flatten(y)
    return [_as_output(v, f, where) for v in leaves], treedef


def _split_aux(out: Any, f: Callable, where: str, has_aux: bool) -> tuple[Any, Any]:
    if not has_aux:
        return out, None
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise TypeError(f"{where}: {_name(f)} must return a pair (value, aux) with has_aux=True, "
                        f"got {type(out).__name__}")
    return out[0], out[1]


def _argnums(argnums: int | Sequence[int]) -> tuple[tuple[int, ...], bool]:
    if isinstance(argnums, (int, np.integer)):
        return (int(argnums),), True
    return tuple(argnums), False


def _check_argnums(where: str, nums: Sequence[int], n: int) -> None:
    """Name the transform when argnums points past the positional arguments."""
    if any(not -n <= i < n for i in nums):
        raise ValueError(f"{where}: argnums {tuple(nums)} out of range for {n} positional argument(s)")


class _Inputs:
    """The arguments a transform differentiates with respect to: each a pytree, its leaves started at
    fresh nodes (`_start`), regrouped into trees of results by `group`."""

    def __init__(self, args: list, nums: Sequence[int]) -> None:
        self.nums = nums
        self.defs: list[TreeDef] = []
        self.starts: list[Variable] = []
        self.nested = False
        for i in nums:
            leaves, treedef = flatten(args[i])
            self.nested = self.nested or any(isinstance(x, Variable) for x in leaves)
            xs = [_start(x) for x in leaves]
            self.defs.append(treedef)
            self.starts.extend(xs)
            args[i] = unflatten(treedef, xs)

    def group(self, values: Sequence[Any], single: bool) -> Any:
        """Per-leaf values as trees shaped like the arguments (one tree, or a tuple of them)."""
        it = iter(values)
        trees = [unflatten(d, it) for d in self.defs]
        return trees[0] if single else tuple(trees)


def _plain(tree: Any, nested: bool) -> Any:
    """A result for the caller: Variables when nested, else their arrays."""
    return tree if nested else tree_map(lambda v: _data(v), tree)


def value_and_grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """f(*args) and its gradient with respect to args[argnums] (each a pytree); f must return a scalar,
    or (scalar, aux) with `has_aux`, and then ((value, aux), gradient) is returned."""
    return _value_and_grad(f, argnums, has_aux, "value_and_grad")


def _value_and_grad(f: Callable, argnums: int | Sequence[int], has_aux: bool, where: str) -> Callable:
    """value_and_grad, its errors naming the transform the user called (`where`)."""
    nums, single = _argnums(argnums)

    def value_and_grad_f(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        _check_argnums(where, nums, len(args))
        given = list(args)  # _Inputs puts the fresh input nodes in place
        with enable_grad(), transform_level() as level:
            inputs = _Inputs(given, nums)
            out, aux = _split_aux(f(*given, **kwargs), f, where, has_aux)
            y = _as_output(out, f, where)
            if y.size != 1:
                raise ValueError(f"{where}: {_name(f)} must return a scalar, got shape {y.shape}; "
                                 f"use jacobian or vjp for vector outputs")
            nested = inputs.nested or made_outside(y, level)
            gs = gradients(y, inputs.starts, create_graph=nested, retain_graph=nested)  # a graph only we hold
            gs = [_finish(g, x, nested) for g, x in zip(gs, inputs.starts)]
        value: Any = y if nested else y.data
        if has_aux:
            value = (value, _plain(aux, nested))
        return value, inputs.group(gs, single)

    return value_and_grad_f


def grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """The gradient function of a scalar f; nests, so grad(grad(f)) is the second derivative.
    With `has_aux`, f returns (scalar, aux) and the gradient function returns (gradient, aux)."""
    return _grad(f, argnums, has_aux, "grad")


def _grad(f: Callable, argnums: int | Sequence[int], has_aux: bool, where: str) -> Callable:
    vg = _value_and_grad(f, argnums, has_aux, where)

    def grad_f(*args: Any, **kwargs: Any) -> Any:
        value, g = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return grad_f


def elementwise_grad(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The gradient of the sum of f's outputs (HIPS autograd's elementwise_grad): for an elementwise f,
    the derivative of each output element with respect to its input element."""
    def summed(*args: Any, **kwargs: Any) -> Any:
        ys, _ = _as_outputs(f(*args, **kwargs), f, "elementwise_grad")
        total = F.sum(ys[0])
        for y in ys[1:]:
            total = total + F.sum(y)
        return total

    summed.__name__ = _name(f)
    return _grad(summed, argnums, False, "elementwise_grad")


def _inner(pairs: Sequence[tuple[Any, Any]]) -> Any:
    """sum_i <a_i, b_i> over pytree leaves, as one differentiable scalar."""
    total = None
    for a, b in pairs:
        term = F.sum(a * b)
        total = term if total is None else total + term
    return total


def vjp(f: Callable, x: Any, has_aux: bool = False) -> tuple[Any, ...]:
    """f(x) and the pullback v -> v^T J, reusable for many cotangents v; x, f(x) and v may be pytrees.
    With `has_aux`, f returns (value, aux) and (f(x), pullback, aux) is returned (as JAX)."""
    with enable_grad(), transform_level() as level:
        args = [x]
        inputs = _Inputs(args, (0,))
        out, aux = _split_aux(f(*args), f, "vjp", has_aux)
        ys, ydef = _as_outputs(out, f, "vjp")
        nested = inputs.nested or any(made_outside(y, level) for y in ys)

    def pullback(v: Any) -> Any:
        vs, vdef = flatten(v)
        if len(vs) != len(ys) or any(np.shape(_data(a)) != b.shape for a, b in zip(vs, ys)):
            got = [np.shape(_data(a)) for a in vs]
            want = [b.shape for b in ys]
            got_s, want_s = (got[0], want[0]) if len(got) == len(want) == 1 else (got, want)
            raise ValueError(f"vjp: cotangent has shape {got_s} but f(x) has shape {want_s}")
        record = nested or any(isinstance(a, Variable) for a in vs)
        with enable_grad():
            if len(ys) == 1:
                gs = gradients(ys[0], inputs.starts, grad=vs[0], create_graph=record)
            else:
                gs = gradients(_inner(list(zip(ys, vs))), inputs.starts, create_graph=record)
            return inputs.group([_finish(g, s, record) for g, s in zip(gs, inputs.starts)], True)

    if has_aux:
        return _plain(unflatten(ydef, ys), nested), pullback, _plain(aux, nested)
    return _plain(unflatten(ydef, ys), nested), pullback


def _jvp_forward(f: Callable, x: Any, v: Any, has_aux: bool) -> tuple[Any, Any, Any] | None:
    """Forward mode on Duals; None when f needs the reverse path (it differentiates, or lacks JVP rules)."""
    xs, xdef = flatten(x)
    vs, vdef = flatten(v)
    duals = []
    for a, t in zip(xs, vs):
        d = Dual(a)
        if np.shape(t) != d.shape:
            raise ValueError(f"jvp: tangent has shape {np.shape(t)} but x has shape {d.shape}")
        d.tangent = np.asarray(t, dtype=d.dtype)
        duals.append(d)
    try:
        # One tangent per pass: a jvp inside this one (which could meet these Duals through a closure)
        # takes the reverse path, so tangents of two transforms never mix.
        with using_config("forward_mode", True), transform_level():
            out = f(unflatten(xdef, duals))
    except (MixedModesError, NotImplementedError):
        return None
    out, aux = _split_aux(out, f, "jvp", has_aux)
    ys, ydef = _as_outputs(out, f, "jvp")
    values, tangents = [], []
    for y in ys:
        t = y.tangent if isinstance(y, Dual) else None
        values.append(np.asarray(y.data))
        if t is None:
            t = np.zeros_like(values[-1])
        elif any(t is d.tangent for d in duals):  # the caller's own tangent, passed through: a copy
            t = np.array(t)
        else:
            (own,) = _caller_grads([t], None)
            t = own.data if own is not None else t  # a private array (views copied)
        tangents.append(t)
    return unflatten(ydef, values), unflatten(ydef, tangents), _plain(aux, False)


def jvp(f: Callable, x: Any, v: Any, has_aux: bool = False) -> tuple[Any, ...]:
    """f(x) and J v: forward mode on arrays; on Variables (nested, or when f itself differentiates),
    the double-VJP trick: J v is the gradient of u -> <J^T u, v> in u. x and v may be pytrees alike.
    With `has_aux`, f returns (value, aux) and (f(x), J v, aux) is returned (as JAX)."""
    xs, xdef = flatten(x)
    vs, vdef = flatten(v)
    if len(xs) != len(vs) or xdef != vdef and not (is_leaf(xdef) and is_leaf(vdef)):
        raise ValueError(f"jvp: tangent has structure {vdef} but x has structure {xdef}")
    nested = any(isinstance(a, Variable) for a in xs + vs)
    if not nested and not Config.forward_mode:
        result = _jvp_forward(f, x, v, has_aux)
        if result is not None:
            return result if has_aux else result[:2]
    with enable_grad(), transform_level() as level:
        args = [x]
        inputs = _Inputs(args, (0,))
        out, aux = _split_aux(f(*args), f, "jvp", has_aux)
        ys, ydef = _as_outputs(out, f, "jvp")
        nested = nested or any(made_outside(y, level) for y in ys)
        us = [Variable(np.zeros_like(y.data)) for y in ys]
        if len(ys) == 1:
            gs = gradients(ys[0], inputs.starts, grad=us[0], create_graph=True)
        else:
            gs = gradients(_inner(list(zip(ys, us))), inputs.starts, create_graph=True)
        pairs = []
        for g, t, s in zip(gs, vs, inputs.starts):
            if np.shape(_data(t)) != s.shape:
                raise ValueError(f"jvp: tangent has shape {np.shape(_data(t))} but x has shape {s.shape}")
            if g is not None:
                pairs.append((g, t if isinstance(t, Variable) else np.asarray(t, dtype=g.dtype)))
        if not pairs:
            jvs = [None] * len(ys)
        elif len(pairs) == 1:
            jvs = gradients(pairs[0][0], us, grad=pairs[0][1], create_graph=nested, retain_graph=nested)
        else:
            jvs = gradients(_inner(pairs), us, create_graph=nested, retain_graph=nested)
        tangents = [_finish(jv, y, nested) for jv, y in zip(jvs, ys)]
    if has_aux:
        return _plain(unflatten(ydef, ys), nested), unflatten(ydef, tangents), _plain(aux, nested)
    return _plain(unflatten(ydef, ys), nested), unflatten(ydef, tangents)


def hvp(f: Callable, x: Any, v: Any, has_aux: bool = False) -> Any:
    """Hessian of scalar f at x times v, by reverse-over-reverse (double backprop); x and v may be
    pytrees alike (then the result is too). With `has_aux`, f returns (value, aux) and (H v, aux) is
    returned."""
    vs, _ = flatten(v)
    with enable_grad(), transform_level() as level:
        args = [x]
        inputs = _Inputs(args, (0,))
        out, aux = _split_aux(f(*args), f, "hvp", has_aux)
        y = _as_output(out, f, "hvp")
        if y.size != 1:
            raise ValueError(f"hvp: {_name(f)} must return a scalar, got shape {y.shape}")
        if len(vs) != len(inputs.starts):
            raise ValueError(f"hvp: v has {len(vs)} arrays but x has {len(inputs.starts)}")
        for t, s in zip(vs, inputs.starts):
            if np.shape(_data(t)) != s.shape:
                raise ValueError(f"hvp: v has shape {np.shape(_data(t))} but x has shape {s.shape}")
        nested = inputs.nested or any(isinstance(t, Variable) for t in vs) or made_outside(y, level)
        gs = gradients(y, inputs.starts, create_graph=True)
        pairs = [(g, t) for g, t in zip(gs, vs) if g is not None and g.creator is not None]  # else linear
        if not pairs:
            hvs = [None] * len(inputs.starts)
        elif len(inputs.starts) == 1:
            hvs = gradients(pairs[0][0], inputs.starts, grad=pairs[0][1], create_graph=nested, retain_graph=nested)
        else:
            hvs = gradients(_inner(pairs), inputs.starts, create_graph=nested, retain_graph=nested)
        result = inputs.group([_finish(h, s, nested) for h, s in zip(hvs, inputs.starts)], True)
    return (result, _plain(aux, nested)) if has_aux else result


def jacobian(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """The Jacobian function of f: for each output leaf, shape out.shape + x.shape per input leaf (as
    JAX's jacrev: output tree of input trees), one reverse pass per output element."""
    return _jacobian(f, argnums, has_aux, "jacobian")


def _jacobian(f: Callable, argnums: int | Sequence[int], has_aux: bool, where: str) -> Callable:
    nums, single = _argnums(argnums)

    def jacobian_f(*args: Any, **kwargs: Any) -> Any:
        _check_argnums(where, nums, len(args))
        given = list(args)  # _Inputs puts the fresh input nodes in place
        with enable_grad(), transform_level() as level:
            inputs = _Inputs(given, nums)
            out, aux = _split_aux(f(*given, **kwargs), f, where, has_aux)
            ys, ydef = _as_outputs(out, f, where)
            nested = inputs.nested or any(made_outside(y, level) for y in ys)
            blocks = [inputs.group(_jacobian_rows(y, inputs.starts, nested), single) for y in ys]
        result = unflatten(ydef, blocks)
        return (result, _plain(aux, nested)) if has_aux else result

    return jacobian_f


def _jacobian_rows(y: Variable, xs: list[Variable], nested: bool) -> list[Any]:
    """d y / d x for each x in xs, of shape y.shape + x.shape: one gradients call per element of y."""
    rows: list[list[Any]] = [[] for _ in xs]
    for i in range(y.size):
        seed = np.zeros(y.size, dtype=y.dtype)
        seed[i] = 1.0
        gs = gradients(y, xs, grad=seed.reshape(y.shape), create_graph=nested)
        for r, g, x in zip(rows, gs, xs):
            r.append(_finish(g, x, nested))
    out = []
    for r, x in zip(rows, xs):
        shape = y.shape + x.shape
        if nested:
            out.append(F.reshape(F.stack(r), shape) if r else Variable(np.zeros(shape)))
        else:
            out.append(np.stack(r).reshape(shape) if r else np.zeros(shape))
    return out


def hessian(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """The Hessian function of a scalar f: the Jacobian of its gradient. With `has_aux`, f returns
    (scalar, aux) and the Hessian function returns (Hessian, aux) (as JAX)."""
    return _jacobian(_grad(f, argnums, has_aux, "hessian"), argnums, has_aux, "hessian")


def ggnvp(f: Callable, loss: Callable | None = None) -> Callable:
    """The Gauss-Newton-vector product function (x, v) -> J^T H J v of loss(f(x)), J the Jacobian of f
    at x and H the Hessian of loss at f(x) (default loss: half the squared norm, so H = I): a jvp, an
    hvp and a vjp (Schraudolph 2002; HIPS autograd's make_ggnvp). Positive semidefinite for convex loss."""
    loss = _half_squared_norm if loss is None else loss

    def ggnvp_f(x: Any, v: Any) -> Any:
        y, jv = jvp(f, x, v)
        hjv = hvp(loss, y, jv)
        _, pullback = vjp(f, x)
        return pullback(hjv)

    return ggnvp_f


def _half_squared_norm(y: Any) -> Any:
    ys, _ = flatten(y)
    return 0.5 * _inner([(a, a) for a in ys])
