"""Hyperparameter search judged by validation cross-entropy.

``search(base, space, method=..., budget=...) -> Study`` with ``grid``, ``random``,
``bayes`` (Optuna's TPE with a median pruner) and ``population`` (K configurations trained
at once by :func:`population_fit`, one vmapped program). Names are re-exported lazily so
``import crossent_jax.tune`` stays light and Optuna is imported only by a Bayesian search.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "LogUniform": "crossent_jax.tune._space",
    "Uniform": "crossent_jax.tune._space",
    "Choice": "crossent_jax.tune._space",
    "IntRange": "crossent_jax.tune._space",
    "check_space": "crossent_jax.tune._space",
    "grid_points": "crossent_jax.tune._space",
    "random_points": "crossent_jax.tune._space",
    "default_space": "crossent_jax.tune._space",
    "space_to_json": "crossent_jax.tune._space",
    "space_from_json": "crossent_jax.tune._space",
    "population_fit": "crossent_jax.tune._population",
    "Trial": "crossent_jax.tune._study",
    "Study": "crossent_jax.tune._study",
    "plot_search": "crossent_jax.tune._study",
    "plot_hyperparameters": "crossent_jax.tune._study",
    "search": "crossent_jax.tune._search",
    "METHODS": "crossent_jax.tune._search",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'crossent_jax.tune' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
