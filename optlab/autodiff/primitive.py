"""The extension API: a primitive is a numpy forward and its derivative rules, one callable.

`primitive` builds it; `defjvp`, `def_linear`, `def_bilinear`, `def_self_adjoint` give its forward-mode
rules and `defreads` what its VJPs read (what the graph keeps).
"""
from __future__ import annotations

from typing import Any, Callable, Protocol

from .node import Function, _hold_plans, recorder


class Primitive(Protocol):
    """What `primitive` returns: the differentiable function, carrying its node class (`Function`)."""

    Function: type[Function]
    __name__: str

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...


LINEAR = "linear"  # jvp=LINEAR: linear in the first input (the rest are settings): the JVP is the function
BILINEAR = "bilinear"  # jvp=BILINEAR: linear in each of two inputs (products): the tangent takes its place
SELF_ADJOINT = "self_adjoint"  # jvp=SELF_ADJOINT: a symmetric Jacobian (elementwise): the JVP is the VJP


def primitive(name: str, forward: Callable, *vjps: Callable | None, jvp: Any = None,
              reads: tuple | None = None) -> Primitive:
    """A differentiable function, in one statement: a numpy `forward`, one VJP per input
    ``vjp(g, y, *xs)`` (None: no gradient), its forward mode `jvp` (one ``jvp(t, y, *xs)`` per input, or
    LINEAR, BILINEAR, SELF_ADJOINT) and what each VJP `reads` (input positions, Y for the output; see
    `Function.reads`), which is all the graph keeps. Without `reads` everything is kept."""
    cls = type(name, (Function,), {"__slots__": (), "forward": staticmethod(forward), "vjps": vjps})
    apply: Any = recorder(cls)  # a function; given its node class as an attribute below
    apply.__name__ = apply.__qualname__ = name
    apply.__doc__ = f"Differentiable {name} (numpy semantics); records a `{name}` node on Variables."
    apply.Function = cls
    if isinstance(jvp, str):
        _JVP_FAMILIES[jvp](apply)
    elif jvp is not None:
        defjvp(apply, *(jvp if isinstance(jvp, tuple) else (jvp,)))
    if reads is not None:
        defreads(apply, *reads)
    return apply


Y = -1  # in `defreads`: the output


def defreads(fn: Primitive, *reads: tuple[int, ...]) -> None:
    """What each VJP of primitive fn reads: input positions, or Y for the output (see `Function.reads`);
    an input that no VJP reads is not kept alive by the graph."""
    fn.Function.reads = reads
    fn.Function.hold = _hold_plans(reads)


def defjvp(fn: Primitive, *jvps: Callable | None) -> None:
    """Forward mode for primitive fn: per input, ``jvp(t, y, *xs)`` maps its tangent t to the output's."""
    fn.Function.jvps = jvps


def def_linear(*fns: Primitive) -> None:
    """Primitives linear in their first input (the rest are settings): the JVP is the function itself,
    applied to the tangent."""
    for fn in fns:
        defjvp(fn, lambda t, y, x, *settings, _fn=fn, **kwargs: _fn(t, *settings, **kwargs))


def def_bilinear(*fns: Primitive) -> None:
    """Primitives linear in each of two inputs (products): the tangent takes that input's place."""
    for fn in fns:
        defjvp(fn, lambda t, y, a, b, _fn=fn: _fn(t, b), lambda t, y, a, b, _fn=fn: _fn(a, t))


def def_self_adjoint(*fns: Primitive) -> None:
    """Primitives whose Jacobian is symmetric (elementwise functions of one input, softmax, swapping two
    axes): the JVP is the VJP, with the tangent in place of the cotangent."""
    for fn in fns:
        fn.Function.jvps = fn.Function.vjps


_JVP_FAMILIES = {LINEAR: def_linear, BILINEAR: def_bilinear, SELF_ADJOINT: def_self_adjoint}
