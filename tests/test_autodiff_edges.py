"""The edges of the numerics, as JAX defines them (JAX computes the reference in each test), and the
conventions chosen where it does not: pow, sqrt, log and norm at 0, ties, where with non-finite branches,
gradient dtypes, comparisons, clip's keywords, VJP-less primitives, 0-d reductions, numpy on Variables."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import optlab.autodiff.functions as F
from optlab.autodiff import Variable, grad, gradients, hvp, jvp

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def same(got, want) -> None:
    np.testing.assert_array_equal(np.asarray(got, dtype=float), np.asarray(want, dtype=float))


@pytest.mark.parametrize("c", [0, 1, 2, 0.5, 3])
def test_power_of_x_at_zero(c) -> None:
    """d/dx x ** c at 0: 0, 1, 0, inf, 0 (JAX's integer powers for integer c), and second derivatives."""
    f = lambda x: x ** float(c)  # noqa: E731  (ours: a float exponent, same rule)
    g = lambda x: x ** c  # noqa: E731
    same(grad(f)(0.0), jax.grad(g)(0.0))
    same(grad(grad(f))(0.0), jax.grad(jax.grad(g))(0.0))
    same(jvp(f, 0.0, 1.0)[1], jax.jvp(g, (0.0,), (1.0,))[1])


def test_zero_to_the_y() -> None:
    for y in (0.0, 1.0, 2.0, 0.5):
        same(grad(lambda t: 0.0 ** t)(y), jax.grad(lambda t: 0.0 ** t)(y))
        same(grad(lambda t: F.sum(np.zeros(2) ** t))(y), 0.0)
    same(grad(lambda a, b: a ** b, argnums=(0, 1))(0.0, 2.0), jax.grad(lambda a, b: a ** b, argnums=(0, 1))(0.0, 2.0))
    # 0 ** 0 with both free: 1; slope 0 in x (the integer-power convention, as HIPS and torch), 0 in y as JAX
    same(grad(lambda a, b: a ** b, argnums=(0, 1))(0.0, 0.0), (0.0, 0.0))
    same(grad(grad(lambda a: a ** 2.0))(0.0), 2.0)


@pytest.mark.parametrize("name, ours, ref, x", [
    ("sqrt at 0", F.sqrt, jnp.sqrt, 0.0),
    ("log at 0", F.log, jnp.log, 0.0),
    ("abs at 0", F.abs, jnp.abs, 0.0),
    ("relu at 0", F.relu, jax.nn.relu, 0.0),
    ("norm at 0", lambda x: F.norm(x), lambda x: jnp.linalg.norm(x), np.zeros(3)),
    ("max ties", F.max, jnp.max, np.array([1.0, 3.0, 3.0])),
    ("min ties", F.min, jnp.min, np.array([1.0, 1.0, 3.0, 2.0])),
    ("max ties, axis", lambda x: F.sum(F.max(x, axis=0)), lambda x: jnp.sum(jnp.max(x, axis=0)),
     np.array([[1.0, 2.0], [1.0, 0.0]])),
    ("maximum tie", lambda x: F.maximum(x, 1.0), lambda x: jnp.maximum(x, 1.0), 1.0),
    ("minimum tie", lambda x: F.minimum(1.0, x), lambda x: jnp.minimum(1.0, x), 1.0),
    ("where, log of the unselected 0", lambda x: F.where(x > 0, F.log(x), 0.0),
     lambda x: jnp.where(x > 0, jnp.log(x), 0.0), 0.0),
    ("where, unselected log finite", lambda x: F.where(x > 0, x, F.log(x)),
     lambda x: jnp.where(x > 0, x, jnp.log(x)), 1.0),
    ("where, inf branch unselected", lambda x: F.sum(F.where(x > 1, F.sqrt(x), x)),
     lambda x: jnp.sum(jnp.where(x > 1, jnp.sqrt(x), x)), np.array([0.0, 4.0])),
    ("sum of squares under sqrt at 0", lambda x: F.sqrt(F.sum(x * x)), lambda x: jnp.sqrt(jnp.sum(x * x)), np.zeros(2)),
])
def test_edges_match_jax(name, ours, ref, x) -> None:
    f = (lambda v: F.sum(ours(v))) if np.ndim(x) else ours
    same(grad(f)(x), jax.grad(lambda v: jnp.sum(ref(v)))(jnp.asarray(x)))


def test_maximum_loser_gets_zero_not_nan() -> None:
    """sqrt(maximum(x, y)) at x = 0 > y: the slope is inf; x gets it, y gets exactly 0, by selection
    (JAX multiplies by a mask here, so 0 * inf gives it nan: the one place we choose otherwise)."""
    gx, gy = grad(lambda a, b: F.sqrt(F.maximum(a, b)), argnums=(0, 1))(0.0, -1.0)
    assert gy == 0.0 and gx == np.inf
    assert grad(lambda x: F.sqrt(F.maximum(x, x - 1.0)))(0.0) == np.inf
    assert grad(lambda x: F.sqrt(F.relu(x)))(0.0) == 0.0


# ----------------------------------------------------------------------------------------------
# dtypes

def test_float32_input_with_float64_constant_gets_a_float32_gradient() -> None:
    x32 = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    c64 = np.array([1.0, 2.0, 3.0])
    f = lambda x: F.sum(F.sin(x) * c64)  # noqa: E731  (the product is float64)
    g = grad(f)(x32)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, np.cos(x32.astype(float)) * c64, rtol=1e-6)
    x = Variable(x32)
    f(x).backward()
    assert x.grad.dtype == np.float32
    (gv,) = gradients(f(x), [x])
    assert gv.dtype == np.float32
    assert hvp(f, x32, np.ones(3, np.float32)).dtype == np.float32
    (gc,) = gradients(f(x), [x], create_graph=True)  # recorded: cast differentiably
    assert gc.dtype == np.float32
    (h,) = gradients(F.sum(gc), [x])
    assert h.dtype == np.float32
    np.testing.assert_allclose(h.data, -np.sin(x32.astype(float)) * c64, rtol=1e-6)


# ----------------------------------------------------------------------------------------------
# Comparisons, clip, VJP-less primitives, 0-d reductions

def test_comparisons_return_boolean_arrays_as_numpy() -> None:
    a, b = np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0])
    x, y = Variable(a), Variable(b)
    for op in ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"):
        for other in (y, b, 2.0):
            got = getattr(x, op)(other)
            want = getattr(a, op)(other.data if isinstance(other, Variable) else other)
            assert isinstance(got, np.ndarray) and got.dtype == bool
            np.testing.assert_array_equal(got, want)
    assert np.sum(x == y) == 1
    assert (2.0 < x).tolist() == [False, False, True]
    assert len({x, y}) == 2  # still hashable, by identity


def test_clip_keywords_backward() -> None:
    x = np.array([-2.0, -0.5, 0.5, 2.0])
    np.testing.assert_array_equal(grad(lambda v: F.sum(F.clip(v, a_min=-1.0, a_max=1.0)))(x), [0, 1, 1, 0])
    np.testing.assert_array_equal(grad(lambda v: F.sum(F.clip(v, a_min=0.0)))(x), [0, 0, 1, 1])
    np.testing.assert_array_equal(grad(lambda v: F.sum(F.clip(v, a_max=0.0)))(x), [1, 1, 0, 0])
    np.testing.assert_array_equal(jax.grad(lambda v: jnp.sum(jnp.clip(v, -1.0, 1.0)))(x), [0, 1, 1, 0])


def test_primitive_without_vjp_gives_zero_gradient() -> None:
    floor = F.primitive("floor", np.floor, None)
    x = np.array([0.3, 1.7])
    np.testing.assert_array_equal(grad(lambda v: F.sum(floor(v) * v))(x), np.floor(x))
    np.testing.assert_array_equal(grad(lambda v: F.sum(floor(v)))(x), [0.0, 0.0])


@pytest.mark.parametrize("reduce", [F.sum, F.max, F.min, F.mean, F.logsumexp, F.prod, F.cumsum])
@pytest.mark.parametrize("axis", [0, -1, None])
def test_zero_dimensional_reductions_over_axis(reduce, axis) -> None:
    """numpy allows axis 0 and -1 on a 0-d array (cumsum's result then has shape (1,), as numpy's)."""
    x0 = np.array(2.0)
    assert reduce(Variable(x0), axis=axis).shape == ((1,) if reduce is F.cumsum else ())
    assert grad(lambda v: F.sum(reduce(v * 3.0, axis=axis)))(x0) == 3.0
    assert grad(lambda v: F.sum(reduce(v * v, axis=axis)))(x0) == 4.0


def test_numpy_functions_on_a_variable_dispatch_to_F() -> None:
    x0 = np.array([1.0, -2.0, 3.0])
    np.testing.assert_allclose(grad(lambda v: np.sum(v ** 2))(x0), 2 * x0)
    np.testing.assert_allclose(grad(lambda v: np.mean(v * v))(x0), 2 * x0 / 3)
    np.testing.assert_allclose(grad(lambda v: np.max(v))(x0), [0, 0, 1])
    np.testing.assert_allclose(grad(lambda v: np.linalg.norm(v))(x0), x0 / np.linalg.norm(x0))
    np.testing.assert_allclose(grad(lambda v: np.sum(np.concatenate([v, 2 * v])))(x0), [3, 3, 3])
    assert np.shape(Variable(x0)) == (3,)
    with pytest.raises(TypeError, match="numpy.nanmedian was called on a Variable"):
        np.nanmedian(Variable(x0))
    with pytest.raises(TypeError, match=r"numpy.lstsq was called on a Variable; call F.lstsq instead"):
        np.linalg.lstsq(Variable(np.eye(3)), x0)  # F's namesake returns the solution only
