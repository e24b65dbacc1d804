"""jit of a function that closes over a Variable (an outer transform's input, or a leaf the user will
backward to): the derivative through the closure must not be dropped silently. Eager gives the values
below, and so does JAX (jax.grad(lambda s: jax.jit(lambda x: jnp.sum(x * s))(jnp.ones(2)))(2.0) == 2.0:
a closed-over tracer is lifted, not frozen); jit's result must equal eager's, or refuse in one line as
it refuses a Variable passed as an argument."""
from __future__ import annotations

import numpy as np
import pytest

import optlab.autodiff.functions as F
from optlab.autodiff import Variable, grad, hvp, jit

REASON = ("jit traces a closure over a Variable as a constant and returns a bare array: the outer "
          "derivative through it is silently 0 (optlab/autodiff/jit.py, another helper's file)")


def inner_sum(s):
    return lambda x: F.sum(x * s)


def test_eager_reference_values() -> None:
    """The values the jitted forms below must match: d/ds sum(s * 1) = 2, d2/ds2 sum(s^2 * 1) = 4."""
    assert grad(lambda s: inner_sum(s)(np.ones(2)))(2.0) == 2.0
    assert hvp(lambda s: inner_sum(s * s)(np.ones(2)), np.array(2.0), np.array(1.0)) == 4.0


@pytest.mark.xfail(strict=True, reason=REASON)
def test_grad_through_a_jitted_closure_over_the_traced_input() -> None:
    assert grad(lambda s: jit(inner_sum(s))(np.ones(2)))(2.0) == 2.0


@pytest.mark.xfail(strict=True, reason=REASON)
def test_hvp_through_a_jitted_closure_over_the_traced_input() -> None:
    assert hvp(lambda s: jit(inner_sum(s * s))(np.ones(2)), np.array(2.0), np.array(1.0)) == 4.0


@pytest.mark.xfail(strict=True, reason=REASON)
def test_backward_to_a_leaf_the_jitted_function_closes_over() -> None:
    w = Variable(np.array(2.0))
    y = jit(inner_sum(w))(np.ones(2))
    y.backward()
    assert w.grad is not None and w.grad.data == 2.0
