"""Run identity: resolved defaults, labels and the plugin's code decide which stored runs are reused."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from optlab.cli import main
from optlab.experiment.store import Store

PLUGIN = '''
import numpy as np
from pydantic import Field
from optlab import hookimpl
from optlab.optim import Optimizer, Params, State


class Arc(Optimizer):
    name = "myarc"

    class Params(Params):
        lr: float = Field({lr}, gt=0)

    def step(self, oracle, state):
        x = state.x - self.params.lr * state.g
        f, g = oracle.f_and_grad(x)
        return State(x=x, f=f, g=g)


@hookimpl
def optlab_optimizers():
    return [Arc]
'''


def setup(tmp_path: Path, lr: float = 0.1, optimizers: list | None = None) -> Path:
    plugin = tmp_path / "myarc_plugin.py"
    plugin.write_text(PLUGIN.format(lr=lr))
    config = {"name": "identity", "problems": ["rosenbrock", "beale"], "optimizers": optimizers or ["myarc"],
              "seeds": [0, 1], "budget": {"iterations": 30}, "executor": "serial", "plugins": [str(plugin)]}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def finished(out: Path) -> dict[str, str]:
    with Store(out) as store:
        return {r["run_id"]: r["finished_at"] for r in store.runs()}


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    import optlab.registry
    monkeypatch.setattr(optlab.registry, "_default", None)


def test_changed_plugin_default_reruns_its_runs_and_says_so(tmp_path: Path, fresh_registry: None,
                                                            capsys: pytest.CaptureFixture,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    cfg, out = setup(tmp_path), tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out)]) == 0
    first = finished(out)
    assert len(first) == 4
    capsys.readouterr()
    assert main(["run", str(cfg), "--out", str(out)]) == 0  # nothing changed: nothing re-runs
    assert finished(out) == first and "stale" not in capsys.readouterr().err
    import optlab.registry
    monkeypatch.setattr(optlab.registry, "_default", None)  # a new session loads the edited file
    setup(tmp_path, lr=0.01)  # the plugin's default changes, the config does not
    assert main(["run", str(cfg), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "4 stored runs are stale: 'myarc' changed, parameters of 'myarc' changed" in " ".join(err.split())
    second = finished(out)
    assert len(second) == 4 and not set(second) & set(first)
    with Store(out) as store:
        assert {r["identity"]["optimizer_params"]["lr"] for r in store.runs()} == {0.01}


def test_two_labels_of_one_optimizer_give_two_runs(tmp_path: Path, fresh_registry: None) -> None:
    cfg = setup(tmp_path, optimizers=[{"name": "myarc", "label": "a"}, {"name": "myarc", "label": "b"}])
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out)]) == 0
    with Store(out) as store:
        runs = store.runs()
    assert len(runs) == 8 and {r["label"] for r in runs} == {"a", "b"}
    assert len({r["run_id"] for r in runs}) == 8


def test_identity_holds_resolved_defaults_and_code(tmp_path: Path, fresh_registry: None) -> None:
    cfg, out = setup(tmp_path), tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out)]) == 0
    with Store(out) as store:
        identity = store.runs()[0]["identity"]
    assert identity["optimizer_params"] == {"lr": 0.1} and identity["label"] == "myarc"
    assert identity["problem_params"]["scale"] == 1.0  # the factory's default, filled in
    assert len(identity["optimizer_code"]) == 16 and identity["code"]["optlab version"]
