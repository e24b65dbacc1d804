"""Shared pieces of optimizers: the counting oracle, the Optimizer base and loop, line searches, CG, trust regions,
Lanczos subproblems, adaptive regularization, modified Cholesky and L-BFGS.

Each name is imported from its submodule when first asked for (PEP 562), so that a plugin importing
`Optimizer` does not pay for scipy's linear algebra or the run loop: `optlab list` and a worker start light.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import Optimizer, ParameterError, Params, Stalled, State
    from .cholesky import modified_cholesky, shifted_cholesky, solve_ldl
    from .krylov import CGResult, forcing_term, preconditioned_cg, steihaug_cg, truncated_cg
    from .lanczos import Lanczos, cubic_tridiagonal, trust_region_tridiagonal
    from .lbfgs import Pair, add_pair, two_loop, update_diagonal
    from .linesearch import LineSearchParams, LineSearchResult, armijo, line_search_step, strong_wolfe
    from .loop import STATUS, run
    from .oracle import BudgetExhausted, Counts, Oracle, TimeLimit
    from .problem import Problem
    from .regularization import (
        RegularizationParams,
        RegularizationState,
        SigmaUpdate,
        regularization_init,
        regularization_step,
        update_sigma,
    )
    from .status import Status
    from .stopping import Budget, Stopping
    from .subproblems import (
        CubicKrylovModel,
        GLTRModel,
        MoreSorensenModel,
        PreconditionedSteihaugModel,
        SteihaugModel,
        smallest_singular_value,
    )
    from .trust_region import (
        Model,
        RadiusUpdate,
        Step,
        TrustRegionParams,
        TrustRegionState,
        trust_region_init,
        trust_region_step,
        update_radius,
    )

SUBMODULE = {name: module for module, names in {
    "base": "Optimizer ParameterError Params Stalled State",
    "cholesky": "modified_cholesky shifted_cholesky solve_ldl",
    "krylov": "CGResult forcing_term preconditioned_cg steihaug_cg truncated_cg",
    "lanczos": "Lanczos cubic_tridiagonal trust_region_tridiagonal",
    "lbfgs": "Pair add_pair two_loop update_diagonal",
    "linesearch": "LineSearchParams LineSearchResult armijo line_search_step strong_wolfe",
    "loop": "STATUS run",
    "oracle": "BudgetExhausted Counts Oracle TimeLimit",
    "problem": "Problem",
    "regularization": "RegularizationParams RegularizationState SigmaUpdate regularization_init regularization_step "
                      "update_sigma",
    "status": "Status",
    "stopping": "Budget Stopping",
    "subproblems": "CubicKrylovModel GLTRModel MoreSorensenModel PreconditionedSteihaugModel SteihaugModel "
                   "smallest_singular_value",
    "trust_region": "Model RadiusUpdate Step TrustRegionParams TrustRegionState trust_region_init trust_region_step "
                    "update_radius",
}.items() for name in names.split()}
__all__ = ["Budget", "BudgetExhausted", "CGResult", "Counts", "CubicKrylovModel", "GLTRModel", "Lanczos",
           "LineSearchParams", "LineSearchResult", "Model", "MoreSorensenModel", "Optimizer", "Oracle", "Pair",
           "ParameterError", "Params", "PreconditionedSteihaugModel", "Problem", "RadiusUpdate",
           "RegularizationParams", "RegularizationState", "STATUS", "SigmaUpdate", "Stalled", "State",
           "Status", "SteihaugModel", "Step", "Stopping", "TimeLimit", "TrustRegionParams", "TrustRegionState",
           "add_pair", "armijo", "cubic_tridiagonal", "forcing_term", "line_search_step", "modified_cholesky",
           "preconditioned_cg", "regularization_init", "regularization_step", "run", "shifted_cholesky",
           "smallest_singular_value", "solve_ldl", "steihaug_cg", "strong_wolfe", "truncated_cg",
           "trust_region_init", "trust_region_step", "trust_region_tridiagonal", "two_loop", "update_diagonal",
           "update_radius", "update_sigma"]


def __getattr__(name: str) -> Any:
    """Import the submodule that defines `name` on first use, then keep the name here (PEP 562)."""
    module = SUBMODULE.get(name)
    if module is None:
        raise AttributeError(f"module 'optlab.optim' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
