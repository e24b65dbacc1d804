"""optlab's define-by-run autodiff kernel: derivatives of any order on numpy arrays."""
from . import functions, tree
from .check import GradcheckError, gradcheck, gradgradcheck
from .backprop import gradients
from .config import Config, enable_grad, no_grad, using_config
from .node import Function, Variable
from .functional import elementwise_grad, ggnvp, grad, hessian, hvp, jacobian, jvp, value_and_grad, vjp
from .drawing import plot_graph, to_dot
from .jit import jit

__all__ = ["Config", "Function", "GradcheckError", "Variable", "elementwise_grad", "enable_grad", "functions",
           "ggnvp", "grad",
           "gradcheck", "gradgradcheck", "gradients", "hessian", "hvp", "jacobian", "jit", "jvp", "no_grad",
           "plot_graph", "to_dot", "tree", "using_config", "value_and_grad", "vjp"]
