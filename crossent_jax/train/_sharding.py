"""Data parallelism with ``jax.sharding``: batch split over a 1-D mesh, parameters replicated.

Every step sees a batch of ``padded_batch_size(batch_size, n_devices)`` rows (the smallest
multiple of the device count ≥ ``batch_size``) sharded along the ``"data"`` mesh axis;
parameters and optimizer state are replicated on every device, and XLA inserts the
all-reduce of the gradients. Rows that do not hold a real example (the remainder when
``batch_size`` does not divide by the device count, and the end of the last, short batch
of an epoch) are *padding*: index 0 with ``mask = False``. The objectives average over
masked-in rows only, so a padded batch gives the same loss and gradient as the unpadded
one — the run matches a single device up to the order of floating-point sums.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from crossent_jax._errors import InputValueError

AXIS = "data"


def make_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh with axis ``"data"`` over ``devices`` (default: all of them)."""
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise InputValueError("need at least one device, got an empty list")
    return Mesh(np.array(devices), (AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (batch) axis split over ``"data"``."""
    return NamedSharding(mesh, PartitionSpec(AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    """The same full copy on every device."""
    return NamedSharding(mesh, PartitionSpec())


def step_batch_sharding(mesh: Mesh, ndim: int = 2) -> NamedSharding:
    """An epoch's index arrays ``[steps, ..., B']``: the last (batch) axis split over
    ``"data"``."""
    return NamedSharding(mesh, PartitionSpec(*([None] * (ndim - 1)), AXIS))


def padded_batch_size(batch_size: int, n_devices: int) -> int:
    """Smallest multiple of ``n_devices`` that is ≥ ``batch_size``.

    Example:
      >>> from crossent_jax.train._sharding import padded_batch_size
      >>> padded_batch_size(10, 4), padded_batch_size(128, 4), padded_batch_size(3, 1)
      (12, 128, 3)
    """
    return -(-batch_size // n_devices) * n_devices


def epoch_batches(
    perm: np.ndarray, batch_size: int, n_devices: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split a permutation into padded batches: ``(indices, mask)``, both ``[steps, B']``.

    ``steps = ceil(len(perm) / batch_size)``; batch ``s`` holds ``perm[s·B:(s+1)·B]`` in its
    first rows and padding (index 0, mask False) after them, with ``B' =
    padded_batch_size(batch_size, n_devices)``.

    Example:
      >>> import numpy as np
      >>> from crossent_jax.train._sharding import epoch_batches
      >>> idx, mask = epoch_batches(np.array([4, 2, 0, 1, 3]), 2, 3)
      >>> idx.tolist(), mask.astype(int).tolist()
      ([[4, 2, 0], [0, 1, 0], [3, 0, 0]], [[1, 1, 0], [1, 1, 0], [1, 0, 0]])
    """
    n = len(perm)
    steps = -(-n // batch_size)
    width = padded_batch_size(batch_size, n_devices)
    idx = np.zeros((steps, width), np.int64)
    mask = np.zeros((steps, width), bool)
    for s in range(steps):
        chunk = perm[s * batch_size : (s + 1) * batch_size]
        idx[s, : len(chunk)] = chunk
        mask[s, : len(chunk)] = True
    return idx, mask


def pad_rows(x: np.ndarray, n_devices: int) -> tuple[np.ndarray, np.ndarray]:
    """Pad ``x`` with zero rows to a multiple of ``n_devices``; returns ``(x, mask)``."""
    n = x.shape[0]
    width = padded_batch_size(max(n, 1), n_devices)
    out = np.zeros((width, *x.shape[1:]), x.dtype)
    out[:n] = x
    mask = np.zeros((width,), bool)
    mask[:n] = True
    return out, mask
