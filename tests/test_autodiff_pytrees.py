"""Transforms on pytrees (tuples, lists, dicts of arrays), argnums, has_aux, ggnvp and elementwise_grad,
against JAX's values; and the one-line errors for results that cannot be differentiated."""
from __future__ import annotations

import numpy as np
import pytest

import optlab.autodiff as ad
import optlab.autodiff.functions as F
from optlab.autodiff import grad, hessian, hvp, jacobian, jvp, value_and_grad, vjp

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

rng = np.random.default_rng(5)
PARAMS = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2), "layers": [rng.standard_normal(2), 0.7]}
X = rng.standard_normal((4, 3))
V = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2), "layers": [rng.standard_normal(2), -0.3]}


def net(T, p):
    h = T.tanh(X @ p["W"] + p["b"])
    return T.sum(T.sin(h * p["layers"][0]) * p["layers"][1])


OURS = F
JAXNP = jnp


def assert_trees_close(got, want, rtol=1e-10) -> None:
    g_leaves, g_def = ad.tree.flatten(got)
    w_leaves, _ = jax.tree_util.tree_flatten(want)
    assert len(g_leaves) == len(w_leaves), (g_def, jax.tree_util.tree_structure(want))
    for a, b in zip(g_leaves, w_leaves):
        assert isinstance(a, np.ndarray)
        np.testing.assert_allclose(a, np.asarray(b), rtol=rtol, atol=1e-12)


def test_grad_of_a_dict_of_arrays_keeps_its_structure() -> None:
    g = grad(lambda p: net(OURS, p))(PARAMS)
    assert set(g) == {"W", "b", "layers"} and isinstance(g["layers"], list)
    assert_trees_close(g, jax.grad(lambda p: net(JAXNP, p))(PARAMS))


def test_value_and_grad_argnums_tuple_of_trees_and_has_aux() -> None:
    def f(T, a, b, scale):
        loss = T.sum(a[0] * b["u"] ** 2) + T.sum(T.exp(a[1])) * scale
        return loss, {"loss": loss, "n": 3}

    a = (np.array([1.0, 2.0]), np.array([0.5, -0.5]))
    b = {"u": np.array([3.0, -1.0])}
    (value, aux), (ga, gb) = value_and_grad(lambda a, b, s: f(OURS, a, b, s), argnums=(0, 1), has_aux=True)(a, b, 2.0)
    (v_ref, aux_ref), (ga_ref, gb_ref) = jax.value_and_grad(lambda a, b, s: f(JAXNP, a, b, s), argnums=(0, 1),
                                                            has_aux=True)(a, b, 2.0)
    assert float(value) == pytest.approx(float(v_ref)) and float(aux["loss"]) == pytest.approx(float(aux_ref["loss"]))
    assert aux["n"] == 3 and isinstance(ga, tuple) and isinstance(gb, dict)
    assert_trees_close((ga, gb), (ga_ref, gb_ref))
    g, aux = grad(lambda a, b, s: f(OURS, a, b, s), has_aux=True)(a, b, 2.0)
    assert_trees_close(g, ga_ref)
    assert type(aux["loss"]) is np.ndarray


def test_hvp_jvp_vjp_on_trees() -> None:
    f = lambda p: net(OURS, p)  # noqa: E731
    fj = lambda p: net(JAXNP, p)  # noqa: E731
    assert_trees_close(hvp(f, PARAMS, V), jax.jvp(jax.grad(fj), (PARAMS,), (V,))[1])
    y, t = jvp(f, PARAMS, V)
    y_ref, t_ref = jax.jvp(fj, (PARAMS,), (V,))
    np.testing.assert_allclose([y, t], [y_ref, t_ref], rtol=1e-10)

    def two_outputs(T, p):
        return {"h": T.tanh(X @ p["W"]), "s": T.sum(p["b"] ** 2)}

    y, pullback = vjp(lambda p: two_outputs(OURS, p), PARAMS)
    y_ref, pb_ref = jax.vjp(lambda p: two_outputs(JAXNP, p), PARAMS)
    assert_trees_close(y, y_ref)
    cot = {"h": rng.standard_normal((4, 2)), "s": np.array(1.5)}
    assert_trees_close(pullback(cot), pb_ref(cot)[0])
    y, t = jvp(lambda p: two_outputs(OURS, p), PARAMS, V)
    y_ref, t_ref = jax.jvp(lambda p: two_outputs(JAXNP, p), (PARAMS,), (V,))
    assert_trees_close((y, t), (y_ref, t_ref))


def test_jvp_on_trees_by_the_reverse_path_when_nested() -> None:
    """Inside grad the jvp runs on Variables (double VJP); its value is JAX's all the same."""
    def outer(T, jvp_, s):
        return jvp_(lambda p: T.sum(T.sin(p[0] * s) * p[1]), (np.array([0.3, 0.4]), np.array([1.0, 2.0])),
                    (np.array([1.0, 0.0]), np.array([0.5, 0.5])))[1]

    got = grad(lambda s: outer(OURS, jvp, s))(1.3)
    want = jax.grad(lambda s: outer(JAXNP, lambda f, x, v: jax.jvp(f, (x,), (v,)), s))(1.3)
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_jacobian_and_hessian_of_trees() -> None:
    def f(T, p):
        return [T.tanh(p["a"] * p["c"]), T.sum(p["a"] ** 3) * p["c"]]

    p = {"a": np.array([0.2, -0.4, 1.1]), "c": np.array(0.8)}
    assert_trees_close(jacobian(lambda q: f(OURS, q))(p), jax.jacrev(lambda q: f(JAXNP, q))(p))
    s = lambda T: lambda q: T.sum(f(T, q)[0] ** 2) + f(T, q)[1]  # noqa: E731
    assert_trees_close(hessian(s(OURS))(p), jax.hessian(s(JAXNP))(p))
    a2 = jacobian(lambda x, y: x * y, argnums=(0, 1))(np.ones(2), np.arange(2.0))
    assert_trees_close(a2, jax.jacrev(lambda x, y: x * y, argnums=(0, 1))(np.ones(2), np.arange(2.0)))


def test_has_aux_on_hessian_jvp_vjp_and_hvp() -> None:
    """has_aux as JAX has it: hessian -> (H, aux), jvp -> (y, J v, aux), vjp -> (y, pullback, aux); hvp
    (no JAX twin) -> (H v, aux). aux is plain arrays, also from jvp's forward pass (Duals) and when nested."""
    def f(T, p):
        loss = net(T, p)
        return loss, {"h": T.tanh(X @ p["W"]), "loss": loss}  # keys sorted: JAX flattens dicts so

    ours, ref = (lambda p: f(OURS, p)), (lambda p: f(JAXNP, p))
    h, aux = hessian(lambda q: f(OURS, q), has_aux=True)(PARAMS)
    h_ref, aux_ref = jax.hessian(lambda q: f(JAXNP, q), has_aux=True)(PARAMS)
    assert_trees_close((h, aux), (h_ref, aux_ref))
    y, t, aux = jvp(ours, PARAMS, V, has_aux=True)  # forward mode on Duals
    assert_trees_close((y, t, aux), jax.jvp(ref, (PARAMS,), (V,), has_aux=True))
    y, t, aux = jvp(lambda p: (grad(lambda q: net(OURS, q))(p)["b"][0], p["b"] * 2.0), PARAMS, V, has_aux=True)
    y_ref, t_ref, aux_ref = jax.jvp(lambda p: (jax.grad(lambda q: net(JAXNP, q))(p)["b"][0], p["b"] * 2.0), (PARAMS,),
                                    (V,), has_aux=True)  # ours by the double-VJP path (f differentiates)
    assert_trees_close((y, t, aux), (y_ref, t_ref, aux_ref))
    y, pullback, aux = vjp(ours, PARAMS, has_aux=True)
    y_ref, pb_ref, aux_ref = jax.vjp(ref, PARAMS, has_aux=True)
    assert_trees_close((y, pullback(np.array(1.5)), aux), (y_ref, pb_ref(1.5)[0], aux_ref))
    hv, aux = hvp(ours, PARAMS, V, has_aux=True)
    assert_trees_close((hv, aux), (jax.jvp(jax.grad(lambda p: ref(p)[0]), (PARAMS,), (V,))[1], aux_ref))
    # nested: an inner hvp with aux inside grad; the aux it hands back carries the outer dependence
    outer = lambda T, inner: lambda s: T.sum(inner(s)[0] * inner(s)[1])  # noqa: E731
    ours_inner = lambda s: hvp(lambda y: (F.sum(F.sin(s * y)), s * y), X[0], X[1], has_aux=True)  # noqa: E731
    jax_inner = lambda s: (jax.jvp(jax.grad(lambda y: jnp.sum(jnp.sin(s * y))), (X[0],), (X[1],))[1],  # noqa: E731
                           s * X[0])
    np.testing.assert_allclose(grad(outer(F, ours_inner))(0.7), jax.grad(outer(jnp, jax_inner))(0.7), rtol=1e-10)


def test_elementwise_grad_and_ggnvp() -> None:
    x0 = np.array([-1.0, 0.5, 2.0])
    np.testing.assert_allclose(ad.elementwise_grad(F.tanh)(x0), 1 - np.tanh(x0) ** 2, rtol=1e-14)
    # Gauss-Newton of a residual r(w) under half the squared norm: J^T J v
    A = rng.standard_normal((5, 3))
    r = lambda w: F.sin(A @ w)  # noqa: E731
    w0, v0 = rng.standard_normal(3), rng.standard_normal(3)
    J = np.cos(A @ w0)[:, None] * A
    np.testing.assert_allclose(ad.ggnvp(r)(w0, v0), J.T @ (J @ v0), rtol=1e-12)
    # with a loss of its own: J^T H J v, H the loss's Hessian at r(w0)
    loss = lambda y: F.sum(F.exp(y))  # noqa: E731
    H = np.diag(np.exp(np.sin(A @ w0)))
    np.testing.assert_allclose(ad.ggnvp(r, loss)(w0, v0), J.T @ H @ J @ v0, rtol=1e-12)


# ----------------------------------------------------------------------------------------------
# Errors: one line naming the function and what to do

def returns_list(x):
    return [F.sum(x), F.sum(x)]


def returns_none(x):
    F.sum(x)


def goes_complex(x):
    return F.sum(x * 1j)


def not_a_pair(x):
    return F.sum(x)


@pytest.mark.parametrize("call, error, pattern", [
    (lambda: grad(returns_list)(np.ones(2)), TypeError,
     r"^grad: returns_list returned a list; it must return one array"),
    (lambda: grad(returns_none)(np.ones(2)), TypeError, r"^grad: returns_none returned None; .*return"),
    (lambda: grad(goes_complex)(np.ones(2)), TypeError,
     r"^grad: goes_complex computed a complex value \(complex128\); .*real"),
    (lambda: hvp(returns_none, np.ones(2), np.ones(2)), TypeError, r"^hvp: returns_none returned None"),
    (lambda: jacobian(goes_complex)(np.ones(2)), TypeError, r"^jacobian: goes_complex computed a complex value"),
    (lambda: vjp(returns_none, np.ones(2)), TypeError, r"^vjp: returns_none returned None"),
    (lambda: grad(not_a_pair, has_aux=True)(np.ones(2)), TypeError, r"^grad: not_a_pair must return a pair"),
    (lambda: hvp(not_a_pair, np.ones(2), np.ones(2), has_aux=True), TypeError, r"^hvp: not_a_pair must return a pair"),
    (lambda: jvp(not_a_pair, np.ones(2), np.ones(2), has_aux=True), TypeError, r"^jvp: not_a_pair must return a pair"),
    (lambda: hessian(returns_none)(np.ones(2)), TypeError, r"^hessian: returns_none returned None"),
    (lambda: grad(lambda x: x * 2.0)(np.ones(3)), ValueError,
     r"^grad: <lambda> must return a scalar, got shape \(3,\)"),
])
def test_results_that_cannot_be_differentiated(call, error, pattern) -> None:
    with pytest.raises(error, match=pattern):
        call()
