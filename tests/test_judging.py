"""Stopping versus judging: the default convergence test on MGH's badly scaled problems, verdicts at tau."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from optlab_plugins import classic, mgh

import optlab
from optlab.autodiff import grad, hessian
from optlab.cli import main
from optlab.experiment.judge import Reference, judge, verdict
from optlab.experiment.report import Options, load, write_report
from optlab.experiment.report_figures import convergence_figure
from optlab.experiment.store import Store
from optlab.optim import Budget, Stopping, run
from optlab.optim.stopping import scaled_gradient
from optlab.registry import registry

BUDGET = Budget(iterations=2000, oracle_calls=20000)
RELATIVE = Stopping(gtol=1e-8, ftol=1e-10)  # the tests the MGH study used to run with

# The false "converged" points of the issue, reproduced under the relative tests (f, ||g||, test that fired).
# MGH 1981 gives f* = 87.9458 (meyer) and 0 (both badly scaled problems).
FOOLED = {
    ("meyer", "trust-ncg"): (1.12125e5, 391.126, "relative gradient"),
    ("brown_badly_scaled", "newton-cg"): (3.99994, 4.0e6, "f - f*"),
    ("powell_badly_scaled", "trust-ncg"): (9.4198e-5, 1.9067e-4, "relative gradient"),
}


def _optimizer(name: str):
    return registry().get("optimizers", name)()


@pytest.mark.parametrize("problem, method", sorted(FOOLED))
def test_relative_tests_are_fooled_by_a_large_start_and_the_default_is_not(problem: str, method: str) -> None:
    f_fooled, g_fooled, test = FOOLED[(problem, method)]
    p = mgh.PROBLEMS[problem]()
    old = run(_optimizer(method), p, BUDGET, RELATIVE)
    assert old.status_name == "converged" and old.message == f"converged ({test})"
    assert old.fun == pytest.approx(f_fooled, rel=1e-4)
    assert np.linalg.norm(old.jac) == pytest.approx(g_fooled, rel=1e-2)
    assert old.fun - p.f_star > 1e-5  # nowhere near f*
    # the same point under the default test: not stationary, and the default run does not stop there
    assert Stopping().reason(old.x, old.fun, old.jac, old.trace[0]["f"], old.trace[0]["gnorm"], p.f_star) is None
    assert old.scaled_gradient > 1e-6
    new = run(_optimizer(method), p, BUDGET, Stopping())
    assert new.status_name != "converged" or (new.fun - p.f_star <= 1e-6 * max(1.0, p.f_star))


def test_minimize_uses_the_default_test_on_meyer() -> None:
    p = mgh.meyer()
    res = optlab.minimize(p.objective, p.x0, method="trust-ncg", budget={"iterations": 2000})
    assert not res.success and res.status_name != "converged"
    assert res.fun < 1e3  # it went on past f = 1.12e5 towards f* = 87.9458


def test_default_test_is_dennis_schnabel_scaled_gradient() -> None:
    s = Stopping()
    assert s.test == ["gradient"] and s.sgtol == 1e-8 and s.typx == s.typf == 1.0
    x, g = np.array([0.5, -3.0]), np.array([1e-9, 2e-9])
    # below the typical sizes (|f| <= 1, |x_i| <= 1) it is the absolute |g_i|; above, relative to |f| and |x_i|
    assert scaled_gradient(x, 0.25, g) == pytest.approx(max(1e-9 * 1, 2e-9 * 3) / 1)
    assert scaled_gradient(x, -40.0, g) == pytest.approx(6e-9 / 40)
    assert s.reason(x, 0.25, g, 1e10, 1e10, None) == "gradient"
    assert s.reason(x, 0.25, 10 * g, 1e10, 1e10, None) is None
    assert scaled_gradient(x, 1.0, None) == np.inf and scaled_gradient(x, 1.0, np.array([np.nan, 0.0])) == np.inf
    assert scaled_gradient(x, np.inf, g) == np.inf
    # f = |x|^4 far out: the scaled gradient stays at 4, however large x (a relative-to-|f| test would pass)
    for r in (1e3, 1e8, 1e50):
        xr = np.array([r, 0.0])
        assert scaled_gradient(xr, r**4, np.array([4 * r**3, 0.0])) == pytest.approx(4.0)


def test_diverging_gradient_descent_is_diverged_not_converged() -> None:
    from optlab.conformance import _nan_rosenbrock  # NaN after 10 evaluations

    big_steps = registry().get("optimizers", "gd")(lr=0.1)
    r = run(big_steps, mgh.rosenbrock(), Budget(iterations=50), Stopping())
    assert r.status_name == "diverged"
    assert run(registry().get("optimizers", "gd")(lr=0.1), _nan_rosenbrock(), Budget(iterations=50)).status_name \
        == "diverged"


def test_relative_tests_by_name() -> None:
    x = np.zeros(1)
    s = Stopping(test="relative_gradient", gtol=1e-3)
    assert s.test == ["relative_gradient"]
    assert s.reason(x, 1.0, np.array([0.9e-3]), 2.0, 1.0, None) == "relative gradient"
    assert s.reason(x, 1.0, np.array([1.1e-3]), 2.0, 1.0, None) is None
    f = Stopping(test=["relative_f"], ftol=0.5)
    assert f.reason(x, 1.0, x, 3.0, 1.0, 0.0) == "f - f*" and f.reason(x, 1.0, x, 3.0, 1.0, None) is None
    assert Stopping(gtol=1e-8).test == ["relative_gradient"]  # an older config's keys keep their tests
    with pytest.raises(ValueError):
        Stopping(test="bogus")


# ---- the judge ----------------------------------------------------------------------------------------------



def test_verdict_vocabulary_at_tau() -> None:
    ref = Reference(0.0, True, (48.9842,), "MGH")
    row = {"status": "converged", "scaled_gradient": 1e-12}
    assert verdict({**row, "f_final": 9e-7}, ref) == "global"
    assert verdict({**row, "f_final": 1.1e-6}, ref) == "stationary"  # stationary, but not within 1e-6 of f*
    assert verdict({**row, "f_final": 1.1e-6, "scaled_gradient": 1e-3}, ref) == "unsolved"
    assert verdict({**row, "f_final": 1.1e-6}, ref, tau=1e-5) == "global"
    assert verdict({**row, "f_final": 48.9842 + 4e-5}, ref) == "local"  # tau relative to max(1, 48.98)
    assert verdict({**row, "f_final": 48.9842 + 6e-5}, ref) == "stationary"
    assert verdict({**row, "status": "diverged", "f_final": 0.0}, ref) == "unsolved"
    assert verdict({**row, "status": "error", "f_final": None}, ref) == "unsolved"
    big = Reference(85822.2, True)  # relative to |f*| when it exceeds 1
    assert verdict({**row, "f_final": 85822.2 * (1 + 0.9e-6)}, big) == "global"
    assert verdict({**row, "f_final": 85822.2 * (1 + 1.1e-6)}, big) == "stationary"


def test_a_start_no_run_left_is_no_reference_for_an_unknown_f_star() -> None:
    """f* unknown: the best final f found serves, but only from a run that moved below its start or is
    stationary. Seen in s2mpj-n100-costly: on FBRAIN3LS all 14 methods were killed by the time limit before
    their first step, so the best f found was f(x0) and every run was called global there."""
    def run(label: str, f: float, f0: float = 10.2348, status: str = "time_limit", sg: float = 0.5) -> dict:
        return {"run_id": label, "problem": "p", "problem_params": {}, "scale": 1.0, "label": label,
                "status": status, "f_final": f, "f0": f0, "scaled_gradient": sg}

    stuck = [run("a", 10.2348), run("b", 10.2348)]
    assert judge(stuck) == {"a": "unsolved", "b": "unsolved"}
    moved = [*stuck, run("c", 3.0)]  # one run went down: its f serves (not stationary, but below its start)
    assert judge(moved) == {"a": "unsolved", "b": "unsolved", "c": "global"}
    at_start = [*stuck, run("d", 10.2348, status="converged", sg=1e-12)]  # x0 certified stationary: it serves
    assert judge(at_start) == {"a": "global", "b": "global", "d": "global"}


def _study(tmp_path: Path, **config) -> Path:
    base = {"name": "judging", "seeds": [0], "budget": {"iterations": 200}, "executor": "serial"}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({**base, **config}))
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out)]) == 0
    return out


def test_each_seed_of_a_quadratic_is_its_own_instance_with_its_exact_f_star(tmp_path: Path) -> None:
    out = _study(tmp_path, problems=[{"name": "quadratic", "params": {"n": 6, "cond": 100.0}}],
                 optimizers=["newton", "lbfgs"], seeds=[0, 1, 2])
    with Store(out) as store:
        runs = store.runs()
    for seed in (0, 1, 2):
        p = classic.quadratic(n=6, cond=100.0, seed=seed)
        b = -grad(p.objective)(np.zeros(6))  # f = x^T A x / 2 - b^T x: f* = -b^T A^-1 b / 2
        exact = -0.5 * b @ np.linalg.solve(hessian(p.objective)(np.zeros(6)), b)
        stored = [r["f_star"] for r in runs if r["seed"] == seed]
        assert stored == [pytest.approx(exact, rel=1e-12)] * 2
    assert len({r["f_star"] for r in runs}) == 3
    assert set(judge(runs).values()) == {"global"}
    text = write_report(out, options=Options(axes=("iterations",))).read_text()
    for seed in (0, 1, 2):
        assert f"| quadratic(cond=100.0, n=6, seed={seed}) |" in text
    assert "| lbfgs | 3 | **3** | 100% |" in text and "| newton | 3 | **3** | 100% |" in text


def test_freudenstein_roth_from_x0_is_judged_local(tmp_path: Path) -> None:
    out = _study(tmp_path, problems=["freudenstein_roth"], optimizers=["trust-ncg", "newton"])
    with Store(out) as store:
        runs = store.runs()
    for r in runs:  # MGH 1981: a local minimum 48.9842 besides f* = 0
        assert r["status"] == "converged" and abs(r["f_final"] - 48.9842) < 1e-4
    assert set(judge(runs).values()) == {"local"}
    text = write_report(out, options=Options(axes=("iterations",))).read_text()
    assert "| newton | 1 | **0** | 0% | 1 | 0 | 0 | 1 |" in text
    assert "| freudenstein_roth | 0 | local · " in text


def test_a_run_killed_before_it_returned_gets_its_instances_n_for_its_cost(tmp_path: Path) -> None:
    """A run killed at the hard time limit stores no n (the child never reported it); its weighted cost
    (a Hessian weighs n) takes its instance's n from the runs that returned, as its counts are kept."""
    import sqlite3

    out = _study(tmp_path, problems=[{"name": "extended_rosenbrock", "params": {"n": 6}}],
                 optimizers=["newton", "lbfgs"])
    db = sqlite3.connect(out / "results.sqlite")
    db.execute("UPDATE runs SET n = NULL WHERE label = 'newton'")
    db.commit()
    db.close()
    study = load(out, Options())
    newton = next(r for r in study.runs if r["label"] == "newton")
    assert newton["n"] == 6 and newton["nhess"] > 0
    assert study.cost.cost(newton, newton["n"]) == pytest.approx(
        study.cost.f * newton["nfev"] + study.cost.grad * newton["ngev"] + study.cost.hvp * newton["nhvp"]
        + study.cost.weight("hessian", 6) * newton["nhess"])


def test_report_formats_selection_and_bands(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = _study(tmp_path, problems=["rosenbrock", "beale"], optimizers=["newton", "lbfgs"], seeds=[0, 1, 2])
    assert main(["report", str(out), "--format", "pdf,svg", "--methods", "newton", "--problems", "beale",
                 "--axes", "iterations,nhess", "--xscale", "log"]) == 0
    text = (out / "report.md").read_text()
    assert "| newton | 3 |" in text and "lbfgs" not in text and "rosenbrock" not in text
    plots = out / "plots"
    assert (plots / "convergence_1.pdf").read_bytes().startswith(b"%PDF")  # the grid of the selected instances
    assert b"<svg" in (plots / "convergence_1.svg").read_bytes()[:400]
    assert "![beale](plots/convergence_1.png)" in text
    assert (plots / "data_profiles.png").read_bytes().startswith(b"\x89PNG")
    for bad, word in ((["--methods", "nope"], "nope"), (["--axes", "time"], "--axes"), (["--format", "jpg"], "jpg"),
                      (["--tau", "2"], "--tau")):
        capsys.readouterr()
        assert main(["report", str(out), *bad]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and word in err
    # bands only from three seeds on: rosenbrock has 3 seeds of one instance, then just one seed
    study = load(out, Options())
    rs = [r for r in study.runs if r["problem"] == "rosenbrock"]
    fig = convergence_figure("rosenbrock", rs, study, 0.0, True, {"lbfgs": {"color": "C0"}, "newton": {"color": "C1"}})
    assert all(len(ax.collections) == 2 for ax in fig.axes)  # one band per method
    one = [r for r in rs if r["seed"] == 0]
    fig = convergence_figure("rosenbrock", one, study, 0.0, True, {"lbfgs": {"color": "C0"}, "newton": {"color": "C1"}})
    assert all(len(ax.collections) == 0 for ax in fig.axes)
    assert {ax.get_xscale() for ax in fig.axes} <= {"linear", "log"}


def test_diagnostics_from_trace_info_are_shown(tmp_path: Path) -> None:
    info = [{"cg_iters": 1, "neg_curv": False, "radius": 1.0}, {"cg_iters": 2, "neg_curv": True, "radius": 0.5},
            {"cg_iters": 3, "neg_curv": False, "radius": 0.25}]
    trace = [{"iter": k, "f": 10.0 ** -k, "gnorm": 1.0, "nfev": k + 1, "ngev": k + 1, "nhvp": 2 * k, "nhess": 0,
              "seconds": 0.1 * k, **({"info": info[k - 1]} if k else {})} for k in range(4)]
    with Store(tmp_path) as store:
        store.write({"run_id": "r", "experiment": "d", "problem": "p", "problem_params": {}, "n": 2, "label": "arc",
                     "optimizer": "arc", "seed": 0, "scale": 1.0, "status": "converged", "nit": 3, "nfev": 4,
                     "ngev": 4, "nhvp": 6, "nhess": 0, "wall_seconds": 0.3, "f_final": 1e-3, "f_star": 0.0}, trace)
        assert store.trace("r")[2]["info"] == info[1] and store.trace("r")[0]["info"] is None
    text = write_report(tmp_path).read_text()
    assert "## Diagnostics" in text
    assert "| p | arc | cg_iters 2 [1, 3] last 3; neg_curv 1/3; radius 0.583 [0.25, 1] last 0.25 |" in text


def test_sgtol_given_beside_gtol_keeps_the_gradient_test() -> None:
    """gtol alone selects the relative test (older configs); written beside sgtol (or typx/typf), the
    default test's own keys, it is added to the gradient test, not put in its place: sgtol was ignored."""
    assert Stopping(sgtol=1e-6, gtol=1e-3).test == ["gradient", "relative_gradient"]
    assert Stopping(typf=10.0, ftol=1e-3).test == ["gradient", "relative_f"]
    assert Stopping(sgtol=1e-6).test == ["gradient"]
    x = np.ones(1)
    s = Stopping(sgtol=1e-6, gtol=1e-12)
    assert s.reason(x, 1.0, np.array([1e-7]), 2.0, 1.0, None) == "gradient"  # the sgtol bound holds
