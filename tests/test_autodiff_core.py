"""Variable, Function and backward: higher order, deep graphs, memory, accumulation, modes, dtypes."""
import gc
import weakref

import numpy as np
import pytest

import optlab.autodiff.functions as F
from optlab.autodiff import Config, Variable, enable_grad, gradients, no_grad

# ----------------------------------------------------------------------------------------------
# Higher order: the contract example and Newton's method by double backprop.

def test_contract_example_second_derivative_of_sin():
    x = Variable(np.array(1.0))
    y = F.sin(x)
    y.backward(create_graph=True)
    gx = x.grad
    assert isinstance(gx, Variable) and gx.creator is not None
    assert gx.data == pytest.approx(np.cos(1.0), abs=1e-15)
    x.cleargrad()
    gx.backward()
    assert x.grad.data == pytest.approx(-np.sin(1.0), abs=1e-15)


def newton_analytic(x: float) -> float:
    return x - (4 * x ** 3 - 4 * x) / (12 * x ** 2 - 4)


def test_newton_by_double_backprop_converges_quadratically():
    x = Variable(np.array(2.0))
    iterates, analytic = [2.0], [2.0]
    for _ in range(7):
        y = x ** 4 - 2 * x ** 2
        x.cleargrad()
        y.backward(create_graph=True)
        gx = x.grad
        x.cleargrad()
        gx.backward()
        gx2 = x.grad
        x.data = x.data - gx.data / gx2.data
        iterates.append(float(x.data))
        analytic.append(newton_analytic(analytic[-1]))

    np.testing.assert_allclose(iterates, analytic, rtol=0, atol=1e-15)
    assert iterates[1] == pytest.approx(1.4545454545454546, abs=1e-15)  # 2 - 24/44
    assert iterates[-1] == pytest.approx(1.0, abs=1e-15)
    assert abs(iterates[5] - 1) > 1e-7  # not there before step 6: 7 steps are needed
    errors = [abs(v - 1.0) for v in iterates]
    ratios = [errors[k + 1] / errors[k] ** 2 for k in range(6) if errors[k + 1] > 0]
    assert all(r < 2.0 for r in ratios), ratios  # bounded: quadratic convergence
    # the asymptotic constant of Newton on f' = 0 is f'''(1) / (2 f''(1)) = 24 / 16 = 1.5
    assert ratios[-1] == pytest.approx(1.5, rel=1e-3)
    assert ratios[-2] == pytest.approx(1.5, rel=1e-2)


def test_third_order_by_repeated_backward():
    x = Variable(np.array(0.7))
    y = x ** 5
    y.backward(create_graph=True)
    g = x.grad
    for want in [20 * 0.7 ** 3, 60 * 0.7 ** 2, 120 * 0.7]:
        x.cleargrad()
        g.backward(create_graph=True)
        g = x.grad
        assert g.data == pytest.approx(want, rel=1e-14)


# ----------------------------------------------------------------------------------------------
# Deep graphs and memory.

def test_chain_of_100k_ops_forward_and_backward():
    x = Variable(np.array(0.5))
    y = x
    for _ in range(100_000):
        y = y + 1.0
    assert y.generation == 100_000
    y.backward()
    assert y.data == pytest.approx(100_000.5)
    assert x.grad.data == 1.0
    del y  # freeing the chain must not overflow either


def test_chain_of_100k_sin_ops():
    x0 = 0.3
    x = Variable(np.array(x0))
    y, want, deriv = x, x0, 1.0
    for _ in range(100_000):
        y = F.sin(y)
    y.backward()
    # reference derivative of the iterated map in plain floats
    for _ in range(100_000):
        deriv *= np.cos(want)
        want = np.sin(want)
    assert y.data == pytest.approx(want, rel=1e-12)
    assert x.grad.data == pytest.approx(deriv, rel=1e-9)


def test_graph_is_freed_after_del():
    x = Variable(np.ones(3))
    h = F.exp(x)
    y = F.sum(h * h)
    ref_h, ref_y = weakref.ref(h), weakref.ref(y)
    del h
    assert ref_h() is not None  # still held by y's creator: its VJPs read h
    y.backward()
    np.testing.assert_allclose(x.grad.data, 2 * np.e ** 2, rtol=1e-15)
    del y
    assert ref_h() is None and ref_y() is None  # refcounting alone frees it, no gc needed


def test_a_value_no_vjp_reads_is_not_held_and_backward_still_reaches_behind_it():
    x = Variable(np.array([0.5, 1.0, 2.0]))
    h = F.sin(x) * 3.0  # mul by a constant reads neither factor: the graph keeps h's creator, not h
    y = F.sum(F.exp(h + 1.0))  # add reads no input either; exp keeps its output
    ref_h = weakref.ref(h)
    del h
    assert ref_h() is None
    y.backward()
    np.testing.assert_allclose(x.grad.data, np.exp(3 * np.sin(x.data) + 1) * 3 * np.cos(x.data), rtol=1e-15)
    x.cleargrad()
    (gx,) = gradients(y, [x], create_graph=True)  # the rebuilt output of exp joins the gradient's graph
    gx.backward()
    s = 3 * np.sin(x.data) + 1
    want = np.exp(s) * (9 * np.cos(x.data) ** 2 - 3 * np.sin(x.data))
    np.testing.assert_allclose(x.grad.data, want, rtol=1e-14)


def test_function_dies_with_its_output():
    x = Variable(np.ones(3))
    y = F.exp(x)
    f_input = weakref.ref(y.creator.inputs[0])
    out = y.creator.output
    del x, y
    assert out() is None and f_input() is None  # the Function held x; it is gone with y


def test_outputs_are_weak_references():
    x = Variable(np.ones(3))
    f = F.exp(x).creator  # the output is dropped at once
    assert f.output() is None


def test_create_graph_cycles_are_collected():
    x = Variable(np.array(1.5))
    y = F.sin(x) ** 2
    y.backward(create_graph=True)  # x -> x.grad -> its graph -> x: a reference cycle
    ref_g, ref_x, ref_h = weakref.ref(x.grad), weakref.ref(x), weakref.ref(y.creator.inputs[0])
    del x, y
    gc.collect()
    assert ref_g() is None and ref_x() is None and ref_h() is None


# ----------------------------------------------------------------------------------------------
# Accumulation, reached-ness, retain_grad, seeds.

def test_gradients_accumulate_until_cleargrad():
    x = Variable(np.array([1.0, 2.0]))
    y = F.sum(x * x)
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [4.0, 8.0])
    F.sum(3.0 * x).backward()
    np.testing.assert_array_equal(x.grad.data, [7.0, 11.0])
    x.cleargrad()
    assert x.grad is None
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])


def test_create_graph_accumulation_is_differentiable():
    x = Variable(np.array(2.0))
    y = x ** 3
    y.backward(create_graph=True)
    y.backward(create_graph=True)  # x.grad = 2 * 3x^2 = 24, as a graph
    assert x.grad.data == 24.0
    g = x.grad
    x.cleargrad()
    g.backward()
    assert x.grad.data == 24.0  # d/dx 6 x^2 = 12 x


def test_variable_used_twice_gets_summed_gradient():
    x = Variable(np.array(3.0))
    y = x * x + x
    y.backward()
    assert x.grad.data == 7.0


def test_grad_is_none_where_backward_never_reached():
    x, w, unused = Variable(np.array(2.0)), Variable(np.array(3.0)), Variable(np.array(4.0))
    with no_grad():
        c = w * 2.0
    y = x * c
    y.backward()
    assert x.grad.data == 6.0
    assert w.grad is None and unused.grad is None  # c was made under no_grad: a leaf for y
    assert c.grad.data == 2.0


def test_intermediate_grads_are_dropped_unless_retained():
    x = Variable(np.array(2.0))
    h = x ** 2
    y = 3.0 * h
    y.backward()
    assert h.grad is None and y.grad is None
    assert x.grad.data == 12.0
    x.cleargrad()
    y.backward(retain_grad=True)
    assert h.grad.data == 3.0 and y.grad.data == 1.0 and x.grad.data == 12.0


def test_backward_on_non_scalar_seeds_ones():
    x = Variable(np.array([1.0, 2.0, 3.0]))
    y = x ** 2  # shape (3,): the gradient of sum(y)
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0, 6.0])
    x.cleargrad()
    (Variable(np.ones((2, 1))) * x).backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0, 2.0])


def test_backward_with_explicit_seed():
    x = Variable(np.array([1.0, 2.0, 3.0]))
    y = x ** 2
    seed = np.array([1.0, 0.0, -2.0])
    y.backward(grad=seed)
    np.testing.assert_array_equal(x.grad.data, [2.0, 0.0, -12.0])
    np.testing.assert_array_equal(seed, [1.0, 0.0, -2.0])


def test_leaf_grads_are_private_writable_arrays():
    a, b = Variable(np.ones((2, 3))), Variable(np.ones(3))
    seed = np.ones((2, 3))
    (a + b).backward(grad=seed)
    a.grad.data *= 10.0  # an optimizer clipping in place
    np.testing.assert_array_equal(b.grad.data, [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(seed, np.ones((2, 3)))
    x = Variable(np.ones((2, 3)))
    F.sum(x).backward()  # the gradient of sum is a broadcast view inside backward
    x.grad.data += 1.0
    np.testing.assert_array_equal(x.grad.data, np.full((2, 3), 2.0))


def test_gradients_hands_out_private_arrays_and_only_copies_what_is_shared():
    a, c = Variable(np.ones(3)), Variable(np.ones(3))
    seed = np.array([1.0, 2.0, 3.0])
    ga, gc = gradients(a + c, [a, c], grad=seed)  # both receive gy, which is the caller's seed
    ga.data *= 10.0
    np.testing.assert_array_equal(gc.data, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(seed, [1.0, 2.0, 3.0])
    w = Variable(np.ones((2, 3)))
    h = F.matmul(Variable(np.ones((4, 2))), w)
    (gw, gh) = gradients(F.sum(h * h), [w, h])
    np.testing.assert_array_equal(gw.data, np.full((2, 3), 16.0))
    assert not np.shares_memory(gw.data, gh.data)


def test_leaf_backward_seeds_itself():
    x = Variable(np.array([1.0, 2.0]))
    x.backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 1.0])


def test_gradients_function_leaves_grad_untouched():
    x, w = Variable(np.array(2.0)), Variable(np.array(5.0))
    h = x * w
    y = h ** 2
    gx, gw, gh = gradients(y, [x, w, h])
    assert (gx.data, gw.data, gh.data) == (2 * 10.0 * 5.0, 2 * 10.0 * 2.0, 20.0)
    assert x.grad is None and w.grad is None
    (gnone,) = gradients(y, [Variable(np.array(1.0))])
    assert gnone is None


# ----------------------------------------------------------------------------------------------
# Modes.

def test_no_grad_records_nothing_and_is_nestable():
    x = Variable(np.array(2.0))
    assert Config.enable_backprop is True
    with no_grad():
        y = x * 3.0
        assert y.creator is None
        with no_grad():
            assert Config.enable_backprop is False
        assert Config.enable_backprop is False
        with enable_grad():
            z = x * 3.0
            assert z.creator is not None
        assert Config.enable_backprop is False
    assert Config.enable_backprop is True
    assert (x * 3.0).creator is not None


def test_no_grad_restores_state_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with no_grad():
            raise ZeroDivisionError
    assert Config.enable_backprop is True


def test_functions_on_plain_arrays_return_arrays():
    out = F.sin(np.array([0.0, 1.0]))
    assert type(out) is np.ndarray
    np.testing.assert_array_equal(out, np.sin([0.0, 1.0]))


# ----------------------------------------------------------------------------------------------
# dtypes.

def test_float32_stays_float32():
    x = Variable(np.array([1.0, 2.0], dtype=np.float32))
    y = F.sum(F.exp(x) * 2.0 + x ** 2 / 3.0)
    assert y.dtype == np.float32
    y.backward(create_graph=True)
    assert x.grad.dtype == np.float32
    g = x.grad
    x.cleargrad()
    F.sum(g).backward()
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize("data", [3, [1, 2], np.arange(3, dtype=np.int32), np.array([True, False]),
                                  np.uint8(7)])
def test_int_and_bool_data_become_float64(data):
    x = Variable(data)
    assert x.dtype == np.float64
    np.testing.assert_array_equal(x.data, np.asarray(data, dtype=np.float64))
    (x * 2.0).backward()
    assert x.grad.dtype == np.float64


def test_float_data_keeps_dtype_and_shape_properties():
    x = Variable(np.zeros((2, 3), dtype=np.float32), name="w")
    assert (x.shape, x.ndim, x.size, x.dtype, len(x)) == ((2, 3), 2, 6, np.float32, 2)
    assert x.T.shape == (3, 2)
    assert "name='w'" in repr(x) and repr(Variable(1.0)) == "variable(1.0)"


# ----------------------------------------------------------------------------------------------
# Graph surgery.

def test_unchain_makes_a_leaf():
    x = Variable(np.array(2.0))
    h = x ** 2
    y = h * 3.0
    h.unchain()
    assert h.creator is None
    y.backward()
    assert x.grad is None  # backward stops at the new leaf
    assert h.grad.data == 3.0


def test_unchain_backward_cuts_the_whole_graph():
    x = Variable(np.array(2.0))
    a = x * 2.0
    b = F.exp(a)
    y = b + a
    y.unchain_backward()
    assert y.creator is None and b.creator is None and a.creator is None
    y.backward()
    assert x.grad is None and a.grad is None


def test_unchain_cuts_a_consumer_that_holds_only_the_creator():
    """add reads neither input, so y's node holds h's creator, not h: unchain must still cut there."""
    x = Variable(np.array(2.0))
    h = x * 2.0
    y = h + 1.0
    h.unchain()
    y.backward()
    assert x.grad is None and h.grad.data == 1.0  # h is a leaf now, reached through the creator it had
    x2 = Variable(np.array(2.0))
    h2 = x2 * 2.0
    y2 = F.exp(h2 + 1.0)
    h2.unchain()
    del h2  # nothing can see h2's gradient any more, and nothing may leak past the cut
    y2.backward()
    assert x2.grad is None
    x3 = Variable(np.array(2.0))
    y3 = F.sum((x3 * 2.0 + 1.0) * 3.0)
    y3.unchain_backward()
    y3.backward()
    assert x3.grad is None


def test_truncated_backprop_keeps_later_graph():
    x = Variable(np.array(1.0))
    h = x * 2.0
    h.unchain_backward()  # truncate the history: h is a leaf from now on
    y = h * 3.0
    y.backward()
    assert h.grad.data == 3.0 and x.grad is None


# ----------------------------------------------------------------------------------------------
# Operators.

def test_operators_match_numpy():
    a0, b0 = np.array([1.5, 2.0, 3.0]), np.array([0.5, -1.0, 2.0])
    a, b = Variable(a0), Variable(b0)
    pairs = [(a + b, a0 + b0), (a - b, a0 - b0), (a * b, a0 * b0), (a / b, a0 / b0), (a ** 2, a0 ** 2),
             (a ** b, a0 ** b0), (-a, -a0), (abs(b), np.abs(b0)), (a @ b, a0 @ b0),
             (2.0 + a, 2.0 + a0), (2.0 - a, 2.0 - a0), (2.0 * a, 2.0 * a0), (2.0 / a, 2.0 / a0),
             (2.0 ** a, 2.0 ** a0)]
    for got, want in pairs:
        assert isinstance(got, Variable)
        np.testing.assert_allclose(got.data, want, rtol=1e-15)


@pytest.mark.parametrize("op, want_grad", [
    (lambda arr, v: arr + v, [1.0, 1.0, 1.0]),
    (lambda arr, v: arr - v, [-1.0, -1.0, -1.0]),
    (lambda arr, v: arr * v, [2.0, 2.0, 2.0]),
    (lambda arr, v: arr / v, [-2.0, -0.5, -2.0 / 9.0]),
    (lambda arr, v: arr ** v, np.log(2.0) * 2.0 ** np.array([1.0, 2.0, 3.0])),
    (lambda arr, v: arr @ v, [2.0, 2.0, 2.0]),
])
def test_reflected_operators_with_ndarray_on_the_left(op, want_grad):
    v = Variable(np.array([1.0, 2.0, 3.0]))
    out = op(np.full(3, 2.0), v)
    assert isinstance(out, Variable)
    out.backward()
    np.testing.assert_allclose(v.grad.data, want_grad, rtol=1e-15)


def test_ndarray_times_variable_is_a_variable():
    v = Variable(np.array([1.0, 2.0, 3.0]))
    out = np.ones(3) * v
    assert isinstance(out, Variable) and out.creator is not None
    m = np.ones((2, 3)) @ v
    assert isinstance(m, Variable) and m.shape == (2,)


def test_indexing():
    x0 = np.arange(6.0)
    x = Variable(x0)
    mask = x0 % 2 == 0
    for index, want_grad in [(slice(1, None), [0, 1, 1, 1, 1, 1]), ([0, 0, 2], [2, 0, 1, 0, 0, 0]),
                             (mask, [1, 0, 1, 0, 1, 0])]:
        x.cleargrad()
        y = x[index]
        np.testing.assert_array_equal(y.data, x0[index])
        F.sum(y).backward()
        np.testing.assert_array_equal(x.grad.data, want_grad)


def test_methods_reshape_transpose_sum():
    x0 = np.arange(6.0).reshape(2, 3)
    x = Variable(x0)
    assert x.reshape(3, 2).shape == (3, 2) and x.reshape((6,)).shape == (6,) and x.reshape(6).shape == (6,)
    np.testing.assert_array_equal(x.transpose().data, x0.T)
    np.testing.assert_array_equal(x.transpose(1, 0).data, x0.transpose(1, 0))
    np.testing.assert_array_equal(x.transpose((1, 0)).data, x0.transpose((1, 0)))
    np.testing.assert_array_equal(x.T.data, x0.T)
    np.testing.assert_array_equal(x.sum(axis=0).data, x0.sum(axis=0))
    np.testing.assert_array_equal(x.sum(axis=1, keepdims=True).data, x0.sum(axis=1, keepdims=True))
    F.sum(x.T * np.arange(2.0)).backward()
    np.testing.assert_array_equal(x.grad.data, [[0, 0, 0], [1, 1, 1]])


def test_generation_orders_a_diamond():
    # x -> a -> (b, c) -> d: a's gradient must be complete before it flows to x
    x = Variable(np.array(2.0))
    a = x ** 2
    b = F.exp(a)
    c = a * 3.0
    d = b * c
    d.backward()
    a0 = 4.0
    want = (np.exp(a0) * 3 * a0 + np.exp(a0) * 3) * 2 * 2.0
    assert x.grad.data == pytest.approx(want, rel=1e-14)


@pytest.mark.parametrize("f", [
    lambda x: F.sum(x[0] * x[1]) + F.sum(x[[0, 0, 2]] ** 2) + F.sum(F.exp(x)),
    lambda x: F.sum(x[x.data > 0] * x[:, 1:2]) + x[1, 2] * x[1, 2],
    lambda x: F.sum(F.concatenate([x, x[::-1]], axis=1) * F.stack([x[:, 0]] * 8, axis=1)),
    lambda x: F.logsumexp(x + x + x.T.T * 2.0) + F.max(x[1:]),
], ids=["getitem-reuse", "mask-and-slice", "concat-stack", "shared-paths"])
def test_raw_and_graph_backward_agree_on_shared_subgraphs(f):
    # a gradient reaching one variable along many paths: the raw (in-place friendly) backward and the
    # graph-recording backward must add up the same contributions, and .grad must be a private array
    x0 = np.linspace(-1.0, 1.2, 12).reshape(3, 4)
    raw, graph = Variable(x0), Variable(x0)
    h_raw = raw * 1.0
    f(h_raw).backward(retain_grad=True)
    f(graph * 1.0).backward(create_graph=True)
    np.testing.assert_allclose(raw.grad.data, graph.grad.data, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(h_raw.grad.data, raw.grad.data, rtol=1e-15)
    assert not np.shares_memory(h_raw.grad.data, raw.grad.data)
    (g,) = gradients(f(Variable(x0)), [Variable(x0)])  # an unrelated leaf: not reached
    assert g is None


def test_retain_graph_false_frees_intermediates_during_the_pass():
    x = Variable(np.array([1.0, 2.0, 3.0]))
    h = F.sin(x) * x  # an intermediate the caller no longer holds after this line
    watch = weakref.ref(h)
    y = F.sum(h * h)
    del h
    (g,) = gradients(y, [x], retain_graph=False)
    xd = x.data
    np.testing.assert_allclose(g.data, 2 * np.sin(xd) * xd * (np.cos(xd) * xd + np.sin(xd)), rtol=1e-15)
    assert watch() is None  # freed although y is still alive
    with pytest.raises(RuntimeError, match="already freed by a pass with retain_graph=False"):
        gradients(y, [x])
    (again,) = gradients(F.sum(F.sin(x) * x), [x])  # a fresh graph is unaffected
    np.testing.assert_allclose(again.data, np.cos(xd) * xd + np.sin(xd), rtol=1e-15)


def test_gradients_reach_an_intermediate_its_consumer_does_not_hold():
    x = Variable(np.array([1.0, 2.0]))
    h = x * 2.0  # add below reads neither input: it holds h's creator, not h
    y = F.sum(F.exp(h + 1.0))
    want = np.exp(2 * x.data + 1)
    (gh,) = gradients(y, [h])
    np.testing.assert_allclose(gh.data, want, rtol=1e-15)
    y.backward(retain_grad=True)
    np.testing.assert_allclose(h.grad.data, want, rtol=1e-15)
    np.testing.assert_allclose(x.grad.data, 2 * want, rtol=1e-15)


def test_a_subclass_of_variable_records_and_differentiates_like_variable() -> None:
    # DeZero's Parameter pattern: a user's subclass of Variable, as an operand beside a Variable, a constant
    # and itself, one- and two-input primitives, first and second derivatives
    class Parameter(Variable):
        pass

    p, x = Parameter(np.array([2.0, 3.0])), Variable(np.array([5.0, 7.0]))
    for make, dp, dx in [(lambda: p * x, [5.0, 7.0], [2.0, 3.0]), (lambda: x * p, [5.0, 7.0], [2.0, 3.0]),
                         (lambda: p * p, [4.0, 6.0], None), (lambda: x / p, [-1.25, -7.0 / 9.0], [0.5, 1 / 3]),
                         (lambda: F.sin(p) + 2.0, np.cos([2.0, 3.0]), None)]:
        p.grad = x.grad = None
        F.sum(make()).backward()
        np.testing.assert_allclose(p.grad.data, dp, rtol=1e-15)
        assert (x.grad is None) == (dx is None)
        if dx is not None:
            np.testing.assert_allclose(x.grad.data, dx, rtol=1e-15)
    p.grad = None
    F.sum(p * p * x).backward(create_graph=True)  # d/dp = 2 p x; d2/dp2 of its sum = 2 x
    g = p.grad
    np.testing.assert_allclose(g.data, [20.0, 42.0])
    p.grad = None
    F.sum(g).backward()
    np.testing.assert_allclose(p.grad.data, [10.0, 14.0])
