"""Training with the kit's losses: ``TrainConfig`` -> ``fit`` -> ``History``.

Names are re-exported lazily (PEP 562) so ``import crossent_jax.train`` stays light and
neither it nor ``import crossent_jax`` imports orbax; checkpointing loads it on demand.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "TrainConfig": "crossent_jax.train._config",
    "optimizer_names": "crossent_jax.train._config",
    "Dataset": "crossent_jax.train._data",
    "load_dataset": "crossent_jax.train._data",
    "make_model": "crossent_jax.train._models",
    "objective": "crossent_jax.train._objectives",
    "predict_proba": "crossent_jax.train._objectives",
    "accuracy": "crossent_jax.train._metrics",
    "nll": "crossent_jax.train._metrics",
    "ece": "crossent_jax.train._metrics",
    "brier": "crossent_jax.train._metrics",
    "reliability_bins": "crossent_jax.train._metrics",
    "all_metrics": "crossent_jax.train._metrics",
    "History": "crossent_jax.train._loop",
    "fit": "crossent_jax.train._loop",
    "make_optimizer": "crossent_jax.train._loop",
    "save_history": "crossent_jax.train._plots",
    "plot_curves": "crossent_jax.train._plots",
    "plot_reliability": "crossent_jax.train._plots",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'crossent_jax.train' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
