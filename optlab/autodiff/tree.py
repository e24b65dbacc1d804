"""Pytrees, as JAX has them: tuples, lists and dicts nested to any depth, with arrays (or numbers, or
Variables) at the leaves. The transforms flatten their arguments and results with these two functions."""
from __future__ import annotations

from typing import Any, Callable

# A tree's shape: ("leaf",), ("none",), or (kind, keys or None, children's shapes) for tuple, list, dict.
TreeDef = tuple


def flatten(tree: Any) -> tuple[list[Any], TreeDef]:
    """The leaves of `tree` in order (dicts in insertion order) and its shape, for `unflatten`."""
    leaves: list[Any] = []
    return leaves, _flatten(tree, leaves)


def _flatten(tree: Any, leaves: list[Any]) -> TreeDef:
    if isinstance(tree, (tuple, list)):
        return (type(tree), None, tuple(_flatten(t, leaves) for t in tree))
    if isinstance(tree, dict):
        return (dict, tuple(tree), tuple(_flatten(t, leaves) for t in tree.values()))
    if tree is None:
        return ("none",)
    leaves.append(tree)
    return ("leaf",)


def unflatten(treedef: TreeDef, leaves: Any) -> Any:
    """The tree of shape `treedef` with `leaves` in order (an iterable)."""
    return _unflatten(treedef, iter(leaves))


def _unflatten(treedef: TreeDef, leaves: Any) -> Any:
    if treedef[0] == "leaf":
        return next(leaves)
    if treedef[0] == "none":
        return None
    kind, keys, children = treedef
    values = [_unflatten(c, leaves) for c in children]
    if kind is dict:
        return dict(zip(keys, values))
    return kind(values) if kind in (tuple, list) else kind(*values)  # a namedtuple takes its fields


def tree_map(fn: Callable[[Any], Any], tree: Any) -> Any:
    """`tree` with fn applied to each leaf."""
    leaves, treedef = flatten(tree)
    return unflatten(treedef, [fn(x) for x in leaves])


def is_leaf(treedef: TreeDef) -> bool:
    return treedef[0] == "leaf"
