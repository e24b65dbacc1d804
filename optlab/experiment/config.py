"""The experiment config (contract): validated with pydantic before anything runs."""
from __future__ import annotations

import difflib
import functools
import hashlib
import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Sequence

import pydantic

if TYPE_CHECKING:
    import yaml  # imported where a config is parsed: a worker imports this module but parses no YAML

from ..optim.stopping import Budget, NoBool, Stopping
from .cost import CostModel, check_weight

MAX_FILE_BYTES = 1_000_000  # a config is a page of text, not data
MAX_DEPTH = 40  # nesting of lists and mappings
MAX_NODES = 200_000  # values after YAML aliases are expanded (a 620-byte alias bomb makes 10^9)
MAX_SEEDS = 100_000
MAX_WORKERS = max(64, 4 * (os.cpu_count() or 1))
Seed = Annotated[int, NoBool, pydantic.Field(ge=0, le=2**63 - 1)]  # numpy takes seeds >= 0, SQLite stores 64 bits


class ConfigError(ValueError):
    """A config that cannot run: one line naming the file, the key path and what is wrong."""


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", defer_build=True)  # schemas built on first validation


class Cost(_Strict):
    """The config's `cost:` section: the weights of `CostModel` (its defaults), validated as it validates them."""

    f: float | str = CostModel.f
    grad: float | str = CostModel.grad
    hvp: float | str = CostModel.hvp
    hessian: float | str = CostModel.hessian

    @pydantic.field_validator("f", "grad", "hvp", "hessian", mode="before")
    @classmethod
    def _check(cls, value: Any, info: pydantic.ValidationInfo) -> float | str:
        return check_weight(value, info.field_name or "cost weight")  # a field validator always has its field's name

    def model(self) -> CostModel:
        """The cost model these weights make."""
        return CostModel(**self.model_dump())


class Component(_Strict):
    """A plugin by name with its parameters; a list value in `params` is a grid axis."""

    name: str = pydantic.Field(min_length=1, max_length=200)
    params: dict[str, Any] = pydantic.Field(default_factory=dict)
    label: str | None = pydantic.Field(None, max_length=200)

    @pydantic.field_validator("name", "label")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        return _printable(value)

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


class ProblemEntry(Component):
    """A problem by `name`, or every problem of a `suite` whose default n is within [min_n, max_n]."""

    name: str = ""
    suite: str | None = pydantic.Field(None, min_length=1)
    min_n: int | None = pydantic.Field(None, ge=0)
    max_n: int | None = pydantic.Field(None, ge=0)

    @pydantic.model_validator(mode="after")
    def _name_or_suite(self) -> ProblemEntry:
        if bool(self.name) == bool(self.suite):
            raise ValueError("give either a problem 'name' or a 'suite'")
        if not self.suite and (self.min_n is not None or self.max_n is not None):
            raise ValueError("'min_n' and 'max_n' select within a 'suite'")
        return self


class Executor(_Strict):
    """Where runs execute: serial, local (a process pool, the default), dask, slurm or inline."""

    name: str = pydantic.Field("local", min_length=1, max_length=200)
    workers: Annotated[int | None, NoBool] = pydantic.Field(None, ge=1, le=MAX_WORKERS)
    address: str | None = pydantic.Field(None, min_length=1, max_length=500)
    options: dict[str, Any] = pydantic.Field(default_factory=dict)  # the executor's own keywords (e.g. slurm's)

    @pydantic.field_validator("name", "address")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        return _printable(value)

    @pydantic.field_validator("address")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        return None if value is None else scheduler_address(value)[0]

    @pydantic.model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


def scheduler_address(address: str) -> tuple[str, str | None, int | None]:
    """(address, host, port) of a tcp:// or tls:// scheduler address (host and port None for another
    transport, e.g. ucx or inproc); a ValueError in one line when the host or port is missing."""
    scheme, _, rest = address.rpartition("://")
    if scheme not in ("", "tcp", "tls"):
        return address, None, None
    host, _, port = rest.rstrip("/").rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"Dask scheduler address {address!r}: expected tcp://HOST:PORT")
    return address, host.strip("[]"), int(port)


class Config(_Strict):
    """problems x optimizers x seeds x scales, with one budget and one convergence test."""

    name: str = pydantic.Field(min_length=1, max_length=200)
    problems: list[ProblemEntry] = pydantic.Field(min_length=1)
    optimizers: list[Component] = pydantic.Field(min_length=1)
    seeds: list[Seed] = pydantic.Field(default_factory=lambda: [0], min_length=1, max_length=MAX_SEEDS)
    scale: list[Annotated[float, NoBool]] = pydantic.Field(default_factory=lambda: [1.0], min_length=1)
    budget: Budget = pydantic.Field(default_factory=Budget)
    stopping: Stopping = pydantic.Field(default_factory=Stopping)
    cost: Cost = pydantic.Field(default_factory=Cost)
    executor: Executor = pydantic.Field(default_factory=Executor)
    output: str | None = None
    plugins: list[str] = pydantic.Field(default_factory=list)
    jit: bool = True  # the oracle replays traced derivatives when the objective allows; false: eager

    @pydantic.field_validator("seeds", mode="before")
    @classmethod
    def _seed_count(cls, value: Any) -> Any:
        """`seeds: 3` means seeds 0, 1, 2."""
        if isinstance(value, str):
            raise ValueError("must be a count (seeds: 3) or a list of seeds (seeds: [0, 1, 2]), "
                             f"not the string {value!r}")
        if isinstance(value, int) and not isinstance(value, bool):
            if not 1 <= value <= MAX_SEEDS:
                raise ValueError(f"a count of seeds must be between 1 and {MAX_SEEDS}, or give a list of seeds")
            return list(range(value))
        return value

    @pydantic.field_validator("name")
    @classmethod
    def _file_name(cls, value: str) -> str:
        """The name makes the default output folder results/<name>: one printable path component."""
        _printable(value)
        if "/" in value or "\\" in value or value in (".", ".."):
            raise ValueError("must be one folder name: no '/' or '\\', not '.' or '..'")
        return value

    @pydantic.field_validator("scale", mode="before")
    @classmethod
    def _scalar_scale(cls, value: Any) -> Any:
        return [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else value

    def grid_size(self) -> int:
        """How many runs the config makes, counted without building them."""
        def points(comps: Sequence[Component]) -> int:
            return sum(math.prod(len(v) if isinstance(v, list) else 1 for v in c.params.values()) for c in comps)
        return points(self.problems) * points(self.optimizers) * len(self.scale) * len(self.seeds)

    def protocol_digest(self) -> str:
        """A hash of how runs are judged (budget and stopping test): runs under one protocol compare."""
        decisive = {"budget": self.budget.model_dump(), "stopping": self.stopping.model_dump()}
        return hashlib.sha256(json.dumps(decisive, sort_keys=True).encode()).hexdigest()[:16]

    def digest(self) -> str:
        """A hash of everything that decides results (not where they are written, nor how they run)."""
        decisive = self.model_dump(exclude={"output", "executor", "jit"})
        return hashlib.sha256(json.dumps(decisive, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _key_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _printable(value: str | None) -> str | None:
    if value is not None and not value.isprintable():
        bad = next(c for c in value if not c.isprintable())
        raise ValueError(f"must be printable text, found {bad!r}")
    return value


def set_override(data: dict[str, Any], assignment: str) -> None:
    """Apply `--set key.path=value` (list items by index, e.g. optimizers.0.name; the value is YAML)."""
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment}: expected key.path=value")
    path, raw = assignment.split("=", 1)
    keys = path.strip().split(".")
    if not all(keys):
        raise ConfigError(f"--set {assignment}: empty key in {path.strip()!r}")
    import yaml

    try:
        value = safe_yaml(raw)
    except yaml.YAMLError as e:
        raise ConfigError(f"--set {assignment}: the value is not valid YAML: {_yaml_problem(e)}") from None
    except ConfigError as e:
        raise ConfigError(f"--set {assignment}: {e}") from None
    node: Any = data
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        step: int | str = key  # a list item by index, a mapping's entry by key
        if isinstance(node, list) and key.isdigit() and int(key) < len(node):
            step = int(key)
            if not last and isinstance(node[step], str):
                node[step] = {"name": node[step]}  # a short-form entry `- gd` is `- {name: gd}`
        elif not isinstance(node, dict):
            raise ConfigError(f"--set {assignment}: '{'.'.join(keys[:depth])}' has no key '{key}'")
        if last:
            node[step] = value
        else:
            if isinstance(node, dict) and step not in node:
                node[step] = {}
            node = node[step]


def read_text(path: Path) -> str:
    """The file as UTF-8 text, refusing what is too big, binary or in another encoding."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ConfigError(f"{path}: {size:,} bytes; a config may have at most {MAX_FILE_BYTES:,}")
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    if b"\0" in raw:
        raise ConfigError(f"{path}: not a text file (a NUL byte at offset {raw.index(0)})")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start})") from None


def safe_yaml(text: str) -> Any:
    """yaml.safe_load's loader (SafeLoader, refusing a key written twice) after bounding, on the event
    stream, nesting depth and the size aliases expand to.

    Raises ConfigError for a document beyond the bounds or a duplicate key, yaml.YAMLError for bad syntax.
    """
    import yaml

    sizes: dict[str, int] = {}
    stack: list[list[Any]] = []  # [anchor, expanded size so far] per open list or mapping
    total = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            stack.append([event.anchor, 1])
            if len(stack) > MAX_DEPTH:
                raise ConfigError(f"nested deeper than {MAX_DEPTH} levels (line {event.start_mark.line + 1})")
            total += 1
            continue
        if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            anchor, n = stack.pop()
        elif isinstance(event, yaml.ScalarEvent):
            anchor, n = event.anchor, 1
            total += 1
        elif isinstance(event, yaml.AliasEvent):
            anchor, n = None, sizes.get(event.anchor, 1)
            total += n
        else:
            continue
        if anchor is not None:
            sizes[anchor] = n
        if stack:
            stack[-1][1] += n
        if total > MAX_NODES:
            raise ConfigError(f"expands to more than {MAX_NODES:,} values (through YAML aliases?), "
                              f"line {event.start_mark.line + 1}")
    return yaml.load(text, Loader=_unique_key_loader())  # noqa: S506 (a SafeLoader: no tags beyond YAML's own)


@functools.cache
def _unique_key_loader() -> type[yaml.SafeLoader]:
    """The loader class, made on first use so that importing this module does not import yaml."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        """yaml.SafeLoader refusing a key written twice in one mapping (safe_load keeps the last one silently:
        a second `optimizers:` would drop the first list). Merge keys (`<<: *base`) may still be overridden."""

        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            first: dict[Any, int] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key, line = self.construct_object(key_node), key_node.start_mark.line + 1
                if key in first:
                    raise ConfigError(f"line {line}: duplicate key {key!r} (first on line {first[key]})")
                first[key] = line
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def _yaml_problem(e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
    return f"{getattr(e, 'problem', None) or e}{where}"


def _resolve(base: Path, value: Any) -> Any:
    """A relative path in the file is relative to the file's folder, not to where optlab is started."""
    return str((base / value).resolve()) if isinstance(value, str) and not Path(value).is_absolute() else value


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Read, override and validate a config; any problem becomes one ConfigError line.

    The file is bounded before it is parsed (size, text only, depth, alias expansion); `plugins`
    and `output` paths are resolved against the config file's folder.
    """
    import yaml

    path = Path(path)
    text = read_text(path)
    try:
        data = safe_yaml(text)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
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
    except TypeError as e:  # e.g. a key that is not a string
        raise ConfigError(f"{path}: {e}") from None
    base = path.resolve().parent
    return config.model_copy(update={"plugins": [_resolve(base, p) for p in config.plugins],
                                     "output": _resolve(base, config.output)})


SECTIONS: dict[str, type[pydantic.BaseModel]] = {"budget": Budget, "stopping": Stopping, "executor": Executor,
                                                  "problems": ProblemEntry, "optimizers": Component,
                                                  "cost": Cost}


def _unknown_key(loc: tuple) -> str:
    """"unknown key", with the closest key of that section where one is close."""
    model = SECTIONS.get(str(loc[0]), Config) if len(loc) > 1 else Config
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    return f"unknown key; did you mean {close[0]!r}?" if close else \
        f"unknown key (keys: {', '.join(model.model_fields)})"
