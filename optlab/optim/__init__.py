"""Shared pieces of optimizers: the counting oracle, the Optimizer base and loop, line searches, CG, trust regions."""
from .base import Optimizer, ParameterError, Params, State
from .loop import STATUS, run
from .oracle import BudgetExhausted, Counts, Oracle, TimeLimit
from .problem import Problem
from .stopping import Budget, Stopping

__all__ = ["Budget", "BudgetExhausted", "Counts", "Optimizer", "Oracle", "ParameterError", "Params",
           "Problem", "STATUS", "State", "Stopping", "TimeLimit", "run"]
