"""cutest.NAME against S2MPJ's own code: f, gradient and Hv at the start and at random points, rel. error <= 1e-10."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

import optlab
import optlab.problems
from optlab.autodiff import hvp, value_and_grad
from optlab.optim.oracle import Oracle
from optlab_plugins import cutest, s2mpj

NAMES = [name.split(".", 1)[1] for name in cutest.PROBLEMS]
needs_s2mpj = pytest.mark.skipif(not s2mpj.available(), reason=s2mpj.INSTALL_HINT)

# Small sizes: S2MPJ's Python is slow loop by loop. Each within what the SIF allows.
SIZES = {"n": 12, "m": 4, "p": 5, "ns": 3}
SPECIAL = {"NCB20B": {"n": 23}, "CURLY20": {"n": 25}, "VAREIGVL": {"n": 10, "m": 3}}


def small(name: str) -> dict[str, int]:
    if name in SPECIAL:
        return SPECIAL[name]
    size = next(k for k in inspect.signature(cutest.PROBLEMS[f"cutest.{name}"]).parameters if k in SIZES)
    return {size: SIZES[size]}


def relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(a) - b)) / max(np.max(np.abs(b)), 1e-300))


def test_the_44_problems_are_registered() -> None:
    assert len(NAMES) == 44
    assert set(NAMES) >= {"ARWHEAD", "WOODS", "SPMSRTLS", "DIXMAANL", "VAREIGVL"}
    assert all(f"cutest.{name}" in optlab.problems.names() for name in NAMES)


@needs_s2mpj
@pytest.mark.parametrize("name", NAMES)
def test_matches_s2mpj(name: str) -> None:
    params = small(name)
    ours = optlab.problems.get(f"cutest.{name}", **params)
    ref = optlab.problems.get(f"s2mpj.{name}", **params)
    assert ours.n == ref.n
    np.testing.assert_array_equal(ours.x0, ref.x0)
    rng = np.random.default_rng(sum(map(ord, name)))
    points = [ours.x0, ours.x0 + rng.uniform(-0.5, 0.5, ours.n), rng.uniform(0.3, 1.5, ours.n)]
    for x in points:
        v = rng.standard_normal(ours.n)
        f, g = value_and_grad(ours.objective)(x)
        f_ref, g_ref = ref.value_and_gradient(x)
        assert abs(f - f_ref) <= 1e-10 * max(abs(f_ref), 1e-300), (name, f, f_ref)
        assert relative(g, g_ref) <= 1e-10, name
        assert relative(hvp(ours.objective, x, v), ref.hvp(x, v)) <= 1e-10, name


@needs_s2mpj
@pytest.mark.parametrize("name", NAMES)
def test_default_size_and_start_match_s2mpj(name: str) -> None:
    """The defaults of the size parameters are S2MPJ's: the same n (read without building) and x0."""
    factory = cutest.PROBLEMS[f"cutest.{name}"]
    ref = s2mpj.problems()[f"s2mpj.{name}"]
    assert factory.n == ref.n
    if ref.n <= 1000:  # WOODS (4000) and SPMSRTLS (4999) take seconds to build in S2MPJ
        np.testing.assert_array_equal(factory().x0, ref().x0)


@pytest.mark.parametrize("name", NAMES)
def test_scales_to_large_n(name: str) -> None:
    """Any n: one f + gradient at 6000 to 10^4 variables is finite and matches f alone."""
    sizes = [k for k in small(name) if not (name == "VAREIGVL" and k == "m")]  # m is its band width
    params = {k: {"n": 10_000, "m": 3_334, "p": 100, "ns": 2_500}[k] for k in sizes}
    problem = cutest.PROBLEMS[f"cutest.{name}"](**params)
    assert problem.n >= 6_000
    oracle = Oracle(problem)
    value, g = oracle.f_and_grad(problem.x0)
    assert np.isfinite(value) and np.all(np.isfinite(g)) and g.shape == (problem.n,)
    assert oracle.f(problem.x0) == pytest.approx(value, rel=1e-12)


def test_known_minima_are_attained() -> None:
    """f* where the minimizer is known in closed form, at two sizes each."""
    at_ones = ["DIXON3DQ", "EXTROSNB", "FLETCHCR", "LIARWHD", "NONDIA", "TQUARTIC", "WOODS"]
    for name in at_ones:
        for size in (1, 7):
            factory = cutest.PROBLEMS[f"cutest.{name}"]
            key = next(iter(inspect.signature(factory).parameters))
            problem = factory(**{key: 4 * size})
            assert problem.f_star == 0.0
            assert problem.objective(np.ones(problem.n)) == pytest.approx(0.0, abs=1e-14), name
    for n in (10, 40):
        assert cutest.genrose(n).objective(np.ones(n)) == pytest.approx(1.0)
        assert cutest.dqrtic(n).objective(np.arange(1.0, n + 1)) == 0.0
        assert cutest.dixmaanl(n).objective(np.zeros(3 * n)) == 1.0
        x = np.ones(n)
        x[-1] = 0.0
        assert cutest.arwhead(n).objective(x) == pytest.approx(0.0, abs=1e-12)
    m = 6
    b = np.sin(np.arange(1.0, 3 * m - 1) ** 2)
    assert cutest.spmsrtls(m).objective(b) == pytest.approx(0.0, abs=1e-24)


def test_bad_sizes_name_the_problem() -> None:
    with pytest.raises(ValueError, match=r"cutest.POWELLSG.*multiple of 4"):
        cutest.powellsg(10)
    with pytest.raises(ValueError, match=r"cutest.NCB20B.*n >= 20"):
        cutest.ncb20b(5)
    with pytest.raises(optlab.registry.PluginError, match="unknown parameter 'size'"):
        optlab.problems.get("cutest.ARWHEAD", size=3)


BANDED = ["BROYDNBDLS", "BRYBND", "CURLY10", "CURLY20", "NCB20B", "VAREIGVL"]


@needs_s2mpj
@pytest.mark.parametrize("name", BANDED)
def test_banded_sums_in_float32(name: str) -> None:
    """The banded problems (one sparse matvec node for each band sum) keep float32 in g and Hv, and
    agree with S2MPJ's float64 values to float32 accuracy."""
    params = small(name)
    ours = optlab.problems.get(f"cutest.{name}", **params)
    ref = optlab.problems.get(f"s2mpj.{name}", **params)
    x = np.random.default_rng(3).uniform(0.3, 1.5, ours.n)
    v = np.ones(ours.n)
    f, g = value_and_grad(ours.objective)(x.astype(np.float32))
    hv = hvp(ours.objective, x.astype(np.float32), v.astype(np.float32))
    assert g.dtype == hv.dtype == np.float32
    f_ref, g_ref = ref.value_and_gradient(x)
    assert abs(float(f) - f_ref) <= 1e-5 * abs(f_ref)
    assert relative(g, g_ref) <= 1e-5 and relative(hv, ref.hvp(x, v)) <= 1e-5
