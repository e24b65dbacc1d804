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
