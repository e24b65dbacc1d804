"""MAML through the kernel: exact meta-gradients, FOMAML, adaptation, memory, and a second-order outer method."""
from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest

import optlab.autodiff.functions as F
from optlab.api import minimize
from optlab.autodiff import Variable, gradcheck, gradients, no_grad
from optlab.optim import Budget, Oracle, Stopping, run
from optlab.problems import get
from optlab.registry import registry
from optlab_plugins.maml import adapt, maml, per_task
from optlab_studies.maml_sinusoid import tasks as sinusoid


def square_losses(params, data):
    """g(theta) = theta^2 for each task; the data is ignored."""
    return F.reshape(params[0] ** 2, (params[0].shape[0],))


@pytest.mark.parametrize("first_order, expected", [(False, 4.0), (True, -4.0)])
def test_square_meta_gradient(first_order: bool, expected: float) -> None:
    # theta' = theta - 2 alpha theta = -2; meta-loss theta'^2; d/dtheta = 2 theta' (1 - 2 alpha) = 4, FO: 2 theta' = -4
    theta = Variable(np.array([2.0]))
    data = (np.zeros((1, 1)),)
    loss = maml(square_losses, alpha=1.0, inner_steps=1, first_order=first_order)([theta], data, data)
    (g,) = gradients(loss, [theta])
    assert loss.data == pytest.approx(4.0)
    assert g.data == pytest.approx([expected])


def fixed_batch(seed: int = 0, tasks: int = 3, k: int = 5):
    rng = np.random.default_rng(seed)
    return sinusoid.init_theta(rng), sinusoid.meta_batch(rng, tasks, k)


@pytest.mark.parametrize("steps", [1, 3])
def test_mlp_meta_gradient_matches_finite_differences(steps: int) -> None:
    theta0, (support, query) = fixed_batch()
    meta_loss = maml(sinusoid.task_losses, alpha=0.05, inner_steps=steps)
    directions = np.random.default_rng(1).standard_normal((theta0.size, 6)) * 0.1

    def along(u):  # the meta-loss on a random 6-D slice through theta0: every weight moves
        return meta_loss(sinusoid.unpack(theta0 + F.matmul(directions, u)), support, query)

    gradcheck(along, np.zeros(6), eps=1e-6, atol=1e-6, rtol=1e-5)
    # and the second-order terms matter here: FOMAML's gradient is clearly different
    theta = Variable(theta0)
    full = gradients(meta_loss(sinusoid.unpack(theta), support, query), [theta])[0].data
    fomaml = maml(sinusoid.task_losses, alpha=0.05, inner_steps=steps, first_order=True)
    first = gradients(fomaml(sinusoid.unpack(theta), support, query), [theta])[0].data
    assert np.linalg.norm(full - first) > 1e-3 * np.linalg.norm(full)


def test_first_order_equals_detached_inner_gradients() -> None:
    theta0, (support, query) = fixed_batch()
    alpha, steps = 0.05, 2
    theta = Variable(theta0)
    params = per_task(sinusoid.unpack(theta), support[0].shape[0])
    for _ in range(steps):
        grads = gradients(F.sum(sinusoid.task_losses(params, support)), params, create_graph=True)
        params = [p - alpha * Variable(g.data) for p, g in zip(params, grads)]
    detached = F.mean(sinusoid.task_losses(params, query))
    (g_detached,) = gradients(detached, [theta])

    theta2 = Variable(theta0)
    fo = maml(sinusoid.task_losses, alpha, steps, first_order=True)(sinusoid.unpack(theta2), support, query)
    (g_fo,) = gradients(fo, [theta2])
    np.testing.assert_allclose(fo.data, detached.data, rtol=1e-13)
    np.testing.assert_allclose(g_fo.data, g_detached.data, rtol=1e-12, atol=1e-14)


def test_adaptation_lowers_task_loss() -> None:
    theta0, (support, _) = fixed_batch(tasks=20, k=10)
    params = per_task(sinusoid.unpack(theta0), 20)
    with no_grad():
        losses = [sinusoid.task_losses(adapt(sinusoid.task_losses, params, support, 0.001, s, False), support)
                  for s in (0, 1, 5)]
    before, one, five = (np.asarray(getattr(v, "data", v)) for v in losses)
    assert np.all(one < before) and np.all(five < one)


def problem_oracle(**params):
    problem = get("maml_sinusoid", **params)
    return problem, Oracle(problem)


def test_problem_is_registered_seeded_and_resampled() -> None:
    assert registry().get("transforms", "maml") is maml
    p1, o1 = problem_oracle(K=5, meta_batch=4, seed=3)
    p2, o2 = problem_oracle(K=5, meta_batch=4, seed=3)
    assert p1.n == sinusoid.n_params() == 1761
    np.testing.assert_array_equal(p1.x0, p2.x0)
    assert o1.f(p1.x0) == o2.f(p2.x0)
    before = o1.f(p1.x0)
    p1.resample(np.random.default_rng(0))
    assert o1.f(p1.x0) != before


def test_adam_outer_loop_reduces_meta_loss() -> None:
    problem = get("maml_sinusoid", K=5, meta_batch=10, seed=0)
    adam = registry().get("optimizers", "adam")(lr=1e-3)
    result = run(adam, problem, Budget(iterations=100), Stopping(), seed=0)
    assert result.status_name == "max_iter"
    oracle, rng = Oracle(problem), np.random.default_rng(1)
    gains = []
    for _ in range(10):  # on fresh meta-batches
        problem.resample(rng)
        gains.append(oracle.f(problem.x0) - oracle.f(result.x))
    assert np.mean(gains) > 0.1


def test_memory_does_not_grow_over_meta_iterations() -> None:
    problem, oracle = problem_oracle(K=5, meta_batch=5, inner_steps=2)
    rng = np.random.default_rng(0)
    x = problem.x0.copy()

    def iteration() -> None:
        nonlocal x
        problem.resample(rng)
        _, g = oracle.f_and_grad(x)
        x = x - 1e-5 * g

    def live_variables() -> int:
        gc.collect()
        return sum(isinstance(o, Variable) for o in gc.get_objects())

    for _ in range(5):
        iteration()
    variables = live_variables()
    tracemalloc.start()
    try:
        for _ in range(50):  # warm up under tracing: Python's free lists fill with traced blocks
            iteration()
        start = tracemalloc.get_traced_memory()[0]
        for _ in range(50):
            iteration()
        grown = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert live_variables() == variables
    assert grown < 64 * 1024  # bytes over 50 iterations; one leaked meta-graph would be megabytes


def test_newton_cg_on_the_meta_objective() -> None:
    """A second-order outer method: HVPs of the meta-objective need third derivatives through the kernel."""
    problem = get("maml_sinusoid", K=5, meta_batch=4, seed=0)  # never resampled: a fixed meta-batch
    oracle = Oracle(problem)
    rng = np.random.default_rng(0)
    x = problem.x0 + 0.1 * rng.standard_normal(problem.n)  # off the tiny init, whose ReLU kinks defeat FD
    v = rng.standard_normal(x.size)
    eps = 1e-5
    fd = (oracle.grad(x + eps * v) - oracle.grad(x - eps * v)) / (2 * eps)
    np.testing.assert_allclose(oracle.hvp(x, v), fd, rtol=1e-4, atol=1e-4 * np.abs(fd).max())

    result = minimize(problem.objective, x, method="newton-cg", budget={"iterations": 10}, options={"max_cg": 20})
    assert result.status_name in ("max_iter", "converged")
    assert result.fun < 0.7 * oracle.f(x)
    assert result.counts["nhvp"] > 0
