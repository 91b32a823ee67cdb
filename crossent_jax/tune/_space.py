"""Search spaces: one dimension per ``TrainConfig`` field.

A space is a ``dict`` mapping a :class:`~crossent_jax.train.TrainConfig` field name to a
dimension: :class:`LogUniform`, :class:`Uniform`, :class:`Choice` or :class:`IntRange`.
:func:`check_space` validates it against a base config before any training.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from crossent_jax._errors import InputError, InputTypeError, InputValueError

#: ``TrainConfig`` fields a search may not vary.
_NOT_SEARCHABLE = ("checkpoint_dir", "resume", "dataset", "validation_fraction")


def _real(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputTypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise InputValueError(f"{name} must be finite, got {value}")
    return float(value)


@dataclasses.dataclass(frozen=True)
class LogUniform:
    """``low ≤ x ≤ high`` uniform in ``log x`` (learning rates, weight decays); ``0 < low <
    high``. A grid over it is geometric; plots use a log axis."""

    low: float
    high: float

    def __post_init__(self):
        lo, hi = _real(self.low, "LogUniform low"), _real(self.high, "LogUniform high")
        if lo <= 0:
            raise InputValueError(
                f"LogUniform needs positive bounds, got low={lo} (use Uniform for ranges "
                "that include 0)"
            )
        if lo >= hi:
            raise InputValueError(f"LogUniform needs low < high, got low={lo}, high={hi}")
        object.__setattr__(self, "low", lo)
        object.__setattr__(self, "high", hi)

    max_points = math.inf

    def grid(self, n: int) -> list[float]:
        if n == 1:
            return [math.sqrt(self.low * self.high)]
        return [float(v) for v in np.geomspace(self.low, self.high, n)]

    def sample(self, rng: np.random.Generator) -> float:
        return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))

    def to_json(self) -> dict:
        return {"log_uniform": [self.low, self.high]}


@dataclasses.dataclass(frozen=True)
class Uniform:
    """``low ≤ x ≤ high`` uniformly; ``low < high``."""

    low: float
    high: float

    def __post_init__(self):
        lo, hi = _real(self.low, "Uniform low"), _real(self.high, "Uniform high")
        if lo >= hi:
            raise InputValueError(f"Uniform needs low < high, got low={lo}, high={hi}")
        object.__setattr__(self, "low", lo)
        object.__setattr__(self, "high", hi)

    max_points = math.inf

    def grid(self, n: int) -> list[float]:
        if n == 1:
            return [(self.low + self.high) / 2]
        return [float(v) for v in np.linspace(self.low, self.high, n)]

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.low, self.high))

    def to_json(self) -> dict:
        return {"uniform": [self.low, self.high]}


@dataclasses.dataclass(frozen=True)
class IntRange:
    """An integer ``low ≤ n ≤ high`` (both included), uniformly; ``low ≤ high``."""

    low: int
    high: int

    def __post_init__(self):
        for name, v in (("low", self.low), ("high", self.high)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise InputTypeError(f"IntRange {name} must be an int, got {v!r}")
        if self.low > self.high:
            raise InputValueError(
                f"IntRange is empty: low={self.low} > high={self.high}"
            )
        object.__setattr__(self, "low", int(self.low))
        object.__setattr__(self, "high", int(self.high))

    @property
    def max_points(self) -> int:
        return self.high - self.low + 1

    def grid(self, n: int) -> list[int]:
        if n == 1:
            return [(self.low + self.high) // 2]
        return [int(round(v)) for v in np.linspace(self.low, self.high, n)]

    def sample(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.low, self.high + 1))

    def to_json(self) -> dict:
        return {"int_range": [self.low, self.high]}


def _freeze(v):
    return tuple(v) if isinstance(v, list) else v


@dataclasses.dataclass(frozen=True)
class Choice:
    """One of ``values`` (optimizer names, batch sizes, hidden-size tuples, ...), uniformly."""

    values: tuple

    def __post_init__(self):
        if isinstance(self.values, (str, bytes)) or not isinstance(self.values, Sequence):
            raise InputTypeError(f"Choice needs a list of values, got {self.values!r}")
        values = tuple(_freeze(v) for v in self.values)
        if not values:
            raise InputValueError("Choice is empty: give at least one value")
        if len(set(map(repr, values))) != len(values):
            raise InputValueError(f"Choice has repeated values: {list(values)}")
        object.__setattr__(self, "values", values)

    @property
    def max_points(self) -> int:
        return len(self.values)

    def grid(self, n: int) -> list:
        if n >= len(self.values):
            return list(self.values)
        return [self.values[int(round(i))] for i in np.linspace(0, len(self.values) - 1, n)]

    def sample(self, rng: np.random.Generator):
        return self.values[int(rng.integers(len(self.values)))]

    def to_json(self) -> dict:
        return {"choice": [list(v) if isinstance(v, tuple) else v for v in self.values]}


Dimension = LogUniform | Uniform | Choice | IntRange
_KINDS = {"log_uniform": LogUniform, "uniform": Uniform, "int_range": IntRange}


def check_space(base, space: Mapping[str, Any]) -> dict[str, Dimension]:
    """Validate ``space`` against the base config; returns it as a plain, sorted dict.

    Errors (``InputValueError``/``InputTypeError``) name the field: not a mapping, empty,
    an unknown or unsearchable field, a dimension of the wrong type, and a value the
    :class:`~crossent_jax.train.TrainConfig` rejects (every choice, both ends of a range).

    Example:
      >>> from crossent_jax.train import TrainConfig
      >>> from crossent_jax.tune import Choice, LogUniform, check_space
      >>> sorted(check_space(TrainConfig(), {"learning_rate": LogUniform(1e-4, 1e-1)}))
      ['learning_rate']
      >>> try:
      ...     check_space(TrainConfig(), {"optimizer": Choice(["adamw", "adamz"])})
      ... except ValueError as err:
      ...     print(err)
      space['optimizer']: value 'adamz' is rejected by TrainConfig: optimizer must be one of ...
    """
    from crossent_jax.train._config import TrainConfig

    if not isinstance(space, Mapping):
        raise InputTypeError(f"space must be a dict of field -> dimension, got {space!r}")
    if not space:
        raise InputValueError("space is empty: give at least one field to search")
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    out = {}
    for name in sorted(space):
        dim = space[name]
        if name not in fields:
            raise InputValueError(
                f"space has unknown field {name!r}; TrainConfig fields: {sorted(fields)}"
            )
        if name in _NOT_SEARCHABLE:
            raise InputValueError(f"space field {name!r} cannot be searched")
        if not isinstance(dim, (LogUniform, Uniform, Choice, IntRange)):
            raise InputTypeError(
                f"space[{name!r}] must be LogUniform, Uniform, Choice or IntRange, got {dim!r}"
            )
        probe = dim.values if isinstance(dim, Choice) else (dim.low, dim.high)
        for value in probe:
            try:
                dataclasses.replace(base, **{name: value})
            except InputError as e:
                raise InputValueError(
                    f"space[{name!r}]: value {value!r} is rejected by TrainConfig: {e}"
                ) from None
        out[name] = dim
    return out


def grid_points(space: Mapping[str, Dimension], budget: int) -> list[dict]:
    """The grid of at most ``budget`` points: every axis gets points in turn (a choice or
    an integer range never more than it has) while the product stays within the budget;
    log-spaced on :class:`LogUniform` axes, both ends included (one point: the middle).

    Example:
      >>> from crossent_jax.tune import LogUniform, Uniform, grid_points
      >>> pts = grid_points({"learning_rate": LogUniform(1e-3, 1e-1), "z_loss": Uniform(0, 1)}, 6)
      >>> len(pts), sorted({round(p["learning_rate"], 6) for p in pts})
      (6, [0.001, 0.01, 0.1])
    """
    names = sorted(space)
    counts = [1] * len(names)
    grown = True
    while grown:
        grown = False
        for i, name in enumerate(names):
            if counts[i] < space[name].max_points and math.prod(counts) // counts[i] * (
                counts[i] + 1
            ) <= budget:
                counts[i] += 1
                grown = True
    axes = [space[n].grid(c) for n, c in zip(names, counts, strict=True)]
    points = [{}]
    for name, values in zip(names, axes, strict=True):
        points = [{**p, name: v} for p in points for v in values]
    return points


def random_points(space: Mapping[str, Dimension], count: int, seed: int) -> list[dict]:
    """``count`` independent points drawn with ``numpy.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    return [{n: space[n].sample(rng) for n in sorted(space)} for _ in range(count)]


def space_to_json(space: Mapping[str, Dimension]) -> dict:
    """``{"learning_rate": {"log_uniform": [lo, hi]}, "optimizer": {"choice": [...]}}``."""
    return {name: dim.to_json() for name, dim in space.items()}


def space_from_json(doc: Any) -> dict[str, Dimension]:
    """Inverse of :func:`space_to_json` (the format of ``crossent tune --space FILE``)."""
    if not isinstance(doc, Mapping):
        raise InputValueError(f"a space must be a JSON object of field -> dimension, got {doc!r}")
    out = {}
    for name, spec in doc.items():
        if not isinstance(spec, Mapping) or len(spec) != 1:
            raise InputValueError(
                f"space[{name!r}] must be one of {{'log_uniform': [lo, hi]}}, "
                f"{{'uniform': [lo, hi]}}, {{'int_range': [lo, hi]}}, {{'choice': [...]}}; "
                f"got {spec!r}"
            )
        (kind, args), = spec.items()
        if kind == "choice":
            out[name] = Choice(args)
        elif kind in _KINDS:
            if not isinstance(args, list) or len(args) != 2:
                raise InputValueError(f"space[{name!r}]: {kind} needs [low, high], got {args!r}")
            out[name] = _KINDS[kind](*args)
        else:
            raise InputValueError(
                f"space[{name!r}]: unknown dimension {kind!r}; known: choice, int_range, "
                "log_uniform, uniform"
            )
    return out


def default_space() -> dict[str, Dimension]:
    """The space ``crossent tune`` searches by default: the four traced hyperparameters
    (so every method, population included, can search it).

    Learning rate log-uniform in [1e-4, 3e-2], weight decay log-uniform in [1e-6, 1e-1],
    label smoothing uniform in [0, 0.3], z-loss log-uniform in [1e-6, 1e-2]."""
    return {
        "label_smoothing": Uniform(0.0, 0.3),
        "learning_rate": LogUniform(1e-4, 3e-2),
        "weight_decay": LogUniform(1e-6, 1e-1),
        "z_loss": LogUniform(1e-6, 1e-2),
    }
