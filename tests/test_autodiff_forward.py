"""Forward mode: every function's JVP rules against finite differences and against reverse mode, and
`jvp` on Duals agreeing with the double-VJP trick it falls back to."""
import numpy as np
import pytest
from test_autodiff_functions import CASES

import optlab.autodiff.functions as F
from optlab.autodiff import Function, Variable, grad, gradients, hvp, jacobian, jvp
from optlab.autodiff.core import Dual, MixedModesError

rng = np.random.default_rng(2024)


def forward_mode(f, xs, ts):
    """f's output and its tangent, with input i moving along ts[i]."""
    y = f(*[Dual(x, t) for x, t in zip(xs, ts)])
    return y.data, (np.zeros_like(y.data) if y.tangent is None else y.tangent)


@pytest.mark.parametrize("name, f, ref, inputs", CASES)
def test_jvp_rules_match_central_differences(name, f, ref, inputs):
    ts = [rng.standard_normal(np.shape(x)) for x in inputs]
    y, ty = forward_mode(f, inputs, ts)
    np.testing.assert_allclose(y, ref(*inputs), rtol=1e-12, atol=1e-12)
    eps = 1e-6
    plus = ref(*[x + eps * t for x, t in zip(inputs, ts)])
    minus = ref(*[x - eps * t for x, t in zip(inputs, ts)])
    np.testing.assert_allclose(ty, (plus - minus) / (2 * eps), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name, f, ref, inputs", CASES)
def test_jvp_rules_are_the_transpose_of_the_vjps(name, f, ref, inputs):
    """<u, J t> from forward mode equals <J^T u, t> from reverse mode, to rounding: the dot-product test."""
    ts = [rng.standard_normal(np.shape(x)) for x in inputs]
    y, ty = forward_mode(f, inputs, ts)
    u = rng.standard_normal(np.shape(y))
    xs = [Variable(x) for x in inputs]
    gs = gradients(f(*xs), xs, grad=u)
    reverse = sum(float(np.sum(g.data * t)) for g, t in zip(gs, ts) if g is not None)
    forward = float(np.sum(u * ty))
    assert forward == pytest.approx(reverse, rel=1e-10, abs=1e-12)


def test_sin_tangent_is_cos():
    y, t = jvp(F.sin, np.array([1.0, 2.0]), np.array([1.0, 3.0]))
    np.testing.assert_array_equal(y, np.sin([1.0, 2.0]))
    np.testing.assert_allclose(t, [np.cos(1.0), 3.0 * np.cos(2.0)], rtol=1e-15)


def test_jvp_equals_jacobian_times_v_for_a_network():
    w, x0, v = rng.standard_normal((3, 4)), rng.standard_normal(3), rng.standard_normal(3)
    f = lambda x: F.tanh(F.matmul(x, w)) * F.sum(x ** 2)  # noqa: E731
    np.testing.assert_allclose(jvp(f, x0, v)[1], jacobian(f)(x0) @ v, rtol=1e-12, atol=1e-14)


def test_jvp_of_grad_falls_back_to_reverse_mode_and_equals_hvp():
    def rosen(x):
        return F.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    v = np.array([1.0, -2.0])
    _, hv = jvp(grad(rosen), np.array([1.0, 1.0]), v)  # grad inside meets the Dual: reverse mode instead
    np.testing.assert_allclose(hv, np.array([[802.0, -400.0], [-400.0, 200.0]]) @ v, rtol=1e-14)
    np.testing.assert_allclose(hv, hvp(rosen, np.array([1.0, 1.0]), v), rtol=1e-14)


def test_a_function_without_jvp_rules_is_named_and_jvp_falls_back():
    class Cube(Function):
        def forward(self, x):
            return x ** 3

        def backward(self, gy, y, x):
            return [gy * 3.0 * x * x]

    with pytest.raises(NotImplementedError, match="Cube has no JVP rules"):
        Cube()(Dual(np.array([2.0]), np.array([1.0])))
    _, t = jvp(lambda x: Cube()(x), np.array([2.0, -1.0]), np.array([1.0, 2.0]))
    np.testing.assert_allclose(t, [12.0, 6.0], rtol=1e-15)


def test_reverse_mode_refuses_a_dual():
    d = Dual(np.array([1.0, 2.0]), np.ones(2))
    with pytest.raises(MixedModesError, match="gradients"):
        gradients(F.sum(d * d), [d])
    with pytest.raises(MixedModesError, match="backward"):
        F.sum(d * d).backward()


def test_float32_tangents_stay_float32():
    x, v = np.array([0.5, 1.5], dtype=np.float32), np.array([1.0, 1.0])
    y, t = jvp(lambda x: F.exp(x) * x, x, v)
    assert y.dtype == t.dtype == np.float32
    np.testing.assert_allclose(t, np.exp(x) * (x + 1.0), rtol=1e-6)


def test_jvp_result_is_a_private_array():
    v = np.array([1.0, 2.0])
    _, t = jvp(lambda x: x + 1.0, np.zeros(2), v)  # the tangent of x + 1 is v itself inside
    t *= 10.0
    np.testing.assert_array_equal(v, [1.0, 2.0])


def test_every_primitive_has_jvp_rules():
    from optlab.autodiff.functional import identity
    every = [getattr(F, n) for n in dir(F)]  # dir: with the ones built on first use (sigmoid, erf)
    prims = [obj for obj in [*every, identity] if hasattr(obj, "Function")]
    assert len(prims) >= 35
    missing = [p.__name__ for p in prims if not p.Function.jvps]
    assert not missing, missing
    assert F.Concatenate.jvp is not Function.jvp
