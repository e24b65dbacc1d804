"""Every function in optlab.autodiff.functions: forward against numpy, gradcheck and gradgradcheck.

Inputs sit away from kinks and ties (relu/abs at 0, max/min ties, clip bounds) and inside domains
(log/sqrt positive), so central finite differences are a valid reference.
"""
import numpy as np
import pytest
import scipy.special

import optlab.autodiff.functions as F
from optlab.autodiff import GradcheckError, Variable, gradcheck, gradgradcheck

rng = np.random.default_rng(1234)


def randn(*shape):
    return rng.standard_normal(shape)


def positive(*shape):
    return rng.uniform(0.5, 2.0, shape)


def away(*shape, gap=0.2):
    """Standard normal draws pushed at least `gap` away from 0 (for relu, abs, sign)."""
    x = rng.standard_normal(shape)
    return np.where(x >= 0, x + gap, x - gap)


def distinct(*shape):
    """Distinct values spaced >= 0.1 apart, in random order (no ties for max/min)."""
    n = int(np.prod(shape))
    return rng.permutation(np.arange(n) * 0.37 - 0.37 * n / 2).reshape(shape) + 0.01


def spd(n):
    a = rng.standard_normal((n, n))
    return a @ a.T + n * np.eye(n)


MASK = np.array([[True, False, True, False], [False, False, True, True], [True, True, False, True]])
COND = np.array([[True, False, True, False], [False, True, True, False], [True, True, False, False]])
LABELS = np.array([2, 0, 1, 2])
TARGETS = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])


def softmax_ref(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def case(name, f, ref, *inputs, label=None):
    """One parametrized case: the F function `name`, a call `f` on Variables, `ref` on arrays."""
    return pytest.param(name, f, ref, inputs, id=f"{name}-{label}" if label else name)


CASES = [
    # elementwise binary, with numpy broadcasting
    case("add", F.add, np.add, randn(3, 4), randn(3, 4), label="same"),
    case("add", F.add, np.add, randn(3, 4), randn(4), label="(3,4)+(4,)"),
    case("add", F.add, np.add, randn(2, 1, 3), randn(3, 1), label="(2,1,3)+(3,1)"),
    case("add", F.add, np.add, randn(), randn(3), label="()+(3,)"),
    case("sub", F.sub, np.subtract, randn(3, 4), randn(4), label="(3,4)-(4,)"),
    case("sub", F.sub, np.subtract, randn(3, 1), randn(2, 1, 3), label="(3,1)-(2,1,3)"),
    case("mul", F.mul, np.multiply, randn(3, 4), randn(4), label="(3,4)*(4,)"),
    case("mul", F.mul, np.multiply, randn(2, 1, 3), randn(3, 1), label="(2,1,3)*(3,1)"),
    case("div", F.div, np.divide, randn(3, 4), away(4), label="(3,4)/(4,)"),
    case("div", F.div, np.divide, randn(3, 1), away(2, 1, 3), label="(3,1)/(2,1,3)"),
    case("neg", F.neg, np.negative, randn(3, 4)),
    case("pow", lambda a, b: F.pow(a, b), np.power, positive(3, 4), randn(4), label="(3,4)**(4,)"),
    case("pow", lambda a, b: F.pow(a, b), np.power, positive(3, 1), randn(2, 1, 3), label="(3,1)**(2,1,3)"),
    case("pow", lambda a: F.pow(a, 3), lambda a: a ** 3, randn(2, 3), label="x**3"),
    case("pow", lambda a: F.pow(a, -1.5), lambda a: a ** -1.5, positive(4), label="x**-1.5"),
    case("pow", lambda b: F.pow(2.0, b), lambda b: 2.0 ** b, randn(4), label="2**x"),
    # elementwise unary
    case("exp", F.exp, np.exp, randn(3, 4)),
    case("log", F.log, np.log, positive(3, 4)),
    case("log1p", F.log1p, np.log1p, rng.uniform(-0.5, 2.0, (3, 4))),
    case("sqrt", F.sqrt, np.sqrt, positive(3, 4)),
    case("sin", F.sin, np.sin, randn(3, 4)),
    case("cos", F.cos, np.cos, randn(3, 4)),
    case("tan", F.tan, np.tan, rng.uniform(-1.0, 1.0, (3, 4))),
    case("tanh", F.tanh, np.tanh, randn(3, 4)),
    case("sigmoid", F.sigmoid, scipy.special.expit, 2 * randn(3, 4)),
    case("softplus", F.softplus, lambda x: np.log1p(np.exp(x)), 2 * randn(3, 4)),
    case("relu", F.relu, lambda x: np.maximum(x, 0), away(3, 4)),
    case("abs", F.abs, np.abs, away(3, 4)),
    case("maximum", F.maximum, np.maximum, distinct(3, 4), distinct(4) + 0.05, label="(3,4),(4,)"),
    case("maximum", F.maximum, np.maximum, distinct(2, 1, 3), distinct(3, 1) + 0.05, label="(2,1,3),(3,1)"),
    case("minimum", F.minimum, np.minimum, distinct(3, 4), distinct(4) + 0.05, label="(3,4),(4,)"),
    case("minimum", F.minimum, np.minimum, distinct(2, 1, 3), distinct(3, 1) + 0.05, label="(2,1,3),(3,1)"),
    case("where", lambda a, b: F.where(COND, a, b), lambda a, b: np.where(COND, a, b), randn(3, 4), randn(4),
         label="(3,4),(4,)"),
    case("where", lambda a: F.where(COND, a, 0.0), lambda a: np.where(COND, a, 0.0), randn(3, 4), label="const-b"),
    case("clip", lambda x: F.clip(x, -0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5),
         np.array([-1.2, -0.3, 0.1, 0.4, 0.9, 2.0])),
    # reductions
    case("sum", F.sum, np.sum, randn(3, 4), label="all"),
    case("sum", lambda x: F.sum(x, axis=1), lambda x: x.sum(axis=1), randn(3, 4), label="axis1"),
    case("sum", lambda x: F.sum(x, axis=(0, 2), keepdims=True), lambda x: x.sum(axis=(0, 2), keepdims=True),
         randn(2, 3, 2), label="axis(0,2)-keepdims"),
    case("sum", lambda x: F.sum(x, axis=-1), lambda x: x.sum(axis=-1), randn(2, 3, 2), label="axis-1"),
    case("mean", F.mean, np.mean, randn(3, 4), label="all"),
    case("mean", lambda x: F.mean(x, axis=0), lambda x: x.mean(axis=0), randn(3, 4), label="axis0"),
    case("mean", lambda x: F.mean(x, axis=(1, 2), keepdims=True), lambda x: x.mean(axis=(1, 2), keepdims=True),
         randn(2, 3, 2), label="axis(1,2)-keepdims"),
    case("max", F.max, np.max, distinct(3, 4), label="all"),
    case("max", lambda x: F.max(x, axis=1), lambda x: x.max(axis=1), distinct(3, 4), label="axis1"),
    case("max", lambda x: F.max(x, axis=0, keepdims=True), lambda x: x.max(axis=0, keepdims=True),
         distinct(3, 4), label="axis0-keepdims"),
    case("min", F.min, np.min, distinct(3, 4), label="all"),
    case("min", lambda x: F.min(x, axis=-1), lambda x: x.min(axis=-1), distinct(2, 3, 2), label="axis-1"),
    case("logsumexp", F.logsumexp, scipy.special.logsumexp, randn(3, 4), label="all"),
    case("logsumexp", lambda x: F.logsumexp(x, axis=1, keepdims=True),
         lambda x: scipy.special.logsumexp(x, axis=1, keepdims=True), randn(3, 4), label="axis1-keepdims"),
    case("norm", F.norm, np.linalg.norm, randn(3, 4), label="all"),
    case("norm", lambda x: F.norm(x, axis=1), lambda x: np.linalg.norm(x, axis=1), randn(3, 4), label="axis1"),
    case("norm", lambda x: F.norm(x, axis=0, keepdims=True), lambda x: np.linalg.norm(x, axis=0, keepdims=True),
         randn(3, 4), label="axis0-keepdims"),
    case("norm", lambda x: F.norm(x, ord=1), lambda x: np.linalg.norm(x, ord=1), away(5), label="ord1"),
    case("norm", lambda x: F.norm(x, ord=np.inf, axis=1), lambda x: np.linalg.norm(x, ord=np.inf, axis=1),
         distinct(3, 4), label="ordinf-axis1"),
    # matrix norms, numpy's meaning (a 2-D x or a pair of axes): largest/smallest column (1) or row (inf) sum of |x|
    *(case("norm", lambda x, o=o: F.norm(x, ord=o), lambda x, o=o: np.linalg.norm(x, ord=o), away(3, 4),
           label=f"matrix-ord{o}") for o in (1, -1, np.inf, -np.inf, "fro")),
    case("norm", lambda x: F.norm(x, ord=1, axis=(2, 0)), lambda x: np.linalg.norm(x, ord=1, axis=(2, 0)),
         away(3, 2, 4), label="matrix-ord1-axes20"),
    case("norm", lambda x: F.norm(x, ord=-np.inf, axis=(0, 1), keepdims=True),
         lambda x: np.linalg.norm(x, ord=-np.inf, axis=(0, 1), keepdims=True), away(3, 2, 4),
         label="matrix-ord-inf-keepdims"),
    # shape
    case("reshape", lambda x: F.reshape(x, (4, 3)), lambda x: x.reshape(4, 3), randn(3, 4)),
    case("reshape", lambda x: F.reshape(x, (2, -1)), lambda x: x.reshape(2, -1), randn(3, 4), label="-1"),
    case("transpose", F.transpose, np.transpose, randn(3, 4), label="2d"),
    case("transpose", lambda x: F.transpose(x, (1, 2, 0)), lambda x: x.transpose(1, 2, 0), randn(2, 3, 4),
         label="axes(1,2,0)"),
    case("transpose", lambda x: F.transpose(x, (-1, 0, 1)), lambda x: x.transpose(-1, 0, 1), randn(2, 3, 4),
         label="negative-axes"),
    case("broadcast_to", lambda x: F.broadcast_to(x, (2, 3, 4)), lambda x: np.broadcast_to(x, (2, 3, 4)),
         randn(3, 1)),
    case("sum_to", lambda x: F.sum_to(x, (3, 1)), lambda x: x.sum(axis=(0, 2)).reshape(3, 1), randn(2, 3, 4)),
    case("expand_dims", lambda x: F.expand_dims(x, 1), lambda x: np.expand_dims(x, 1), randn(3, 4)),
    case("expand_dims", lambda x: F.expand_dims(x, (0, -1)), lambda x: np.expand_dims(x, (0, -1)), randn(3, 4),
         label="(0,-1)"),
    case("squeeze", F.squeeze, np.squeeze, randn(3, 1, 4, 1)),
    case("squeeze", lambda x: F.squeeze(x, 1), lambda x: np.squeeze(x, 1), randn(3, 1, 4, 1), label="axis1"),
    case("concatenate", lambda a, b: F.concatenate([a, b]), lambda a, b: np.concatenate([a, b]),
         randn(2, 3), randn(4, 3), label="axis0"),
    case("concatenate", lambda a, b, c: F.concatenate([a, b, c], axis=-1),
         lambda a, b, c: np.concatenate([a, b, c], axis=-1), randn(2, 1), randn(2, 3), randn(2, 2), label="axis-1"),
    case("concatenate", lambda a: F.concatenate([a, np.ones((1, 3))]), lambda a: np.concatenate([a, np.ones((1, 3))]),
         randn(2, 3), label="with-constant"),
    case("stack", lambda a, b: F.stack([a, b]), lambda a, b: np.stack([a, b]), randn(2, 3), randn(2, 3), label="axis0"),
    case("stack", lambda a, b: F.stack([a, b], axis=-1), lambda a, b: np.stack([a, b], axis=-1),
         randn(2, 3), randn(2, 3), label="axis-1"),
    case("getitem", lambda x: x[1:, ::2], lambda x: x[1:, ::2], randn(3, 4), label="slices"),
    case("getitem", lambda x: x[1], lambda x: x[1], randn(3, 4), label="int"),
    case("getitem", lambda x: x[..., None, 2], lambda x: x[..., None, 2], randn(2, 3, 4), label="ellipsis-newaxis"),
    case("getitem", lambda x: x[[0, 0, 2, 0]], lambda x: x[[0, 0, 2, 0]], randn(3, 4), label="repeated"),
    case("getitem", lambda x: x[[2, 0, 2], [1, 1, 1]], lambda x: x[[2, 0, 2], [1, 1, 1]], randn(3, 4),
         label="repeated-pairs"),
    case("getitem", lambda x: x[:, [3, 3, 0]], lambda x: x[:, [3, 3, 0]], randn(3, 4), label="slice-and-list"),
    case("getitem", lambda x: x[MASK], lambda x: x[MASK], randn(3, 4), label="bool-mask"),
    case("getitem", lambda x: x[MASK[0]], lambda x: x[MASK[0]], randn(4, 3), label="bool-rows"),
    # linear algebra
    case("matmul", F.matmul, np.matmul, randn(3, 4), randn(4, 2), label="2d"),
    case("matmul", F.matmul, np.matmul, randn(2, 3, 4), randn(2, 4, 2), label="batched"),
    case("matmul", F.matmul, np.matmul, randn(2, 1, 3, 2), randn(3, 2, 4), label="broadcast-batch"),
    case("matmul", F.matmul, np.matmul, randn(3, 4), randn(2, 4, 2), label="matrix@batch"),
    case("matmul", F.matmul, np.matmul, randn(4), randn(4, 3), label="1d@2d"),
    case("matmul", F.matmul, np.matmul, randn(3, 4), randn(4), label="2d@1d"),
    case("matmul", F.matmul, np.matmul, randn(4), randn(4), label="1d@1d"),
    case("matmul", F.matmul, np.matmul, randn(3), randn(2, 3, 2), label="1d@batch"),
    case("matmul", F.matmul, np.matmul, randn(2, 2, 3), randn(3), label="batch@1d"),
    case("dot", F.dot, np.dot, randn(4), randn(4), label="vectors"),
    case("dot", F.dot, np.dot, randn(3, 4), randn(4, 2), label="matrices"),
    case("outer", F.outer, np.outer, randn(3), randn(4)),
    case("solve", F.solve, np.linalg.solve, spd(3) + randn(3, 3) * 0.3, randn(3), label="vector"),
    case("solve", F.solve, np.linalg.solve, spd(3) + randn(3, 3) * 0.3, randn(3, 2), label="matrix"),
    case("solve", F.solve, np.linalg.solve, np.stack([spd(2), spd(2)]), randn(2, 2, 3), label="batched"),
    # learning
    case("linear", F.linear, lambda x, W, b: x @ W + b, randn(4, 3), randn(3, 2), randn(2), label="bias"),
    case("linear", F.linear, lambda x, W: x @ W, randn(4, 3), randn(3, 2), label="no-bias"),
    case("softmax", F.softmax, softmax_ref, randn(3, 4), label="axis-1"),
    case("softmax", lambda x: F.softmax(x, axis=0), lambda x: softmax_ref(x, axis=0), randn(3, 4), label="axis0"),
    case("log_softmax", F.log_softmax, lambda x: np.log(softmax_ref(x)), randn(3, 4), label="axis-1"),
    case("log_softmax", lambda x: F.log_softmax(x, axis=0), lambda x: np.log(softmax_ref(x, axis=0)), randn(3, 4),
         label="axis0"),
    case("softmax_cross_entropy", lambda x: F.softmax_cross_entropy(x, LABELS),
         lambda x: -np.mean(np.log(softmax_ref(x))[np.arange(4), LABELS]), randn(4, 3)),
    case("mse", F.mse, lambda a, b: np.mean((a - b) ** 2), randn(3, 4), randn(3, 4)),
    case("mse", F.mse, lambda a, b: np.mean((a - b) ** 2), randn(3, 4), randn(4), label="broadcast"),
    case("binary_cross_entropy_with_logits", lambda x: F.binary_cross_entropy_with_logits(x, TARGETS),
         lambda x: np.mean(-TARGETS * np.log(scipy.special.expit(x)) - (1 - TARGETS) * np.log(scipy.special.expit(-x))),
         2 * randn(2, 3)),
    case("binary_cross_entropy_with_logits", F.binary_cross_entropy_with_logits,
         lambda x, t: np.mean(np.logaddexp(0, x) - x * t), 2 * randn(2, 3), rng.uniform(0, 1, (2, 3)),
         label="soft-targets"),
    # the rest of the numpy surface
    case("var", F.var, np.var, randn(3, 4), label="all"),
    case("var", lambda x: F.var(x, axis=1, ddof=1), lambda x: np.var(x, axis=1, ddof=1), randn(3, 4),
         label="axis1-ddof1"),
    case("std", F.std, np.std, randn(3, 4), label="all"),
    case("std", lambda x: F.std(x, axis=0, keepdims=True), lambda x: np.std(x, axis=0, keepdims=True), randn(3, 4),
         label="axis0-keepdims"),
    case("prod", F.prod, np.prod, positive(2, 3), label="all"),
    case("prod", lambda x: F.prod(x, axis=1), lambda x: np.prod(x, axis=1), randn(3, 4), label="axis1"),
    case("prod", lambda x: F.prod(x, axis=0), lambda x: np.prod(x, axis=0),
         np.array([[0.0, 2.0, 1.5], [3.0, 0.5, 0.0], [0.0, 1.2, 0.7]]), label="zeros"),
    case("cumsum", F.cumsum, np.cumsum, randn(3, 4), label="flat"),
    case("cumsum", lambda x: F.cumsum(x, axis=1), lambda x: np.cumsum(x, axis=1), randn(3, 4), label="axis1"),
    case("einsum", lambda a, b: F.einsum("ij,jk->ik", a, b), lambda a, b: np.einsum("ij,jk->ik", a, b),
         randn(3, 4), randn(4, 2), label="matmul"),
    case("einsum", lambda a, b, c: F.einsum("bi,ij,bj->b", a, b, c), lambda a, b, c: np.einsum("bi,ij,bj->b", a, b, c),
         randn(2, 3), randn(3, 4), randn(2, 4), label="three-operands"),
    case("einsum", lambda a: F.einsum("ij->", a), lambda a: np.einsum("ij->", a), randn(3, 4), label="sum"),
    case("einsum", lambda a, b: F.einsum("ij,k", a, b), lambda a, b: np.einsum("ij,k", a, b), randn(2, 3), randn(2),
         label="implicit-outer"),
    case("tensordot", lambda a, b: F.tensordot(a, b, axes=2), lambda a, b: np.tensordot(a, b, axes=2),
         randn(2, 3, 4), randn(3, 4, 2), label="axes2"),
    case("tensordot", lambda a, b: F.tensordot(a, b, axes=([0], [1])), lambda a, b: np.tensordot(a, b, axes=([0], [1])),
         randn(3, 2), randn(4, 3), label="pairs"),
    case("inner", F.inner, np.inner, randn(2, 3), randn(4, 3)),
    case("swapaxes", lambda x: F.swapaxes(x, 0, -1), lambda x: np.swapaxes(x, 0, -1), randn(2, 3, 4)),
    case("moveaxis", lambda x: F.moveaxis(x, 0, -1), lambda x: np.moveaxis(x, 0, -1), randn(2, 3, 4)),
    case("moveaxis", lambda x: F.moveaxis(x, (0, 1), (2, 0)), lambda x: np.moveaxis(x, (0, 1), (2, 0)),
         randn(2, 3, 4), label="pairs"),
    case("trace", F.trace, np.trace, randn(3, 4)),
    case("trace", lambda x: F.trace(x, 1, 1, 2), lambda x: np.trace(x, 1, 1, 2), randn(2, 3, 3),
         label="batched-offset"),
    case("diag", F.diag, np.diag, randn(3), label="vector"),
    case("diag", lambda x: F.diag(x, -1), lambda x: np.diag(x, -1), randn(3), label="vector-k-1"),
    case("diag", lambda x: F.diag(x, 1), lambda x: np.diag(x, 1), randn(3, 4), label="matrix-k1"),
    case("diagonal", F.diagonal, np.diagonal, randn(3, 4)),
    case("diagonal", lambda x: F.diagonal(x, 0, 1, 2), lambda x: np.diagonal(x, 0, 1, 2), randn(2, 3, 3),
         label="batched"),
    case("tril", F.tril, np.tril, randn(3, 4)),
    case("triu", lambda x: F.triu(x, 1), lambda x: np.triu(x, 1), randn(4, 3)),
    case("repeat", lambda x: F.repeat(x, 2, axis=1), lambda x: np.repeat(x, 2, axis=1), randn(2, 3)),
    case("repeat", lambda x: F.repeat(x, [1, 0, 3]), lambda x: np.repeat(x, [1, 0, 3]), randn(3), label="counts"),
    case("tile", lambda x: F.tile(x, (2, 1, 2)), lambda x: np.tile(x, (2, 1, 2)), randn(2, 3)),
    case("pad", lambda x: F.pad(x, ((1, 0), (2, 1))), lambda x: np.pad(x, ((1, 0), (2, 1))), randn(2, 3)),
    case("pad", lambda x: F.pad(x, 1, constant_values=0.5), lambda x: np.pad(x, 1, constant_values=0.5), randn(3),
         label="value"),
    case("flip", F.flip, np.flip, randn(2, 3)),
    case("flip", lambda x: F.flip(x, 1), lambda x: np.flip(x, 1), randn(2, 3), label="axis1"),
    case("roll", lambda x: F.roll(x, 2), lambda x: np.roll(x, 2), randn(2, 3)),
    case("roll", lambda x: F.roll(x, (1, -1), axis=(0, 1)), lambda x: np.roll(x, (1, -1), axis=(0, 1)), randn(2, 3),
         label="axes"),
    case("split", lambda x: F.concatenate([p * (i + 1.0) for i, p in enumerate(F.split(x, [1, 3], axis=1))], 1),
         lambda x: np.concatenate([p * (i + 1.0) for i, p in enumerate(np.split(x, [1, 3], axis=1))], 1), randn(2, 4)),
    case("vstack", lambda a, b: F.vstack([a, b]), lambda a, b: np.vstack([a, b]), randn(3), randn(2, 3)),
    case("hstack", lambda a, b: F.hstack([a, b]), lambda a, b: np.hstack([a, b]), randn(2, 1), randn(2, 3)),
    case("hstack", lambda a, b: F.hstack([a, b]), lambda a, b: np.hstack([a, b]), randn(2), randn(3), label="1d"),
    case("logaddexp", F.logaddexp, np.logaddexp, randn(3, 4), randn(4)),
    case("expm1", F.expm1, np.expm1, randn(3, 4)),
    case("log2", F.log2, np.log2, positive(3, 4)),
    case("log10", F.log10, np.log10, positive(3, 4)),
    case("sign", lambda x: F.sign(x) * x, lambda x: np.sign(x) * x, away(3, 4)),
    case("sinh", F.sinh, np.sinh, randn(3, 4)),
    case("cosh", F.cosh, np.cosh, randn(3, 4)),
    case("arcsin", F.arcsin, np.arcsin, rng.uniform(-0.8, 0.8, (3, 4))),
    case("arccos", F.arccos, np.arccos, rng.uniform(-0.8, 0.8, (3, 4))),
    case("arctan", F.arctan, np.arctan, randn(3, 4)),
    case("arctan2", F.arctan2, np.arctan2, randn(3, 4), away(4)),
    case("arcsinh", F.arcsinh, np.arcsinh, randn(3, 4)),
    case("arctanh", F.arctanh, np.arctanh, rng.uniform(-0.8, 0.8, (3, 4))),
    case("erf", F.erf, scipy.special.erf, randn(3, 4)),
    case("reciprocal", F.reciprocal, np.reciprocal, away(3, 4)),
    case("square", F.square, np.square, randn(3, 4)),
    case("leaky_relu", lambda x: F.leaky_relu(x, 0.1), lambda x: np.where(x > 0, x, 0.1 * x), away(3, 4)),
    case("elu", F.elu, lambda x: np.where(x > 0, x, np.expm1(x)), away(3, 4)),
    case("gelu", F.gelu, lambda x: 0.5 * x * (1 + scipy.special.erf(x / np.sqrt(2))), randn(3, 4)),
    case("logsigmoid", F.logsigmoid, lambda x: -np.logaddexp(0, -x), 2 * randn(3, 4)),
    case("sort", F.sort, np.sort, distinct(3, 4), label="axis-1"),
    case("sort", lambda x: F.sort(x, axis=0), lambda x: np.sort(x, axis=0), distinct(3, 4), label="axis0"),
    case("cholesky", F.cholesky, lambda a: np.linalg.cholesky(0.5 * (a + a.T)), spd(3) + 0.1 * randn(3, 3)),
    case("det", F.det, np.linalg.det, spd(3) + randn(3, 3) * 0.3),
    case("det", F.det, np.linalg.det, np.stack([spd(2), spd(2)]), label="batched"),
    case("slogdet", lambda a: F.slogdet(a)[1], lambda a: np.linalg.slogdet(a)[1], randn(3, 3) + 3 * np.eye(3)),
    case("inv", F.inv, np.linalg.inv, spd(3) + randn(3, 3) * 0.3),
    case("eigh", lambda a: F.eigh(a)[0], lambda a: np.linalg.eigh(0.5 * (a + a.T))[0], spd(3) + 0.1 * randn(3, 3),
         label="values"),
    case("eigh", lambda a: F.eigh(a)[1] ** 2, lambda a: np.linalg.eigh(0.5 * (a + a.T))[1] ** 2,
         np.diag([1.0, 2.5, 4.0]) + 0.3 * (lambda m: m + m.T)(randn(3, 3)), label="vectors"),
    case("pinv", F.pinv, np.linalg.pinv, randn(4, 3), label="tall"),
    case("pinv", F.pinv, np.linalg.pinv, randn(2, 3), label="wide"),
    case("lstsq", F.lstsq, lambda a, b: np.linalg.lstsq(a, b, rcond=None)[0], randn(5, 3), randn(5)),
]

REQUIRED = """add sub mul div neg pow exp log log1p sqrt sin cos tan tanh sigmoid softplus relu abs maximum
minimum where clip sum mean max min logsumexp norm reshape transpose broadcast_to sum_to expand_dims squeeze
concatenate stack getitem matmul dot outer solve linear softmax log_softmax softmax_cross_entropy mse
binary_cross_entropy_with_logits var std prod cumsum einsum tensordot swapaxes moveaxis inner trace diag
diagonal tril triu repeat tile pad flip roll split vstack hstack logaddexp expm1 log2 log10 sign sinh cosh arcsin
arccos arctan arctan2 arcsinh arctanh reciprocal square leaky_relu elu gelu logsigmoid sort cholesky det slogdet
inv eigh pinv lstsq""".split()


def test_every_function_has_a_case():
    covered = {p.values[0] for p in CASES}
    assert set(REQUIRED) <= covered, sorted(set(REQUIRED) - covered)
    assert all(callable(getattr(F, name)) for name in REQUIRED)


@pytest.mark.parametrize("name, f, ref, inputs", CASES)
def test_forward_matches_numpy(name, f, ref, inputs):
    want = ref(*inputs)
    out = f(*[Variable(x) for x in inputs])
    assert isinstance(out, Variable)
    assert out.shape == np.shape(want)
    np.testing.assert_allclose(out.data, want, rtol=1e-12, atol=1e-12)
    raw = f(*inputs)  # no Variable: a plain ndarray, nothing recorded
    assert not isinstance(raw, Variable)
    np.testing.assert_allclose(raw, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name, f, ref, inputs", CASES)
def test_gradcheck(name, f, ref, inputs):
    assert gradcheck(f, *inputs)


@pytest.mark.parametrize("name, f, ref, inputs", CASES)
def test_gradgradcheck(name, f, ref, inputs):
    assert gradgradcheck(f, *inputs)


@pytest.mark.parametrize("name, f, ref, inputs", CASES)
def test_derivatives_with_intermediate_inputs(name, f, ref, inputs):
    """Inputs made inside the graph are held only when a VJP reads them (`defreads`); a wrong declaration
    hands a VJP an edge or no output and fails here."""
    def g(*vs):
        out = f(*[v * 1.0 for v in vs])  # each input is a fresh intermediate nobody else holds
        return out * 1.0  # and so is the output
    assert gradcheck(g, *inputs)
    assert gradgradcheck(g, *inputs)


FLOAT64_CONSTANTS = {"concatenate-with-constant", "binary_cross_entropy_with_logits"}  # numpy promotes these


@pytest.mark.parametrize("name, f, ref, inputs", CASES)
def test_float32_in_float32_out(name, f, ref, inputs, request):
    xs = [Variable(np.asarray(x, dtype=np.float32)) for x in inputs]
    y = f(*xs)
    if request.node.callspec.id in FLOAT64_CONSTANTS:
        assert y.dtype == np.float64
        return
    assert y.dtype == np.float32
    F.sum(y).backward()
    for x in xs:
        assert x.grad is not None and x.grad.dtype == np.float32


# ----------------------------------------------------------------------------------------------
# Derivatives against closed forms (not only finite differences).

def test_elementwise_derivatives_closed_form():
    x0 = np.array([0.3, 0.7, 1.4])
    table = [
        (F.exp, np.exp(x0)), (F.log, 1 / x0), (F.log1p, 1 / (1 + x0)), (F.sqrt, 0.5 / np.sqrt(x0)),
        (F.sin, np.cos(x0)), (F.cos, -np.sin(x0)), (F.tan, 1 / np.cos(x0) ** 2), (F.tanh, 1 / np.cosh(x0) ** 2),
        (F.sigmoid, np.exp(-x0) / (1 + np.exp(-x0)) ** 2), (F.softplus, 1 / (1 + np.exp(-x0))),
        (lambda x: x ** 3, 3 * x0 ** 2), (lambda x: 3.0 ** x, np.log(3.0) * 3.0 ** x0),
    ]
    for f, want in table:
        x = Variable(x0)
        F.sum(f(x)).backward()
        np.testing.assert_allclose(x.grad.data, want, rtol=1e-14, err_msg=str(f))


def test_broadcast_gradients_are_summed():
    a, b = Variable(np.ones((2, 1, 3))), Variable(np.arange(3.0).reshape(3, 1))
    (a * b).backward()
    np.testing.assert_array_equal(a.grad.data, np.full((2, 1, 3), 3.0))  # 0 + 1 + 2
    np.testing.assert_array_equal(b.grad.data, np.full((3, 1), 6.0))  # 2 * 3 ones


def test_getitem_repeated_index_accumulates():
    x = Variable(np.arange(4.0))
    F.sum(x[[0, 0, 2, 0]]).backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 0.0, 1.0, 0.0])


def test_getitem_mask_gradient():
    x = Variable(np.arange(12.0).reshape(3, 4))
    F.sum(x[MASK] ** 2).backward()
    np.testing.assert_array_equal(x.grad.data, np.where(MASK, 2 * x.data, 0.0))


def test_max_ties_share_gradient():
    x = Variable(np.array([1.0, 3.0, 3.0, 2.0]))
    F.max(x).backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.5, 0.5, 0.0])


def test_relu_abs_clip_gradients_are_masks():
    x0 = np.array([-2.0, -0.5, 0.5, 2.0])
    for f, want in [(F.relu, [0, 0, 1, 1]), (F.abs, [-1, -1, 1, 1]), (lambda x: F.clip(x, -1, 1), [0, 1, 1, 0])]:
        x = Variable(x0)
        F.sum(f(x)).backward()
        np.testing.assert_array_equal(x.grad.data, want)


def test_softmax_cross_entropy_gradient_closed_form():
    x0 = randn(4, 3)
    x = Variable(x0)
    F.softmax_cross_entropy(x, LABELS).backward()
    want = (softmax_ref(x0) - np.eye(3)[LABELS]) / 4
    np.testing.assert_allclose(x.grad.data, want, rtol=1e-13, atol=1e-15)


def test_bce_with_logits_is_stable_for_large_logits():
    x = Variable(np.array([-800.0, 800.0]))
    y = F.binary_cross_entropy_with_logits(x, np.array([1.0, 0.0]))
    assert y.data == pytest.approx(800.0)
    y.backward()
    np.testing.assert_allclose(x.grad.data, [-0.5, 0.5])


def test_solve_gradient_closed_form():
    A0, b0 = spd(3), randn(3)
    A, b = Variable(A0), Variable(b0)
    F.sum(F.solve(A, b)).backward()
    gb = np.linalg.solve(A0.T, np.ones(3))
    np.testing.assert_allclose(b.grad.data, gb, rtol=1e-12)
    np.testing.assert_allclose(A.grad.data, -np.outer(gb, np.linalg.solve(A0, b0)), rtol=1e-12)


def test_gradcheck_catches_a_wrong_derivative():
    wrong = F.primitive("wrong_sin", np.sin, lambda g, y, x: g * F.sin(x))  # should be cos
    with pytest.raises(GradcheckError, match=r"gradcheck failed for wrong_sin: input 0"):
        gradcheck(wrong, np.array([0.3, 1.1]))
    assert gradcheck(wrong, np.array([0.3, 1.1]), raise_exception=False) is False


def test_gradgradcheck_catches_a_wrong_second_derivative():
    # first derivative right, its own derivative wrong: d/dx cos is written as +sin
    bad_cos = F.primitive("bad_cos", np.cos, lambda g, y, x: g * F.sin(x))
    sin2 = F.primitive("sin2", np.sin, lambda g, y, x: g * bad_cos(x))
    assert gradcheck(sin2, np.array([0.3, 1.1]))
    with pytest.raises(GradcheckError, match=r"gradgradcheck failed for sin2"):
        gradgradcheck(sin2, np.array([0.3, 1.1]))


def test_builtins_are_not_shadowed_inside_F_and_public_names_stay():
    """F.sum/max/min/abs/pow are the differentiable twins; inside F's module the names are Python's."""
    import builtins

    import optlab.autodiff.functions as F_module
    from optlab.autodiff import grad
    from optlab.autodiff.functions import sum as F_sum

    for name in ("sum", "max", "min", "abs", "pow"):
        assert name not in vars(F_module)  # the module's own globals leave the builtin visible
        assert callable(getattr(F_module, name)) and getattr(F_module, name) is not getattr(builtins, name)
        assert name in dir(F_module)
    x = np.array([1.0, -2.0, 3.0])
    assert F_sum is F_module.sum
    # d/dx [sum |x|^3 + max x + min x] = 3 x |x| + e_argmax + e_argmin
    np.testing.assert_allclose(grad(lambda v: F_module.sum(F_module.pow(F_module.abs(v), 3))
                                    + F_module.max(v) + F_module.min(v))(x), [3.0, -11.0, 28.0])
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        F_module.nope  # noqa: B018
