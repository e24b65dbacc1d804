"""optlab.autodiff.jit: replays equal eager evaluation (bit for bit), never replay a stale decision,
retrace on new shapes, keep a bounded cache."""
from __future__ import annotations

import functools
import operator
import zlib

import numpy as np
import pytest
from test_autodiff_functions import CASES

import optlab.autodiff.functions as F
import optlab.problems
from optlab.autodiff import Variable, grad, gradients, hessian, hvp, jit, value_and_grad
from optlab.autodiff.jit import JitError
from optlab.autodiff.tree import flatten
from optlab.conformance import Counter
from optlab.optim import Oracle, Problem
from optlab_plugins.gradient_penalty import gradient_penalty, input_gradient_norms
from optlab_plugins.maml import maml, per_task
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
        jit(lambda x: np.fmod(x, 3.0) * 2)(np.ones(2))  # a numpy ufunc with no F twin
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


def stochastic_oracle_calls(problem, oracle, rng, x, v, hessian=True):
    """The oracle's values on a fresh batch (resample from rng), in the order the loop would ask."""
    problem.resample(rng)
    return [oracle.f(x), oracle.f_and_grad(x), oracle.hvp(x, v)] + ([oracle.hessian(x)] if hessian else [])


@pytest.mark.parametrize("first_order", [False, True])
def test_oracle_jits_maml_meta_gradient_at_each_new_batch(first_order):
    """The batch is an input of the traced program: every call sees its own batch, jit equals eager bit for bit."""
    fast_problem = optlab.problems.get("maml_sinusoid", K=5, meta_batch=3, first_order=first_order)
    slow_problem = optlab.problems.get("maml_sinusoid", K=5, meta_batch=3, first_order=first_order)
    fast, slow = Oracle(fast_problem), Oracle(slow_problem, jit=False)
    fast_rng, slow_rng, rng = np.random.default_rng(5), np.random.default_rng(5), np.random.default_rng(6)
    x, v = fast_problem.x0, rng.standard_normal(fast_problem.n)
    seen = []
    for _ in range(6):  # eager (the guard), trace, then replays at new batches
        got = stochastic_oracle_calls(fast_problem, fast, fast_rng, x, v, hessian=False)
        assert_same(got, stochastic_oracle_calls(slow_problem, slow, slow_rng, x, v, hessian=False))
        seen.append(got[0])
    assert len(set(seen)) == 6  # different data each call, different values
    # MAML's and FOMAML's programs replay at every batch (FOMAML's inner pass is recorded, its step detached)
    assert fast.jit_mode == "jit" and fast._jitted is not None and fast._jitted["vg"].traces == 1
    assert fast.counts.as_dict() | {"seconds": 0} == slow.counts.as_dict() | {"seconds": 0}


@pytest.mark.parametrize("steps", [1, 3])
def test_fomaml_replays_the_raw_pass_first_order_gradient_bit_for_bit(steps):
    """FOMAML's reference: the meta-loss with each inner gradient from a raw pass (create_graph=False)
    entering as a constant array (the plugin's code before it recorded that pass). The oracle's jitted f,
    f+grad and hvp give the reference's bits at every new batch, replaying one trace."""
    problem = optlab.problems.get("maml_sinusoid", K=5, meta_batch=4, first_order=True, inner_steps=steps)
    oracle = Oracle(problem)

    def reference(theta, *data):
        batched = Problem(name="reference", objective=lambda t: raw_fomaml(t, *data), x0=theta)
        return Oracle(batched, jit=False)

    def raw_fomaml(theta, support, query):
        theta = theta if isinstance(theta, Variable) else Variable(theta)  # as the problem's batched does
        params = per_task(sinusoid.unpack(theta), np.shape(support[0])[0])
        for _ in range(steps):
            grads = gradients(F.sum(sinusoid.task_losses(params, support)), params, create_graph=False)
            params = [p - 0.01 * g.data for p, g in zip(params, grads)]
        return F.mean(sinusoid.task_losses(params, query))

    rng = np.random.default_rng(7)
    v = rng.standard_normal(problem.n)
    for _ in range(5):
        problem.resample(rng)
        x = problem.x0 + 0.1 * rng.standard_normal(problem.n)
        eager = reference(x, *problem.batch())
        assert_same([oracle.f(x), oracle.f_and_grad(x), oracle.hvp(x, v)],
                    [eager.f(x), eager.f_and_grad(x), eager.hvp(x, v)])
    assert oracle.jit_mode == "jit" and oracle._jitted["vg"].traces == 1


@pytest.mark.parametrize("use", ["gradients", "backward"])
def test_backward_pass_without_create_graph_is_refused(use):
    """A raw backward pass inside fn (create_graph=False) runs its VJPs on bare arrays with numpy's operators,
    which no recorder sees: replayed, it gave the trace's gradient at every input (26.0 for 2 sum x^2 = 68 at
    (3, 5)). It is refused with a JitError naming it; eager values are 2 sum x^2."""
    def f(x):
        y = F.sum(x * x)
        if use == "gradients":
            (g,) = gradients(y, [x], create_graph=False)
        else:
            y.backward()
            g = x.grad
        return F.sum(g * x)

    assert f(Variable(np.array([3.0, 5.0]))).data == 68.0
    with pytest.raises(JitError, match="backward pass without create_graph"):
        jit(f)(np.array([1.0, 2.0]))


def test_oracle_jits_gradient_penalty_at_each_new_batch():
    """A critic's loss with the gradient penalty, its batch (real, fake, the interpolation weights u) drawn
    outside the program by resample: jit equals the penalty's own eager evaluation with the same draws."""
    kw = {"hidden": (6, 6), "inputs": 2, "outputs": 1}
    def critic(theta, x):  # ReLU: its decisions flip with the data
        return mlp.forward(mlp.unpack(theta, **kw), x)

    penalty = gradient_penalty(critic, lam=10.0)

    def make():
        state = {}

        def resample(rng):
            real, fake = rng.standard_normal((16, 2)), rng.standard_normal((16, 2)) + 1.0
            state["batch"] = (real, fake, int(rng.integers(2 ** 63)))

        def eager(theta):  # the plugin's penalty, drawing u from the batch's seed
            real, fake, seed = state["batch"]
            return F.mean(critic(theta, fake)) - F.mean(critic(theta, real)) + penalty(
                theta, real, fake, np.random.default_rng(seed))

        def batched(theta, real, fake, u):
            gap = input_gradient_norms(critic, theta, u * real + (1.0 - u) * fake) - 1.0
            return F.mean(critic(theta, fake)) - F.mean(critic(theta, real)) + 10.0 * F.mean(gap * gap)

        def batch():
            real, fake, seed = state["batch"]
            return real, fake, np.random.default_rng(seed).uniform(size=(real.shape[0], 1))

        resample(np.random.default_rng(0))
        return Problem(name="critic", objective=eager, x0=np.random.default_rng(1).standard_normal(
            mlp.n_params(**kw)) * 0.7, resample=resample, batched=batched, batch=batch)

    fast_problem, slow_problem = make(), make()
    fast, slow = Oracle(fast_problem), Oracle(slow_problem, jit=False)
    fast_rng, slow_rng, rng = np.random.default_rng(2), np.random.default_rng(2), np.random.default_rng(3)
    x, v = fast_problem.x0, rng.standard_normal(fast_problem.n)
    seen = []
    for _ in range(5):
        got = stochastic_oracle_calls(fast_problem, fast, fast_rng, x, v)
        assert_same(got, stochastic_oracle_calls(slow_problem, slow, slow_rng, x, v))
        seen.append(got[0])
    assert len(set(seen)) == 5
    assert fast.jit_mode == "jit; eager hessian: its guarded values change at every call"  # ReLU's Hessian
    assert fast._jitted is not None and fast._jitted["vg"].traces == 1 and fast._jitted["hvp"].traces == 1


# ----------------------------------------------------------------------------------------------
# The oracle jits by default: the same values and counts as eager; stochastic, stateful or untraceable
# objectives stay eager; jit=False (config `jit: false`) is eager.

def oracle_calls(oracle, x, v):
    return [oracle.f(x), oracle.grad(x), oracle.f_and_grad(x), oracle.hvp(x, v), oracle.hessian(x),
            oracle.counts.as_dict() | {"seconds": None}]


@pytest.mark.parametrize("name", ["extended_rosenbrock", "gulf", "helical_valley", "brown_almost_linear"])
def test_oracle_jits_by_default_with_unchanged_values_and_counts(name):
    problem = optlab.problems.get(name)
    fast, slow = Oracle(problem), Oracle(problem, jit=False)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = problem.x0 + rng.standard_normal(problem.n)
        v = rng.standard_normal(problem.n)
        assert_same(oracle_calls(fast, x, v), oracle_calls(slow, x, v))
    assert fast.jit_mode == "jit" and slow.jit_mode == "eager: jit off" and slow._jitted is None
    assert fast._jitted["vg"].traces == 1 and fast._jitted["hvp"].traces == 1
    assert fast.counts.as_dict() | {"seconds": 0} == {"nfev": 6, "ngev": 6, "nhvp": 3, "nhess": 3, "seconds": 0}


@pytest.mark.parametrize("name", list(mgh_problems()))
def test_every_mgh_objective_passes_the_purity_guard(name):
    oracle = Oracle(optlab.problems.get(name))
    x = oracle.problem.x0
    for _ in range(3):  # eager (the guard), trace (the guard again), replay
        oracle.f_and_grad(x)
        oracle.hvp(x, x)
    assert oracle.jit_mode == "jit"


def counting_problems():
    """Objectives with state of their own, in the usual shapes: a nonlocal counter, a counting object
    (the conformance suite's `Counter`), a module global, a list appended to, an attribute of a bound self."""
    rosen = optlab.problems.get("rosenbrock").objective
    calls = 0

    def nonlocal_counter(x):
        nonlocal calls
        calls += 1
        return rosen(x) * (2.0 if calls > 4 else 1.0)  # the value itself depends on the count

    log = []

    def appends(x):
        log.append(1)
        return rosen(x)

    class Model:
        def __init__(self):
            self.seen = 0

        def loss(self, x):
            self.seen += 1
            return rosen(x)

    model = Model()
    counter = Counter(rosen)
    return {"nonlocal": (nonlocal_counter, lambda: calls), "Counter": (counter, lambda: counter.calls),
            "global": (_global_counting, lambda: _GLOBAL_CALLS), "list": (appends, lambda: len(log)),
            "bound self": (model.loss, lambda: model.seen)}


_GLOBAL_CALLS = 0


def _global_counting(x):
    global _GLOBAL_CALLS
    _GLOBAL_CALLS += 1
    return optlab.problems.get("rosenbrock").objective(x)


@pytest.mark.parametrize("kind", ["nonlocal", "Counter", "global", "list", "bound self"])
def test_oracle_runs_a_stateful_objective_at_every_call(kind):
    objective, seen = counting_problems()[kind]
    rosen = optlab.problems.get("rosenbrock")
    problem = Problem(name="counting", objective=objective, x0=rosen.x0)
    eager = Oracle(Problem(name="rosenbrock", objective=rosen.objective, x0=rosen.x0), jit=False)
    oracle = Oracle(problem)
    start = seen()
    x = rosen.x0
    for i in range(6):
        value, g = oracle.f_and_grad(x + i)
        want_value, want_g = eager.f_and_grad(x + i)
        factor = 2.0 if kind == "nonlocal" and i >= 4 else 1.0
        assert value == factor * want_value
        np.testing.assert_array_equal(g, factor * want_g)
    assert seen() - start == 6  # the objective's Python ran at every call, as eagerly
    assert oracle.jit_mode.startswith("eager: the objective changed") and oracle._jitted is None
    assert oracle.counts.nfev == oracle.counts.ngev == 6


@pytest.mark.parametrize("draw", ["Generator", "RandomState", "global numpy", "random module"])
def test_oracle_draws_anew_at_every_call_of_a_noisy_objective(draw):
    """A replay would repeat the traced draw: an objective that draws random numbers runs eagerly, each
    call a new draw, the values the same generator gives outside the oracle."""
    import random
    sources = {"Generator": lambda: np.random.default_rng(3).standard_normal,
               "RandomState": lambda: np.random.RandomState(3).standard_normal,
               "global numpy": lambda: (np.random.seed(3), np.random.standard_normal)[1],
               "random module": lambda: (random.seed(3), lambda k: np.array([random.gauss(0, 1) for _ in range(k)]))[1]}
    normal = sources[draw]()
    oracle = Oracle(Problem(name="noisy", objective=lambda x: F.sum(x * normal(3)), x0=np.zeros(3)))
    values = [oracle.f(np.ones(3)) for _ in range(4)]
    again = sources[draw]()
    assert values == [float(np.sum(again(3))) for _ in range(4)]
    assert oracle.jit_mode.startswith("eager: the objective changed")


def test_the_conformance_suite_passes_with_jit_on():
    from optlab.conformance import check_counts, check_nan
    from optlab.registry import registry
    for name in ("trust-ncg", "lbfgs"):
        make = registry().get("optimizers", name)
        assert check_nan(make)[0] and check_counts(make)[0]


@pytest.mark.parametrize("method", ["newton", "trust-ncg", "lbfgs", "scipy.trust-ncg"])
def test_a_run_with_jit_equals_the_eager_run(method):
    from optlab.optim import Budget, Stopping, run
    from optlab.registry import registry
    for name in ("rosenbrock", "watson", "penalty2"):
        results = [run(registry().get("optimizers", method)(), optlab.problems.get(name), Budget(iterations=200),
                       Stopping(), jit=jit) for jit in (True, False)]
        a, b = ([(t["f"], t["gnorm"], t["nfev"], t["ngev"], t["nhvp"], t["nhess"]) for t in r.trace]
                for r in results)
        assert a == b and results[0].status_name == results[1].status_name
        np.testing.assert_array_equal(results[0].x, results[1].x)


def test_config_jit_false_runs_the_oracle_eagerly(tmp_path, monkeypatch):
    from optlab.experiment.config import load_config
    from optlab.experiment.runner import execute, plan
    from optlab.optim import oracle as oracle_module
    path = tmp_path / "study.yaml"
    path.write_text("name: t\nproblems: [rosenbrock]\noptimizers: [trust-ncg]\nbudget: {iterations: 50}\n")
    made = []
    real = oracle_module.jit_of
    monkeypatch.setattr(oracle_module, "jit_of", lambda fn: made.append(fn) or real(fn))
    rows = {}
    for override in ([], ["jit=false"]):
        config = load_config(path, override)
        (spec,) = plan(config)
        assert spec.jit is (not override)
        made.clear()
        rows[bool(override)] = (execute(spec)[0], len(made), spec.run_id)
    (jit_row, jit_made, jit_id), (eager_row, eager_made, eager_id) = rows[False], rows[True]
    assert jit_made == 4 and eager_made == 0  # f, f+grad, hvp, Hessian jitted; none with jit: false
    assert jit_id == eager_id  # jit does not decide results: the same run
    for key in ("status", "nit", "nfev", "ngev", "nhvp", "nhess", "f_final", "gnorm_final"):
        assert jit_row[key] == eager_row[key], key
    assert eager_row["f_final"] < 1e-12


def test_oracle_stays_eager_for_stochastic_and_untraceable_objectives():
    maml_problem = optlab.problems.get("maml_sinusoid", K=5, meta_batch=2)
    maml_problem.batched = None  # a stochastic problem without its batch as an input: a replay could be stale
    stochastic = Oracle(maml_problem)
    assert stochastic._jitted is None and stochastic.jit_mode.startswith("eager: stochastic problem (resample)")
    plain = Problem(name="plain numpy", objective=lambda x: np.exp(np.fmod(x, 10.0)).sum(),
                    x0=np.ones(3))  # a numpy ufunc with no F twin: the tracer cannot follow it
    oracle = Oracle(plain)
    assert oracle.f(np.zeros(3)) == 3.0 and oracle.f(np.zeros(3)) == 3.0
    assert oracle._jitted is None and oracle.counts.nfev == 2 and oracle.jit_mode.startswith("eager: not traceable")


# ----------------------------------------------------------------------------------------------
# Large arrays: the program frees its dead temporaries, so its peak memory is no worse than eager's.

@pytest.mark.parametrize("name", ["extended_rosenbrock", "extended_powell", "penalty1", "trigonometric",
                                  "broyden_tridiagonal", "discrete_boundary_value"])
def test_replay_peak_memory_is_no_worse_than_eager_and_large_arrays_replay_bit_for_bit(name):
    import tracemalloc
    problem = optlab.problems.get(name, n=40_000)
    f, x, v = problem.objective, problem.x0 + 0.1, np.ones(40_000)
    for fn, args in ((value_and_grad(f), (x,)), (lambda a, b: hvp(f, a, b), (x, v))):
        jitted = jit(fn)
        jitted(*args)
        peaks = []
        for g in (fn, jitted):
            tracemalloc.start()
            out = g(*args)
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
            del out
        assert peaks[1] <= peaks[0], peaks
        other = tuple(a[::-1].copy() * 1.5 for a in args)  # in-place steps (large arrays only) replayed elsewhere
        assert_same(jitted(*other), fn(*other))
        assert_same(jitted(*args), fn(*args))


def test_scalar_powers_replay_as_eager_where_libm_pow_and_square_differ():
    # numpy's `0-d array ** 2` is np.square, `np.float64 ** 2` libm's pow: they differ in the last bit here
    x = np.array([-5.660169488668078, 1518.9675387121508, 0.37])
    assert np.float64(x[0]) ** 2 != np.array(x[0]) ** 2
    f = value_and_grad(lambda x: x[0] ** 2 + x[1] ** 2 * x[2] + x[2] ** 3 + F.sum(x ** 2))
    h = jit(lambda x, v: hvp(lambda y: x_cubed(y), x, v))
    jitted = jit(f)
    for point in (x[::-1].copy(), x):
        assert_same(jitted(point), f(point))
        assert_same(h(point, point), hvp(x_cubed, point, point))
    assert jitted.traces == 1


def x_cubed(x):
    return x[0] ** 3 + x[1] ** 2 * x[0]


# ----------------------------------------------------------------------------------------------
# The generated program's own rewrites (in-place ufuncs, folded negations and broadcasts, inlined matmuls):
# the bits of eager, signed zeros included, and the passes they save.

SIGNED = np.array([0.0, -0.0, 1.0, -1.0, 2.5, -3.0, 1e-300, -1e-300, 7.0, -0.0, 0.0, 0.5])


def same_bits(got, want, nan_signs=True):
    """Equal bit for bit; with nan_signs=False a NaN's sign (which operand order an instruction reads
    first decides, not the value) is not compared, its place is."""
    g, w = flatten(got)[0], flatten(want)[0]
    assert len(g) == len(w)
    for a, b in zip(g, w):
        a, b = np.asarray(a), np.asarray(b)
        if not nan_signs:
            assert a.shape == b.shape and np.array_equal(np.isnan(a), np.isnan(b)), (a, b)
            a, b = np.where(np.isnan(a), np.nan, a), np.where(np.isnan(b), np.nan, b)
        assert a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes(), (a, b)


def test_folded_negations_keep_the_bits_of_signed_zeros():
    n = 2048  # large enough for the in-place steps
    rng = np.random.default_rng(3)
    f = optlab.problems.get("extended_rosenbrock", n=n).objective
    h, vg = jit(lambda a, b: hvp(f, a, b)), jit(value_and_grad(f))
    for _ in range(4):
        x, v = rng.choice(SIGNED, n), rng.choice(SIGNED, n)
        same_bits(h(x, v), hvp(f, x, v))
        same_bits(vg(x), value_and_grad(f)(x))
    assert h.traces == 1 and vg.traces == 1


def test_mlp_program_is_lean_and_equals_eager_with_signed_zeros():
    rng = np.random.default_rng(4)
    x_in, y = rng.standard_normal((64, 8)), rng.standard_normal((64, 1))

    def loss(p):
        w1, b1, w2, b2 = p
        err = F.matmul(F.tanh(F.matmul(x_in, w1) + b1), w2) + b2 - y
        return F.mean(err * err)

    vg, h = jit(value_and_grad(loss)), jit(lambda p, v: hvp(loss, p, v))
    shapes = ((8, 32), (32,), (32, 1), (1,))
    for _ in range(3):
        p = tuple(rng.choice(SIGNED, s) for s in shapes)
        v = tuple(rng.choice(SIGNED, s) for s in shapes)
        same_bits(vg(p), value_and_grad(loss)(p))
        same_bits(h(p, v), hvp(loss, p, v))
    for program in (next(iter(vg.cache.values())).program, next(iter(h.cache.values())).program):
        # matmul_nt/tn inlined (no Python frame), no explicit broadcast of a bias, tanh in place
        assert "_broadcast_to" not in program.source and "keepdims=True" not in program.source
        assert all(not callable(v) or getattr(v, "__name__", "") != "<lambda>" for v in program.__globals__.values())
        assert "out=t" in program.source


def test_extended_rosenbrock_hvp_reads_each_slice_once_in_15_arithmetic_statements():
    f = optlab.problems.get("extended_rosenbrock", n=4096).objective
    h = jit(lambda a, b: hvp(f, a, b))
    h(np.ones(4096), np.ones(4096))
    source = next(iter(h.cache.values())).program.source
    lines = [line.strip() for line in source.splitlines()[1:]]
    # x[0::2] and x[1::2], v[0::2] and v[1::2]: one view each (slices are unhashable before Python 3.12)
    assert sum("= t0[" in line for line in lines) == 2 and sum("= t1[" in line for line in lines) == 2
    arithmetic = [line for line in lines if line.startswith("t") and "[" not in line
                  and any(op in line for op in (" * ", " + ", " - ", "= -", "*=", "+=", "-=", "out=", "_negative"))]
    assert len(arithmetic) <= 15, arithmetic  # 25 passes at the start of session 3, 12 in the hand-written hessp


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_number_operands_bound_as_0d_arrays_of_the_operand_dtype_keep_eager_bits(dtype):
    # in float64, 2.0 and 3 are bound as 0-d float64 arrays; in float32 0.1 and np.float64 stay as they
    # are (0.1 rounds there, np.float64 promotes): either way the result's dtype and bits are eager's
    def f(x):
        return F.sum(F.sin(2.0 * x - 3) * np.float64(5 ** 0.5) + 0.1 * x * x)

    h = jit(lambda a, b: hvp(f, a, b))
    vg = jit(value_and_grad(f))
    rng = np.random.default_rng(8)
    for _ in range(3):
        x = np.concatenate([rng.choice(SIGNED, 8), rng.standard_normal(12)]).astype(dtype)
        v = rng.standard_normal(20).astype(dtype)
        same_bits(vg(x), value_and_grad(f)(x))
        same_bits(h(x, v), hvp(f, x, v))
    consts = [c for k, c in next(iter(h.cache.values())).program.__globals__.items()
              if k[0] == "c" and isinstance(c, np.ndarray) and c.ndim == 0]
    if dtype is np.float64:
        assert any(c == 2.0 for c in consts) and any(c == 3.0 for c in consts)


def test_hot_entry_checks_structure_shape_and_dtype_before_replaying():
    # the most recent program's entry takes fn's own arguments; any other structure, shape or dtype misses
    # it, harmlessly: the general path finds (or traces) the program for that call
    g = value_and_grad(lambda p: F.sum(p[0] * p[1] ** 2))
    jitted = jit(g)
    rng = np.random.default_rng(9)
    a, b = rng.standard_normal(3), rng.standard_normal(3)
    calls = [((a, b), 1), ([a, b], 2), ((a, b, a), 3), ((a.astype(np.float32), b.astype(np.float32)), 4),
             ((a[:2], b[:2]), 5), ((a, b), 5), ((b, a), 5), ([b, a], 5), ((a, b[:1]), 6)]
    for p, traces in calls:
        assert_same(jitted(p), g(p))
        assert jitted.traces == traces
    entry = next(iter(jitted.cache.values())).fast
    assert entry is not None and "raise _Miss" in entry.source
    import pickle
    p = pickle.loads(pickle.dumps((a, b[:1])))  # an equal dtype of another identity: the same program
    assert p[0].dtype is not a.dtype
    assert_same(jitted(p), g(p))
    assert_same(jitted(p), g(p))
    assert jitted.traces == 6


@pytest.mark.parametrize("name, n", [("trigonometric", 10), ("extended_powell", 12), ("penalty1", 10),
                                     ("extended_rosenbrock", 10), ("trigonometric", 1), ("penalty1", 1)])
def test_small_programs_keep_eager_bits_with_signed_zeros(name, n):
    # the rewrites of small programs (a vector's total as a numpy scalar, a one-element reshape broadcast
    # by the ufunc itself, strided slices' gradients written side by side) keep eager's bits, -0.0 included
    f = optlab.problems.get(name, n=n).objective
    vg, h = jit(value_and_grad(f)), jit(lambda a, b: hvp(f, a, b))
    rng = np.random.default_rng(10)
    for _ in range(6):
        x, v = rng.choice(SIGNED, n), rng.choice(SIGNED, n)
        same_bits(vg(x), value_and_grad(f)(x))
        same_bits(h(x, v), hvp(f, x, v))
        x, v = rng.standard_normal(n), rng.standard_normal(n)
        same_bits(vg(x), value_and_grad(f)(x))
        same_bits(h(x, v), hvp(f, x, v))
    assert vg.traces == 1 and h.traces == 1
    for jitted in (vg, h):
        source = next(iter(jitted.cache.values())).program.source
        assert "_reshape(" not in source and "keepdims=True).reshape" not in source, source


@pytest.mark.parametrize("scale", [1, 8])  # Python floats (at most 16 elements), numpy
@pytest.mark.parametrize("pieces, n", [((slice(0, None, 3), slice(1, None, 3), slice(2, None, 3)), 9),
                                       ((slice(0, None, 4), slice(2, None, 4)), 8),  # gaps: zeros stay
                                       ((slice(0, 3), slice(1, 4), 5), 6)])  # overlapping: added up
def test_gradients_of_several_slices_written_side_by_side_keep_eager_signed_zeros(pieces, n, scale):
    # eager places the first slice's gradient in zeros and adds each later one to it: -0.0 stays -0.0 in
    # the first and is +0.0 in the others (0.0 + -0.0); the program writes disjoint ones side by side
    n *= scale
    rng = np.random.default_rng(11)
    weights = [rng.choice(np.array([-0.0, 0.0, -1.5, 2.0]), np.zeros(n)[p].shape) for p in pieces]
    for w in weights:
        w[...] = np.where(np.arange(w.size) == 0, -0.0, w).reshape(w.shape)  # a -0.0 in every piece
    f = value_and_grad(lambda x: sum_of([F.sum(F.sin(x[p]) * w) for p, w in zip(pieces, weights)]))
    jitted = jit(f)
    for _ in range(4):
        x = rng.choice(SIGNED, n)
        same_bits(jitted(x), f(x))
    g = f(np.ones(n))[1]  # the case is exercised: a -0.0 kept (the first slice) and one made +0.0
    assert np.signbit(g[g == 0.0]).any() and not np.signbit(g[g == 0.0]).all()
    source = next(iter(jitted.cache.values())).program.source
    disjoint = pieces[0] != slice(0, 3)
    if scale == 1:
        assert ".tolist()" in source and "_add_reduce" not in source and "_zeros" not in source
        return
    assert ("+= c" in source and "[c" in source and "] +=" not in source) == disjoint, source
    assert ("_empty(" in source) == (len(pieces) == 3 and disjoint)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 9, 15, 16, 17])
def test_small_totals_in_python_floats_add_as_numpy_does(n):
    # totals of small float64 vectors (and sums of products) are written out in Python floats in numpy's
    # pairwise order: at magnitudes spread over 16 decades any other order differs in the last bits
    def f(x, y):
        return F.sum(x) * 3.0 + F.sum(x * x) + F.sum(x * y) - F.sum(F.sin(y)) + F.sum(x * 2.0)

    vg = jit(value_and_grad(f, argnums=(0, 1)))
    h = jit(lambda a, b: hvp(lambda z: f(z, b), a, b))
    rng = np.random.default_rng(12)
    orders = 0
    for trial in range(40):
        x, y = (rng.standard_normal(n) * 10.0 ** rng.integers(-8, 8, n) for _ in range(2))
        if trial % 4 == 3:
            x[rng.integers(0, n)] = rng.choice([np.inf, -np.inf, np.nan, -0.0])
            y[:] = rng.choice(SIGNED, n)
        same_bits(vg(x, y), value_and_grad(f, argnums=(0, 1))(x, y))
        same_bits(h(x, y), hvp(lambda z: f(z, y), x, y))
        # the order matters (3 terms and more); not builtin sum, which compensates from Python 3.12 on
        orders += n > 2 and np.add.reduce(x) != functools.reduce(operator.add, x.tolist()[::-1])
    assert vg.traces == 1 and h.traces == 1
    assert orders > 5 or n <= 2
    same_bits(vg(-np.zeros(n), -np.zeros(n)), value_and_grad(f, argnums=(0, 1))(-np.zeros(n), -np.zeros(n)))
    source = next(iter(vg.cache.values())).program.source
    assert (".tolist()" in source) == (n <= 16) and ("_add_reduce" in source) == (n > 16)


def test_small_vectors_computed_in_python_floats_keep_eager_bits():
    # vectors of at most 16 float64 elements (and 0-d values) are held as Python floats, one per element:
    # every rule of that layer (arithmetic with numbers, constant vectors and broadcast scalars, squares,
    # views, totals, getitem's gradients at overlapping and negative-step indices, then numpy code such
    # as sin and matmul reading the values as arrays) gives eager's bits, signed zeros, infinities and NaN
    w = np.array([1.5, -0.0, 3.0, -2.0, 0.25])

    def f(x):
        a, b = x[0:5], x[::-1][0:5]
        y = (a - 2) * b + w * a ** 2 - (-a) + x[3] * 3.0 + F.reshape(x[6], (1,)) * 0.5
        z = F.sin(y) + F.broadcast_to(F.sum(x[1:4]), (5,)) - x[-1]
        return F.sum(z * y) + F.sum(F.matmul(F.reshape(x[:4], (2, 2)), F.reshape(y[:4], (2, 2)))) + x[2] * x[2]

    vg, h = jit(value_and_grad(f)), jit(lambda a, b: hvp(f, a, b))
    rng = np.random.default_rng(13)
    for trial in range(12):
        x, v = rng.standard_normal(9) * 10.0 ** rng.integers(-5, 5, 9), rng.choice(SIGNED, 9)
        if trial % 3 == 2:
            x = rng.choice(np.concatenate([SIGNED, [np.inf, -np.inf, np.nan]]), 9)
        with np.errstate(all="ignore"):
            same_bits(vg(x), value_and_grad(f)(x), nan_signs=trial % 3 != 2)
            same_bits(h(x, v), hvp(f, x, v), nan_signs=trial % 3 != 2)
    assert vg.traces == 1 and h.traces == 1
    for jitted in (vg, h):
        source = next(iter(jitted.cache.values())).program.source
        assert "t0.tolist()" in source and "_matmul(" in source and "= _array([" in source


def test_constant_float32_gradients_under_float64_constants_jit_as_eager():
    # a float32 input met by a float64 constant: the gradient is cast to float32; where it does not depend on x
    # (a linear f, a quadratic's Hessian) the cast copy must keep the level it was made at, or jit takes it for a
    # closed-over Variable and refuses (found by a new user's try: JitError on a float32 quadratic's Hessian)
    c, A = np.array([1.0, 2.0, -0.5]), np.array([[3.0, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 1.0]])
    x = np.array([0.5, 1.2, 2.0], dtype=np.float32)
    for f, expected in ((lambda v: F.sum(v * c), c), (lambda v: F.sum(v * np.float64(2.0)), np.full(3, 2.0)),
                        (lambda v: np.sum(v / np.full(3, 2.0)), np.full(3, 0.5))):
        jitted = jit(grad(f))
        for point in (x, x * 3):
            got = jitted(point)
            assert got.dtype == np.float32 and np.array_equal(got, expected.astype(np.float32))
        assert jitted.traces == 1
    h = jit(hessian(lambda v: v @ A @ v))(x)
    assert h.dtype == np.float32 and np.array_equal(h, (A + A.T).astype(np.float32))
    vg = jit(value_and_grad(lambda v: F.sum(v * c)))(x)
    assert vg[1].dtype == np.float32 and np.array_equal(vg[1], c.astype(np.float32))
