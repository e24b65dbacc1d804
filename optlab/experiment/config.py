"""The experiment config (contract): validated with pydantic before anything runs."""
from __future__ import annotations

import difflib
import hashlib
import json
from pathlib import Path
from typing import Any

import pydantic
import yaml

from ..optim.stopping import Budget, Stopping


class ConfigError(ValueError):
    """A config that cannot run: one line naming the file, the key path and what is wrong."""


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")


class Component(_Strict):
    """A plugin by name with its parameters; a list value in `params` is a grid axis."""

    name: str = pydantic.Field(min_length=1)
    params: dict[str, Any] = pydantic.Field(default_factory=dict)
    label: str | None = None

    @pydantic.model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @pydantic.field_validator("params")
    @classmethod
    def _no_empty_axis(cls, params: dict[str, Any]) -> dict[str, Any]:
        for key, value in params.items():
            if isinstance(value, list) and not value:
                raise ValueError(f"grid axis '{key}' is empty")
        return params


class Executor(_Strict):
    """Where runs execute: serial, local (a process pool, the default) or dask."""

    name: str = "local"
    workers: int | None = pydantic.Field(None, ge=1)
    address: str | None = None

    @pydantic.model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


class Config(_Strict):
    """problems x optimizers x seeds x scales, with one budget and one convergence test."""

    name: str = pydantic.Field(min_length=1)
    problems: list[Component] = pydantic.Field(min_length=1)
    optimizers: list[Component] = pydantic.Field(min_length=1)
    seeds: list[int] = pydantic.Field(default_factory=lambda: [0], min_length=1)
    scale: list[float] = pydantic.Field(default_factory=lambda: [1.0], min_length=1)
    budget: Budget = pydantic.Field(default_factory=Budget)
    stopping: Stopping = pydantic.Field(default_factory=Stopping)
    executor: Executor = pydantic.Field(default_factory=Executor)
    output: str | None = None
    plugins: list[str] = pydantic.Field(default_factory=list)

    @pydantic.field_validator("seeds", mode="before")
    @classmethod
    def _seed_count(cls, value: Any) -> Any:
        """`seeds: 3` means seeds 0, 1, 2."""
        if isinstance(value, str):
            raise ValueError("must be a count (seeds: 3) or a list of seeds (seeds: [0, 1, 2]), "
                             f"not the string {value!r}")
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 1:
                raise ValueError("must be a positive count or a list of seeds")
            return list(range(value))
        return value

    @pydantic.field_validator("scale", mode="before")
    @classmethod
    def _scalar_scale(cls, value: Any) -> Any:
        return [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else value

    def digest(self) -> str:
        """A hash of everything that decides results (not where they are written, nor how they run)."""
        decisive = self.model_dump(exclude={"output", "executor"})
        return hashlib.sha256(json.dumps(decisive, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _key_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def set_override(data: dict[str, Any], assignment: str) -> None:
    """Apply `--set key.path=value` (list items by index, e.g. optimizers.0.name; the value is YAML)."""
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment}: expected key.path=value")
    path, raw = assignment.split("=", 1)
    keys = path.strip().split(".")
    node: Any = data
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        if isinstance(node, list) and key.isdigit() and int(key) < len(node):
            key = int(key)
            if not last and isinstance(node[key], str):
                node[key] = {"name": node[key]}  # a short-form entry `- gd` is `- {name: gd}`
        elif not isinstance(node, dict):
            raise ConfigError(f"--set {assignment}: '{'.'.join(keys[:depth])}' has no key '{key}'")
        if last:
            node[key] = yaml.safe_load(raw)
        else:
            if isinstance(node, dict) and key not in node:
                node[key] = {}
            node = node[key]


def load_config(path: str | Path, overrides: list[str] = ()) -> Config:
    """Read, override and validate a config; any problem becomes one ConfigError line."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(e, 'problem', e)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys, got {type(data).__name__}")
    for assignment in overrides:
        set_override(data, assignment)
    try:
        config = Config(**data)
    except pydantic.ValidationError as e:
        errors = sorted(e.errors(), key=lambda err: err["type"] != "extra_forbidden")  # a typo explains the rest
        err = errors[0]
        msg = _unknown_key(err["loc"]) if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(f"{path}: {_key_path(err['loc'])}: {msg}{more}") from None
    # plugin files are named relative to the config file, wherever optlab runs from
    config.plugins = [p if Path(p).is_absolute() else str(path.parent / p) for p in config.plugins]
    return config


SECTIONS: dict[str, type[pydantic.BaseModel]] = {"budget": Budget, "stopping": Stopping, "executor": Executor,
                                                  "problems": Component, "optimizers": Component}


def _unknown_key(loc: tuple) -> str:
    """"unknown key", with the closest key of that section where one is close."""
    model = SECTIONS.get(str(loc[0]), Config) if len(loc) > 1 else Config
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    return f"unknown key; did you mean {close[0]!r}?" if close else \
        f"unknown key (keys: {', '.join(model.model_fields)})"
