"""optlab's define-by-run autodiff kernel: derivatives of any order on numpy arrays."""
from . import functions, tree
from .backprop import gradients
from .check import GradcheckError, gradcheck, gradgradcheck
from .config import Config, enable_grad, no_grad, using_config
from .drawing import plot_graph, to_dot
from .functional import elementwise_grad, ggnvp, grad, hessian, hvp, jacobian, jvp, value_and_grad, vjp
from .jit import jit
from .node import Function, Variable

__all__ = ["Config", "Function", "GradcheckError", "Variable", "elementwise_grad", "enable_grad", "functions",
           "ggnvp", "grad",
           "gradcheck", "gradgradcheck", "gradients", "hessian", "hvp", "jacobian", "jit", "jvp", "no_grad",
           "plot_graph", "to_dot", "tree", "using_config", "value_and_grad", "vjp"]
