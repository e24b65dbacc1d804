"""jit of a function that closes over a Variable (an outer transform's input, or a leaf the user will
backward to): the derivative through the closure must not be dropped silently. Eager gives the values
below, and so does JAX (jax.grad(lambda s: jax.jit(lambda x: jnp.sum(x * s))(jnp.ones(2)))(2.0) == 2.0:
a closed-over tracer is lifted, not frozen); jit's result must equal eager's, or refuse in one line as
it refuses a Variable passed as an argument. jit refuses: its replays return bare arrays, which carry no
path back to the closed-over Variable (docs/architecture.md, "jit")."""
from __future__ import annotations

import numpy as np
import pytest

import optlab.autodiff.functions as F
from optlab.autodiff import Variable, grad, hvp, jit, no_grad
from optlab.autodiff.jit import JitError

CLOSES_OVER = "depends on a Variable it closes over"


def inner_sum(s):
    return lambda x: F.sum(x * s)


def test_eager_reference_values() -> None:
    """What a jit that carried the closure would have to give: d/ds sum(s * 1) = 2, d2/ds2 sum(s^2 * 1) = 4."""
    assert grad(lambda s: inner_sum(s)(np.ones(2)))(2.0) == 2.0
    assert hvp(lambda s: inner_sum(s * s)(np.ones(2)), np.array(2.0), np.array(1.0)) == 4.0


def test_grad_through_a_jitted_closure_over_the_traced_input_is_refused() -> None:
    with pytest.raises(JitError, match=CLOSES_OVER):
        grad(lambda s: jit(inner_sum(s))(np.ones(2)))(2.0)


def test_hvp_through_a_jitted_closure_over_the_traced_input_is_refused() -> None:
    with pytest.raises(JitError, match=CLOSES_OVER):
        hvp(lambda s: jit(inner_sum(s * s))(np.ones(2)), np.array(2.0), np.array(1.0))


def test_a_jitted_closure_over_a_leaf_is_refused_and_its_gradient_is_not_lost() -> None:
    w = Variable(np.array(2.0))
    with pytest.raises(JitError, match=CLOSES_OVER):
        jit(inner_sum(w))(np.ones(2))
    y = inner_sum(w)(np.ones(2))  # what the message says to do: without jit, the gradient is there
    y.backward()
    assert w.grad.data == 2.0


def test_a_closure_over_a_constant_still_jits() -> None:
    """No path to keep: under no_grad, or over a plain array, or a Variable made inside fn."""
    w = Variable(np.array(2.0))
    with no_grad():
        assert jit(inner_sum(w))(np.ones(2)) == 4.0
    f = jit(inner_sum(np.array(3.0)))
    assert f(np.ones(2)) == 6.0 and f(np.full(2, 2.0)) == 12.0 and f.traces == 1
    g = jit(lambda x: F.sum(x * Variable(np.array(5.0))))
    assert g(np.ones(2)) == 10.0 and g(np.full(2, 2.0)) == 20.0
    np.testing.assert_array_equal(jit(grad(lambda x: F.sum(x * x * Variable(np.array(5.0)))))(np.ones(2)), [10.0, 10.0])
