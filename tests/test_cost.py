"""The cost model: weights from the config, a weighted cost per run, rewritten (not re-run) when the model changes."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from optlab.cli import main
from optlab.experiment.cost import CostModel
from optlab.experiment.store import Store


def test_weights_numbers_and_multiples_of_n() -> None:
    model = CostModel()
    assert (model.f, model.grad, model.hvp, model.hessian) == (0.5, 1.0, 2.0, "n")
    assert model.weight("hessian", 5) == pytest.approx(5.0)
    assert CostModel(hessian="n").weight("hessian", 7) == 7.0
    assert CostModel(hessian="2 * n").weight("hessian", 3) == 6.0
    counts = {"nfev": 10, "ngev": 4, "nhvp": 6, "nhess": 2}
    assert model.cost(counts, 5) == pytest.approx(10 * 0.5 + 4 + 6 * 2.0 + 2 * 5.0)
    for bad in (-1, "n^2", True, "two"):
        with pytest.raises(ValueError):
            CostModel(hvp=bad)


def _config(tmp_path: Path, cost: dict | None = None) -> Path:
    data = {"name": "cost", "problems": ["rosenbrock"], "optimizers": ["newton", "trust-ncg"],
            "budget": {"iterations": 50}, "executor": "serial", **({"cost": cost} if cost else {})}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_weighted_cost_per_run_and_a_changed_model_rewrites_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    assert main(["run", str(_config(tmp_path, {"f": 1, "grad": 2, "hvp": 3, "hessian": "n"})), "--out", str(out)]) == 0
    with Store(out) as store:
        first = {r["run_id"]: r for r in store.runs()}
    for r in first.values():  # rosenbrock: n = 2
        assert r["cost"] == r["nfev"] + 2 * r["ngev"] + 3 * r["nhvp"] + 2 * r["nhess"] and r["cost"] > 0
    assert main(["run", str(_config(tmp_path, {"f": 0, "grad": 1, "hvp": 1, "hessian": 1})), "--out", str(out)]) == 0
    with Store(out) as store:
        second = {r["run_id"]: r for r in store.runs()}
    assert second.keys() == first.keys()  # not re-run
    for run_id, r in second.items():
        assert r["finished_at"] == first[run_id]["finished_at"]
        assert r["cost"] == r["ngev"] + r["nhvp"] + r["nhess"] and r["cost_model"]["f"] == 0.0
    capsys.readouterr()
    bad = _config(tmp_path, {"hvp": "n^2"})
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cost.hvp" in err


def test_report_reweighs_stored_runs_by_another_model(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    assert main(["run", str(_config(tmp_path, {"f": 1, "grad": 2, "hvp": 3, "hessian": "n"})), "--out", str(out)]) == 0
    with Store(out) as store:
        runs = store.runs()

    def median_cost_cell(report: str, label: str) -> float:  # the summary row's "median cost" column
        row = next(line for line in report.splitlines() if line.startswith(f"| {label} |"))
        return float(row.split("|")[9])

    expected = {
        "stored": lambda r: r["nfev"] + 2 * r["ngev"] + 3 * r["nhvp"] + 2 * r["nhess"],
        "default": lambda r: 0.5 * r["nfev"] + r["ngev"] + 2 * r["nhvp"] + 2 * r["nhess"],
        "f=0,grad=1,hvp=10": lambda r: r["ngev"] + 10 * r["nhvp"] + 2 * r["nhess"],
    }
    assert len({e(r) for e in expected.values() for r in runs}) == 6  # the three models differ on both runs
    for weights, cost in expected.items():
        assert main(["report", str(out), "--cost", weights]) == 0
        text = (out / "report.md").read_text()
        for r in runs:  # one run per method (one problem, one seed): the median is that run's cost
            assert median_cost_cell(text, r["label"]) == pytest.approx(cost(r), rel=5e-3)  # 3 digits shown
    capsys.readouterr()
    assert main(["report", str(out), "--cost", "speed=1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--cost: 'speed=1' is not KIND=WEIGHT" in err
