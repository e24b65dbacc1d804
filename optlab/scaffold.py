"""`optlab new-plugin NAME`: a starter optimizer plugin package with its conformance test."""
from __future__ import annotations

import re
from pathlib import Path

NAME = re.compile(r"[a-z][a-z0-9_]*\Z")

PYPROJECT = '''[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "optlab-{name}"
version = "0.1.0"
description = "The {name} optimizer, an optlab plugin."
requires-python = ">=3.10"
dependencies = ["optlab"]

[project.optional-dependencies]
test = ["pytest"]

[project.entry-points.optlab]
{name} = "optlab_{name}"

[tool.setuptools]
py-modules = ["optlab_{name}"]
'''

MODULE = '''"""The {name} optimizer: gradient descent with Armijo backtracking, as an optlab plugin.

Registered through the entry-point group "optlab" (see pyproject.toml); try it with
`optlab check-plugin {name}` and `optlab list optimizers`.
"""
from __future__ import annotations

import numpy as np
from pydantic import Field

from optlab import hookimpl
from optlab.optim import Optimizer, Oracle, Params, State


class {cls}(Optimizer):
    """x <- x - t g, halving t from the last accepted step times `grow` until f decreases enough."""

    name = "{name}"
    order = 1

    class Params(Params):
        step: float = Field(1.0, gt=0, description="first trial step length")
        c1: float = Field(1e-4, gt=0, lt=1, description="sufficient-decrease constant")
        grow: float = Field(2.0, ge=1, description="next first trial = grow * accepted step")
        max_halvings: int = Field(40, ge=1, description="most trial points per step")

    def init(self, oracle: Oracle, x0: np.ndarray) -> State:
        state = super().init(oracle, x0)
        state.extra["t"] = self.params.step
        return state

    def step(self, oracle: Oracle, state: State) -> State:
        p, t = self.params, state.extra["t"]
        slope = -float(state.g @ state.g)
        for _ in range(p.max_halvings):
            x = state.x - t * state.g
            f, g = oracle.f_and_grad(x)
            if f <= state.f + p.c1 * t * slope:  # False for NaN: keep halving
                break
            t /= 2
        # the last trial is returned even if it failed: a NaN there is how the runner learns of it
        return State(x=x, f=f, g=g, extra={{"t": t * p.grow}})


@hookimpl
def optlab_optimizers() -> list[type[Optimizer]]:
    return [{cls}]
'''

TEST = '''"""optlab's conformance suite on {name}: a quadratic, seeded determinism, NaN, honest counts."""
import pytest

from optlab.conformance import CHECKS, run_checks
from optlab_{name} import {cls}


@pytest.fixture(scope="module")
def results():
    return {{c.name: c for c in run_checks({cls})}}


@pytest.mark.parametrize("check", list(CHECKS))
def test_conformance(results, check):
    assert results[check].passed, results[check].detail
'''


class ScaffoldError(ValueError):
    """A bad plugin name, or files that are already there."""


def class_name(name: str) -> str:
    """`heavy_ball` -> `HeavyBall`."""
    return "".join(part.capitalize() for part in name.split("_"))


def new_plugin(name: str, directory: str | Path = ".") -> list[Path]:
    """Write DIR/optlab-NAME/{pyproject.toml, optlab_NAME.py, test_optlab_NAME.py}; never overwrite."""
    if not NAME.match(name):
        raise ScaffoldError(f"bad plugin name {name!r}: use lowercase letters, digits and _, starting with a letter")
    root = Path(directory) / f"optlab-{name}"
    texts = {root / "pyproject.toml": PYPROJECT, root / f"optlab_{name}.py": MODULE,
             root / f"test_optlab_{name}.py": TEST}
    taken = [str(p) for p in texts if p.exists()]
    if taken:
        raise ScaffoldError(f"{taken[0]} already exists; not overwriting (choose another --dir or name)")
    root.mkdir(parents=True, exist_ok=True)
    for path, text in texts.items():
        path.write_text(text.format(name=name, cls=class_name(name)))
    return list(texts)
