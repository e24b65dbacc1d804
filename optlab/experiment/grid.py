"""Expand a config into runs: problems x optimizer grid points x scales x seeds, each with a stable id.

A run's id is a hash of its identity: everything that decides its result (the problem and optimizer with
their parameters resolved, defaults filled in; the label, seed, scale, budget and stopping test; and a
fingerprint of the code: the plugins' module sources, optlab's own numerical code and version, numpy's
and scipy's versions). Its slot is the config cell it fills; a stored run in the same slot with another
id is stale.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import itertools
import json
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import Any

from ..optim.base import ParameterError, validate_params
from ..registry import PluginError, Registry
from . import suites
from .config import Component, Config, ConfigError
from .spec import RunSpec, address


def _points(params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every combination of the list-valued params (the grid axes), in config order."""
    axes = [v if isinstance(v, list) else [v] for v in params.values()]
    return [dict(zip(params, combo)) for combo in itertools.product(*axes)]


def _label(comp: Component, point: dict[str, Any]) -> str:
    varying = {k: v for k, v in point.items() if isinstance(comp.params.get(k), list)}
    base = comp.label or comp.name
    return base + ("(" + ", ".join(f"{k}={v}" for k, v in varying.items()) + ")" if varying else "")


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _file_digest(path: str) -> str:
    try:
        stat = Path(path).stat()
    except OSError:
        return "?"
    return _read_digest(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=None)
def _read_digest(path: str, mtime_ns: int, size: int) -> str:
    """The file's hash, cached per (path, modification time, size): an edited file is read again."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def source_fingerprint(obj: Any) -> str:
    """A hash of the source file of the module defining `obj` (a plugin's class or factory)."""
    try:
        return _file_digest(inspect.getsourcefile(inspect.unwrap(obj)) or "")
    except TypeError:
        return "?"


def optlab_fingerprint() -> dict[str, str]:
    """optlab's version and a hash of its numerical code (optim, autodiff); numpy's and scipy's versions."""
    root = Path(__file__).resolve().parent.parent
    files = sorted(p for sub in ("optim", "autodiff") for p in (root / sub).glob("*.py"))
    out = {"optlab": _digest([(p.name, _file_digest(str(p))) for p in files])}
    for pkg in ("optlab", "numpy", "scipy"):
        try:
            out[f"{pkg} version"] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[f"{pkg} version"] = "?"
    return out


def resolved_problem_params(factory: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The factory's keyword defaults overlaid with `params`: every parameter that decides the instance."""
    defaults = {k: p.default for k, p in inspect.signature(factory).parameters.items()
                if p.default is not inspect.Parameter.empty}
    return {**defaults, **params}


def stale_reasons(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """What differs between a stored run's identity and the new one, in words ('arc' changed, ...)."""
    if not old:
        return ["stored before run identities were recorded"]
    reasons = []
    if old.get("optimizer_code") != new["optimizer_code"]:
        reasons.append(f"'{new['optimizer']}' changed")
    if old.get("optimizer_params") != new["optimizer_params"]:
        reasons.append(f"parameters of '{new['optimizer']}' changed")
    if old.get("problem_code") != new["problem_code"] or old.get("problem_params") != new["problem_params"]:
        reasons.append(f"problem '{new['problem']}' changed")
    for key in ("budget", "stopping"):
        if old.get(key) != new[key]:
            reasons.append(f"{key} changed")
    for key, value in new["code"].items():
        if (old.get("code") or {}).get(key) != value:
            reasons.append(f"{key} changed")
    return reasons or ["identity changed"]


def _check_problem(reg: Registry, where: str, name: str, params: dict[str, Any], scaled: bool) -> None:
    factory = reg.get("problems", name)
    accepted = inspect.signature(factory).parameters
    for key, value in params.items():
        if key not in accepted:
            raise ConfigError(f"{where}.params.{key}: unknown parameter of problem {name!r} "
                              f"(parameters: {', '.join(accepted) or 'none'})")
        _check_kind(f"{where}.params.{key}", name, value, accepted[key].default)
    if scaled and "scale" not in accepted:
        raise ConfigError(f"{where}: problem {name!r} takes no 'scale', but the config's scale axis is not [1]")


def _check_kind(where: str, name: str, value: Any, default: Any) -> None:
    """A value of its default's kind, where the default is a number: YAML's true/yes or "4" is no number, 4.5 no
    integer. The values themselves (an odd n where n must be even) are the factory's to check, when a run builds
    the problem."""
    if isinstance(default, bool) or not isinstance(default, (int, float)):
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}: problem {name!r} takes a number here, got {value!r}"
                          + (" (write it without quotes)" if isinstance(value, str) and _numeral(value) else ""))
    if isinstance(default, int) and not isinstance(value, int):
        raise ConfigError(f"{where}: problem {name!r} takes an integer here, got {value!r}")


def _numeral(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_label(labelled: dict[str, tuple[int, str, dict[str, Any], dict[str, Any]]], where: str, label: str,
                 setting: tuple[int, str, dict[str, Any], dict[str, Any]]) -> None:
    """Refuse a label already given to another setting: reports group runs by label, and would merge the two.

    The same setting twice under one label is left to the duplicate-run check, which names the run.
    """
    first = labelled.setdefault(label, setting)
    if (first[1], first[3]) != (setting[1], setting[3]):
        shown = " ".join([first[1], *(f"{k}={v}" for k, v in first[2].items())])
        raise ConfigError(f"{where}: the label {label!r} is already optimizers[{first[0]}]'s ({shown}); "
                          f"give one a label: (reports group runs by label and would merge the two)")


def expand(config: Config, reg: Registry, source: str = "config") -> list[RunSpec]:
    """All runs of `config`, validated against the plugins: names exist, parameters are allowed."""
    scaled = config.scale != [1.0]
    problems = []
    for i, comp in enumerate(config.problems):
        where = f"{source}: problems[{i}]"
        try:
            names = suites.select(reg, comp.suite, comp.min_n, comp.max_n) if comp.suite else [comp.name]
        except ValueError as e:
            raise ConfigError(f"{where}.suite: {e}") from None
        try:
            for name, point in itertools.product(names, _points(comp.params)):
                _check_problem(reg, where, name, point, scaled)
                problems.append((name, point))
        except PluginError as e:
            hint = suites.missing_hint(reg, comp.name)
            raise ConfigError(f"{where}.name: {e}" + (f" ({hint})" if hint else "")) from None
    optimizers = []
    labelled: dict[str, tuple[int, str, dict[str, Any], dict[str, Any]]] = {}
    for i, entry in enumerate(config.optimizers):
        where = f"{source}: optimizers[{i}]"
        try:
            cls = reg.get("optimizers", entry.name)
            for point in _points(entry.params):
                resolved = validate_params(cls.Params, f"optimizer '{entry.name}'", point).model_dump(mode="json")
                label = _label(entry, point)
                _check_label(labelled, where, label, (i, entry.name, point, resolved))
                optimizers.append((entry.name, point, label, resolved, source_fingerprint(cls)))
        except (PluginError, ParameterError) as e:
            raise ConfigError(f"{where}: {e}") from None
    budget, stopping = config.budget.model_dump(), config.stopping.model_dump()
    code, cost = optlab_fingerprint(), config.cost.model_dump()
    factories = {name: reg.get("problems", name) for name, _ in problems}
    addresses = _addresses(reg, {name for name, _ in problems}, {name for name, *_ in optimizers})
    specs = []
    for (pname, pparams), (oname, oparams, label, oresolved, ocode), scale, seed in itertools.product(
            problems, optimizers, config.scale, config.seeds):
        factory = factories[pname]
        identity = {"problem": pname, "problem_params": resolved_problem_params(factory, pparams),
                    "problem_code": source_fingerprint(factory), "optimizer": oname, "optimizer_params": oresolved,
                    "optimizer_code": ocode, "label": label, "seed": seed, "scale": scale, "budget": budget,
                    "stopping": stopping, "code": code}
        spec = RunSpec(pname, pparams, oname, oparams, label, seed, scale, budget, stopping, tuple(config.plugins))
        specs.append(replace(spec, run_id=_digest(identity), identity=identity, cost=cost, jit=config.jit,
                             slot=_digest(pname, pparams, oname, oparams, label, seed, scale),
                             where={**addresses["problems"].get(pname, {}), **addresses["optimizers"].get(oname, {})}))
    return specs


def _addresses(reg: Registry, problems: set[str], optimizers: set[str]) -> dict[str, dict[str, dict[str, str]]]:
    """kind -> name -> the RunSpec.where items of that name: where a worker imports its problem (and evaluation)
    or optimizer from. Left out: objects of plugin files (a worker loads the files and looks them up by name)
    and objects no "module:qualname" gives back (`address`)."""
    out: dict[str, dict[str, dict[str, str]]] = {"problems": {}, "optimizers": {}}
    for kind, names in (("problems", problems), ("optimizers", optimizers)):
        for name in names:
            found = {k: reg.find(k, name) for k in ((kind, "evaluations") if kind == "problems" else (kind,))}
            if any(entry is not None and entry.source.startswith("file ") for entry in found.values()):
                continue
            spots = {k: "" if entry is None else address(entry.obj) for k, entry in found.items()}
            out[kind][name] = {k: spot for k, spot in spots.items() if spot is not None}
    return out
