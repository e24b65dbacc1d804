"""The scipy baselines: solve Rosenbrock, count like scipy, stop at our budget, judge at no extra cost."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize

import optlab.autodiff.functions as F
from optlab.conformance import run_checks
from optlab.optim import Budget, Problem, run
from optlab.registry import registry
from optlab_plugins.scipy_baselines import BASELINES

NAMES = [cls.name for cls in BASELINES]
HESSP_PLACEHOLDER = {"scipy.trust-ncg": 1, "scipy.trust-krylov": 1}  # scipy's nhev counts its dummy Hessian once


def rosenbrock() -> Problem:
    return Problem("rosenbrock", lambda x: F.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2),
                   x0=np.array([-1.2, 1.0]), f_star=0.0)


def test_every_baseline_is_registered_with_its_order():
    found = registry().entries("optimizers")["optimizers"]
    assert {n: found[n].obj.order for n in NAMES} == {
        "scipy.bfgs": 1, "scipy.l-bfgs-b": 1, "scipy.cg": 1, "scipy.newton-cg": 2, "scipy.trust-ncg": 2,
        "scipy.trust-krylov": 2, "scipy.trust-exact": 2}
    assert all(found[n].source == "built-in" for n in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_solves_rosenbrock_and_counts_are_the_oracles(name):
    r = run(registry().get("optimizers", name)(), rosenbrock(), Budget(iterations=1000))
    assert r.status_name == "converged", r.message
    assert np.allclose(r.x, [1.0, 1.0], atol=1e-3)
    c = r.counts
    assert (r.nfev, r.njev, r.nhev) == (c["nfev"], c["ngev"], c["nhvp"] + c["nhess"])
    assert r.trace[0]["f"] == pytest.approx(24.2)  # the start point, recorded once
    assert r.trace[-1]["nfev"] <= r.nfev
    assert r.nit == len(r.trace) - 1


@pytest.mark.parametrize("name", NAMES)
def test_scipys_own_counts_equal_ours_when_it_stops_itself(name):
    optimizer = registry().get("optimizers", name)()
    r = run(optimizer, rosenbrock(), Budget(iterations=5))
    s, c = optimizer.scipy_result, r.counts
    assert r.status_name == "max_iter" and "scipy stopped on its own" in r.message
    assert s.nit == 5 == r.nit
    assert (s.nfev, s.njev) == (c["nfev"], c["ngev"])
    if "nhev" in s:
        assert s.nhev == c["nhvp"] + c["nhess"] + HESSP_PLACEHOLDER.get(name, 0)


@pytest.mark.parametrize("name", ["scipy.bfgs", "scipy.l-bfgs-b", "scipy.cg"])
def test_judging_costs_nothing_compared_with_plain_scipy(name):
    """Same iterates and the same number of calls as scipy run on the bare function."""
    optimizer = registry().get("optimizers", name)()
    r = run(optimizer, rosenbrock(), Budget(iterations=7))

    def f(x):
        return float(100.0 * (x[1] - x[0] ** 2) ** 2 + (1.0 - x[0]) ** 2)

    def g(x):
        return np.array([-400.0 * x[0] * (x[1] - x[0] ** 2) - 2.0 * (1.0 - x[0]), 200.0 * (x[1] - x[0] ** 2)])

    options = optimizer.scipy_options(Budget(iterations=7))
    plain = scipy.optimize.minimize(f, np.array([-1.2, 1.0]), jac=g, method=optimizer.method, options=options)
    assert (plain.nfev, plain.njev) == (r.nfev, r.njev)
    assert np.allclose(plain.x, r.x, rtol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_stops_at_our_oracle_budget(name):
    r = run(registry().get("optimizers", name)(), rosenbrock(), Budget(oracle_calls=20))
    assert r.status_name == "budget"
    assert sum(r.counts[k] for k in ("nfev", "ngev", "nhvp", "nhess")) == 20


@pytest.mark.parametrize("name", NAMES)
def test_passes_the_conformance_suite(name):
    failed = [c for c in run_checks(name) if not c.passed]
    assert not failed


def test_trust_params_pass_through_and_are_checked():
    from optlab.optim import ParameterError

    optimizer = registry().get("optimizers", "scipy.trust-ncg")(initial_trust_radius=0.1)
    assert optimizer.scipy_options(Budget(iterations=3))["initial_trust_radius"] == 0.1
    with pytest.raises(ParameterError, match="gtol"):
        registry().get("optimizers", "scipy.bfgs")(gtol=1e-3)


def test_the_judge_finds_points_by_their_bits_without_hashing_them():
    from optlab_plugins.scipy_baselines import _Recent
    recent = _Recent(keep=2)
    x = np.linspace(-1.0, 1.0, 100_001)
    recent.put(x, 1.0)
    assert recent.get(x.copy()) == 1.0  # equal contents, another array
    y = x.copy()
    y[50_000] = np.nextafter(y[50_000], 2.0)  # one middle element, one ulp away: another point
    assert y not in recent and recent.get(y) is None
    zero, negative_zero = np.zeros(3), np.array([0.0, -0.0, 0.0])
    recent.put(zero, "zero")
    assert recent.get(negative_zero) is None  # -0.0 is not 0.0, as with bytes keys
    nan = np.array([np.nan, 1.0])
    recent.put(nan, "nan")
    assert recent.get(nan.copy()) == "nan"  # a NaN equals itself
    assert recent.get(x) is None  # only the last `keep` points are kept
    zero[1] = 7.0  # the caller changes its array afterwards: the copy kept is unaffected
    assert recent.get(np.zeros(3)) == "zero" and recent.get(zero) is None


def test_a_method_that_stops_on_its_own_is_not_said_to_have_used_the_iteration_budget():
    """scipy's BFGS gives up on -||x||^2 after one iteration ("precision loss"): status max_iter (short of
    the test), but the message must not claim the 500 iterations were used; at the budget it says so."""
    problem = Problem("unbounded", lambda x: -F.sum(x * x), np.ones(2))
    res = run(registry().get("optimizers", "scipy.bfgs")(), problem, budget=Budget(iterations=500))
    assert res.status_name == "max_iter" and res.nit < 500
    assert "iteration budget used" not in res.message and "scipy stopped on its own" in res.message, res.message
    res = run(registry().get("optimizers", "scipy.bfgs")(), rosenbrock(), budget=Budget(iterations=3))
    assert res.status_name == "max_iter" and res.nit == 3 and res.message.startswith("iteration budget used")
