"""The MAML and WGAN-GP studies through the main path: `optlab run` trains and evaluates, `optlab report` shows it."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import yaml

import optlab.registry
from optlab.cli import main
from optlab.experiment.store import RUN_COLUMNS, TRACE_COLUMNS, Store
from optlab_studies import mlp
from optlab_studies.maml_sinusoid.evaluation import EVAL_STEPS, EVAL_TASKS, held_out

CONFIGS = Path(__file__).parent.parent / "configs"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def fresh_registry(monkeypatch):
    """A new process-wide registry for this test, so files it loads do not leak into others."""
    monkeypatch.setattr(optlab.registry, "_default", None)


def run_cli(*argv: str) -> None:
    assert main(list(argv)) == 0


def test_maml_study_runs_evaluates_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "maml"
    run_cli("run", str(CONFIGS / "maml_sinusoid.yaml"), "--out", str(out), "--executor", "serial",
            "--set", "budget.iterations=3", *(f"--set=problems.{i}.params.K=5" for i in range(3)))
    runs = Store(out).runs()
    by_method = {r["metrics"]["method"]: r for r in runs}
    assert sorted(by_method) == ["fomaml", "maml", "pretrained"] and len(runs) == 3
    _, _, (_, y) = held_out(5)
    for r in runs:
        m = r["metrics"]
        assert r["status"] == "max_iter" and r["nit"] == 3 and m["K"] == 5 and m["alpha"] == 0.01
        assert len(m["mse_mean"]) == len(m["mse_half"]) == EVAL_STEPS + 1 and len(m["theta"]) == 1761
        # three Adam steps of 1e-3 from weights of std 0.01 leave the network all but the zero function, whose
        # MSE on the held-out query points is their mean square
        zero = np.mean(y ** 2, axis=(1, 2))
        assert m["mse_mean"][0] == pytest.approx(zero.mean(), abs=0.05)
        assert m["mse_half"][0] == pytest.approx(1.96 * zero.std(ddof=1) / np.sqrt(EVAL_TASKS), rel=0.05)
        assert m["final_loss"] == pytest.approx(np.mean([t["f"] for t in Store(out).trace(r["run_id"])]))
    run_cli("report", str(out))
    text = (out / "report.md").read_text()
    assert "## MAML on sinusoid regression" in text and "## WGAN-GP" not in text
    mean, half = by_method["maml"]["metrics"]["mse_mean"], by_method["maml"]["metrics"]["mse_half"]
    assert f"| 5 | maml | {mean[0]:.3f} ± {half[0]:.3f} | {mean[1]:.3f} ± {half[1]:.3f} |" in text
    for name in ("maml_mse_vs_steps", "maml_fits_K5"):
        assert f"(plots/{name}.png)" in text and (out / "plots" / f"{name}.png").read_bytes().startswith(PNG)


def critic_lipschitz_bound(theta_d: list[float], width: int, depth: int) -> float:
    """prod_l ||W_l||_F bounds ||grad_x D|| of a ReLU MLP everywhere (ReLU's derivative is 0 or 1)."""
    params = mlp.unpack(np.array(theta_d), (width,) * depth, inputs=2, outputs=1)
    return float(np.prod([np.linalg.norm(w) for w in params[::2]]))


def test_wgan_study_runs_evaluates_and_reports_into_results_by_default(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no --out: the study writes under results/, never into experiments/
    overrides = ["budget.iterations=3", "seeds=[0]"] + [f"problems.{i}.params.{k}={v}" for i in range(2)
                                                       for k, v in (("width", 8), ("n_critic", 2))]
    run_cli("run", str(CONFIGS / "wgan_gp_8gaussians.yaml"), "--executor", "serial",
            *(f"--set={o}" for o in overrides))
    out = tmp_path / "results" / "wgan_gp_8gaussians"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]
    runs = {r["metrics"]["constraint"]: r for r in Store(out).runs()}
    assert sorted(runs) == ["clip", "gp"]
    for constraint, r in runs.items():
        m = r["metrics"]
        assert r["status"] == "max_iter" and r["nit"] == 3 and len(Store(out).trace(r["run_id"])) == 4
        # counts by hand: the start's f, then per round 2 critic steps and 1 generator step, each one
        # f_and_grad, and before a player's first step of the round one more (its init, or its gradient
        # re-evaluated because the opponent moved); a clipped critic re-evaluates before each of its steps
        per_round = {"gp": (2 + 1) + 2, "clip": (2 + 1) + (2 + 1)}[constraint]
        assert (r["nfev"], r["ngev"]) == (1 + 3 * per_round, 3 * per_round)
        assert m["modes"] == 8 and 0 <= m["modes_covered"] <= 8 and 0 <= m["quality"] <= 1 and m["finite"]
        assert m["history"]["iteration"] == [1, 2, 3]
        assert m["gap"] == pytest.approx(abs(m["norm_mean"] - 1)) if m["norm_p95"] < 1 else m["gap"] >= 0
    clip = runs["clip"]["metrics"]
    assert np.max(np.abs(clip["theta_d"])) <= 0.01
    bound = critic_lipschitz_bound(clip["theta_d"], 8, 3)
    assert clip["norm_p95"] <= np.sqrt(bound ** 2 + 1e-12) * (1 + 1e-9)  # the norm is smoothed by eps 1e-12
    run_cli("report", str(out))
    text = (out / "report.md").read_text()
    assert "## WGAN-GP on 8 gaussians" in text and "## MAML" not in text
    gp = runs["gp"]["metrics"]
    assert f"| WGAN-GP | 0 | {gp['modes_covered']}/8 | {gp['quality']:.1%} | {gp['gap']:.3f} |" in text
    assert "| weight clipping | 0 |" in text
    for name in ("wgan_samples", "wgan_training", "wgan_grad_norms"):
        assert f"(plots/{name}.png)" in text and (out / "plots" / f"{name}.png").read_bytes().startswith(PNG)


EVALUATING_PLUGIN = '''
import numpy as np
import optlab.autodiff.functions as F
from optlab import hookimpl
from optlab.optim import Problem

def bowl(n: int = 2, broken: bool = False) -> Problem:
    problem = Problem("bowl", lambda x: F.sum((x - 1.0) ** 2), np.zeros(n), f_star=0.0)
    problem.params = {"broken": broken}
    return problem

def distance(problem, result):
    if problem.params["broken"]:
        raise RuntimeError("evaluation bug")
    return {"distance": np.linalg.norm(result.x - 1.0), "x": result.x}

@hookimpl
def optlab_problems():
    return {"bowl": bowl}

@hookimpl
def optlab_evaluations():
    return {"bowl": distance}
'''


def test_evaluations_of_a_local_plugin_land_in_the_store_and_a_failing_one_is_an_error(
        tmp_path: Path, fresh_registry: None) -> None:
    plugin = tmp_path / "evaluating.py"
    plugin.write_text(EVALUATING_PLUGIN)
    config = {"name": "evaluated", "problems": [{"name": "bowl", "params": {"broken": [False, True]}}],
              "optimizers": [{"name": "gd", "params": {"lr": 0.25}}], "budget": {"iterations": 3},
              "executor": "serial", "plugins": [str(plugin)]}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    run_cli("run", str(tmp_path / "config.yaml"), "--out", str(tmp_path / "out"))
    runs = {r["problem_params"]["broken"]: r for r in Store(tmp_path / "out").runs()}
    # gd with lr 0.25 on (x - 1)^2 halves the distance to 1 each step: three steps from 0 leave 1/8 per coordinate
    assert runs[False]["metrics"] == {"distance": pytest.approx(np.sqrt(2) / 8, rel=1e-12), "x": [0.875, 0.875]}
    assert runs[True]["status"] == "error" and runs[True]["reason"] == "evaluation"
    assert runs[True]["metrics"] is None and "RuntimeError: evaluation bug" in runs[True]["message"]


def test_a_store_written_before_metrics_gets_the_column(tmp_path: Path) -> None:
    old = [c for c in RUN_COLUMNS if c != "metrics"]
    db = sqlite3.connect(tmp_path / "results.sqlite")
    db.execute(f"CREATE TABLE runs ({', '.join(c + (' TEXT PRIMARY KEY' if c == 'run_id' else '') for c in old)})")
    db.execute(f"CREATE TABLE traces ({', '.join(TRACE_COLUMNS)}, PRIMARY KEY (run_id, iter))")  # as older stores
    db.execute("INSERT INTO runs (run_id, problem, label, seed, scale, status) "
               "VALUES ('a', 'p', 'm', 0, 1, 'max_iter')")
    db.commit()
    db.close()
    with Store(tmp_path) as store:
        store.write({"run_id": "b", "problem": "p", "label": "m", "seed": 1, "scale": 1.0, "status": "max_iter",
                     "metrics": {"mse": [1.5, 0.25]}}, [])
        assert [r["metrics"] for r in store.runs()] == [None, {"mse": [1.5, 0.25]}]
    raw = sqlite3.connect(tmp_path / "results.sqlite").execute("SELECT metrics FROM runs WHERE run_id = 'b'")
    assert json.loads(raw.fetchone()[0]) == {"mse": [1.5, 0.25]}


def test_study_hooks_are_listed_and_skip_other_stores(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run_cli("list", "evaluations", "--json")
    rows = json.loads(capsys.readouterr().out)
    assert {(r["name"], r["source"]) for r in rows} >= {("maml_sinusoid", "built-in"), ("wgan_game", "built-in")}
    with Store(tmp_path) as store:
        store.write({"run_id": "a", "experiment": "other", "problem": "rosenbrock", "problem_params": {},
                     "optimizer": "gd", "label": "gd", "seed": 0, "scale": 1.0, "status": "max_iter", "n": 2,
                     "nit": 1, "nfev": 1, "ngev": 1, "nhvp": 0, "nhess": 0, "wall_seconds": 0.1, "f0": 1.0,
                     "f_final": 0.5}, [{"iter": 0, "f": 1.0, "nfev": 1, "ngev": 1, "nhvp": 0, "nhess": 0,
                                        "seconds": 0.0}, {"iter": 1, "f": 0.5, "nfev": 2, "ngev": 2, "nhvp": 0,
                                                          "nhess": 0, "seconds": 0.1}])
    run_cli("report", str(tmp_path))
    text = (tmp_path / "report.md").read_text()
    assert "## Summary" in text and "MAML" not in text and "WGAN" not in text and "failed" not in text


def test_the_game_problem_is_not_minimized_directly() -> None:
    from optlab.problems import get

    problem = get("wgan_game", width=4, depth=1, batch=8)
    with pytest.raises(TypeError, match="wgan_game.* game of two players"):
        problem.objective(problem.x0)
