"""Continuous cross-entropy H(p, q) = −E_p[log q] by closed form or quadrature.

Use as ``from crossent_jax import continuous`` (the names are not re-exported at the top
level, where ``cross_entropy`` is the discrete one).
"""

from crossent_jax.continuous._age import age_0336_candidates as age_0336_candidates
from crossent_jax.continuous._age import age_example as age_example
from crossent_jax.continuous._age import age_seed_rows as age_seed_rows
from crossent_jax.continuous._base import Distribution as Distribution
from crossent_jax.continuous._cross_entropy import DEFAULT_POINTS as DEFAULT_POINTS
from crossent_jax.continuous._cross_entropy import METHODS as METHODS
from crossent_jax.continuous._cross_entropy import Info as Info
from crossent_jax.continuous._cross_entropy import cross_entropy as cross_entropy
from crossent_jax.continuous._cross_entropy import entropy as entropy
from crossent_jax.continuous._cross_entropy import grid_cross_entropy as grid_cross_entropy
from crossent_jax.continuous._cross_entropy import kl_divergence as kl_divergence
from crossent_jax.continuous._distributions import Beta as Beta
from crossent_jax.continuous._distributions import Exponential as Exponential
from crossent_jax.continuous._distributions import Gamma as Gamma
from crossent_jax.continuous._distributions import Laplace as Laplace
from crossent_jax.continuous._distributions import Logistic as Logistic
from crossent_jax.continuous._distributions import MixtureOfNormals as MixtureOfNormals
from crossent_jax.continuous._distributions import Normal as Normal
from crossent_jax.continuous._distributions import StudentT as StudentT
from crossent_jax.continuous._distributions import Uniform as Uniform

__all__ = [
    "DEFAULT_POINTS",
    "METHODS",
    "Beta",
    "Distribution",
    "Exponential",
    "Gamma",
    "Info",
    "Laplace",
    "Logistic",
    "MixtureOfNormals",
    "Normal",
    "StudentT",
    "Uniform",
    "age_0336_candidates",
    "age_example",
    "age_seed_rows",
    "cross_entropy",
    "entropy",
    "grid_cross_entropy",
    "kl_divergence",
]
