"""Differentiable functions (imported as F): each forward and its derivative side by side.

Each primitive is one statement: a numpy forward, one vector-Jacobian product per input,
``vjp(gy, y, *xs)``, written with these same functions (so derivatives of any order come for free),
its forward-mode rules (`jvp=`: one ``jvp(t, y, *xs)`` per input, or LINEAR, BILINEAR, SELF_ADJOINT)
and what its VJPs read (`reads=`), which is all the graph keeps. Given bare arrays a function returns
a bare array: that is how first-order backward runs at numpy speed. Broadcasting follows numpy;
`sum_to` undoes it in the backward pass.
"""
from __future__ import annotations

import operator
from typing import Any, Callable, Sequence

import numpy as np

from .node import NUMPY_TWINS, UFUNC_TWINS, Edge, Function, Variable, _data, _shape  # _data: masks, indices
from .primitive import (  # noqa: F401
    BILINEAR,
    LINEAR,
    SELF_ADJOINT,
    Primitive,  # the extension API, public as F.primitive etc.
    Y,
    def_bilinear,
    def_linear,
    def_self_adjoint,
    defjvp,
    defreads,
    primitive,
)

Shape = Sequence[int]


def _axes(axis: int | Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    if axis is None or ndim == 0:  # numpy lets a 0-d array be reduced over axis 0 or -1: nothing to do
        return tuple(range(ndim))
    return tuple(a % ndim for a in ((axis,) if isinstance(axis, (int, np.integer)) else axis))


def _kept_shape(shape: Shape, axis: Any) -> tuple[int, ...]:
    """The shape a reduction over `axis` has with keepdims=True."""
    axes = _axes(axis, len(shape))
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


# ----------------------------------------------------------------------------------------------
# Shape: every broadcast in a forward pass is undone by sum_to in the backward pass.

def _numpy_sum_to(x: np.ndarray, shape: Shape) -> np.ndarray:
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape) if s == 1 and x.shape[i + lead] != 1)
    return np.add.reduce(x, axis=axes, keepdims=True).reshape(shape)  # np.sum without its Python wrapper


_reshape = primitive("reshape", lambda x, shape: np.reshape(x, shape), lambda g, y, x, shape: reshape(g, x.shape),
                     jvp=LINEAR, reads=((),))
_broadcast_to = primitive("broadcast_to", lambda x, shape: np.broadcast_to(x, shape),
                          lambda g, y, x, shape: sum_to(g, x.shape),
                          jvp=LINEAR, reads=((),))
_sum_to = primitive("sum_to", _numpy_sum_to, lambda g, y, x, shape: broadcast_to(g, x.shape),
                    jvp=LINEAR, reads=((),))




def reshape(x: Any, shape: int | Shape) -> Any:
    dims = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return x if _shape(x) == dims else _reshape(x, shape=dims)


def broadcast_to(x: Any, shape: Shape) -> Any:
    shape = tuple(shape)
    return x if _shape(x) == shape else _broadcast_to(x, shape=shape)


def sum_to(x: Any, shape: Shape) -> Any:
    """Sum x down to `shape`: the adjoint of broadcasting."""
    if x.__class__ is np.ndarray and x.shape == shape:  # the usual call, from a VJP: nothing to do
        return x
    shape = tuple(shape)
    return x if _shape(x) == shape else _sum_to(x, shape=shape)


def _inverse_axes(axes: Any, ndim: int) -> Any:
    return None if axes is None else tuple(np.argsort([a % ndim for a in axes]))


transpose: Primitive = primitive("transpose", lambda x, axes=None: np.transpose(x, axes),
                      lambda g, y, x, axes=None: transpose(g, _inverse_axes(axes, x.ndim)),
                      jvp=LINEAR, reads=((),))


# Swap the last two axes (matrix transpose over a batch): its own VJP, cheaper to record and to
# differentiate than a general transpose (whose VJP inverts its axes). solve's VJP uses it.
_mT: Primitive = primitive("mT", lambda x: np.swapaxes(x, -1, -2), lambda g, y, x: _mT(g),
                jvp=SELF_ADJOINT, reads=((),))


def _numpy_shape(name: str, f: Callable, x: Any, axis: Any) -> tuple[int, ...]:
    """The shape of numpy's f(x, axis); a bad axis is reported under `name` with x's shape."""
    try:
        return f(_data(x), axis).shape
    except ValueError as e:  # numpy's AxisError is a ValueError too
        raise type(e)(f"{name}: {e} (input shape: {np.shape(_data(x))}, axis: {axis})") from None


def expand_dims(x: Any, axis: int | Sequence[int]) -> Any:
    return reshape(x, _numpy_shape("expand_dims", np.expand_dims, x, axis))


def squeeze(x: Any, axis: int | Sequence[int] | None = None) -> Any:
    return reshape(x, _numpy_shape("squeeze", np.squeeze, x, axis))


def _is_basic_index(index: Any) -> bool:
    """Basic indexing (ints, slices, None, Ellipsis) never repeats an element."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, np.integer, slice)) for p in parts)


def _add_at(out: np.ndarray, g: np.ndarray, index: Any) -> None:
    """out[index] += g in place, repeated indices adding up."""
    if _is_basic_index(index):
        out[index] += g
    else:
        np.add.at(out, index, g)


def _scatter_add(g: np.ndarray, index: Any, shape: Shape) -> np.ndarray:
    """g placed at index in zeros of `shape` (repeated indices adding up): the VJP of getitem. A slice of
    the first axis (x[1:], x[:-1]) writes zeros only around g: one pass over memory fewer (Rosenbrock's
    gradient at n = 10^6: 1.6 -> 1.0 ms for this step)."""
    if index.__class__ is slice and index.step in (None, 1) and shape:
        start, stop, _ = index.indices(shape[0])
        stop = max(start, stop)
        out = np.empty(shape, dtype=np.result_type(g))
        out[:start] = 0.0
        out[start:stop] = g
        out[stop:] = 0.0
        return out
    out = np.zeros(shape, dtype=np.result_type(g))
    if _is_basic_index(index):
        out[index] = g  # no element repeats, so assigning is adding (and skips reading the zeros)
    else:
        np.add.at(out, index, g)
    return out


def _numpy_index_add(acc: np.ndarray, g: np.ndarray, index: Any) -> np.ndarray:
    """A copy of acc with g added at index: one more getitem gradient accumulated in one pass. At a slice
    of the first axis the sum is written straight into the copy, acc's values copied only around it (the
    same additions; a create_graph pass through Rosenbrock's x[:-1] at n = 10^6: two passes over memory
    of three)."""
    dtype = np.result_type(acc, g)
    if index.__class__ is slice and index.step in (None, 1) and acc.ndim:
        start, stop, _ = index.indices(acc.shape[0])
        stop = max(start, stop)
        out = np.empty(acc.shape, dtype)
        out[:start] = acc[:start]
        np.add(acc[start:stop], g, out=out[start:stop])
        out[stop:] = acc[stop:]
        return out
    out = np.array(acc, dtype=dtype)
    _add_at(out, g, index)
    return out


getitem: Primitive = primitive("getitem", lambda x, index: x[index],
                    lambda g, y, x, index: _getitem_grad(g, index=index, shape=x.shape),
                    jvp=LINEAR, reads=((),))
_getitem_grad: Primitive = primitive("getitem_grad", _scatter_add,
                                     lambda g, y, gx, index, shape: getitem(g, index=index),
                          jvp=LINEAR, reads=((),))
_index_add: Primitive = primitive("index_add", _numpy_index_add, lambda g, y, acc, gx, index: g,
                      lambda g, y, acc, gx, index: getitem(g, index=index),
                       jvp=(lambda t, y, acc, gx, index: t,
                            lambda t, y, acc, gx, index: _getitem_grad(t, index=index, shape=y.shape)),
                       reads=((), ()))
# Backprop shortcuts for getitem: raw mode adds gy into the input's gradient buffer in place; with
# create_graph a gradient already there takes gy as one index_add node rather than zero padding + add.
getitem.Function.add_grad_into = staticmethod(_add_at)
getitem.Function.add_grad_onto = staticmethod(lambda acc, gy, index: _index_add(acc, gy, index=index))


class Concatenate(Function):
    """Join along an axis; the gradient of each input is its slice of the output's gradient."""

    __slots__ = ()
    reads = ()  # the inputs' shapes only

    def forward(self, *xs: np.ndarray, axis: int = 0) -> np.ndarray:
        return np.concatenate(xs, axis=axis)

    def backward(self, gy: Any, y: Any, *xs: Any, axis: int = 0) -> list:
        axis %= len(_shape(xs[0]))
        grads, start = [], 0
        for x, given in zip(xs, self.inputs or ()):
            stop = start + _shape(x)[axis]
            if isinstance(given, (Variable, Edge)):
                grads.append(getitem(gy, index=(slice(None),) * axis + (slice(start, stop),)))
            else:
                grads.append(None)
            start = stop
        return grads

    def jvp(self, ts: Sequence[Any], y: Any, *xs: Any, axis: int = 0) -> Any:
        return np.concatenate([np.zeros_like(x) if t is None else t for t, x in zip(ts, xs)], axis=axis)


def concatenate(xs: Sequence[Any], axis: int = 0) -> Any:
    return Concatenate()(*xs, axis=axis)


def stack(xs: Sequence[Any], axis: int = 0) -> Any:
    shapes = [np.shape(_data(x)) for x in xs]
    if len(set(shapes)) != 1:
        raise ValueError(f"stack: needs one or more inputs of the same shape, got shapes {shapes}")
    ndim = np.ndim(_data(xs[0])) + 1
    return concatenate([expand_dims(x, axis % ndim) for x in xs], axis=axis)


# ----------------------------------------------------------------------------------------------
# Elementwise: forward, then d/d(each input), one line each.

add = primitive("add", np.add, lambda g, y, a, b: sum_to(g, a.shape), lambda g, y, a, b: sum_to(g, b.shape),
                jvp=(lambda t, y, a, b: t, lambda t, y, a, b: t), reads=((), ()))
sub = primitive("sub", np.subtract, lambda g, y, a, b: sum_to(g, a.shape), lambda g, y, a, b: sum_to(-g, b.shape),
                jvp=(lambda t, y, a, b: t, lambda t, y, a, b: -t), reads=((), ()))
mul: Primitive = primitive("mul", np.multiply, lambda g, y, a, b: sum_to(_times(g, b), a.shape),
                           lambda g, y, a, b: sum_to(_times(g, a), b.shape),
                jvp=BILINEAR, reads=((1,), (0,)))
div = primitive("div", np.divide, lambda g, y, a, b: sum_to(g / b, a.shape),
                lambda g, y, a, b: sum_to(-g * y / b, b.shape),
                jvp=(lambda t, y, a, b: t / b, lambda t, y, a, b: -t * y / b), reads=((1,), (Y, 1)))
neg = primitive("neg", np.negative, lambda g, y, x: -g,
                jvp=SELF_ADJOINT, reads=((),))
_pow: Primitive = primitive("pow", operator.pow, lambda g, y, a, b: _sum_to_or_none(_pow_grad(g, a, b), a.shape),
                lambda g, y, a, b: sum_to(g * y * _log_base(a), b.shape),
                jvp=(lambda t, y, a, b: _pow_grad(t, a, b), lambda t, y, a, b: t * y * _log_base(a)),
                reads=((0, 1), (Y, 0)))
exp = primitive("exp", np.exp, lambda g, y, x: g * y,
                jvp=SELF_ADJOINT, reads=((Y,),))
log = primitive("log", np.log, lambda g, y, x: g / x,
                jvp=SELF_ADJOINT, reads=((0,),))
log1p = primitive("log1p", np.log1p, lambda g, y, x: g / (1.0 + x),
                  jvp=SELF_ADJOINT, reads=((0,),))
sqrt = primitive("sqrt", np.sqrt, lambda g, y, x: g / (2.0 * y),
                 jvp=SELF_ADJOINT, reads=((Y,),))
sin: Primitive = primitive("sin", np.sin, lambda g, y, x: g * cos(x),
                jvp=SELF_ADJOINT, reads=((0,),))
cos: Primitive = primitive("cos", np.cos, lambda g, y, x: -g * sin(x),
                jvp=SELF_ADJOINT, reads=((0,),))
tan = primitive("tan", np.tan, lambda g, y, x: g * (1.0 + y * y),
                jvp=SELF_ADJOINT, reads=((Y,),))
tanh = primitive("tanh", np.tanh, lambda g, y, x: g * (1.0 - y * y),
                 jvp=SELF_ADJOINT, reads=((Y,),))
softplus = primitive("softplus", lambda x: np.logaddexp(0.0, x), lambda g, y, x: g * _lazy("sigmoid")(x),
                     jvp=SELF_ADJOINT, reads=((0,),))
relu = primitive("relu", lambda x: np.maximum(x, 0.0), lambda g, y, x: where(_data(y) > 0, g, 0.0),
                 jvp=SELF_ADJOINT, reads=((Y,),))
_abs: Primitive = primitive("abs", np.abs, lambda g, y, x: where(_data(x) >= 0, g, -g),
                jvp=SELF_ADJOINT, reads=((0,),))  # JAX: slope 1 at 0
maximum = primitive("maximum", np.maximum, lambda g, y, a, b: sum_to(_share(g, _data(a), _data(b)), a.shape),
                    lambda g, y, a, b: sum_to(_share(g, _data(b), _data(a)), b.shape),
                    jvp=(lambda t, y, a, b: _share(t, a, b), lambda t, y, a, b: _share(t, b, a)),
                    reads=((0, 1), (0, 1)))
minimum = primitive("minimum", np.minimum, lambda g, y, a, b: sum_to(_share(g, _data(b), _data(a)), a.shape),
                    lambda g, y, a, b: sum_to(_share(g, _data(a), _data(b)), b.shape),
                    jvp=(lambda t, y, a, b: _share(t, b, a), lambda t, y, a, b: _share(t, a, b)),
                    reads=((0, 1), (0, 1)))
_where = primitive("where", np.where, None, lambda g, y, c, a, b: sum_to(where(c, g, 0.0), a.shape),
                   lambda g, y, c, a, b: sum_to(where(c, 0.0, g), b.shape),
                   jvp=(None, lambda t, y, c, a, b: where(c, t, 0.0), lambda t, y, c, a, b: where(c, 0.0, t)),
                   reads=((), (0,), (0,)))
_clip = primitive("clip", np.clip, lambda g, y, x, lo, hi: where((_data(x) >= lo) & (_data(x) <= hi), g, 0.0),
                  None, None,
                  jvp=SELF_ADJOINT, reads=((0,),))


def _pow_grad(g: Any, a: Any, b: Any) -> Any:
    """g * d(a ** b)/da, b * a ** (b - 1) except 0 where b == 0 (so 0 ** 0 has slope 0, as HIPS, torch
    and JAX's integer powers; a ** 1 has slope 1 at 0). For the common a ** 2 it is (g * 2) * a: no
    a ** 1, and a constant g (a seed) makes one recorded product instead of two. None: no gradient."""
    if isinstance(b, (int, float, np.number)):
        return None if b == 0 else _times(g, 2) * a if b == 2 else g * (b * a ** (b - 1))
    return g * (b * a ** where(_data(b) == 0, 1.0, b - 1.0))  # where b == 0 the factor b makes it 0


def _times(g: Any, k: Any) -> Any:
    """g * k in a VJP. When k is a number and g one value broadcast (the seed of a sum, reaching a term
    scaled by a constant or squared) the product is that value times k, broadcast: the same bits as the
    full product, without its pass over memory and its array (Rosenbrock's gradient: 3 passes of 12)."""
    if (k.__class__ is float or k.__class__ is int) and g.__class__ is np.ndarray and g.size > 1 \
            and not any(g.strides):
        return np.broadcast_to(g.flat[0] * k, g.shape)
    return g * k


def _sum_to_or_none(g: Any, shape: Shape) -> Any:
    return None if g is None else sum_to(g, shape)


def _log_base(a: Any) -> Any:
    """d(a ** b)/db / (a ** b): log a, taken as 0 where a == 0 (0 ** b is flat in b there, as JAX has it).
    A Python number stays a Python float so float32 exponents stay float32."""
    if isinstance(a, (int, float)):
        return 0.0 if a == 0 else float(np.log(a))
    zero = _data(a) == 0
    return where(zero, 0.0, log(where(zero, 1.0, a))) if np.any(zero) else log(a)


def _share(g: Any, a: Any, b: Any) -> Any:
    """g where a wins over b, half of it at ties (maximum, minimum; JAX's convention), 0 elsewhere, by
    selection: an inf or nan in g never leaks into the loser's gradient as 0 * inf would."""
    a, b = _data(a), _data(b)
    tie = a == b
    if not np.any(tie):
        return where(a > b, g, 0.0)
    return where(a > b, g, where(tie, 0.5 * g, 0.0))


def clip(x: Any, a_min: Any = None, a_max: Any = None) -> Any:
    """numpy's clip; the gradient passes where a_min <= x <= a_max (bounds are constants; None: none)."""
    lo = -np.inf if a_min is None else _data(a_min)
    hi = np.inf if a_max is None else _data(a_max)
    return _clip(x, lo, hi)


def where(condition: Any, a: Any, b: Any) -> Any:
    """Elementwise choice; the condition is a constant mask."""
    return _where(np.asarray(_data(condition), dtype=bool), a, b)


def square(x: Any) -> Any:
    return x ** 2


# ----------------------------------------------------------------------------------------------
# Reductions (numpy's axis and keepdims).

def _unreduce(g: Any, shape: Shape, axis: Any) -> Any:
    """Put the reduced axes back (size 1) so g broadcasts against the input."""
    return reshape(g, _kept_shape(shape, axis))


_sum: Primitive = primitive("sum", lambda x, axis=None, keepdims=False: np.sum(x, axis=axis, keepdims=keepdims),
                lambda g, y, x, axis=None, keepdims=False: broadcast_to(_unreduce(g, x.shape, axis), x.shape),
                jvp=LINEAR, reads=((),))


def _argmax_mask(x: Any, y: Any, axis: Any) -> np.ndarray:
    """Where x attains its reduced extreme y; ties share the gradient equally."""
    hit = _data(x) == np.reshape(_data(y), _kept_shape(x.shape, axis))
    return (hit / np.sum(hit, axis=axis, keepdims=True)).astype(_data(y).dtype)  # float32 stays float32


_max: Primitive = primitive("max", lambda x, axis=None, keepdims=False: np.max(x, axis=axis, keepdims=keepdims),
                lambda g, y, x, axis=None, keepdims=False: _unreduce(g, x.shape, axis) * _argmax_mask(x, y, axis),
                jvp=(lambda t, y, x, axis=None, keepdims=False:
                     _sum(t * _argmax_mask(x, y, axis), axis=axis, keepdims=keepdims),),
                reads=((0, Y),))
_min: Primitive = primitive("min", lambda x, axis=None, keepdims=False: np.min(x, axis=axis, keepdims=keepdims),
                lambda g, y, x, axis=None, keepdims=False: _unreduce(g, x.shape, axis) * _argmax_mask(x, y, axis),
                jvp=(lambda t, y, x, axis=None, keepdims=False:
                     _sum(t * _argmax_mask(x, y, axis), axis=axis, keepdims=keepdims),),
                reads=((0, Y),))
logsumexp = primitive(
    "logsumexp", lambda x, axis=None, keepdims=False: _special().logsumexp(x, axis=axis, keepdims=keepdims),
    lambda g, y, x, axis=None, keepdims=False: _unreduce(g, x.shape, axis) * exp(x - _unreduce(y, x.shape, axis)),
                      jvp=(lambda t, y, x, axis=None, keepdims=False:
       _sum(t * exp(x - _unreduce(y, x.shape, axis)), axis=axis, keepdims=keepdims),), reads=((0, Y),))


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Sum over `axis` times (outputs / inputs); over a zero-size axis nan, as numpy's mean."""
    s = _sum(x, axis=axis, keepdims=keepdims)
    n = np.size(_data(x))
    return s * (np.size(_data(s)) / n if n else np.nan)


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:
    """numpy.linalg.norm: a vector norm (None or 2, 1, inf, -inf) of a 1-D x or along an int axis; a matrix norm
    (None or "fro", 1, -1, inf, -inf) of a 2-D x or over a pair of axes; ord None of any x, the 2-norm of all its
    entries. At 0 the 2-norm's gradient is nan, as JAX's (0 * inf: sqrt's slope at 0 is inf); add an epsilon
    under the root where 0 can occur. The singular-value norms (2, -2, "nuc" of a matrix) have no twin here."""
    ndim = np.ndim(_data(x))
    matrix = isinstance(axis, tuple) and len(axis) == 2 or axis is None and ndim == 2
    if ord is None or matrix and ord == "fro":  # the 2-norm of the entries (along axis)
        return sqrt(_sum(x * x, axis=axis, keepdims=keepdims))
    if matrix:
        return _matrix_norm(x, ord, (0, 1) if axis is None else axis, ndim, keepdims)
    if axis is None and ndim != 1:
        raise ValueError(f"norm: ord={ord!r} of a {ndim}-d array needs axis (numpy: improper number of dimensions)")
    if ord == 2:
        return sqrt(_sum(x * x, axis=axis, keepdims=keepdims))
    if ord == 1:
        return _sum(_abs(x), axis=axis, keepdims=keepdims)
    if ord in (np.inf, -np.inf):
        return (_max if ord > 0 else _min)(_abs(x), axis=axis, keepdims=keepdims)
    raise ValueError(f"norm: a vector's ord must be None, 1, 2, inf or -inf, got {ord!r}")


def _matrix_norm(x: Any, ord: Any, axes: tuple[int, int], ndim: int, keepdims: bool) -> Any:
    """numpy's induced 1- and inf-norms (largest column or row sum of |x|; -1 and -inf the smallest) over `axes`."""
    rows, cols = (a % ndim for a in axes)
    if ord not in (1, -1, np.inf, -np.inf):
        raise TypeError(f"norm: ord={ord!r} of a matrix (a singular-value norm) has no differentiable twin in "
                        f"optlab.autodiff.functions; ord None or 'fro', 1, -1, inf and -inf have")
    summed, across = (rows, cols) if ord in (1, -1) else (cols, rows)
    pick = _max if ord > 0 else _min
    r = pick(_sum(_abs(x), axis=summed, keepdims=True), axis=across, keepdims=True)
    if keepdims:
        return r
    return reshape(r, tuple(n for i, n in enumerate(np.shape(_data(x))) if i not in (rows, cols)))


# ----------------------------------------------------------------------------------------------
# Linear algebra.

# The primitives see matrices (or batches of them) only: `matmul` promotes vectors. As in BLAS, an operand
# may enter transposed: a @ b^T (nt) and a^T @ b (tn). Each VJP is another member of the family, so a
# backward pass records one node per product and never a transpose.
_matmul: Primitive = primitive("matmul", np.matmul, lambda g, y, a, b: sum_to(_matmul_nt(g, b), a.shape),
                    lambda g, y, a, b: sum_to(_matmul_tn(a, g), b.shape),
                    jvp=BILINEAR, reads=((1,), (0,)))
_matmul_nt: Primitive = primitive("matmul_nt", lambda a, b: np.matmul(a, np.swapaxes(b, -1, -2)),
                       lambda g, y, a, b: sum_to(_matmul(g, b), a.shape),
                       lambda g, y, a, b: sum_to(_matmul_tn(g, a), b.shape),
                       jvp=BILINEAR, reads=((1,), (0,)))
_matmul_tn: Primitive = primitive("matmul_tn", lambda a, b: np.matmul(np.swapaxes(a, -1, -2), b),
                       lambda g, y, a, b: sum_to(_matmul_nt(b, g), a.shape),
                       lambda g, y, a, b: sum_to(_matmul(a, g), b.shape),
                       jvp=BILINEAR, reads=((1,), (0,)))


def matmul(a: Any, b: Any) -> Any:
    """numpy's matmul, batched; 1-D operands are promoted to matrices and the extra axis removed."""
    sa, sb = _shape(a), _shape(b)
    da, db = len(sa), len(sb)
    if da >= 2 and db >= 2:  # the common case (and every matmul in a backward pass): no promotion
        return _matmul(a, b)
    if da == 0 or db == 0:
        raise ValueError(f"matmul: operands must have at least one dimension, got shapes {sa} and {sb}")
    if sa[-1] != sb[-2 if db >= 2 else 0]:  # checked here: the error would show the promoted shapes
        raise ValueError(f"matmul: shapes {sa} and {sb} are not aligned: {sa[-1]} != {sb[-2 if db >= 2 else 0]}")
    y = _matmul(a if da >= 2 else reshape(a, (1, -1)), b if db >= 2 else reshape(b, (-1, 1)))
    shape = _shape(y)
    if da == 1:
        shape = shape[:-2] + shape[-1:]
    if db == 1:
        shape = shape[:-1]
    return reshape(y, shape)


def dot(a: Any, b: Any) -> Any:
    """numpy's dot for vectors and matrices (use matmul for batches)."""
    if np.ndim(_data(a)) > 2 or np.ndim(_data(b)) > 2:
        raise ValueError("dot: operands of more than 2 dimensions are ambiguous; use matmul")
    return matmul(a, b)


def outer(a: Any, b: Any) -> Any:
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))


def _solve_vjp_a(g: Any, y: Any, a: Any, b: Any) -> Any:
    gb = solve(_mT(a), g)
    return -outer(gb, y) if np.ndim(_data(y)) == 1 else -_matmul_nt(gb, y)


solve: Primitive = primitive("solve", np.linalg.solve, _solve_vjp_a, lambda g, y, a, b: solve(_mT(a), g),
                  jvp=(lambda t, y, a, b: -solve(a, matmul(t, y)), lambda t, y, a, b: solve(a, t)),
                  reads=((0, Y), (0,)))


# ----------------------------------------------------------------------------------------------
# Learning.

def linear(x: Any, W: Any, b: Any = None) -> Any:
    y = matmul(x, W)
    return y if b is None else y + b


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=axis, keepdims=True, initial=-np.inf))  # initial: an empty axis is empty
    return e / np.sum(e, axis=axis, keepdims=True)


softmax = primitive("softmax", _softmax,
                    lambda g, y, x, axis=-1: y * (g - _sum(g * y, axis=axis, keepdims=True)),
                    jvp=SELF_ADJOINT, reads=((Y,),))


def log_softmax(x: Any, axis: int = -1) -> Any:
    return x - logsumexp(x, axis=axis, keepdims=True)


def softmax_cross_entropy(x: Any, t: Any) -> Any:
    """Mean cross entropy of logits x (N, C) against integer labels t (N,)."""
    t = np.asarray(_data(t)).astype(np.intp)
    n = np.shape(_data(x))[0]
    if t.shape != (n,):
        raise ValueError(f"softmax_cross_entropy: labels of shape {t.shape} do not fit logits of "
                         f"shape {np.shape(_data(x))}")
    return -mean(getitem(log_softmax(x), index=(np.arange(n), t)))


def mse(a: Any, b: Any) -> Any:
    """Mean squared error over all elements."""
    return mean((a - b) ** 2)


def binary_cross_entropy_with_logits(x: Any, t: Any) -> Any:
    """Mean of log(1 + e^x) - t x: binary cross entropy on logits, stable for large |x|."""
    return mean(softplus(x) - x * t)


# ----------------------------------------------------------------------------------------------
# The rest of the numpy surface an objective is written with. Most are compositions of the primitives
# above (their derivatives, of any order and in both modes, follow); the rest are primitives here.

def _numpy_axis(axis: int, ndim: int, name: str) -> int:
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}: axis {axis} is out of bounds for an array of dimension {ndim}")
    return axis % ndim


def moveaxis(x: Any, source: Any, destination: Any) -> Any:
    nd = len(_shape(x))
    src = [_numpy_axis(a, nd, "moveaxis") for a in np.atleast_1d(source)]
    dst = [_numpy_axis(a, nd, "moveaxis") for a in np.atleast_1d(destination)]
    order = [a for a in range(nd) if a not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return x if order == list(range(nd)) else transpose(x, tuple(order))


def swapaxes(x: Any, axis1: int, axis2: int) -> Any:
    nd = len(_shape(x))
    order = list(range(nd))
    a, b = _numpy_axis(axis1, nd, "swapaxes"), _numpy_axis(axis2, nd, "swapaxes")
    order[a], order[b] = order[b], order[a]
    return transpose(x, tuple(order))


def flip(x: Any, axis: Any = None) -> Any:
    nd = len(_shape(x))
    axes = _axes(axis, nd)
    return getitem(x, index=tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(nd)))


def _take(x: Any, index: np.ndarray, axis: int) -> Any:
    """x's elements at integer positions `index` along `axis` (getitem's gradient adds up repeats)."""
    return getitem(x, index=(slice(None),) * axis + (index,))


def repeat(x: Any, repeats: Any, axis: int | None = None) -> Any:
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    axis = _numpy_axis(axis, len(_shape(x)), "repeat")
    return _take(x, np.repeat(np.arange(_shape(x)[axis]), repeats), axis)


def tile(x: Any, reps: Any) -> Any:
    reps = (reps,) if np.isscalar(reps) else tuple(reps)
    shape = _shape(x)
    if len(reps) > len(shape):
        shape = (1,) * (len(reps) - len(shape)) + shape
        x = reshape(x, shape)
    reps = (1,) * (len(shape) - len(reps)) + reps
    return getitem(x, index=np.ix_(*[np.tile(np.arange(n), r) for n, r in zip(shape, reps)]))


def roll(x: Any, shift: Any, axis: Any = None) -> Any:
    return _roll(x, shift=shift, axis=axis)


_roll: Primitive = primitive("roll", lambda x, shift, axis: np.roll(x, shift, axis),
                  lambda g, y, x, shift, axis: _roll(g, shift=_negate(shift), axis=axis),
                  jvp=LINEAR, reads=((),))


def _negate(shift: Any) -> Any:
    return tuple(-s for s in shift) if isinstance(shift, (tuple, list)) else -shift


def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Any]:
    """numpy's split: a list of slices of x (each a getitem node)."""
    axis = _numpy_axis(axis, len(_shape(x)), "split")
    n = _shape(x)[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if n % k:
            raise ValueError(f"split: array split does not result in an equal division ({n} into {k})")
        bounds = list(range(0, n + 1, n // k))
    else:
        bounds = [0, *indices_or_sections, n]
    pre = (slice(None),) * axis
    return [getitem(x, index=pre + (slice(a, b),)) for a, b in zip(bounds[:-1], bounds[1:])]


def vstack(xs: Sequence[Any]) -> Any:
    return concatenate([reshape(x, (1, -1)) if len(_shape(x)) < 2 else x for x in xs], axis=0)


def hstack(xs: Sequence[Any]) -> Any:
    return concatenate([reshape(x, (1,)) if len(_shape(x)) == 0 else x for x in xs],
                       axis=0 if all(len(_shape(x)) <= 1 for x in xs) else 1)


def _pad_slices(pad_width: Any, ndim: int) -> tuple[slice, ...]:
    widths = np.broadcast_to(np.asarray(pad_width, dtype=int), (ndim, 2))
    return tuple(slice(int(a), -int(b) if b else None) for a, b in widths)


_pad: Primitive = primitive("pad", lambda x, pad_width, value: np.pad(x, pad_width, constant_values=value),
                 lambda g, y, x, pad_width, value: getitem(g, index=_pad_slices(pad_width, len(x.shape))),
                 jvp=(lambda t, y, x, pad_width, value: _pad(t, pad_width=pad_width, value=0.0),), reads=((),))


def pad(x: Any, pad_width: Any, mode: str = "constant", constant_values: float = 0.0) -> Any:
    """numpy's pad, constant mode (the padding is a constant; x's gradient is the inner slice)."""
    if mode != "constant":
        raise ValueError(f"pad: only mode='constant' is differentiable here, got mode={mode!r}")
    return _pad(x, pad_width=pad_width, value=float(constant_values))


def diagonal(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    """numpy's diagonal (the diagonal axis last), as an indexing node."""
    x = moveaxis(x, (axis1, axis2), (-2, -1))
    n, m = _shape(x)[-2:]
    rows = np.arange(max(0, -offset), min(n, m - offset))
    return getitem(x, index=(Ellipsis, rows, rows + offset))


def trace(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    return _sum(diagonal(x, offset, axis1, axis2), axis=-1)


def diag(x: Any, k: int = 0) -> Any:
    """numpy's diag: a 1-D input becomes the k-th diagonal of a square matrix, a 2-D one gives it."""
    shape = _shape(x)
    if len(shape) == 2:
        return diagonal(x, k)
    if len(shape) != 1:
        raise ValueError(f"diag: input must be 1-D or 2-D, got shape {shape}")
    n = shape[0] + abs(k)
    rows = np.arange(shape[0]) + max(0, -k)
    return _getitem_grad(x, index=(rows, rows + k), shape=(n, n))


def _tri_mask(shape: Shape, k: int, lower: bool) -> np.ndarray:
    n, m = shape[-2:]
    return np.tri(n, m, k, dtype=bool) if lower else ~np.tri(n, m, k - 1, dtype=bool)


def tril(x: Any, k: int = 0) -> Any:
    return where(_tri_mask(_shape(x), k, True), x, 0.0)


def triu(x: Any, k: int = 0) -> Any:
    return where(_tri_mask(_shape(x), k, False), x, 0.0)


def sort(x: Any, axis: int = -1) -> Any:
    """Sorted along `axis`; the gradient goes back to where each element came from."""
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    order = np.argsort(_data(x), axis=axis, kind="stable")
    return _take_along(x, order, axis)


def _take_along(x: Any, index: np.ndarray, axis: int) -> Any:
    """numpy's take_along_axis as one advanced-indexing node."""
    axis = _numpy_axis(axis, index.ndim, "take_along_axis")
    grid: list[Any] = list(np.indices(index.shape, sparse=True))
    grid[axis] = index
    return getitem(x, index=tuple(grid))


# Elementwise functions of one input: derivative in x (or in the output y), self-adjoint Jacobians.
expm1 = primitive("expm1", np.expm1, lambda g, y, x: g * (y + 1.0),
                  jvp=SELF_ADJOINT, reads=((Y,),))
sinh: Primitive = primitive("sinh", np.sinh, lambda g, y, x: g * cosh(x),
                 jvp=SELF_ADJOINT, reads=((0,),))
cosh: Primitive = primitive("cosh", np.cosh, lambda g, y, x: g * sinh(x),
                 jvp=SELF_ADJOINT, reads=((0,),))
arcsin = primitive("arcsin", np.arcsin, lambda g, y, x: g / sqrt(1.0 - x * x),
                   jvp=SELF_ADJOINT, reads=((0,),))
arccos = primitive("arccos", np.arccos, lambda g, y, x: -g / sqrt(1.0 - x * x),
                   jvp=SELF_ADJOINT, reads=((0,),))
arctan = primitive("arctan", np.arctan, lambda g, y, x: g / (1.0 + x * x),
                   jvp=SELF_ADJOINT, reads=((0,),))
arcsinh = primitive("arcsinh", np.arcsinh, lambda g, y, x: g / sqrt(x * x + 1.0),
                    jvp=SELF_ADJOINT, reads=((0,),))
arctanh = primitive("arctanh", np.arctanh, lambda g, y, x: g / (1.0 - x * x),
                    jvp=SELF_ADJOINT, reads=((0,),))
sign = primitive("sign", np.sign, None,
                 jvp=SELF_ADJOINT, reads=((),))  # flat almost everywhere: no gradient (JAX's 0)

logaddexp = primitive("logaddexp", np.logaddexp, lambda g, y, a, b: sum_to(g * exp(a - y), a.shape),
                      lambda g, y, a, b: sum_to(g * exp(b - y), b.shape),
                      jvp=(lambda t, y, a, b: t * exp(a - y), lambda t, y, a, b: t * exp(b - y)),
                      reads=((0, Y), (1, Y)))
arctan2 = primitive("arctan2", np.arctan2, lambda g, y, a, b: sum_to(g * b / (a * a + b * b), a.shape),
                    lambda g, y, a, b: sum_to(-g * a / (a * a + b * b), b.shape),
                    jvp=(lambda t, y, a, b: t * b / (a * a + b * b), lambda t, y, a, b: -t * a / (a * a + b * b)),
                    reads=((0, 1), (0, 1)))


def log2(x: Any) -> Any:
    return log(x) * (1.0 / float(np.log(2.0)))


def log10(x: Any) -> Any:
    return log(x) * (1.0 / float(np.log(10.0)))


def reciprocal(x: Any) -> Any:
    return 1.0 / x


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    return where(_data(x) > 0, x, negative_slope * x)


def elu(x: Any, alpha: float = 1.0) -> Any:
    """x for x > 0, alpha (e^x - 1) below (expm1 of min(x, 0): no overflow in the unselected branch)."""
    return where(_data(x) > 0, x, alpha * expm1(minimum(x, 0.0)))


def gelu(x: Any) -> Any:
    """The exact GELU, x Phi(x) = x (1 + erf(x / sqrt 2)) / 2."""
    return 0.5 * x * (1.0 + _lazy("erf")(x * float(1.0 / np.sqrt(2.0))))


def logsigmoid(x: Any) -> Any:
    return -softplus(-x)


# Reductions.

def var(x: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Any:
    n = np.size(_data(x)) // max(1, np.size(np.sum(_data(x), axis=axis)))
    d = x - mean(x, axis=axis, keepdims=True)
    return _sum(d * d, axis=axis, keepdims=keepdims) * (1.0 / (n - ddof))


def std(x: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Any:
    return sqrt(var(x, axis=axis, ddof=ddof, keepdims=keepdims))


def _others_product(y: Any, x: Any, axis: Any) -> Any:
    """Per element of x, the product of the other elements reduced with it: y / x, or, where x has
    zeros, each element's row of x with that element replaced by 1, multiplied out (differentiable too)."""
    if not np.any(_data(x) == 0):
        return _unreduce(y, x.shape, axis) / x
    shape = _shape(x)
    axes = _axes(axis, len(shape))
    ends = tuple(range(len(shape) - len(axes), len(shape)))
    moved = moveaxis(x, axes, ends)
    kept = _shape(moved)[:len(shape) - len(axes)]
    rows = reshape(moved, kept + (-1,))
    n = _shape(rows)[-1]
    others = prod(where(np.eye(n, dtype=bool), 1.0, expand_dims(rows, -2)), axis=-1)
    return moveaxis(reshape(others, _shape(moved)), ends, axes)


def _prod_vjp(g: Any, y: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _unreduce(g, x.shape, axis) * _others_product(y, x, axis)


prod = primitive("prod", lambda x, axis=None, keepdims=False: np.prod(x, axis=axis, keepdims=keepdims), _prod_vjp,
                 jvp=(lambda t, y, x, axis=None, keepdims=False: _sum(t * _others_product(y, x, axis), axis=axis,
                                                            keepdims=keepdims),), reads=((0, Y),))


def _reverse_cumsum(g: Any, axis: Any) -> Any:
    return flip(cumsum(flip(g, axis), axis), axis)


def _cumsum_vjp(g: Any, y: Any, x: Any, axis: Any = None) -> Any:
    if axis is None or not x.shape:  # numpy flattens: a 0-d x's cumsum over axis 0 or -1 has shape (1,)
        return reshape(_reverse_cumsum(g, 0), x.shape)
    return _reverse_cumsum(g, axis)


_cumsum = primitive("cumsum", lambda x, axis=None: np.cumsum(x, axis=axis), _cumsum_vjp,
                    jvp=LINEAR, reads=((),))


def cumsum(x: Any, axis: int | None = None) -> Any:
    return _cumsum(x, axis=axis)


# Linear algebra.

def _einsum_parse(subscripts: str, n: int) -> tuple[list[str], str]:
    subscripts = subscripts.replace(" ", "")
    if "." in subscripts:
        raise ValueError("einsum: ellipses are not supported; name every axis")
    ins, _, out = subscripts.partition("->")
    parts = ins.split(",")
    if len(parts) != n:
        raise ValueError(f"einsum: {len(parts)} operand subscripts for {n} operands")
    if "->" not in subscripts:
        letters = "".join(parts)
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    for p in parts:
        if len(set(p)) != len(p):
            raise ValueError(f"einsum: a repeated index within one operand ({p!r}) is not differentiable "
                             f"here; use F.diagonal or F.trace")
    return parts, out


class Einsum(Function):
    """numpy's einsum (explicit indices, no ellipsis, no index repeated within an operand). It is linear
    in each operand: the gradient of one is an einsum of the output's gradient with the others."""

    __slots__ = ()

    def forward(self, *xs: np.ndarray, subscripts: str) -> np.ndarray:
        return np.einsum(subscripts, *xs)

    def backward(self, gy: Any, y: Any, *xs: Any, subscripts: str) -> list:
        parts, out = _einsum_parse(subscripts, len(xs))
        grads: list[Any] = []
        for i, (x, given) in enumerate(zip(xs, self.inputs or ())):
            if not isinstance(given, (Variable, Edge)):
                grads.append(None)
                continue
            others = [(p, xs[j]) for j, p in enumerate(parts) if j != i]
            available = set(out).union(*[set(p) for p, _ in others])
            kept = "".join(c for c in parts[i] if c in available)
            spec = ",".join([out] + [p for p, _ in others]) + "->" + kept
            g = einsum(spec, gy, *[o for _, o in others])
            shape = _shape(x)
            kept_shape = tuple(s if c in available else 1 for c, s in zip(parts[i], shape))
            grads.append(broadcast_to(reshape(g, kept_shape), shape))
        return grads

    def jvp(self, ts: Sequence[Any], y: Any, *xs: Any, subscripts: str) -> Any:
        t = None
        for i, ti in enumerate(ts):
            if ti is not None:
                c = np.einsum(subscripts, *[ti if j == i else x for j, x in enumerate(xs)])
                t = c if t is None else t + c
        return t


def einsum(subscripts: str, *operands: Any) -> Any:
    _einsum_parse(subscripts, len(operands))
    return Einsum()(*operands, subscripts=subscripts)


def tensordot(a: Any, b: Any, axes: Any = 2) -> Any:
    """numpy's tensordot, as an einsum."""
    na, nb = len(_shape(a)), len(_shape(b))
    if isinstance(axes, (int, np.integer)):
        ax_a, ax_b = list(range(na - int(axes), na)), list(range(int(axes)))
    else:
        ax_a, ax_b = [list(np.atleast_1d(x)) for x in axes]
    ax_a, ax_b = [int(i) % na for i in ax_a], [int(i) % nb for i in ax_b]
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    sa = [next(letters) for _ in range(na)]
    sb = [next(letters) for _ in range(nb)]
    for i, j in zip(ax_a, ax_b):
        sb[j] = sa[i]
    out = [c for i, c in enumerate(sa) if i not in ax_a] + [c for j, c in enumerate(sb) if j not in ax_b]
    return einsum("".join(sa) + "," + "".join(sb) + "->" + "".join(out), a, b)


def inner(a: Any, b: Any) -> Any:
    """numpy's inner: a sum over the last axes (a product for scalars)."""
    if len(_shape(a)) == 0 or len(_shape(b)) == 0:
        return a * b
    return tensordot(a, b, axes=([-1], [-1]))


inv = primitive("inv", np.linalg.inv, lambda g, y, a: -_matmul(_matmul_tn(y, g), _mT(y)),
                jvp=(lambda t, y, a: -_matmul(_matmul(y, t), y),), reads=((Y,),))

det = primitive("det", np.linalg.det, lambda g, y, a: _unreduce2(g * y) * _mT(inv(a)),
                jvp=(lambda t, y, a: y * trace(solve(a, t), axis1=-2, axis2=-1),), reads=((0, Y),))


def _unreduce2(g: Any) -> Any:
    """A batch of scalars (one per matrix) against a batch of matrices."""
    return reshape(g, _shape(g) + (1, 1))


_logabsdet = primitive("logabsdet", lambda a: np.linalg.slogdet(a)[1], lambda g, y, a: _unreduce2(g) * _mT(inv(a)),
                       jvp=(lambda t, y, a: trace(solve(a, t), axis1=-2, axis2=-1),), reads=((0,),))


def slogdet(a: Any) -> tuple[np.ndarray, Any]:
    """(sign, log |det a|): the sign is a constant array, the log differentiable."""
    return np.linalg.slogdet(_data(a))[0], _logabsdet(a)


def _sym(a: Any) -> Any:
    return 0.5 * (a + _mT(a))


def _phi(x: Any) -> Any:
    """The lower triangle with its diagonal halved (Murray 2016's Phi)."""
    n = _shape(x)[-1]
    return where(np.tri(n, dtype=bool), x, 0.0) - 0.5 * where(np.eye(n, dtype=bool), x, 0.0)


def _cholesky_vjp(g: Any, y: Any, a: Any) -> Any:
    """L^-T Phi(L^T gL) L^-1, symmetrized (Murray 2016, eq. 10)."""
    p = _phi(_matmul_tn(y, g))
    m = _mT(solve(_mT(y), _mT(p)))  # P L^-1
    return _sym(solve(_mT(y), m))


def _cholesky_jvp(t: Any, y: Any, a: Any) -> Any:
    """L Phi(L^-1 dA L^-T), dA symmetrized."""
    x = solve(y, _sym(t))
    return _matmul(y, _phi(_mT(solve(y, _mT(x)))))


_cholesky = primitive("cholesky", np.linalg.cholesky, _cholesky_vjp,
                      jvp=(_cholesky_jvp,), reads=((Y,),))


def cholesky(a: Any) -> Any:
    """The lower Cholesky factor of the symmetric part of a (as JAX's symmetrize_input=True)."""
    return _cholesky(_sym(a))


def _eigh_gap(w: Any) -> Any:
    """1 / (w_j - w_i) off the diagonal, 0 on it (differentiable in w): eigenvalues must be distinct."""
    eye = np.eye(_shape(w)[-1], dtype=bool)
    return where(eye, 0.0, 1.0 / where(eye, 1.0, expand_dims(w, -2) - expand_dims(w, -1)))


def _eigvals_vjp(g: Any, y: Any, a: Any) -> Any:
    v = _eigvecs(a)
    return _matmul_nt(v * expand_dims(g, -2), v)


def _eigvecs_vjp(g: Any, y: Any, a: Any) -> Any:
    w = _eigvals(a)
    return _sym(_matmul_nt(_matmul(y, _matmul_tn(y, g) * _eigh_gap(w)), y))


_eigvals: Primitive = primitive("eigvalsh", lambda a: np.linalg.eigh(a)[0], _eigvals_vjp,
                     jvp=(lambda t, y, a: diagonal(_matmul_tn(_eigvecs(a), _matmul(_sym(t), _eigvecs(a))), 0, -2, -1),),
                     reads=((0,),))
_eigvecs: Primitive = primitive("eigvecs", lambda a: np.linalg.eigh(a)[1], _eigvecs_vjp,
                     jvp=(lambda t, y, a: _matmul(y, _matmul_tn(y, _matmul(_sym(t), y)) * _eigh_gap(_eigvals(a))),),
                     reads=((0, Y),))


def eigh(a: Any) -> tuple[Any, Any]:
    """Eigenvalues (ascending) and eigenvectors of the symmetric part of a; the eigenvectors'
    derivative needs distinct eigenvalues (it divides by their gaps)."""
    s = _sym(a)
    return _eigvals(s), _eigvecs(s)


def pinv(a: Any) -> Any:
    """The pseudo-inverse of a full-rank matrix: (A^T A)^-1 A^T, or A^T (A A^T)^-1 when wide."""
    m, n = _shape(a)[-2:]
    return solve(_matmul_tn(a, a), _mT(a)) if m >= n else _mT(solve(_matmul_nt(a, a), a))


def lstsq(a: Any, b: Any) -> Any:
    """The least-squares solution of a x = b for a of full column rank (the normal equations)."""
    return solve(_matmul_tn(a, a), matmul(_mT(a), b))


# ----------------------------------------------------------------------------------------------
# Operators on Variable.

def _install_operators() -> None:
    flip = lambda f: lambda a, b: f(b, a)  # noqa: E731  (reflected operator)
    ops = {"__add__": add, "__radd__": flip(add), "__sub__": sub, "__rsub__": flip(sub),
           "__mul__": mul, "__rmul__": flip(mul), "__truediv__": div, "__rtruediv__": flip(div),
           "__pow__": _pow, "__rpow__": flip(_pow), "__matmul__": matmul, "__rmatmul__": flip(matmul),
           "__neg__": neg, "__abs__": _abs, "__getitem__": lambda x, index: getitem(x, index=index),
           "reshape": lambda x, *shape: reshape(
               x, shape[0] if len(shape) == 1 and not np.isscalar(shape[0]) else shape),
           "transpose": lambda x, *axes: transpose(
               x, axes[0] if len(axes) == 1 and not np.isscalar(axes[0]) else axes or None),
           "T": property(lambda x: transpose(x)),
           "sum": lambda x, axis=None, keepdims=False: _sum(x, axis=axis, keepdims=keepdims)}
    for name, fn in ops.items():
        setattr(Variable, name, fn)


_install_operators()


def _install_numpy_twins() -> None:
    """numpy's functions that dispatch to F when given a Variable (`Variable.__array_function__`)."""
    data = lambda f: lambda x, *args, **kwargs: f(_data(x), *args, **kwargs)  # noqa: E731  (no gradient)
    twins = {np.sum: _sum, np.mean: mean, np.max: _max, np.amax: _max, np.min: _min, np.amin: _min,
             np.reshape: reshape, np.transpose: transpose, np.concatenate: concatenate, np.stack: stack,
             np.where: where, np.clip: clip, np.dot: dot, np.outer: outer, np.squeeze: squeeze,
             np.expand_dims: expand_dims, np.broadcast_to: broadcast_to, np.linalg.norm: norm,
             np.linalg.solve: solve, np.shape: data(np.shape), np.ndim: data(np.ndim), np.size: data(np.size),
             np.var: var, np.std: std, np.prod: prod, np.cumsum: cumsum, np.einsum: einsum,
             np.tensordot: tensordot, np.swapaxes: swapaxes, np.moveaxis: moveaxis, np.inner: inner,
             np.trace: trace, np.diag: diag, np.diagonal: diagonal, np.tril: tril, np.triu: triu,
             np.repeat: repeat, np.tile: tile, np.pad: pad, np.flip: flip, np.roll: roll, np.split: split,
             np.vstack: vstack, np.hstack: hstack, np.sort: sort, np.linalg.cholesky: cholesky,
             np.linalg.det: det, np.linalg.slogdet: slogdet, np.linalg.inv: inv, np.linalg.eigh: eigh,
             np.linalg.pinv: pinv}
    NUMPY_TWINS.update(twins)
    # ufuncs (`Variable.__array_ufunc__`): every primitive whose forward is a numpy ufunc, then the functions
    # of F written with primitives that are a ufunc's twin (np.matmul's is matmul, which promotes vectors)
    UFUNC_TWINS.update({p.Function.forward: p for p in list(globals().values())
                        if isinstance(getattr(getattr(p, "Function", None), "forward", None), np.ufunc)})
    UFUNC_TWINS.update({np.matmul: matmul, np.power: _pow, np.square: square, np.reciprocal: reciprocal,
                        np.log2: log2, np.log10: log10, np.fabs: _abs})


_install_numpy_twins()


# ----------------------------------------------------------------------------------------------
# The public names that are Python builtins. Inside this module `sum`, `max`, `min`, `abs` and `pow` stay
# the builtins (the rules use the private twins); users reach F.sum etc. through the module's __getattr__
# (PEP 562), which `from optlab.autodiff.functions import sum` also takes.

_SHADOWING = {"sum": _sum, "max": _max, "min": _min, "abs": _abs, "pow": _pow}


# ----------------------------------------------------------------------------------------------
# The primitives whose forwards are scipy.special's ufuncs, built on first use: scipy.special's import
# (~0.2 s: it clones numpy's namespace, numpy.f2py with it) is the kernel's largest, and `optlab list` or
# a worker that never calls them need not pay it. F.sigmoid and `from ... import erf` build them (PEP 562).

def _special() -> Any:
    import scipy.special

    return scipy.special


_SPECIAL: dict[str, Callable[[], Primitive]] = {
    "sigmoid": lambda: primitive("sigmoid", _special().expit, lambda g, y, x: g * (y * (1.0 - y)),
                                 jvp=SELF_ADJOINT, reads=((Y,),)),
    "erf": lambda: primitive("erf", _special().erf, lambda g, y, x: g * float(2.0 / np.sqrt(np.pi)) * exp(-x * x),
                             jvp=SELF_ADJOINT, reads=((0,),)),
}


def _lazy(name: str) -> Primitive:
    """The primitive `name` of _SPECIAL, built once and kept as a module global."""
    built = globals().get(name)
    if built is None:
        built = globals()[name] = _SPECIAL[name]()
        UFUNC_TWINS[built.Function.forward] = built  # scipy.special.expit(x) on a Variable: F.sigmoid
    return built


def __getattr__(name: str) -> Primitive:
    """F.sum, F.max, F.min, F.abs, F.pow: the differentiable twins of the builtins of these names;
    F.sigmoid, F.erf: built on first use."""
    if name in _SPECIAL:
        return _lazy(name)
    try:
        return _SHADOWING[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted({*globals(), *_SHADOWING, *_SPECIAL})
