"""A user's class-based Function, written as DeZero's tutorial writes one: backward of a one-input
function returns its gradient bare, not in a tuple."""
from __future__ import annotations

import numpy as np

import optlab.autodiff.functions as F
from optlab.autodiff import Function, Variable, grad


class Square(Function):
    def forward(self, x):
        return x * x

    def backward(self, gy, y, x):
        return gy * 2 * x  # bare, as DeZero's Square.backward


class SquareTuple(Square):
    def backward(self, gy, y, x):
        return (gy * 2 * x,)


X = np.array([0.3, 1.0, -2.0])


def test_a_one_input_function_returning_a_tuple_gets_its_gradient() -> None:
    np.testing.assert_array_equal(grad(lambda x: F.sum(SquareTuple()(x)))(X), 2 * X)


def test_a_one_input_function_returning_its_gradient_bare_gets_it() -> None:
    x = Variable(X.copy())
    F.sum(Square()(x)).backward()
    np.testing.assert_array_equal(x.grad.data, 2 * X)
    np.testing.assert_array_equal(grad(lambda v: F.sum(Square()(v)))(X), 2 * X)
    # and its second derivative through create_graph: d/dx sum(2x) = 2
    x = Variable(X.copy())
    F.sum(Square()(x)).backward(create_graph=True)
    g = x.grad
    x.cleargrad()
    F.sum(g).backward()
    np.testing.assert_array_equal(x.grad.data, np.full(3, 2.0))
