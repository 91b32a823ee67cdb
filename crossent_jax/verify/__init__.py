"""Gradient verification: prove that autodiff, analytic gradients and finite differences agree.

``check_gradient`` checks any function (yours or ours); ``verify_all`` runs it, and the
transformation stacks a researcher uses, over every public loss of the kit and returns a
``Report`` of ``Row``\\ s. ``crossent verify`` is the command-line form.
"""

from crossent_jax.verify._check import CheckResult as CheckResult
from crossent_jax.verify._check import Measurement as Measurement
from crossent_jax.verify._check import check_gradient as check_gradient
from crossent_jax.verify._report import Report as Report
from crossent_jax.verify._report import Row as Row
from crossent_jax.verify._verify_all import verify_all as verify_all

__all__ = [
    "CheckResult",
    "Measurement",
    "Report",
    "Row",
    "check_gradient",
    "verify_all",
]
