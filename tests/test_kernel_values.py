"""Known derivatives: the sin cycle, double backprop, the Rosenbrock Hessian."""
import numpy as np
import pytest

import optlab.autodiff.functions as F
from optlab.autodiff import Variable, grad, hessian


def test_sin_derivative_cycle_to_order_5():
    expected = [np.cos(1), -np.sin(1), -np.cos(1), np.sin(1), np.cos(1)]
    x = Variable(np.array(1.0))
    y = F.sin(x)
    for order, want in enumerate(expected, start=1):
        x.cleargrad()
        y.backward(create_graph=True)
        y = x.grad
        assert y.data == pytest.approx(want, abs=1e-15), f"order {order}"


def test_nested_grad_matches_sin_cycle():
    d = F.sin
    for want in [np.cos(1), -np.sin(1), -np.cos(1), np.sin(1), np.cos(1)]:
        d = grad(d)
        assert d(np.array(1.0)) == pytest.approx(want, abs=1e-15)


def test_double_backprop_z_equals_100():
    x = Variable(np.array(2.0))
    y = x ** 2
    y.backward(create_graph=True)
    gx = x.grad
    x.cleargrad()
    z = gx ** 3 + y
    z.backward()
    assert x.grad.data == 100.0


def test_rosenbrock_hessian_at_minimum():
    def rosen(x):
        return F.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    np.testing.assert_array_equal(hessian(rosen)(np.array([1.0, 1.0])), [[802.0, -400.0], [-400.0, 200.0]])


# The backward pass's shortcuts (a sum's seed scaled as one broadcast value; a slice's gradient written
# into zeros only around it) against the derivatives written by hand, for every entry point.

def rosen_np_style(x):
    return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()


def rosen_grad_by_hand(x):
    g = np.zeros_like(x)
    r = x[1:] - x[:-1] ** 2
    g[1:] += 200.0 * r
    g[:-1] += -400.0 * x[:-1] * r - 2.0 * (1.0 - x[:-1])
    return g


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gradients_through_scaled_seeds_and_slices_are_the_hand_written_ones_and_writable(dtype):
    from optlab.autodiff import hvp, jit, value_and_grad
    x0 = np.random.default_rng(5).uniform(-1.0, 1.0, 3000).astype(dtype)
    want = rosen_grad_by_hand(x0.astype(np.float64))
    tol = 1e-12 if dtype == np.float64 else 1e-3
    v = Variable(x0)
    rosen_np_style(v).backward()
    outs = {"grad": grad(rosen_np_style)(x0), "backward": v.grad.data,
            "jit": jit(value_and_grad(rosen_np_style))(x0)[1]}
    for name, g in outs.items():
        assert g.dtype == dtype and g.flags.writeable and g.flags.owndata, name
        np.testing.assert_allclose(g, want, rtol=tol, atol=tol, err_msg=name)
    scaled = grad(lambda x: 3.0 * F.sum(x ** 2) + F.sum(x[2:5]) + F.sum(x[:0]))(x0)  # an empty slice too
    hand = 6.0 * x0.astype(np.float64)
    hand[2:5] += 1.0
    assert scaled.flags.writeable and scaled.dtype == dtype
    np.testing.assert_allclose(scaled, hand, rtol=tol, atol=tol)
    e = np.zeros(3000, dtype)
    e[7] = 1.0  # Hessian column 7 of the Rosenbrock function, by hand
    h = hvp(rosen_np_style, x0, e)
    col = np.zeros(3000)
    x = x0.astype(np.float64)
    col[6], col[7], col[8] = -400.0 * x[6], 1200.0 * x[7] ** 2 - 400.0 * x[8] + 2.0 + 200.0, -400.0 * x[7]
    np.testing.assert_allclose(h, col, rtol=tol, atol=tol * 1e3)
