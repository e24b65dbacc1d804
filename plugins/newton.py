"""Second-order methods and their quasi-Newton reference: newton, newton-cg, trust-ncg, subsampled-newton, lbfgs.

Each is a few lines over the shared blocks of `optlab.optim` (line searches, modified Cholesky,
truncated and Steihaug CG, the trust-region loop, L-BFGS); every step leaves f and g of the new iterate
in the State and its diagnostics in `State.info`. A line search that finds no acceptable step raises
`Stalled` (the runner ends the run there), unless the objective was non-finite everywhere it looked:
then the runner is shown that value (diverged).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Literal

import numpy as np
import scipy  # scipy.linalg loads on first use (scipy's lazy submodules): registration stays light
from pydantic import Field

from optlab import hookimpl
from optlab.optim import (
    LineSearchParams,
    Optimizer,
    Oracle,
    Pair,
    Params,
    PreconditionedSteihaugModel,
    Stalled,
    State,
    SteihaugModel,
    TrustRegionParams,
    TrustRegionState,
    add_pair,
    forcing_term,
    line_search_step,
    modified_cholesky,
    preconditioned_cg,
    shifted_cholesky,
    solve_ldl,
    truncated_cg,
    trust_region_step,
    two_loop,
    update_diagonal,
)


def searched(oracle: Oracle, state: State, d: np.ndarray, params: LineSearchParams, step: float = 1.0,
             **info: float) -> State:
    """The State a line search along d reaches, with the step length and the search's evaluations in `info`."""
    r = line_search_step(oracle, state.x, state.f, state.g, d, params, step)
    return State(x=r.x, f=r.f, g=r.g, info={**info, "alpha": r.alpha, "line_search_evaluations": r.nevals})


class Newton(Optimizer):
    """Newton's method on the exact Hessian made positive definite, then a line search.

    factorization "shift": Cholesky of H + tau I, tau the first of beta * 2^k that works (N&W Algorithm 3.3);
    "gill-murray": Gill, Murray & Wright's modified Cholesky (Practical Optimization 1981, sec. 4.4.2.2),
    which changes only the diagonal entries that need it.
    """

    name = "newton"
    order = 2

    class Params(LineSearchParams):
        beta: float = Field(1e-3, gt=0, description="first shift tried when the Hessian is not positive definite")
        factorization: Literal["shift", "gill-murray"] = Field("shift", description="how H is made positive definite")

    def step(self, oracle: Oracle, state: State) -> State:
        H = oracle.hessian(state.x)
        if self.params.factorization == "gill-murray":
            L, D, perm = modified_cholesky(H)
            d = -solve_ldl(L, D, state.g, perm)
        else:
            d = -scipy.linalg.cho_solve(shifted_cholesky(H, self.params.beta), state.g)
        return searched(oracle, state, d, self.params)


@dataclass(frozen=True)
class LBFGSState(State):
    """The newest curvature pairs, oldest first: L-BFGS's memory, and the preconditioner of newton-cg/trust-ncg."""

    pairs: tuple[Pair, ...] = ()
    diagonal: np.ndarray | None = None


class PreconditionerParams(Params):
    """An optional CG preconditioner built from the outer iterations' (s, y) pairs, at no oracle call.

    "lbfgs": M^{-1} = the L-BFGS inverse-Hessian estimate, applied by the two-loop recursion (Morales &
    Nocedal, "Automatic preconditioning by limited memory quasi-Newton updating", SIAM J. Optim. 10(4), 2000).
    "diag": M = a diagonal Hessian estimate, the diagonal BFGS update of the pairs (`update_diagonal`;
    Gilbert & Lemarechal 1989): a Jacobi preconditioner (Nocedal & Wright sec. 7.1, "Preconditioning")
    whose diagonal costs no HVP. Both are the identity until the first pair.
    """

    preconditioner: Literal["none", "lbfgs", "diag"] = Field("none", description="CG preconditioner")
    memory: int = Field(10, ge=1, description="pairs kept by the L-BFGS preconditioner")


def _preconditioner(state: State) -> Callable[[np.ndarray], np.ndarray]:
    diagonal, pairs = getattr(state, "diagonal", None), getattr(state, "pairs", ())
    if diagonal is not None:
        return lambda r: r / diagonal
    return (lambda r: two_loop(r, pairs)) if pairs else (lambda r: r)


def _memory(params: PreconditionerParams, old: State, new: State) -> dict[str, Any]:
    """The preconditioner's memory after the step old -> new (unchanged if x did not move or there is none)."""
    pairs, diagonal = getattr(old, "pairs", ()), getattr(old, "diagonal", None)
    if params.preconditioner == "none" or new.x is old.x:
        return {"pairs": pairs, "diagonal": diagonal}
    s, y = new.x - old.x, new.g - old.g
    if params.preconditioner == "diag":
        return {"pairs": pairs, "diagonal": update_diagonal(diagonal, s, y)}
    return {"pairs": add_pair(pairs, s, y, params.memory), "diagonal": diagonal}


class NewtonCG(Optimizer):
    """Line-search Newton-CG (N&W Algorithm 7.1): truncated CG on HVPs with eta = min(0.5, sqrt||g||);
    optionally preconditioned (L-BFGS, Morales & Nocedal 2000; or diagonal, see `PreconditionerParams`)."""

    name = "newton-cg"
    order = 2

    class Params(LineSearchParams, PreconditionerParams):
        max_cg: int | None = Field(None, ge=1, description="most CG iterations per step (None: n)")

    def init(self, oracle: Oracle, x0: np.ndarray) -> LBFGSState:
        f, g = oracle.f_and_grad(x0)
        return LBFGSState(x=x0, f=f, g=g)

    def step(self, oracle: Oracle, state: LBFGSState) -> LBFGSState:
        x, g, p = state.x, state.g, self.params
        gnorm = float(np.linalg.norm(g))
        eta = forcing_term(gnorm)
        hvp = lambda v: oracle.hvp(x, v)  # noqa: E731
        cg = (truncated_cg(hvp, g, eta * gnorm, p.max_cg) if p.preconditioner == "none" else
              preconditioned_cg(hvp, g, _preconditioner(state), eta * gnorm, None, p.max_cg))
        new = searched(oracle, state, cg.p, p, cg_iterations=cg.iterations, negative_curvature=cg.negative_curvature,
                       forcing=eta)
        return LBFGSState(x=new.x, f=new.f, g=new.g, info=new.info, **_memory(p, state, new))


@dataclass(frozen=True)
class PreconditionedTrustState(TrustRegionState):
    """trust-ncg's state: the radius and model, and the preconditioner's pairs."""

    pairs: tuple[Pair, ...] = ()
    diagonal: np.ndarray | None = None


class TrustNCG(Optimizer):
    """Trust-region Newton-CG: Steihaug-Toint CG on HVPs (N&W Algorithm 7.2) in the shared trust-region loop;
    optionally preconditioned (L-BFGS or diagonal), the region then measured in the preconditioner's norm
    ||p||_M (Steihaug 1983; CGT 2000, Alg. 7.5.1)."""

    name = "trust-ncg"
    order = 2

    class Params(TrustRegionParams, PreconditionerParams):
        max_cg: int | None = Field(None, ge=1, description="most CG iterations per step (None: n)")

    def init(self, oracle: Oracle, x0: np.ndarray) -> PreconditionedTrustState:
        f, g = oracle.f_and_grad(x0)
        return PreconditionedTrustState(x=x0, f=f, g=g, radius=self.params.radius)

    def step(self, oracle: Oracle, state: PreconditionedTrustState) -> PreconditionedTrustState:
        p = self.params
        if p.preconditioner == "none":
            model = lambda o, x, g: SteihaugModel(o, x, g, p.max_cg)  # noqa: E731
        else:
            model = lambda o, x, g: PreconditionedSteihaugModel(o, x, g, _preconditioner(state), p.max_cg)  # noqa: E731
        new = trust_region_step(oracle, state, model, p)
        return replace(new, **_memory(p, state, new))


@dataclass(frozen=True)
class SampledState(State):
    """subsampled-newton's state: how many steps were taken, which (with the seed) decides the next sample."""

    iteration: int = 0


class SubsampledNewton(Optimizer):
    """Sub-sampled Newton-CG for finite sums f = (1/m) sum_i f_i: the gradient on all terms, the Hessian on a
    sample. Roosta-Khorasani & Mahoney, "Sub-sampled Newton methods", Math. Program. 174, 2019 (arXiv:1601.04737,
    2016), Algorithm 3 (Hessian sub-sampling, inexact update): each iteration draws S uniformly without
    replacement, |S| = ceil(sample * m), solves H_S p = -g by CG to ||H_S p + g|| <= theta ||g|| (theta the
    forcing term min(0.5, sqrt||g||) of newton-cg), then takes the Armijo step (their line search, c1 = beta).

    Sample k comes from numpy's generator seeded with (seed, k), so a run is reproducible and independent of
    what ran before. Each H_S v is counted as |S|/m of an HVP (`Oracle.sampled_hvp`). With sample = 1, or on a
    problem without a finite-sum view, every product is the full HVP: the method is newton-cg.
    """

    name = "subsampled-newton"
    order = 2

    class Params(LineSearchParams):
        line_search: Literal["strong_wolfe", "armijo"] = Field("armijo", description="step-length rule")
        sample: float = Field(0.1, gt=0, le=1, description="share of the terms in each Hessian sample")
        seed: int = Field(0, ge=0, description="seeds the samples (sample k from the generator of (seed, k))")
        max_cg: int | None = Field(None, ge=1, description="most CG iterations per step (None: n)")

    def init(self, oracle: Oracle, x0: np.ndarray) -> SampledState:
        f, g = oracle.f_and_grad(x0)
        return SampledState(x=x0, f=f, g=g)

    def step(self, oracle: Oracle, state: SampledState) -> SampledState:
        x, g, p = state.x, state.g, self.params
        gnorm = float(np.linalg.norm(g))
        eta = forcing_term(gnorm)
        terms = oracle.problem.terms if oracle.problem.sample is not None else None
        size = terms if terms is None else min(terms, math.ceil(p.sample * terms))
        if terms is None or size == terms:
            hvp = lambda v: oracle.hvp(x, v)  # noqa: E731
        else:
            rng = np.random.default_rng((p.seed, state.iteration))
            indices = np.sort(rng.choice(terms, size=size, replace=False))
            hvp = lambda v: oracle.sampled_hvp(x, v, indices)  # noqa: E731
        cg = truncated_cg(hvp, g, eta * gnorm, p.max_cg)
        new = searched(oracle, state, cg.p, p, cg_iterations=cg.iterations, negative_curvature=cg.negative_curvature,
                       forcing=eta, sample_size=size or 0)
        return SampledState(x=new.x, f=new.f, g=new.g, info=new.info, iteration=state.iteration + 1)


class LBFGS(Optimizer):
    """Limited-memory BFGS: two-loop recursion over the last `memory` pairs (s, y), strong Wolfe line search."""

    name = "lbfgs"
    order = 1

    class Params(LineSearchParams):
        memory: int = Field(10, ge=1, description="number of (s, y) pairs kept")
        lazy_gradient: bool = Field(True, description="strong Wolfe: the gradient only at trials that can be kept")

    def init(self, oracle: Oracle, x0: np.ndarray) -> LBFGSState:
        f, g = oracle.f_and_grad(x0)
        return LBFGSState(x=x0, f=f, g=g)

    def step(self, oracle: Oracle, state: LBFGSState) -> LBFGSState:
        pairs, restarted = state.pairs, False
        try:
            new = self._search(oracle, state, pairs)
        except Stalled:
            if not pairs:
                raise
            pairs, restarted = (), True  # restart from steepest descent
            new = self._search(oracle, state, pairs)
        pairs = add_pair(pairs, new.x - state.x, new.g - state.g, self.params.memory)
        return LBFGSState(x=new.x, f=new.f, g=new.g, info={**new.info, "restarted": restarted}, pairs=pairs)

    def _search(self, oracle: Oracle, state: State, pairs: tuple[Pair, ...]) -> State:
        """Line search along -H g; without pairs, steepest descent with a first step of length <= 1."""
        first = 1.0 if pairs else min(1.0, 1.0 / max(float(np.linalg.norm(state.g)), 1e-300))
        return searched(oracle, state, -two_loop(state.g, pairs), self.params, first)


@hookimpl
def optlab_optimizers() -> list[type[Optimizer]]:
    return [Newton, NewtonCG, TrustNCG, SubsampledNewton, LBFGS]
