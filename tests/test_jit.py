"""optlab.autodiff.jit: replays equal eager evaluation (bit for bit), never replay a stale decision,
retrace on new shapes, keep a bounded cache."""
from __future__ import annotations

import zlib

import numpy as np
import pytest
from test_autodiff_functions import CASES

import optlab.autodiff.functions as F
import optlab.problems
from optlab.autodiff import Variable, grad, hessian, hvp, jit, value_and_grad
from optlab.autodiff.jit import JitError
from optlab.autodiff.tree import flatten
from optlab_plugins.gradient_penalty import gradient_penalty
from optlab_plugins.maml import maml
from optlab_plugins.mgh import optlab_problems as mgh_problems
from optlab_studies import mlp
from optlab_studies.maml_sinusoid import tasks as sinusoid


def assert_same(got, want):
    """Equal trees of arrays, bit for bit (shapes and dtypes too)."""
    g, gdef = flatten(got)
    w, wdef = flatten(want)
    assert gdef == wdef
    for a, b in zip(g, w):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def other_point(x):
    """Another input of the same shape and domain: the values in reverse order (signs, orders, ties move)."""
    x = np.asarray(x)
    return x.ravel()[::-1].reshape(x.shape).copy() if x.dtype.kind == "f" else x


# ----------------------------------------------------------------------------------------------
# Every F function, at the gradcheck table's inputs: the value and the gradient of its sum.

@pytest.mark.parametrize("name, f, ref, inputs", CASES)
def test_every_function_jits_to_its_eager_value_and_gradient(name, f, ref, inputs):
    floats = tuple(i for i, x in enumerate(inputs) if np.asarray(x).dtype.kind == "f")

    def total(*xs):
        out, _ = flatten(f(*xs))
        return sum_of([o for o in out if isinstance(o, Variable)] or out[:1])

    for fn in (f, value_and_grad(total, argnums=floats)):
        jitted = jit(fn)
        for point in (tuple(other_point(x) for x in inputs), inputs):  # traced at one, replayed at the other
            try:
                want = fn(*point)
            except (ValueError, np.linalg.LinAlgError):
                continue  # the other point leaves the function's domain (cholesky of a non-SPD matrix)
            assert_same(jitted(*point), want)


def sum_of(values):
    total = F.sum(values[0])
    for v in values[1:]:
        total = total + F.sum(v)
    return total


# ----------------------------------------------------------------------------------------------
# Every MGH problem at 5 random points: f, f + gradient, Hessian-vector product and Hessian.

@pytest.mark.parametrize("name", list(mgh_problems()))
def test_every_mgh_problem_jits_to_eager(name):
    problem = optlab.problems.get(name)
    f = problem.objective
    fns = {"f": f, "f+grad": value_and_grad(f), "hvp": lambda x, v: hvp(f, x, v), "hessian": hessian(f)}
    jitted = {k: jit(fn) for k, fn in fns.items()}
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    x0 = problem.x0
    for _ in range(5):
        x = x0 + rng.standard_normal(x0.shape) * (1.0 + np.abs(x0)) * 0.5
        v = rng.standard_normal(x0.shape)
        for k, fn in fns.items():
            args = (x, v) if k == "hvp" else (x,)
            with np.errstate(all="ignore"):
                assert_same(jitted[k](*args), fn(*args))
    assert all(j.traces == 1 for j in jitted.values()), {k: j.traces for k, j in jitted.items()}


# ----------------------------------------------------------------------------------------------
# Decisions taken from values: at points that flip each of them, jit gives the eager values.

DECISIONS = {
    "relu": lambda x: F.sum(F.relu(x) * x),
    "abs": lambda x: F.sum(F.abs(x) * x),
    "max ties": lambda x: F.max(x) * F.sum(x),
    "maximum": lambda x: F.sum(F.maximum(x, 0.5 * x[::-1]) ** 2),
    "where": lambda x: F.sum(F.where(x > 0, x ** 2, -x)),
    "clip": lambda x: F.sum(F.clip(x, -0.5, 0.5) ** 2 * x),
    "sort": lambda x: F.sum(F.sort(x) * np.arange(4.0)),
    "getitem at argmax": lambda x: F.sum(x[np.argmax(x.data if isinstance(x, Variable) else x)] * x),
    "python if on a comparison": lambda x: F.sum(x ** 2) if F.sum(x) > 0 else F.sum(x ** 3),
}
FLIPS = [np.array([1.0, -2.0, 3.0, -0.1]), np.array([-1.0, 2.0, -3.0, 0.1]),  # every sign flips
         np.array([1.0, 1.0, 1.0, 1.0]), np.array([0.5, -0.5, 0.5, -0.5]),  # ties; clip at its bounds
         np.array([0.2, -0.7, 0.0, 2.0]), np.array([2.0, 0.0, -0.7, 0.2])]  # 0; the order reversed


RECORDED = {"relu", "abs", "max ties", "maximum", "clip", "sort"}  # the kernel's own rules: masks in the program


@pytest.mark.parametrize("name", list(DECISIONS))
def test_decisions_are_never_replayed_stale(name):
    f = DECISIONS[name]
    for fn in (f, grad(f), value_and_grad(f), lambda x: hvp(f, x, np.arange(1.0, 5.0)), hessian(f)):
        jitted = jit(fn, max_retraces=2)
        for x in FLIPS * 2:  # enough calls to go past max_retraces, into eager
            assert_same(jitted(x), fn(x))
        if name in RECORDED:  # the decision is an operation of the program: one trace serves every point
            assert jitted.traces == 1
        else:  # fn's own Python decisions are guards: retraced, then eager
            assert jitted.traces == 3


def test_python_if_on_data_in_a_gradient_is_guarded():
    def f(x):
        if x.data[0] > 0:  # a Python decision on a value fn reads itself
            return F.sum(x ** 2)
        return F.sum(F.sin(x))

    g = grad(f)
    jitted = jit(g)
    for x in (np.array([1.0, 2.0]), np.array([-1.0, 2.0]), np.array([3.0, 1.0])):
        assert_same(jitted(x), g(x))
    assert jitted.traces == 3  # each flip retraced; the third point decides as the first but is not its trace


def test_smooth_functions_trace_once():
    f = lambda x: F.sum(F.tanh(x) * F.exp(-x * x))
    jitted = jit(value_and_grad(f))
    for seed in range(5):
        x = np.random.default_rng(seed).standard_normal(7)
        assert_same(jitted(x), value_and_grad(f)(x))
    assert jitted.traces == 1


# ----------------------------------------------------------------------------------------------
# Cache: by shapes and dtypes, bounded, LRU.

def test_new_shape_or_dtype_retraces():
    g = grad(lambda x: F.sum(x ** 3))
    jitted = jit(g)
    for x in (np.ones(3), np.ones(3) * 2, np.ones(4), np.ones((2, 2)), np.ones(3, np.float32)):
        assert_same(jitted(x), g(x))
    assert jitted.traces == 4
    assert jitted(np.ones(3, np.float32)).dtype == np.float32


def test_cache_is_bounded_least_recently_used_dropped():
    jitted = jit(lambda x: x * 2.0, cache_size=2)
    for n in (1, 2, 1, 3):  # 2 is the least recently used when 3 arrives
        jitted(np.ones(n))
    assert jitted.traces == 3 and len(jitted.cache) == 2
    jitted(np.ones(1))
    assert jitted.traces == 3
    jitted(np.ones(2))
    assert jitted.traces == 4
    with pytest.raises(ValueError, match="cache_size"):
        jit(lambda x: x, cache_size=0)


def test_pytrees_and_settings():
    def loss(params, data, power):
        w, b = params["w"], params["b"]
        x, y = data
        return F.sum((F.matmul(x, w) + b - y) ** power)

    rng = np.random.default_rng(0)
    params = {"w": rng.standard_normal(3), "b": np.array(0.5)}
    data = (rng.standard_normal((5, 3)), rng.standard_normal(5))
    g = value_and_grad(loss)
    jitted = jit(g)
    for power in (2, 2, 4):
        assert_same(jitted(params, data, power), g(params, data, power))
    assert jitted.traces == 2  # the int is a setting: part of the key


def test_one_array_passed_twice_is_two_inputs():
    h = jit(lambda x, v: hvp(lambda z: F.sum(z ** 3), x, v))
    x = np.array([1.0, 2.0])
    assert_same(h(x, x), 6 * x * x)
    assert_same(h(x, np.array([1.0, 0.0])), np.array([6.0, 0.0]))


def test_results_are_private_arrays():
    jitted = jit(lambda x: F.reshape(x, (2, 2)))
    x = np.arange(4.0)
    y = jitted(x)
    y = jitted(x)
    y[0, 0] = 7.0
    assert x[0] == 0.0


def test_clear_errors():
    jitted = jit(lambda x: F.sum(x))
    with pytest.raises(TypeError, match="keyword"):
        jitted(x=np.ones(2))
    with pytest.raises(TypeError, match="Variable"):
        jitted(Variable(np.ones(2)))
    with pytest.raises(JitError, match="could not be traced"):
        jit(lambda x: np.exp(x) * 2)(np.ones(2))  # a numpy ufunc the kernel cannot see
    with pytest.raises(TypeError, match="callable"):
        jit(3)


# ----------------------------------------------------------------------------------------------
# Studies: MAML's meta-gradient and the gradient penalty.

def test_maml_meta_gradient_jits_to_eager():
    rng = np.random.default_rng(0)
    theta0 = sinusoid.init_theta(rng)
    meta_loss = maml(sinusoid.task_losses, alpha=0.05, inner_steps=2)
    g = value_and_grad(lambda theta, s, q: meta_loss(sinusoid.unpack(theta), s, q))
    jitted = jit(g)
    for k in range(3):
        theta = theta0 + 0.1 * k
        s, q = sinusoid.meta_batch(rng, 3, 5)
        assert_same(jitted(theta, s, q), g(theta, s, q))


def test_gradient_penalty_jits_to_eager():
    kw = {"hidden": (6, 6), "inputs": 2, "outputs": 1}
    critic = lambda theta, x: mlp.forward(mlp.unpack(theta, **kw), x, F.tanh)
    penalty = gradient_penalty(critic, lam=10.0)
    g = value_and_grad(lambda theta, real, fake: penalty(theta, real, fake, np.random.default_rng(0)))
    jitted = jit(g)
    rng = np.random.default_rng(1)
    for _ in range(3):
        theta = rng.standard_normal(mlp.n_params(**kw)) * 0.7
        real, fake = rng.standard_normal((16, 2)), rng.standard_normal((16, 2)) + 1.0
        assert_same(jitted(theta, real, fake), g(theta, real, fake))
    assert jitted.traces == 1


# ----------------------------------------------------------------------------------------------
# The oracle with jit=True: the same values and counts as eager; stochastic or untraceable: eager.

def oracle_calls(oracle, x, v):
    return [oracle.f(x), oracle.grad(x), oracle.f_and_grad(x), oracle.hvp(x, v), oracle.hessian(x),
            oracle.counts.as_dict() | {"seconds": None}]


@pytest.mark.parametrize("name", ["extended_rosenbrock", "gulf", "helical_valley", "brown_almost_linear"])
def test_oracle_jits_with_unchanged_values_and_counts(name):
    from optlab.optim.oracle import Oracle
    problem = optlab.problems.get(name)
    fast, slow = Oracle(problem, jit=True), Oracle(problem)
    assert fast._jitted is not None and slow._jitted is None
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = problem.x0 + rng.standard_normal(problem.n)
        v = rng.standard_normal(problem.n)
        assert_same(oracle_calls(fast, x, v), oracle_calls(slow, x, v))
    assert fast._jitted["vg"].traces == 1


def test_oracle_stays_eager_for_stochastic_and_untraceable_objectives():
    from optlab.optim.oracle import Oracle
    from optlab.optim.problem import Problem
    assert Oracle(optlab.problems.get("maml_sinusoid", K=5, meta_batch=2), jit=True)._jitted is None
    plain = Problem(name="plain numpy", objective=lambda x: np.exp(x).sum() if not isinstance(x, Variable)
                    else np.exp(x), x0=np.ones(3))  # numpy ufuncs: the tracer cannot follow them
    oracle = Oracle(plain, jit=True)
    assert oracle.f(np.zeros(3)) == 3.0
    assert oracle._jitted is None and oracle.counts.nfev == 1
