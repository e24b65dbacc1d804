"""The kernel's public core, gathered: Variable, Function, Dual, `gradients`, `no_grad` and the rest.

It lives in rooms with one job each: `config` (what to record, transform levels), `node` (Variable,
Function, recording a node, Dual), `backprop` (the backward pass), `primitive` (the extension API).
"""
from .backprop import _caller_grads, _in_dtypes, _seed, gradients
from .config import Config, enable_grad, no_grad, transform_level, using_config
from .node import Dual, Function, MixedModesError, Variable, as_data, made_outside

__all__ = ["Config", "Dual", "Function", "MixedModesError", "Variable", "_caller_grads", "_in_dtypes", "_seed",
           "as_data", "enable_grad", "gradients", "made_outside", "no_grad", "transform_level", "using_config"]
