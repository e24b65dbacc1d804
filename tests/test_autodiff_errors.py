"""Bad input fails early with a message that starts with the function's name and shows the shapes."""
import numpy as np
import pytest

import optlab.autodiff.functions as F
from optlab.autodiff import Function, Variable, grad, gradients, hessian, hvp, jacobian, jvp, value_and_grad, vjp

v3 = Variable(np.ones(3))
m23 = Variable(np.ones((2, 3)))


@pytest.mark.parametrize("thunk, error, pattern", [
    (lambda: m23 @ Variable(np.ones((4, 5))), ValueError, r"^matmul: .*\(input shapes: \(2, 3\), \(4, 5\)\)"),
    (lambda: v3 @ Variable(np.ones(4)), ValueError, r"^matmul: shapes \(3,\) and \(4,\) are not aligned"),
    (lambda: np.ones((4, 2)) @ v3, ValueError, r"^matmul: shapes \(4, 2\) and \(3,\) are not aligned"),
    (lambda: F.matmul(Variable(2.0), v3), ValueError, r"^matmul: operands must have at least one dimension"),
    (lambda: F.dot(Variable(np.ones((2, 2, 3))), v3), ValueError, r"^dot: .*use matmul"),
    (lambda: v3 + Variable(np.ones(4)), ValueError, r"^add: operands could not be broadcast.*\(3,\), \(4,\)"),
    (lambda: m23 * np.ones((3, 2)), ValueError, r"^mul: .*\(2, 3\), \(3, 2\)"),
    (lambda: v3 + "a", TypeError, r"^add: .*input shapes: \(3,\), \(\)"),
    (lambda: v3 * None, TypeError, r"^mul: "),
    (lambda: v3.reshape(2, 2), ValueError, r"^reshape: cannot reshape array of size 3 into shape \(2,\s?2\)"),
    (lambda: F.sum(v3, axis=1), ValueError, r"^sum: axis 1 is out of bounds .*\(3,\)"),
    (lambda: F.max(Variable(np.ones(0))), ValueError, r"^max: zero-size array"),
    (lambda: F.transpose(v3, (1, 0)), ValueError, r"^transpose: axes don't match array"),
    (lambda: F.broadcast_to(v3, (2, 4)), ValueError, r"^broadcast_to: .*\(3,\)"),
    (lambda: F.sum_to(v3, (2,)), ValueError, r"^sum_to: .*\(3,\)"),
    (lambda: F.squeeze(v3, 0), ValueError, r"^squeeze: .*\(input shape: \(3,\), axis: 0\)"),
    (lambda: F.expand_dims(v3, 5), ValueError, r"^expand_dims: axis 5 is out of bounds .*\(3,\)"),
    (lambda: F.concatenate([v3, m23]), ValueError, r"^Concatenate: .*\(3,\), \(2, 3\)"),
    (lambda: F.stack([v3, Variable(np.ones(2))]), ValueError, r"^stack: .*\[\(3,\), \(2,\)\]"),
    (lambda: F.stack([]), ValueError, r"^stack: needs one or more inputs"),
    (lambda: v3[5], IndexError, r"^getitem: index 5 is out of bounds .*\(3,\)"),
    (lambda: v3[1.5], IndexError, r"^getitem: only integers"),
    (lambda: F.where(np.ones(2, bool), v3, 0.0), ValueError, r"^where: .*\(2,\), \(3,\)"),
    (lambda: F.solve(Variable(np.zeros((2, 2))), np.ones(2)), np.linalg.LinAlgError, r"^solve: Singular matrix"),
    (lambda: F.solve(Variable(np.eye(2)), v3), ValueError, r"^solve: .*\(2, 2\), \(3,\)"),
    (lambda: F.norm(v3, ord=3), ValueError, r"^norm: a vector's ord must be None, 1, 2, inf or -inf, got 3"),
    (lambda: F.norm(m23, ord=2), TypeError, r"^norm: ord=2 of a matrix \(a singular-value norm\) has no differentiable"),
    (lambda: np.linalg.norm(m23, ord="nuc"), TypeError, r"^norm: ord='nuc' of a matrix"),
    (lambda: F.norm(Variable(np.ones((2, 2, 2))), ord=1), ValueError, r"^norm: ord=1 of a 3-d array needs axis"),
    (lambda: F.softmax_cross_entropy(m23, np.array([0, 1, 2])), ValueError,
     r"^softmax_cross_entropy: labels of shape \(3,\) do not fit logits of shape \(2, 3\)"),
    (lambda: F.softmax_cross_entropy(m23, np.array([0, 3])), IndexError, r"^getitem: index 3 is out of bounds"),
])
def test_function_errors_name_the_function_and_shapes(thunk, error, pattern):
    with pytest.raises(error, match=pattern) as info:
        thunk()
    # the numpy error is folded into the message, not chained as a second traceback
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__


@pytest.mark.parametrize("data, pattern", [
    ("abc", r"^Variable: data must be numeric \(bool, int or float\), got dtype <U3"),
    (np.array([object()]), r"^Variable: data must be numeric .*got dtype object"),
    (None, r"^Variable: data must be numeric .*got dtype object"),
    (1j, r"^Variable: data must be numeric .*got dtype complex128"),
    ([[1, 2], [3]], r"^Variable: data is not a regular numeric array: .*inhomogeneous"),
    (Variable(1.0), r"^Variable: got a Variable where an array is expected"),
])
def test_bad_variable_data(data, pattern):
    with pytest.raises(TypeError, match=pattern):
        Variable(data)


def test_seed_of_wrong_shape():
    y = v3 * 2.0
    with pytest.raises(ValueError, match=r"^backward: seed gradient has shape \(2,\) but the output has shape \(3,\)"):
        y.backward(grad=np.ones(2))
    with pytest.raises(TypeError, match=r"^backward: seed gradient: data must be numeric"):
        y.backward(grad="abc")
    with pytest.raises(ValueError, match=r"^gradients: seed gradient has shape \(4,\)"):
        gradients(y, [v3], grad=np.ones(4))
    assert v3.grad is None  # nothing was accumulated by the failed calls


def test_grad_of_non_scalar_function():
    def twice(x):
        return x * 2.0

    with pytest.raises(ValueError, match=r"^grad: twice must return a scalar, got shape \(3,\); use jacobian"):
        grad(twice)(np.ones(3))
    with pytest.raises(ValueError, match=r"^value_and_grad: <lambda> must return a scalar"):
        value_and_grad(lambda x: x)(np.ones(2))
    with pytest.raises(ValueError, match=r"^hessian: twice must return a scalar"):
        hessian(twice)(np.ones(3))
    with pytest.raises(ValueError, match=r"^hvp: twice must return a scalar, got shape \(3,\)$"):
        hvp(twice, np.ones(3), np.ones(3))


def test_argnums_out_of_range():
    with pytest.raises(ValueError, match=r"^grad: argnums \(2,\) out of range for 1 positional argument"):
        grad(F.sum, argnums=2)(np.ones(3))
    with pytest.raises(ValueError, match=r"^jacobian: argnums \(1,\) out of range for 1 positional argument"):
        jacobian(lambda x: x, argnums=1)(np.ones(3))


def test_transform_shape_errors():
    _, pullback = vjp(lambda x: x * 2.0, np.ones(3))
    with pytest.raises(ValueError, match=r"^vjp: cotangent has shape \(2,\) but f\(x\) has shape \(3,\)"):
        pullback(np.ones(2))
    with pytest.raises(ValueError, match=r"^hvp: v has shape \(2,\) but x has shape \(3,\)"):
        hvp(lambda x: F.sum(x ** 3), np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match=r"^hvp: v has shape \(2,\) but x has shape \(3,\)"):
        hvp(lambda x: F.sum(x), np.ones(3), np.ones(2))  # even when f is linear
    with pytest.raises(ValueError, match=r"^jvp: tangent has shape \(2,\) but x has shape \(3,\)"):
        jvp(lambda x: x ** 3, np.ones(3), np.ones(2))


def test_backward_returning_wrong_shape_is_caught():
    class Bad(Function):
        __slots__ = ()

        def forward(self, x):
            return x * 2.0

        def backward(self, gy, y, x):
            return [np.ones(5)]

    x = Variable(np.ones(3))
    with pytest.raises(RuntimeError, match=r"^Bad.backward returned a gradient of shape \(5,\) for an input of "
                                           r"shape \(3,\)"):
        Bad()(x).backward()


def test_complex_output_of_backward_and_gradients():
    """A complex value reaching backward() or gradients() is one line, not a ComplexWarning and a
    gradient of the real part."""
    x = Variable(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"^backward: the output is complex \(complex128\); .*real$"):
        F.sum(F.exp(x * 1j)).backward()
    with pytest.raises(TypeError, match=r"^gradients: the output is complex"):
        gradients(F.sum(x * 1j), [x])
    assert x.grad is None


def _add_in_place(x):
    a = np.ones(2)
    a += x  # numpy's in-place add writes into a: out=
    return F.sum(a)


@pytest.mark.parametrize("call, pattern", [
    (lambda: grad(lambda x: F.sum(np.fmod(x, 2.0)))(np.ones(2)),
     r"^np\.fmod on a Variable: the ufunc has no differentiable twin in optlab\.autodiff\.functions; "
     r"call it on x\.data \(no gradient\) or write it with F$"),
    (lambda: grad(lambda x: np.add.reduce(x))(np.ones(2)), r"^np\.add\.reduce on a Variable: use F\.sum "),
    (lambda: np.multiply.reduce(Variable(np.ones(2))), r"^np\.multiply\.reduce on a Variable: use F\.prod "),
    (lambda: np.add.accumulate(Variable(np.ones(2))), r"^np\.add\.accumulate on a Variable: use F\.cumsum "),
    (lambda: np.fmod.reduce(Variable(np.ones(2))), r"^np\.fmod\.reduce on a Variable: .* F has no twin for it"),
    (lambda: np.sin(Variable(np.ones(2)), out=np.empty(2)),
     r"^np\.sin\(\.\.\., out=\.\.\.\) on a Variable: .*drop the gradient; call F\.sin and use its result$"),
    (lambda: hvp(_add_in_place, np.ones(2), np.ones(2)), r"^np\.add\(\.\.\., out=\.\.\.\) .* call F\.add "),
    (lambda: jvp(lambda x: np.tanh(x, dtype=np.float32), np.ones(2), np.ones(2)),
     r"^np\.tanh on a Variable with dtype=: F\.tanh takes no such argument"),
    (lambda: np.isnan(np.ones(2), out=Variable(np.ones(2))), r"^np\.isnan\(\.\.\., out=\.\.\.\) on a Variable"),
])
def test_a_ufunc_F_cannot_differentiate_names_what_to_call(call, pattern):
    """Ufuncs dispatch to F (tests/test_autodiff_ufuncs.py); what has no twin there is one line saying
    which F function to call, or that there is none."""
    with pytest.raises(TypeError, match=pattern):
        call()
