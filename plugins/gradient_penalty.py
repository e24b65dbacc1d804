"""Gradient penalties (Gulrajani et al., 2017) and gradient-norm regularization, as differentiable terms.

`gradient_penalty(critic, lam, target, one_sided, eps)` gives ``penalty(theta, real, fake, rng)``:
lam * mean((||grad_x D(x_hat)|| - target)^2) over random interpolates x_hat = u real + (1 - u) fake,
u ~ U[0, 1] per sample (one-sided: only norms above target are penalized). The input gradient keeps its
graph (``create_graph=True``), so differentiating the penalty in theta goes through second derivatives of
the critic. The norm is sqrt(sum g^2 + eps): finite, with a finite gradient, where g = 0.

`gradient_norm_regularization(loss, lam)` gives ``loss(theta, ...) + lam ||grad_theta loss||^2``.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

import optlab.autodiff.functions as F
from optlab import hookimpl
from optlab.autodiff import Variable, enable_grad, gradients

Critic = Callable[[Any, Any], Any]  # (theta, x of shape (n, d)) -> scores of shape (n,) or (n, 1)


def smooth_norm(g: Any, eps: float, axis: int = -1) -> Any:
    """sqrt(sum g^2 + eps) along `axis`: the 2-norm, smoothed so it is differentiable at g = 0."""
    return F.sqrt(F.sum(g * g, axis=axis) + eps)


def interpolates(rng: np.random.Generator, real: Any, fake: Any) -> Any:
    """u real + (1 - u) fake with one u ~ U[0, 1] per sample (row)."""
    u = rng.uniform(size=(np.shape(real)[0], 1))
    return u * real + (1.0 - u) * fake


def input_gradient_norms(critic: Critic, theta: Any, x: Any, eps: float = 1e-12,
                         create_graph: bool = True) -> Any:
    """||grad_x D(x)|| per sample, shape (n,); with its graph in theta when `create_graph`."""
    x = x if isinstance(x, Variable) else Variable(x)
    with enable_grad():
        (g,) = gradients(F.sum(critic(theta, x)), [x], create_graph=create_graph)
    if g is None:  # the critic ignores its input
        g = Variable(np.zeros(x.shape))
    return smooth_norm(g, eps)


def gradient_penalty_at(critic: Critic, lam: float = 10.0, target: float = 1.0, one_sided: bool = False,
                        eps: float = 1e-12) -> Callable[..., Any]:
    """``penalty(theta, x_hat)``, the penalty on given interpolates: no draw inside, so it can be jitted."""
    if lam < 0 or target < 0 or eps <= 0:
        raise ValueError(f"gradient_penalty: needs lam, target >= 0 and eps > 0, got {lam}, {target}, {eps}")

    def penalty(theta: Any, x_hat: Any) -> Any:
        gap = input_gradient_norms(critic, theta, x_hat, eps) - target
        if one_sided:
            gap = F.relu(gap)
        return lam * F.mean(gap * gap)

    return penalty


def gradient_penalty(critic: Critic, lam: float = 10.0, target: float = 1.0, one_sided: bool = False,
                     eps: float = 1e-12) -> Callable[..., Any]:
    """The penalty function ``penalty(theta, real, fake, rng)`` of the critic's parameters theta."""
    at = gradient_penalty_at(critic, lam, target, one_sided, eps)

    def penalty(theta: Any, real: Any, fake: Any, rng: np.random.Generator) -> Any:
        return at(theta, interpolates(rng, real, fake))

    return penalty


def gradient_norm_regularization(loss: Callable[..., Any], lam: float = 0.01) -> Callable[..., Any]:
    """``regularized(theta, *args) = loss(theta, *args) + lam ||grad_theta loss(theta, *args)||^2``."""
    if lam < 0:
        raise ValueError(f"gradient_norm_regularization: needs lam >= 0, got {lam}")

    def regularized(theta: Any, *args: Any) -> Any:
        theta = theta if isinstance(theta, Variable) else Variable(theta)
        with enable_grad():
            value = loss(theta, *args)
            (g,) = gradients(value, [theta], create_graph=True)
        return value if g is None else value + lam * F.sum(g * g)

    return regularized


@hookimpl
def optlab_transforms() -> dict[str, Callable[..., Any]]:
    return {"gradient_penalty": gradient_penalty, "gradient_norm_regularization": gradient_norm_regularization}
