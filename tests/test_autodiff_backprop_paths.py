"""Backprop's shortcuts (getitem gradients added into a buffer or onto an existing gradient, the mT
primitive) give the same derivatives as the plain path, at every order."""
import numpy as np
import pytest

import optlab.autodiff.functions as F
from optlab.autodiff import Function, Variable, grad, gradcheck, gradgradcheck, gradients, hvp

rng = np.random.default_rng(11)


def many_slices(x):
    """x indexed several times (basic, strided, advanced with repeats): gradients meet at x."""
    return F.sum(x[1:] * x[:-1] ** 2) + F.sum(x[::2] ** 3) + F.sum(F.sin(x[[0, 0, 2]])) + x[3] * x[1]


@pytest.mark.parametrize("f", [many_slices, lambda x: F.sum(F.matmul(F.reshape(x[:6], (2, 3)),
                                                                       F.reshape(x[1:7], (3, 2))) ** 2)])
def test_gradients_of_every_order(f):
    x0 = rng.standard_normal(8)
    assert gradcheck(f, x0)
    assert gradgradcheck(f, x0)
    # second derivatives of |grad f|^2 are third derivatives of f: nested transforms, every shortcut
    assert gradgradcheck(lambda x: F.sum(grad(f)(x) ** 2), x0)


def test_hvp_matches_hessian_of_many_slices():
    x0, v = rng.standard_normal(8), rng.standard_normal(8)
    eps = 1e-6
    fd = (grad(many_slices)(x0 + eps * v) - grad(many_slices)(x0 - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hvp(many_slices, x0, v), fd, rtol=1e-6, atol=1e-6)


def test_index_add_keeps_a_float32_gradient_float32_and_raw_matches_graph():
    x = Variable(rng.standard_normal(5).astype(np.float32))
    (g_raw,) = gradients(F.sum(x[1:] * 2.0) + F.sum(x[:3]), [x])
    (g_graph,) = gradients(F.sum(x[1:] * 2.0) + F.sum(x[:3]), [x], create_graph=True)
    assert g_raw.dtype == g_graph.dtype == np.float32
    np.testing.assert_array_equal(g_raw.data, g_graph.data)
    np.testing.assert_array_equal(g_raw.data, [1.0, 3.0, 3.0, 2.0, 2.0])


def test_mT_is_its_own_vjp():
    a = rng.standard_normal((2, 3, 4))
    assert gradgradcheck(lambda x: F.sum(F.matmul(x, x.transpose(0, 2, 1)) ** 2), a)


def test_gradients_walks_only_functions_that_lead_to_an_input():
    """An input made inside the graph has a history behind it with functions young enough to pass the
    generation bound; backprop must not run their VJPs (here one would raise)."""
    class NoBackward(Function):
        def forward(self, x):
            return x * 1.0

        def backward(self, gy, y, x):
            raise AssertionError("backward ran through a function that leads to no input")

    x = Variable(np.array([0.5, 2.0]))
    p1 = NoBackward()(F.sin(F.sin(x)))  # generation 3, its history does not lead to p2
    p2 = x * 3.0  # generation 1: the bound lets everything from generation 1 on through
    y = F.sum(p1 * p2)
    g1, g2 = gradients(y, [p1, p2])
    np.testing.assert_allclose(g1.data, p2.data, rtol=1e-15)
    np.testing.assert_allclose(g2.data, p1.data, rtol=1e-15)
