"""``Study``: the trials of a search, the best one, JSON and plots."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from crossent_jax._errors import InputValueError
from crossent_jax._outputs import jsonable

STATES = ("complete", "pruned", "failed")


@dataclasses.dataclass
class Trial:
    """One evaluated configuration.

    Attributes:
      number: 0-based position in the search.
      params: the searched fields and their values (``hidden_sizes`` as a tuple).
      value: the objective, validation cross-entropy (best epoch or final epoch), or None
        for a failed trial.
      curve: validation cross-entropy per epoch (as far as the trial ran).
      seconds: wall time (for a population: the population's time divided by its size).
      state: ``"complete"``, ``"pruned"`` (stopped early by the median pruner) or
        ``"failed"`` (diverged, or a configuration ``TrainConfig`` rejects).
      reason: why it failed or was pruned (None for a complete trial).
    """

    number: int
    params: dict[str, Any]
    value: float | None
    curve: list[float]
    seconds: float
    state: str = "complete"
    reason: str | None = None

    def to_dict(self) -> dict:
        return jsonable(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, d: dict) -> Trial:
        d = dict(d)
        d["params"] = {k: tuple(v) if isinstance(v, list) else v for k, v in d["params"].items()}
        d["curve"] = [math.nan if v is None else v for v in d["curve"]]
        return cls(**d)


@dataclasses.dataclass
class Study:
    """The result of :func:`crossent_jax.tune.search`.

    Attributes:
      method: ``"grid"``, ``"random"``, ``"bayes"`` or ``"population"``.
      space: the space in its JSON form (see :func:`crossent_jax.tune.space_to_json`).
      base: the base config (``TrainConfig.to_dict()``).
      objective: ``"best"`` (lowest validation CE over the epochs) or ``"final"``.
      trials: the :class:`Trial` list, in the order they finished.
      test: metrics of the best configuration retrained and evaluated once on the test set
        (``accuracy``, ``nll``, ``ece``, ``brier``), or None.
      seed: the search's seed.
    """

    method: str
    space: dict
    base: dict
    objective: str
    trials: list[Trial] = dataclasses.field(default_factory=list)
    test: dict | None = None
    seed: int = 0

    @property
    def best(self) -> Trial | None:
        """The complete trial with the lowest value (the first of equals), or None."""
        done = [t for t in self.trials if t.state == "complete" and t.value is not None
                and math.isfinite(t.value)]
        return min(done, key=lambda t: t.value) if done else None

    def best_so_far(self) -> list[float]:
        """Lowest complete value up to each trial (NaN before the first complete one)."""
        out, cur = [], math.nan
        for t in self.trials:
            if t.state == "complete" and t.value is not None and not t.value >= cur:
                cur = t.value
            out.append(cur)
        return out

    def to_dict(self) -> dict:
        """``{"method", "objective", "seed", "space", "base", "trials": [...], "best":
        {"number", "params", "value", "test"}}`` (the content of ``trials.json``)."""
        best = self.best
        return jsonable({
            "method": self.method, "objective": self.objective, "seed": self.seed,
            "space": self.space, "base": self.base,
            "trials": [t.to_dict() for t in self.trials],
            "best": None if best is None else {
                "number": best.number, "params": best.params, "value": best.value,
                "test": self.test,
            },
        })

    def to_json(self) -> str:
        """Strict JSON text (non-finite numbers as ``null``)."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> Study:
        """Inverse of :meth:`to_json` (a ``meta`` record, as in ``trials.json``, is ignored).

        Example:
          >>> from crossent_jax.tune import Study, Trial
          >>> trial = Trial(0, {"learning_rate": 0.1}, 0.5, [0.7, 0.5], 1.0)
          >>> s = Study("random", {}, {}, "best", [trial])
          >>> Study.from_json(s.to_json()) == s
          True
        """
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputValueError(f"not a study: invalid JSON ({e})") from None
        missing = {"method", "space", "base", "objective", "trials"} - set(d)
        if missing:
            raise InputValueError(f"not a study: missing keys {sorted(missing)}")
        best = d.get("best") or {}
        return cls(
            method=d["method"], space=d["space"], base=d["base"], objective=d["objective"],
            trials=[Trial.from_dict(t) for t in d["trials"]], test=best.get("test"),
            seed=d.get("seed", 0),
        )


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _title(study: Study) -> str:
    b = study.base
    return (f"{study.method} search, {len(study.trials)} trials: {b.get('model')} on "
            f"{b.get('dataset')}, {b.get('loss')}, {b.get('epochs')} epochs")


def plot_search(study: Study, path: str) -> str:
    """Validation cross-entropy of each trial and the best so far, against trial number."""
    from crossent_jax._outputs import save_figure

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for state, marker in (("complete", "o"), ("pruned", "x"), ("failed", "v")):
        pts = [(t.number, t.value if t.value is not None else math.nan) for t in study.trials
               if t.state == state]
        if state == "failed":  # no value: mark them at the bottom
            pts = [(n, None) for n, _ in pts]
        if not pts:
            continue
        if state == "failed":
            for n, _ in pts:
                ax.axvline(n, color="tab:red", alpha=0.3, lw=1)
            ax.plot([], [], color="tab:red", alpha=0.3, label="failed (diverged)")
        else:
            ax.plot(*zip(*pts, strict=True), marker, ls="none", alpha=0.6,
                    label=f"{state} trial")
    ax.step(range(len(study.trials)), study.best_so_far(), where="post", color="k",
            label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"validation cross-entropy ({study.objective} epoch)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title(_title(study), fontsize="medium")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_hyperparameters(study: Study, path: str) -> str:
    """Validation cross-entropy against each searched hyperparameter (log axes for
    log-uniform dimensions, categories for choices)."""
    from crossent_jax._outputs import save_figure

    plt = _pyplot()
    names = sorted(study.space)
    fig, axes = plt.subplots(1, max(len(names), 1), figsize=(3.6 * max(len(names), 1), 3.6),
                             squeeze=False)
    done = [t for t in study.trials if t.state != "failed" and t.value is not None]
    best = study.best
    for ax, name in zip(axes[0], names, strict=False):
        kind = next(iter(study.space[name]))
        xs = [t.params[name] for t in done]
        ys = [t.value for t in done]
        if kind == "choice":
            labels = [str(v) for v in study.space[name]["choice"]]
            xs = [labels.index(str(list(x)) if isinstance(x, tuple) else str(x)) for x in xs]
            ax.set_xticks(range(len(labels)), labels, rotation=30, fontsize="small")
        ax.plot(xs, ys, "o", alpha=0.6, label="trial")
        if best is not None and name in best.params:
            bx = best.params[name]
            if kind == "choice":
                bx = labels.index(str(list(bx)) if isinstance(bx, tuple) else str(bx))
            ax.plot([bx], [best.value], "*", ms=14, color="tab:red", label="best")
        if kind == "log_uniform":
            ax.set_xscale("log")
        ax.set_xlabel(name)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("validation cross-entropy")
    axes[0][0].legend(fontsize="small")
    fig.suptitle(_title(study), fontsize="medium")
    fig.tight_layout()
    return save_figure(fig, path)
