"""Gradient penalty and WGAN toy problem: closed forms, finite differences, zero gradients, training."""
from __future__ import annotations

import numpy as np
import pytest

import optlab.autodiff.functions as F
from optlab.autodiff import Variable, gradcheck, gradients
from optlab.optim import Budget, Oracle, Problem, Stopping, run
from optlab.registry import registry
from optlab_plugins.gradient_penalty import gradient_norm_regularization, gradient_penalty, input_gradient_norms
from optlab_studies import mlp
from optlab_studies.wgan_8gaussians.game import Game, mode_stats, sample_data, train


def linear(w, x):
    return F.matmul(x, w)


def points(seed: int = 0, n: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 2)), rng.standard_normal((n, 2)) + 1.0


def penalty_and_grad(penalty, theta0: np.ndarray, real, fake) -> tuple[float, np.ndarray]:
    theta = Variable(theta0)
    p = penalty(theta, real, fake, np.random.default_rng(0))
    (g,) = gradients(p, [theta])
    return float(p.data), g.data


@pytest.mark.parametrize("w", [[0.3, -0.4], [2.0, 1.0], [-1.5, 0.1]])
def test_linear_critic_closed_form(w: list[float]) -> None:
    w, lam = np.array(w), 10.0
    r = np.linalg.norm(w)
    value, g = penalty_and_grad(gradient_penalty(linear, lam=lam), w, *points())
    assert value == pytest.approx(lam * (r - 1) ** 2, rel=1e-9)
    np.testing.assert_allclose(g, 2 * lam * (r - 1) * w / r, rtol=1e-9)
    value, g = penalty_and_grad(gradient_penalty(linear, lam=lam, one_sided=True), w, *points())
    assert value == pytest.approx(lam * max(r - 1, 0) ** 2, rel=1e-9, abs=1e-15)
    np.testing.assert_allclose(g, 2 * lam * max(r - 1, 0) * w / r, rtol=1e-9, atol=1e-15)


def small_mlp(activation, width: int = 6, depth: int = 2):
    kw = {"hidden": (width,) * depth, "inputs": 2, "outputs": 1}

    def critic(theta, x):
        return mlp.forward(mlp.unpack(theta, **kw), x, activation)

    theta0 = np.random.default_rng(3).standard_normal(mlp.n_params(**kw)) * 0.7
    return critic, theta0


@pytest.mark.parametrize("activation", [F.tanh, F.softplus])
@pytest.mark.parametrize("one_sided", [False, True])
def test_mlp_penalty_gradient_matches_finite_differences(activation, one_sided: bool) -> None:
    critic, theta0 = small_mlp(activation)
    penalty = gradient_penalty(critic, lam=10.0, one_sided=one_sided)
    real, fake = points(n=8)
    gradcheck(lambda theta: penalty(theta, real, fake, np.random.default_rng(0)), theta0, atol=1e-6, rtol=1e-5)


def test_finite_where_the_input_gradient_is_zero() -> None:
    lam, eps = 10.0, 1e-12
    value, g = penalty_and_grad(gradient_penalty(linear, lam=lam, eps=eps), np.zeros(2), *points())
    assert value == pytest.approx(lam * (np.sqrt(eps) - 1) ** 2)
    np.testing.assert_array_equal(g, 0.0)  # finite: 2 lam (n - 1) g / n with g = 0
    # an MLP whose last layer is zero: grad_x D = 0 everywhere, its penalty still has a finite gradient
    critic, theta0 = small_mlp(F.tanh)
    theta0[-7:] = 0.0  # last weights (6) and bias (1)
    value, g = penalty_and_grad(gradient_penalty(critic, lam=lam, eps=eps), theta0, *points())
    assert value == pytest.approx(lam * (np.sqrt(eps) - 1) ** 2)
    np.testing.assert_array_equal(g, 0.0)  # finite: every path to theta goes through the zero input gradient
    # differentiable there, not just finite: finite differences agree (a larger eps keeps them accurate)
    smooth = gradient_penalty(critic, lam=lam, eps=1e-2)
    real, fake = points(n=8)
    gradcheck(lambda theta: smooth(theta, real, fake, np.random.default_rng(0)), theta0, atol=1e-6, rtol=1e-5)
    # without the epsilon the norm's derivative at 0 is 0/0
    w = Variable(np.zeros(2))
    x = Variable(points()[0])
    (gx,) = gradients(F.sum(linear(w, x)), [x], create_graph=True)
    with np.errstate(all="ignore"):
        (gw,) = gradients(F.mean((F.norm(gx, axis=1) - 1) ** 2), [w])
    assert np.all(np.isnan(gw.data))


def test_training_lowers_the_penalty_toward_the_target() -> None:
    critic, theta0 = small_mlp(F.tanh, width=16)  # input gradient norms start far from 1 (penalty ~ 40)
    penalty = gradient_penalty(critic, lam=10.0)
    rng = np.random.default_rng(1)
    batch = {"real": None, "fake": None, "seed": 0}

    def resample(generator: np.random.Generator) -> None:
        batch.update(real=sample_data("8gaussians", generator, 64), fake=generator.standard_normal((64, 2)),
                     seed=int(generator.integers(2 ** 31)))

    resample(rng)
    problem = Problem("penalty", lambda t: penalty(t, batch["real"], batch["fake"], np.random.default_rng(batch["seed"])),
                      theta0, resample=resample)
    adam = registry().get("optimizers", "adam")(lr=1e-2)
    result = run(adam, problem, Budget(iterations=300), Stopping(gtol=1e-12), seed=0)
    start, end = np.mean([t["f"] for t in result.trace[:5]]), np.mean([t["f"] for t in result.trace[-20:]])
    assert end < 0.01 * start
    norms = input_gradient_norms(critic, result.x, sample_data("8gaussians", rng, 256), create_graph=False)
    assert np.mean(np.abs(norms.data - 1)) < 0.1


def test_gradient_norm_regularization_on_a_quadratic() -> None:
    a = np.array([[3.0, 1.0], [1.0, 2.0]])
    theta0, lam = np.array([0.5, -1.0]), 0.1
    loss = lambda t: 0.5 * F.sum(t * F.matmul(a, t))  # noqa: E731
    regularized = gradient_norm_regularization(loss, lam=lam)
    theta = Variable(theta0)
    value = regularized(theta)
    (g,) = gradients(value, [theta])
    assert float(value.data) == pytest.approx(0.5 * theta0 @ a @ theta0 + lam * np.sum((a @ theta0) ** 2))
    np.testing.assert_allclose(g.data, a @ theta0 + 2 * lam * a @ a @ theta0)
    gradcheck(regularized, theta0)


def test_registered() -> None:
    reg = registry()
    assert reg.get("transforms", "gradient_penalty") is gradient_penalty
    assert reg.get("transforms", "gradient_norm_regularization") is gradient_norm_regularization
    problem = reg.get("problems", "wgan_toy")(width=8, depth=2, batch=32)
    result = run(reg.get("optimizers", "adam")(lr=1e-3), problem, Budget(iterations=5))
    assert result.status_name == "max_iter" and np.isfinite(result.fun)


def test_data_is_seeded_and_modes_are_scored() -> None:
    rng = np.random.default_rng(0)
    for name in ("8gaussians", "25gaussians", "swissroll"):
        a, b = sample_data(name, np.random.default_rng(4), 100), sample_data(name, np.random.default_rng(4), 100)
        np.testing.assert_array_equal(a, b)
    real = mode_stats(sample_data("8gaussians", rng, 4000), "8gaussians")
    assert real.covered == 8 and real.quality > 0.97
    grid = mode_stats(sample_data("25gaussians", rng, 10000), "25gaussians")
    assert grid.covered == 25 and grid.quality > 0.97
    collapsed = mode_stats(np.tile(sample_data("8gaussians", rng, 1), (400, 1)), "8gaussians")
    assert collapsed.covered == 1 and collapsed.quality == 1.0
    assert mode_stats(sample_data("swissroll", rng, 10), "swissroll") is None


@pytest.mark.parametrize("constraint", ["gp", "clip"])
def test_alternating_training_is_seeded_and_finite(constraint: str) -> None:
    adam = registry().get("optimizers", "adam")

    def once():
        game = Game(constraint=constraint, width=8, depth=2, batch=32, n_critic=2, seed=1)
        history = train(game, lambda: adam(lr=1e-3, beta1=0.5, beta2=0.9), iterations=4, log_every=2, eval_size=64)
        return game, history

    (g1, h1), (g2, _) = once(), once()
    np.testing.assert_array_equal(g1.theta_d, g2.theta_d)
    np.testing.assert_array_equal(g1.theta_g, g2.theta_g)
    assert h1.iteration == [2, 4] and np.all(np.isfinite(h1.wasserstein + h1.grad_norm_mean))
    if constraint == "clip":
        assert np.max(np.abs(g1.theta_d)) <= 0.01


@pytest.mark.parametrize("constraint", ["gp", "clip"])
def test_game_trains_the_same_jitted_and_eager(constraint):
    """Both players' oracles jit (the batch, the fakes, u and the opponent's weights are inputs) and the
    game's weights and metrics equal eager training bit for bit."""
    adam = registry().get("optimizers", "adam")
    made = []

    def oracle(jit):
        def make(problem):
            made.append(Oracle(problem, jit=jit))
            return made[-1]
        return make

    runs = []
    for jit in (True, False):
        game = Game(constraint=constraint, width=8, depth=2, batch=32, n_critic=2, seed=1)
        history = train(game, lambda: adam(lr=1e-3, beta1=0.5, beta2=0.9), iterations=6, log_every=3,
                        eval_size=64, oracle=oracle(jit))
        runs.append((game.theta_d, game.theta_g, history.wasserstein, history.grad_norm_mean))
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
    assert [o.jit_mode for o in made[:2]] == ["jit", "jit"] and all(o._jitted["vg"].traces == 1 for o in made[:2])
    assert [o.jit_mode for o in made[2:]] == ["eager: jit off"] * 2
