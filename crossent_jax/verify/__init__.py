"""Gradient verification: prove that autodiff, analytic gradients and finite differences agree.

``check_gradient`` checks any function (yours or ours); ``verify_all`` runs it, and the
transformation stacks a researcher uses, over every public loss of the kit.
"""

from crossent_jax.verify._check import CheckResult as CheckResult
from crossent_jax.verify._check import Measurement as Measurement
from crossent_jax.verify._check import check_gradient as check_gradient

__all__ = [
    "CheckResult",
    "Measurement",
    "check_gradient",
]
