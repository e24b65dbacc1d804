"""Functional transforms: grad, value_and_grad, jacobian, hessian, hvp, jvp, vjp.

They take and return numpy arrays. Called on Variables (from inside another transform) they return
Variables whose graphs reach the caller's inputs, which is all it takes to nest: ``grad(grad(f))``.
Each transform starts its inputs at a fresh node (`identity`), so backpropagation stops there and
never spills into an enclosing graph's ``.grad``.

`jvp` is forward mode: f applied to a `Dual` carrying v, one pass (on Variables, or when f itself
differentiates or has a Function without JVP rules, the double-VJP trick instead). `hvp` is
reverse-over-reverse (Pearlmutter's double backprop): one forward, one backward that records the
gradient's graph, one backward through it seeded with v. Forward-over-reverse was built and measured
slower on every problem tried (docs/architecture.md), so it is not used.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from . import functions as F
from .core import (Config, Dual, MixedModesError, Variable, _caller_grads, _data, enable_grad, gradients,
                   made_outside, transform_level, using_config)

identity = F.primitive("identity", lambda x: x, lambda g, y, x: g)
F.def_self_adjoint(identity)
F.defreads(identity, ())


def _start(x: Any) -> Variable:
    """A fresh input node: a leaf for an array, an identity node over a Variable (to keep nesting)."""
    return identity(x) if isinstance(x, Variable) else Variable(x)


def _finish(v: Any, like: Variable, nested: bool) -> Any:
    """Zeros where the output did not depend on the input; bare arrays unless nested."""
    if v is None:
        v = Variable(np.zeros_like(like.data))
    return v if nested else v.data


def _as_output(y: Any) -> Variable:
    return y if isinstance(y, Variable) else Variable(y)


def _argnums(argnums: int | Sequence[int]) -> tuple[tuple[int, ...], bool]:
    single = isinstance(argnums, (int, np.integer))
    return ((int(argnums),) if single else tuple(argnums)), single


def _check_argnums(where: str, nums: Sequence[int], n: int) -> None:
    """Name the transform when argnums points past the positional arguments."""
    if any(not -n <= i < n for i in nums):
        raise ValueError(f"{where}: argnums {tuple(nums)} out of range for {n} positional argument(s)")


def value_and_grad(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """f(*args) and its gradient with respect to args[argnums]; f must return a scalar."""
    nums, single = _argnums(argnums)

    def value_and_grad_f(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        nested = any(isinstance(a, Variable) for a in args)
        _check_argnums("grad", nums, len(args))
        args = list(args)
        with enable_grad(), transform_level() as level:
            xs = [_start(args[i]) for i in nums]
            for i, x in zip(nums, xs):
                args[i] = x
            y = _as_output(f(*args, **kwargs))
            if y.size != 1:
                raise ValueError(f"grad: {getattr(f, '__name__', 'f')} must return a scalar, "
                                 f"got shape {y.shape}; use jacobian or vjp for vector outputs")
            nested = nested or made_outside(y, level)
            gs = gradients(y, xs, create_graph=nested, retain_graph=nested)  # a graph only we hold
            gs = [_finish(g, x, nested) for g, x in zip(gs, xs)]
        return (y if nested else y.data), (gs[0] if single else tuple(gs))

    return value_and_grad_f


def grad(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The gradient function of a scalar f; nests, so grad(grad(f)) is the second derivative."""
    vg = value_and_grad(f, argnums)

    def grad_f(*args: Any, **kwargs: Any) -> Any:
        return vg(*args, **kwargs)[1]

    return grad_f


def vjp(f: Callable, x: Any) -> tuple[Any, Callable]:
    """f(x) and the pullback v -> v^T J, reusable for many cotangents v."""
    nested = isinstance(x, Variable)
    with enable_grad(), transform_level() as level:
        xv = _start(x)
        y = _as_output(f(xv))
        nested = nested or made_outside(y, level)

    def pullback(v: Any) -> Any:
        if np.shape(v) != y.shape:
            raise ValueError(f"vjp: cotangent has shape {np.shape(v)} but f(x) has shape {y.shape}")
        record = nested or isinstance(v, Variable)
        with enable_grad():
            (g,) = gradients(y, [xv], grad=v, create_graph=record)
            return _finish(g, xv, record)

    return (y if nested else y.data), pullback


def jvp(f: Callable, x: Any, v: Any) -> tuple[Any, Any]:
    """f(x) and J v: forward mode on arrays; on Variables (nested, or when f itself differentiates),
    the double-VJP trick: J v is the gradient of u -> <J^T u, v> in u."""
    nested = isinstance(x, Variable) or isinstance(v, Variable)
    if not nested and not Config.forward_mode:
        # One tangent per pass: a jvp inside this one (which could meet this Dual through a closure) takes
        # the reverse path below, so tangents of two transforms never mix.
        xd = Dual(x)
        if np.shape(v) != xd.shape:
            raise ValueError(f"jvp: tangent has shape {np.shape(v)} but x has shape {xd.shape}")
        xd.tangent = np.asarray(v, dtype=xd.dtype)
        try:
            with using_config("forward_mode", True), transform_level():
                y = f(xd)
        except (MixedModesError, NotImplementedError):  # f differentiates, or lacks JVP rules
            pass
        else:
            t = y.tangent if isinstance(y, Dual) else None
            y = np.asarray(_data(y))
            return y, np.zeros_like(y) if t is None else _caller_grads([t], xd.tangent)[0].data
    with enable_grad(), transform_level() as level:
        xv = _start(x)
        y = _as_output(f(xv))
        nested = nested or made_outside(y, level)
        u = Variable(np.zeros_like(y.data))
        (g,) = gradients(y, [xv], grad=u, create_graph=True)
        if g is None:
            jv = None
        else:
            if not isinstance(v, Variable):
                v = np.asarray(v, dtype=g.dtype)
            if np.shape(v) != g.shape:
                raise ValueError(f"jvp: tangent has shape {np.shape(v)} but x has shape {g.shape}")
            (jv,) = gradients(g, [u], grad=v, create_graph=nested, retain_graph=nested)
        return (y if nested else y.data), _finish(jv, y, nested)


def hvp(f: Callable, x: Any, v: Any) -> Any:
    """Hessian of scalar f at x times v, by reverse-over-reverse (double backprop)."""
    nested = isinstance(x, Variable) or isinstance(v, Variable)
    with enable_grad(), transform_level() as level:
        xv = _start(x)
        y = _as_output(f(xv))
        if y.size != 1:
            raise ValueError(f"hvp: f must return a scalar, got shape {y.shape}")
        nested = nested or made_outside(y, level)
        if np.shape(v) != xv.shape:
            raise ValueError(f"hvp: v has shape {np.shape(v)} but x has shape {xv.shape}")
        (g,) = gradients(y, [xv], create_graph=True)
        if g is None or g.creator is None:
            hv = None  # f is at most linear in x
        else:
            (hv,) = gradients(g, [xv], grad=v, create_graph=nested, retain_graph=nested)
        return _finish(hv, xv, nested)


def jacobian(f: Callable, argnums: int = 0) -> Callable:
    """The Jacobian function of f: shape f(x).shape + x.shape, one reverse pass per output element."""

    def jacobian_f(*args: Any, **kwargs: Any) -> Any:
        nested = any(isinstance(a, Variable) for a in args)
        _check_argnums("jacobian", (argnums,), len(args))
        args = list(args)
        with enable_grad(), transform_level() as level:
            xv = args[argnums] = _start(args[argnums])
            y = _as_output(f(*args, **kwargs))
            nested = nested or made_outside(y, level)
            rows = []
            for i in range(y.size):
                seed = np.zeros(y.size, dtype=y.dtype)
                seed[i] = 1.0
                (g,) = gradients(y, [xv], grad=seed.reshape(y.shape), create_graph=nested)
                rows.append(_finish(g, xv, nested))
            if nested:
                return F.reshape(F.stack(rows), y.shape + xv.shape) if rows else Variable(np.zeros(y.shape + xv.shape))
        return np.stack(rows).reshape(y.shape + xv.shape) if rows else np.zeros(y.shape + xv.shape)

    return jacobian_f


def hessian(f: Callable, argnums: int = 0) -> Callable:
    """The Hessian function of a scalar f: the Jacobian of its gradient."""
    return jacobian(grad(f, argnums), argnums)
