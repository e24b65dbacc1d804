"""Optimizer plugins (gd, adam, newton, newton-cg, trust-ncg, lbfgs) and the shared blocks they stand on."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize

import optlab
import optlab.autodiff.functions as F
from optlab.conformance import run_checks
from optlab.optim import (
    Budget,
    Oracle,
    ParameterError,
    Problem,
    armijo,
    forcing_term,
    steihaug_cg,
    strong_wolfe,
    truncated_cg,
    update_radius,
)
from optlab.registry import registry

A = np.array([1.0, 2.0, 3.0])


def quadratic(x):
    """0.5 x.diag(A)x - sum(x): well conditioned, minimum at 1/A."""
    return 0.5 * F.sum(A * x ** 2) - F.sum(x)


def rosenbrock(x):
    return F.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def extended_rosenbrock(x):
    return F.sum(100 * (x[1::2] - x[0::2] ** 2) ** 2 + (1 - x[0::2]) ** 2)


def oracle(fun, x0) -> Oracle:
    return Oracle(Problem("test", fun, np.asarray(x0, dtype=float)))


def optimizer(name: str, **params):
    return registry().get("optimizers", name)(**params)


FIRST_ORDER = [("gd", {"lr": 0.3}), ("gd", {"lr": 0.1, "momentum": 0.5}),
               ("gd", {"lr": 0.1, "momentum": 0.5, "nesterov": True}), ("adam", {"lr": 0.1})]
SECOND_ORDER = ["newton", "newton-cg", "trust-ncg", "lbfgs"]


@pytest.mark.parametrize("name,params", FIRST_ORDER + [(m, {}) for m in SECOND_ORDER])
def test_converges_on_quadratic(name, params):
    r = optlab.minimize(quadratic, np.zeros(3), method=name, budget={"iterations": 500}, options=params)
    assert r.status_name == "converged", r.message
    np.testing.assert_allclose(r.x, 1 / A, atol=1e-5)


@pytest.mark.parametrize("name,params", [("gd", {"lr": 1e-3}), ("gd", {"lr": 1e-3, "momentum": 0.9}),
                                         ("gd", {"lr": 1e-3, "momentum": 0.9, "nesterov": True}),
                                         ("adam", {"lr": 1e-2})])
def test_first_order_decrease_rosenbrock(name, params):
    r = optlab.minimize(rosenbrock, [-1.2, 1.0], method=name, budget={"iterations": 200}, options=params)
    assert r.trace[-1]["f"] < 0.9 * r.trace[0]["f"]


@pytest.mark.parametrize("name,max_iter", [("newton", 30), ("newton-cg", 80), ("trust-ncg", 40), ("lbfgs", 50)])
def test_second_order_solve_rosenbrock(name, max_iter):
    r = optlab.minimize(rosenbrock, [-1.2, 1.0], method=name, budget={"iterations": max_iter})
    assert r.status_name == "converged", r.message
    np.testing.assert_allclose(r.x, [1.0, 1.0], atol=1e-4)


@pytest.mark.parametrize("name", SECOND_ORDER)
def test_state_holds_f_and_g_of_x(name):
    o, opt = oracle(rosenbrock, [-1.2, 1.0]), optimizer(name)
    state = opt.init(o, np.array([-1.2, 1.0]))
    for _ in range(5):
        state = opt.step(o, state)
        f, g = oracle(rosenbrock, state.x).f_and_grad(state.x)
        assert state.f == f and np.array_equal(state.g, g)


def test_newton_converges_quadratically():
    def fun(x):  # smooth, strictly convex, minimum at 0
        return F.sum(F.exp(x) - x) + 0.5 * (x[0] - x[1]) ** 2

    o, opt = oracle(fun, [1.0, -0.5, 0.8]), optimizer("newton")
    state = opt.init(o, o.problem.x0)
    errors = [np.linalg.norm(state.x)]
    while errors[-1] > 1e-12 and len(errors) < 20:
        state = opt.step(o, state)
        errors.append(np.linalg.norm(state.x))
    assert errors[-1] <= 1e-12 and len(errors) <= 10
    ratios = [e1 / e0 ** 2 for e0, e1 in zip(errors, errors[1:]) if e0 > 1e-6]
    assert len(ratios) >= 3 and max(ratios) < 1.0, (errors, ratios)


def test_newton_cg_descends_where_curvature_is_negative():
    def fun(x):
        return F.sum(x ** 4 - 2 * x ** 2)  # f''(0.1) < 0: a maximum at 0, minima at -1 and +1

    o, opt = oracle(fun, [0.1]), optimizer("newton-cg")
    state = opt.init(o, np.array([0.1]))
    new = opt.step(o, state)
    assert new.f < state.f and new.x[0] > 0.1


def test_trust_ncg_matches_scipy_on_extended_rosenbrock():
    x0 = np.tile([-1.2, 1.0], 50)
    ours = optlab.minimize(extended_rosenbrock, x0, method="trust-ncg", stopping={"gtol": 1e-8})
    o = oracle(extended_rosenbrock, x0)
    theirs = scipy.optimize.minimize(o.f, x0, method="trust-ncg", jac=o.grad, hessp=o.hvp,
                                     options={"gtol": 1e-8 * np.linalg.norm(o.grad(x0))})
    assert ours.status_name == "converged" and theirs.success
    np.testing.assert_allclose(ours.x, np.ones(100), atol=1e-6)
    np.testing.assert_allclose(ours.x, theirs.x, atol=1e-6)
    assert ours.nit <= theirs.nit + 2 and ours.counts["nhvp"] <= o.counts.nhvp


@pytest.mark.parametrize("step", [1e-4, 1.0, 10.0])
def test_line_searches_satisfy_their_conditions(step):
    x = np.array([-1.2, 1.0])
    o = oracle(rosenbrock, x)
    f, g = o.f_and_grad(x)
    d, slope = -g, float(g @ -g)
    before = o.counts.nfev
    r = armijo(o, x, f, g, d, step=step)
    assert r.success and r.f <= f + 1e-4 * r.alpha * slope and o.counts.nfev - before == r.nevals
    f_new, g_new = o.f_and_grad(r.x)
    assert np.array_equal(r.x, x + r.alpha * d) and r.f == f_new and np.array_equal(r.g, g_new)
    r = strong_wolfe(o, x, f, g, d, step=step, c2=0.1)
    assert r.success and r.f <= f + 1e-4 * r.alpha * slope and abs(r.g @ d) <= 0.1 * abs(slope)


@pytest.mark.parametrize("step", [1e-4, 1.0, 10.0, 100.0])
def test_lazy_strong_wolfe_takes_gradients_only_at_kept_trials(step):
    """The lazy search reaches a strong Wolfe point with one f per trial and a gradient only at trials it kept:
    fewer gradients than the joint search wherever it rejects a trial (step 10 and 100 overshoot on Rosenbrock)."""
    x = np.array([-1.2, 1.0])
    o = oracle(rosenbrock, x)
    f, g = o.f_and_grad(x)
    d, slope = -g, float(g @ -g)
    f0, g0 = o.counts.nfev, o.counts.ngev
    r = strong_wolfe(o, x, f, g, d, step=step, c2=0.1, lazy=True)
    lazy_f, lazy_g = o.counts.nfev - f0, o.counts.ngev - g0
    assert r.success and r.f <= f + 1e-4 * r.alpha * slope and abs(r.g @ d) <= 0.1 * abs(slope)
    f_new, g_new = o.f_and_grad(r.x)
    assert r.f == f_new and np.array_equal(r.g, g_new)
    assert lazy_f == r.nevals and 1 <= lazy_g <= r.nevals
    f0, g0 = o.counts.nfev, o.counts.ngev
    joint = strong_wolfe(o, x, f, g, d, step=step, c2=0.1)
    assert o.counts.ngev - g0 == joint.nevals
    if step >= 10:
        assert lazy_g < joint.nevals


def test_line_search_gives_up_on_an_ascent_direction():
    x = np.array([-1.2, 1.0])
    o = oracle(rosenbrock, x)
    f, g = o.f_and_grad(x)
    for search in (armijo, strong_wolfe):
        r = search(o, x, f, g, g)
        assert not r.success and r.alpha == 0 and r.f == f and r.x is x


def test_line_searches_back_away_from_nan_and_report_nan_everywhere():
    x, g = np.array([0.0]), np.array([-1.0])

    def nan_beyond_half(z):  # f = -z, undefined past 0.5
        return (-z[0], g) if z[0] < 0.5 else (np.nan, np.full(1, np.nan))

    def nan_everywhere(z):
        return np.nan, np.full(1, np.nan)

    for search in (armijo, strong_wolfe):
        r = search(nan_beyond_half, x, 0.0, g, np.ones(1), step=1.0)
        assert np.isfinite(r.f) and 0 < r.alpha < 0.5
        r = search(nan_everywhere, x, 0.0, g, np.ones(1))
        assert not r.success and r.alpha > 0 and np.isnan(r.f)  # shown to the runner: "diverged"


@pytest.mark.parametrize("name", SECOND_ORDER)
def test_conformance_suite(name):
    failed = [c for c in run_checks(name) if not c.passed]
    assert not failed, failed


def test_truncated_cg_solves_spd_system_and_exits_on_negative_curvature():
    rng = np.random.default_rng(0)
    M = rng.standard_normal((30, 30))
    H, g = M @ M.T + np.eye(30), rng.standard_normal(30)
    r = truncated_cg(lambda v: H @ v, g, tol=1e-8, max_iter=200)
    assert np.linalg.norm(H @ r.p + g) <= 1e-8 and not r.negative_curvature
    np.testing.assert_allclose(r.Hp, H @ r.p, atol=1e-8)

    D = np.diag([1.0, -1.0])
    r = truncated_cg(lambda v: D @ v, np.array([0.0, 1.0]), tol=1e-8)  # d.Hd < 0 at once: -g
    assert r.negative_curvature and r.iterations == 1 and np.array_equal(r.p, [0.0, -1.0])
    r = truncated_cg(lambda v: D @ v, np.array([2.0, 1.0]), tol=1e-8)  # later: the current (descent) p
    assert r.negative_curvature and r.iterations == 2 and r.p @ np.array([2.0, 1.0]) < 0


def test_forcing_term():
    assert forcing_term(100.0) == 0.5 and forcing_term(1e-4) == pytest.approx(1e-2)


def test_steihaug_cg_stops_on_the_boundary():
    D, g = np.diag([2.0, -1.0, 0.5]), np.array([1.0, 0.5, -1.0])
    r = steihaug_cg(lambda v: D @ v, g, radius=0.7, tol=1e-10)
    assert r.hits_boundary and np.linalg.norm(r.p) == pytest.approx(0.7, rel=1e-12)
    assert r.model_decrease(g) == pytest.approx(-(g @ r.p + 0.5 * r.p @ D @ r.p))
    assert r.model_decrease(g) > 0
    spd = np.diag([2.0, 1.0, 0.5])
    inside = steihaug_cg(lambda v: spd @ v, g, radius=100.0, tol=1e-10)
    assert not inside.hits_boundary and np.allclose(spd @ inside.p, -g)


def test_update_radius():
    assert update_radius(0.1, 1.0, 2.0, True, 10.0) == (0.5, False, 0.1)
    assert update_radius(0.5, 1.0, 2.0, True, 10.0) == (2.0, True, 0.5)
    assert update_radius(1.0, 1.0, 8.0, True, 10.0).radius == 10.0
    assert update_radius(1.0, 1.0, 8.0, False, 10.0).radius == 8.0
    assert update_radius(float("nan"), 1.0, 2.0, True, 10.0).accept is False


@pytest.mark.parametrize("name,params,words", [("newton-cg", {"c1": 2}, ["newton-cg", "c1"]),
                                               ("lbfgs", {"memory": 0}, ["lbfgs", "memory"]),
                                               ("trust-ncg", {"radius": -1.0}, ["trust-ncg", "radius"]),
                                               ("newton", {"c1": 0.5, "c2": 0.1}, ["newton", "c1", "c2"])])
def test_parameter_errors_name_optimizer_and_parameter(name, params, words):
    with pytest.raises(ParameterError) as info:
        optimizer(name, **params)
    assert all(w in str(info.value) for w in words), str(info.value)


@pytest.mark.parametrize("name", ["newton-cg", "lbfgs"])
def test_a_stalled_line_search_ends_the_run_instead_of_burning_the_budget(name):
    wrong = Problem("wrong-gradient", lambda x: F.sum(x ** 2), np.ones(3), gradient=lambda x: -2 * x,
                    hvp=lambda x, v: -2 * v)  # every "descent" direction goes uphill
    r = optlab.optim.run(optimizer(name), wrong, Budget(iterations=1000))
    assert r.status_name == "max_iter" and r.message.startswith("stalled: ") and r.nit == 0
    assert r.nfev <= 2 + 2 * 30  # the start, then at most two line searches, not 1000 iterations of them
