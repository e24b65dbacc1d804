"""Shared pieces of optimizers: the counting oracle, the Optimizer base and loop, line searches, CG, trust regions."""
from .base import Optimizer, ParameterError, Params, Stalled, State
from .krylov import CGResult, forcing_term, steihaug_cg, truncated_cg
from .linesearch import LineSearchResult, armijo, strong_wolfe
from .loop import STATUS, run
from .oracle import BudgetExhausted, Counts, Oracle, TimeLimit
from .problem import Problem
from .stopping import Budget, Stopping
from .trust_region import RadiusUpdate, update_radius

__all__ = ["Budget", "BudgetExhausted", "CGResult", "Counts", "LineSearchResult", "Optimizer", "Oracle",
           "ParameterError", "Params", "Problem", "RadiusUpdate", "STATUS", "Stalled", "State", "Stopping", "TimeLimit",
           "armijo", "forcing_term", "run", "steihaug_cg", "strong_wolfe", "truncated_cg", "update_radius"]
