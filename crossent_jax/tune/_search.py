"""``search(base, space, method=..., budget=...) -> Study``.

Every method judges a configuration by its validation cross-entropy (the NLL of the held-out
part of the training set, see ``TrainConfig.validation_fraction``); the test set is used
once, by the best configuration, after the search.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import time
from collections.abc import Mapping, Sequence

from crossent_jax._errors import InputError, InputTypeError, InputValueError
from crossent_jax.tune._space import (
    Choice,
    IntRange,
    LogUniform,
    check_space,
    grid_points,
    random_points,
    space_to_json,
)
from crossent_jax.tune._study import Study, Trial, plot_hyperparameters, plot_search

METHODS = ("grid", "random", "bayes", "population")
OBJECTIVES = ("best", "final")
#: files ``search(..., out=DIR)`` writes (and clears first, so runs never mix).
OUTPUTS = ("trials.json", "search.png", "hyperparameters.png")
#: validation fraction a search uses when the base config has none.
DEFAULT_VALIDATION_FRACTION = 0.2


class _Stop(Exception):
    def __init__(self, state: str, reason: str):
        super().__init__(reason)
        self.state, self.reason = state, reason


def _objective_value(curve: list[float], objective: str) -> float:
    return min(curve) if objective == "best" else curve[-1]


def _run_trial(number, base, params, objective, fit_kw, report=None) -> Trial:
    """Train one configuration with ``fit`` (no test set); a diverging run is a failed
    trial, ``report(epoch, val_loss) -> prune?`` may stop it early."""
    from crossent_jax.train._loop import fit

    t0 = time.perf_counter()
    try:
        config = dataclasses.replace(base, **params)
    except InputError as e:
        return Trial(number, params, None, [], 0.0, "failed", f"invalid configuration: {e}")
    curve: list[float] = []

    def callback(rec):
        v = rec["val_loss"]
        curve.append(v)
        if not (math.isfinite(v) and math.isfinite(rec["train_loss"])):
            raise _Stop("failed", f"diverged: non-finite loss at epoch {rec['epoch']} "
                                  f"(train {rec['train_loss']}, validation {v})")
        if report is not None and report(rec["epoch"], v):
            raise _Stop("pruned", f"pruned after epoch {rec['epoch']}: validation "
                                  "cross-entropy above the median of earlier trials")

    state, reason = "complete", None
    try:
        fit(config, callback=callback, test=False, **fit_kw)
    except _Stop as s:
        state, reason = s.state, s.reason
    seconds = time.perf_counter() - t0
    if state == "complete":
        value = _objective_value(curve, objective)
    elif state == "pruned":
        value = min(curve)
    else:
        value = None
    return Trial(number, params, value, curve, seconds, state, reason)


def _optuna_distributions(space):
    import optuna

    out = {}
    for name, dim in space.items():
        if isinstance(dim, Choice):
            out[name] = optuna.distributions.CategoricalDistribution(list(range(len(dim.values))))
        elif isinstance(dim, IntRange):
            out[name] = optuna.distributions.IntDistribution(dim.low, dim.high)
        else:
            out[name] = optuna.distributions.FloatDistribution(
                dim.low, dim.high, log=isinstance(dim, LogUniform)
            )
    return out


def _bayes(space, budget, seed, run, record):
    """Optuna TPE through ask-and-tell, median pruning on the per-epoch validation loss."""
    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    startup = min(10, max(3, budget // 4))
    study = optuna.create_study(
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=startup, n_warmup_steps=1),
    )
    dists = _optuna_distributions(space)
    for number in range(budget):
        ot = study.ask(dists)
        params = {
            n: space[n].values[ot.params[n]] if isinstance(space[n], Choice) else ot.params[n]
            for n in sorted(space)
        }

        def report(epoch, value, ot=ot):
            ot.report(value, epoch)
            return ot.should_prune()

        trial = run(number, params, report)
        if trial.state == "complete":
            study.tell(ot, trial.value)
        else:
            study.tell(ot, state=TrialState.PRUNED if trial.state == "pruned" else TrialState.FAIL)
        record(trial)


def _population(base, space, budget, seed, objective, fit_kw, record, bar):
    from crossent_jax.tune._population import POPULATION_FIELDS, population_fit

    extra = sorted(set(space) - set(POPULATION_FIELDS))
    if extra:
        raise InputValueError(
            f"method 'population' searches only {', '.join(POPULATION_FIELDS)} (one compiled "
            f"program); the space also has {extra}"
        )
    points = random_points(space, budget, seed)
    t0 = time.perf_counter()

    def callback(epoch, recs):
        bar.set_postfix_str(f"population epoch {epoch}/{base.epochs}")

    histories = population_fit(
        base, {n: [p[n] for p in points] for n in sorted(space)}, test=False,
        callback=callback, **fit_kw,
    )
    seconds = (time.perf_counter() - t0) / budget
    for number, (params, h) in enumerate(zip(points, histories, strict=True)):
        curve = [r["val_loss"] for r in h.epochs]
        bad = next((r for r in h.epochs
                    if not (math.isfinite(r["val_loss"]) and math.isfinite(r["train_loss"]))),
                   None)
        if bad is not None:
            record(Trial(number, params, None, curve, seconds, "failed",
                         f"diverged: non-finite loss at epoch {bad['epoch']} (train "
                         f"{bad['train_loss']}, validation {bad['val_loss']})"))
        else:
            record(Trial(number, params, _objective_value(curve, objective), curve, seconds))


def _check_args(base, method, budget, seed, objective):
    from crossent_jax.train._config import TrainConfig

    if not isinstance(base, TrainConfig):
        raise InputTypeError(f"base must be a TrainConfig, got {type(base).__name__}")
    if method not in METHODS:
        raise InputValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    if isinstance(budget, bool) or not isinstance(budget, numbers.Integral):
        raise InputTypeError(f"budget must be an int, got {type(budget).__name__} {budget!r}")
    if budget < 1:
        raise InputValueError(f"budget must be >= 1 trial, got {budget}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise InputValueError(f"seed must be an int >= 0, got {seed!r}")
    if objective not in OBJECTIVES:
        raise InputValueError(f"objective must be 'best' or 'final', got {objective!r}")
    if base.checkpoint_dir is not None:
        raise InputValueError("a search does not checkpoint its trials: base.checkpoint_dir "
                              "must be None")
    if base.epochs < 1:
        raise InputValueError(f"a search needs base.epochs >= 1, got {base.epochs}")


def search(
    base,
    space: Mapping,
    *,
    method: str,
    budget: int,
    seed: int = 0,
    progress: bool = False,
    out: str | None = None,
    objective: str = "best",
    retrain: bool = True,
    dataset=None,
    devices: Sequence | None = None,
) -> Study:
    """Search ``space`` around ``base`` for the lowest validation cross-entropy.

    Args:
      base: the :class:`~crossent_jax.train.TrainConfig` every trial starts from; when its
        ``validation_fraction`` is 0 the search uses 0.2 (a fixed split of the training
        set). The test set is never seen by the trials.
      space: ``{field: LogUniform | Uniform | Choice | IntRange}`` (see
        :func:`crossent_jax.tune.check_space`).
      method: ``"grid"`` (at most ``budget`` points, log-spaced on log-uniform axes, see
        :func:`crossent_jax.tune.grid_points`), ``"random"`` (``budget`` points drawn with
        ``seed``), ``"bayes"`` (Optuna's TPE sampler through ask-and-tell, seeded, with
        Optuna's median pruner on the per-epoch validation loss), or ``"population"``
        (``budget`` random points trained simultaneously by
        :func:`crossent_jax.tune.population_fit`; the space may hold only learning rate,
        weight decay, label smoothing, z-loss and seed).
      budget: number of trials, >= 1.
      seed: seed of the sampler (the trials' own seed is ``base.seed``).
      progress: a progress bar over the trials on stderr.
      out: a directory for ``trials.json`` (rewritten atomically after every trial, so it
        is valid JSON whenever the search stops), ``search.png`` and
        ``hyperparameters.png``; the files of an earlier search there are removed first.
      objective: ``"best"`` (lowest validation CE over the epochs) or ``"final"`` (last
        epoch's).
      retrain: train the best configuration once more and evaluate it on the test set
        (``Study.test``).
      dataset, devices: as in :func:`crossent_jax.train.fit`.

    Returns:
      A :class:`~crossent_jax.tune.Study`.

    Example:
      >>> from crossent_jax.train import TrainConfig
      >>> from crossent_jax.tune import LogUniform, search
      >>> base = TrainConfig(dataset="blobs", model="linear", epochs=2)
      >>> study = search(base, {"learning_rate": LogUniform(1e-3, 1e-1)}, method="grid",
      ...                budget=3)
      >>> [round(t.params["learning_rate"], 4) for t in study.trials]
      [0.001, 0.01, 0.1]
      >>> study.best.number, sorted(study.test)
      (2, ['accuracy', 'brier', 'ece', 'nll'])
    """
    _check_args(base, method, budget, seed, objective)
    space = check_space(base, space)
    if base.validation_fraction == 0:
        base = dataclasses.replace(base, validation_fraction=DEFAULT_VALIDATION_FRACTION)
    from crossent_jax import _outputs
    from crossent_jax._progress import progress as progress_bar
    from crossent_jax.train._data import load_dataset

    if out is not None:
        _outputs.prepare_dir(out, flag="out", owned=OUTPUTS)
    data = load_dataset(base.dataset) if dataset is None else dataset
    fit_kw = {"dataset": data, "devices": devices}
    study = Study(method, space_to_json(space), base.to_dict(), objective, seed=int(seed))

    def save():
        if out is not None:
            _outputs.write_json(os.path.join(out, "trials.json"), study.to_dict())

    grid = grid_points(space, budget) if method == "grid" else None
    total = len(grid) if grid is not None else budget
    with progress_bar(total, desc=f"{method} search", unit="trial", enabled=progress) as bar:

        def record(trial: Trial) -> None:
            study.trials.append(trial)
            save()
            bar.update(1)
            best = study.best
            bar.set_postfix_str("" if best is None else f"best val CE {best.value:.4f}")

        def run(number, params, report=None):
            return _run_trial(number, base, params, objective, fit_kw, report)

        if method == "grid":
            for number, params in enumerate(grid):
                record(run(number, params))
        elif method == "random":
            for number, params in enumerate(random_points(space, budget, seed)):
                record(run(number, params))
        elif method == "bayes":
            _bayes(space, budget, seed, run, record)
        else:
            _population(base, space, budget, seed, objective, fit_kw, record, bar)

    best = study.best
    if retrain and best is not None:
        from crossent_jax.train._loop import fit

        final = fit(dataclasses.replace(base, **best.params), **fit_kw).final
        study.test = {k: final[f"test_{k}"] for k in ("accuracy", "nll", "ece", "brier")}
    save()
    if out is not None and study.trials:
        plot_search(study, os.path.join(out, "search.png"))
        plot_hyperparameters(study, os.path.join(out, "hyperparameters.png"))
    return study
