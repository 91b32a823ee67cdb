"""Data sets for training: MNIST-1D (generated offline), scikit-learn digits, Gaussian blobs.

Every loader returns a :class:`Dataset` of float32 features standardised with the
*training* statistics (per feature mean and standard deviation; a constant feature is
divided by 1) and int32 labels.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os

import numpy as np

from crossent_jax._errors import InputValueError


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Arrays of one data set.

    Attributes:
      x_train: float32 ``[n_train, features]``.
      y_train: int32 ``[n_train]`` in ``[0, num_classes)``.
      x_test: float32 ``[n_test, features]``.
      y_test: int32 ``[n_test]``.
      num_classes: number of classes ``K``.
      name: the data set's name.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    name: str

    @property
    def num_features(self) -> int:
        return int(self.x_train.shape[1])


def cache_dir() -> str:
    """``$XDG_CACHE_HOME/crossent_jax`` (``~/.cache/crossent_jax`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "crossent_jax")


def _standardise(name, x_train, y_train, x_test, y_test, num_classes) -> Dataset:
    x_train = np.asarray(x_train, np.float64)
    x_test = np.asarray(x_test, np.float64)
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)  # a constant feature (digits' corner pixels) stays 0
    return Dataset(
        x_train=((x_train - mean) / std).astype(np.float32),
        y_train=np.asarray(y_train, np.int32),
        x_test=((x_test - mean) / std).astype(np.float32),
        y_test=np.asarray(y_test, np.int32),
        num_classes=int(num_classes),
        name=name,
    )


def _mnist1d_raw(**overrides) -> dict[str, np.ndarray]:
    """MNIST-1D from ``mnist1d.data.make_dataset`` with its default arguments, cached.

    ``overrides`` replace default arguments (tests use a small ``num_samples``).

    The package's ``get_dataset`` downloads a pickle; we never do: the data are generated
    locally (a few seconds) and cached as ``.npz`` keyed by a hash of the arguments.
    ``make_dataset`` reseeds numpy's *global* RNG, so its state is saved and restored.
    """
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args(as_dict=True)
    args.pop("url", None)
    unknown = sorted(set(overrides) - set(args))
    if unknown:
        raise InputValueError(f"unknown mnist1d arguments {unknown}; known: {sorted(args)}")
    args.update(overrides)
    key = hashlib.sha256(json.dumps(args, sort_keys=True).encode()).hexdigest()[:16]
    path = os.path.join(cache_dir(), f"mnist1d-{key}.npz")
    if os.path.exists(path):
        try:
            with np.load(path) as f:
                return {k: f[k] for k in ("x", "y", "x_test", "y_test")}
        except (OSError, ValueError, KeyError):
            pass  # a corrupt cache file is regenerated below
    state = np.random.get_state()
    try:
        full = get_dataset_args()
        for k, v in overrides.items():
            setattr(full, k, v)
        data = make_dataset(full)
    finally:
        np.random.set_state(state)
    raw = {k: np.asarray(data[k]) for k in ("x", "y", "x_test", "y_test")}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp.npz"
    np.savez(tmp, **raw)
    os.replace(tmp, path)  # atomic: concurrent runs never read half a file
    return raw


def _mnist1d() -> Dataset:
    raw = _mnist1d_raw()
    return _standardise("mnist1d", raw["x"], raw["y"], raw["x_test"], raw["y_test"], 10)


def _digits() -> Dataset:
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise InputValueError(
            "dataset 'digits' needs scikit-learn: pip install 'crossent_jax[digits]'"
        ) from e
    x, y = load_digits(return_X_y=True)
    perm = np.random.default_rng(0).permutation(len(y))  # fixed 80/20 split
    n_train = int(0.8 * len(y))
    tr, te = perm[:n_train], perm[n_train:]
    return _standardise("digits", x[tr], y[tr], x[te], y[te], 10)


def _blobs(n_train=512, n_test=256, features=8, classes=4, spread=1.5) -> Dataset:
    """Isotropic unit-variance Gaussian blobs around centres drawn from N(0, spread²)."""
    rng = np.random.default_rng(1234)
    centres = rng.normal(0.0, spread, size=(classes, features))
    n = n_train + n_test
    y = rng.integers(0, classes, size=n)
    x = centres[y] + rng.normal(size=(n, features))
    return _standardise("blobs", x[:n_train], y[:n_train], x[n_train:], y[n_train:], classes)


_LOADERS = {"mnist1d": _mnist1d, "digits": _digits, "blobs": _blobs}


def load_dataset(name: str) -> Dataset:
    """Load a data set by name: ``"mnist1d"``, ``"digits"`` or ``"blobs"``.

    Example:
      >>> from crossent_jax.train import load_dataset
      >>> ds = load_dataset("blobs")
      >>> ds.x_train.shape, ds.x_test.shape, ds.num_classes, ds.x_train.dtype
      ((512, 8), (256, 8), 4, dtype('float32'))
    """
    if name not in _LOADERS:
        raise InputValueError(f"unknown dataset {name!r}; known: {', '.join(sorted(_LOADERS))}")
    return _LOADERS[name]()
