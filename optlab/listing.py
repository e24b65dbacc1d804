"""`optlab list` without importing plugin code: the built-ins' rows from their catalogue (optlab_plugins.catalogue).

The entry points are read as the registry reads them; when any plugin is not a built-in the catalogue knows
(a third party's package), None: the registry lists, exactly.
"""
from __future__ import annotations

import os
from typing import Any

from .registry import KINDS


def catalogued_rows(kind: str | None = None) -> list[dict[str, Any]] | None:
    """plugin_rows(kind) as the catalogue has them, in the registry's order; None when it cannot say."""
    import importlib.metadata

    only_builtins = bool(os.environ.get("OPTLAB_DISABLE_PLUGIN_AUTOLOAD"))
    modules: dict[str, str] = {}  # entry-point name -> module, in the registry's order of registration
    dists: dict[int, str] = {}  # a distribution's name parses its METADATA: once per distribution
    for ep in importlib.metadata.entry_points(group="optlab"):
        if id(ep.dist) not in dists:
            dists[id(ep.dist)] = ep.dist.name if ep.dist is not None else "?"
        dist = dists[id(ep.dist)]
        if only_builtins and dist != "optlab" or ep.name in modules:
            continue
        if dist != "optlab":
            return None
        modules[ep.name] = ep.value
    from optlab_plugins.catalogue import listing

    listings = [listing(module) for module in modules.values()]
    if any(entry is None for entry in listings):
        return None
    return [{"name": name, "kind": KINDS[k], "source": "built-in", "parameters": dict(params)}
            for k in ([kind] if kind else KINDS) for entry in listings for name, params in entry.get(k, [])]
