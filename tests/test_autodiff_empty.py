"""Reductions and softmax over zero-size axes: the values numpy gives (nan for a mean over nothing, an empty
softmax), and empty gradients, as JAX gives them, instead of a ZeroDivisionError or a ValueError."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import optlab.autodiff.functions as F
from optlab.autodiff import Variable, grad


@pytest.mark.parametrize("shape, axis", [((0,), None), ((2, 0), 1), ((2, 0), 0), ((0, 3), None), ((0, 3), 1)])
def test_mean_over_nothing_is_numpys_nan_and_its_gradient_is_empty(shape, axis) -> None:
    x = np.zeros(shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = np.mean(x, axis=axis)
    got = F.mean(Variable(x), axis=axis).data
    np.testing.assert_array_equal(got, want)
    g = grad(lambda v: F.sum(F.mean(v, axis=axis) * 0.0) + F.sum(v))(x)
    assert g.shape == shape and g.dtype == x.dtype


@pytest.mark.parametrize("shape", [(0,), (2, 0)])
def test_softmax_over_an_empty_axis_is_empty(shape) -> None:
    x = np.zeros(shape)
    assert F.softmax(Variable(x)).data.shape == shape
    assert F.log_softmax(Variable(x)).data.shape == shape
    assert grad(lambda v: F.sum(F.softmax(v)))(x).shape == shape
