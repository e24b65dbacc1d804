"""The kernel's global state: whether to record (`no_grad`), and the level of the running transform.

Levels: a value's generation also says which transform made it, so no transform confuses its own
perturbation with an enclosing one's (JAX's trace levels, HIPS autograd's boxes); see `made_outside`.
"""
from __future__ import annotations

from typing import Any


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
