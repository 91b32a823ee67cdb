"""Classification metrics on predicted probabilities: accuracy, NLL, ECE, Brier score.

All functions take ``probs [N, K]`` (rows are probability distributions) and integer
``labels [N]``, return a scalar ``jax.Array`` and are jit-compatible.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from crossent_jax._errors import InputTypeError, InputValueError


def _check(probs: ArrayLike, labels: ArrayLike) -> tuple[jax.Array, jax.Array]:
    probs = jnp.asarray(probs)
    labels = jnp.asarray(labels)
    if probs.ndim != 2 or labels.shape != probs.shape[:1]:
        raise InputValueError(
            f"Shape mismatch: expected probs [N, K] and labels [N], got {tuple(probs.shape)} "
            f"and {tuple(labels.shape)}"
        )
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise InputTypeError(f"labels must be integers, got {labels.dtype}")
    return probs, labels


def accuracy(probs: ArrayLike, labels: ArrayLike) -> jax.Array:
    """Fraction of examples whose arg-max class is the label (ties: the first maximum).

    Example:
      >>> from crossent_jax.train import accuracy
      >>> print(accuracy([[0.9, 0.1], [0.6, 0.4]], [0, 1]))
      0.5
    """
    probs, labels = _check(probs, labels)
    return jnp.mean((jnp.argmax(probs, axis=-1) == labels).astype(probs.dtype))


def nll(probs: ArrayLike, labels: ArrayLike) -> jax.Array:
    r"""Mean negative log-likelihood :math:`-\frac1N\sum_i \log p_{i, y_i}`.

    ``p`` is clipped below at the dtype's smallest normal number so a zero probability gives
    a large finite value (≈ 87.3 in float32) instead of ``inf``.

    Example:
      >>> from crossent_jax.train import nll
      >>> print(nll([[0.5, 0.5], [0.25, 0.75]], [0, 1]).round(4))  # (ln 2 + ln 4/3) / 2
      0.4904
    """
    probs, labels = _check(probs, labels)
    p = jnp.take_along_axis(probs, labels[:, None], axis=-1)[:, 0]
    return -jnp.mean(jnp.log(jnp.maximum(p, jnp.finfo(probs.dtype).tiny)))


def brier(probs: ArrayLike, labels: ArrayLike) -> jax.Array:
    r"""Multi-class Brier score :math:`\frac1N \sum_i \sum_k (p_{ik} - [y_i = k])^2`.

    Brier's original definition, summed over classes, so it lies in ``[0, 2]`` (0 is
    perfect; a uniform prediction over ``K`` classes scores ``1 − 1/K``).

    Example:
      >>> from crossent_jax.train import brier
      >>> print(brier([[0.5, 0.5], [0.0, 1.0]], [0, 1]))  # (0.25 + 0.25 + 0) / 2
      0.25

    References:
      Brier, `Verification of forecasts expressed in terms of probability
      <https://doi.org/10.1175/1520-0493(1950)078%3C0001:VOFEIT%3E2.0.CO;2>`_, 1950
    """
    probs, labels = _check(probs, labels)
    onehot = jax.nn.one_hot(labels, probs.shape[-1], dtype=probs.dtype)
    return jnp.mean(jnp.sum((probs - onehot) ** 2, axis=-1))


def reliability_bins(
    probs: ArrayLike, labels: ArrayLike, *, num_bins: int = 15
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Per-bin ``(count, accuracy, mean confidence)`` of the top-class confidence.

    Bins are ``num_bins`` equal-width intervals of ``[0, 1]``: bin ``m`` (``m = 1..M``) is
    ``((m−1)/M, m/M]``, with confidence exactly 0 put in the first bin. Accuracy and
    confidence are 0 in an empty bin. Returns three ``[num_bins]`` arrays.
    """
    probs, labels = _check(probs, labels)
    if isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins < 1:
        raise InputValueError(f"num_bins must be a positive int, got {num_bins!r}")
    conf = jnp.max(probs, axis=-1)
    correct = (jnp.argmax(probs, axis=-1) == labels).astype(probs.dtype)
    # ceil(conf·M) − 1 maps (m−1)/M < c ≤ m/M to bin m−1 (0-based); clip puts c = 0 in bin 0
    idx = jnp.clip(jnp.ceil(conf * num_bins).astype(jnp.int32) - 1, 0, num_bins - 1)
    onehot = jax.nn.one_hot(idx, num_bins, dtype=probs.dtype)  # [N, M]
    count = jnp.sum(onehot, axis=0)
    safe = jnp.maximum(count, 1)
    acc = jnp.sum(onehot * correct[:, None], axis=0) / safe
    mean_conf = jnp.sum(onehot * conf[:, None], axis=0) / safe
    return count, acc, mean_conf


def ece(probs: ArrayLike, labels: ArrayLike, *, num_bins: int = 15) -> jax.Array:
    r"""Expected calibration error with ``num_bins`` equal-width confidence bins.

    .. math::
        \mathrm{ECE} = \sum_{m=1}^{M} \frac{|B_m|}{N}\,
            \big|\operatorname{acc}(B_m) - \operatorname{conf}(B_m)\big|

    where :math:`B_m` holds the examples whose top-class confidence :math:`\max_k p_{ik}`
    falls in ``((m−1)/M, m/M]`` (see :func:`reliability_bins`), ``acc`` is the fraction of
    them classified correctly and ``conf`` their mean confidence. ``M = 15`` follows Guo et
    al. (2017).

    Example:
      >>> from crossent_jax.train import ece
      >>> # both in bin (0.8, 0.867]: accuracy 1/2, confidence 0.85 -> |0.5 − 0.85|
      >>> print(ece([[0.85, 0.15], [0.85, 0.15]], [0, 1]).round(4))
      0.35

    References:
      Guo et al, `On Calibration of Modern Neural Networks
      <https://arxiv.org/abs/1706.04599>`_, 2017
    """
    probs, labels = _check(probs, labels)
    count, acc, conf = reliability_bins(probs, labels, num_bins=num_bins)
    return jnp.sum(count * jnp.abs(acc - conf)) / probs.shape[0]


def all_metrics(probs: ArrayLike, labels: ArrayLike, *, num_bins: int = 15) -> dict:
    """``{"accuracy", "nll", "ece", "brier"}`` as Python floats."""
    return {
        "accuracy": float(accuracy(probs, labels)),
        "nll": float(nll(probs, labels)),
        "ece": float(ece(probs, labels, num_bins=num_bins)),
        "brier": float(brier(probs, labels)),
    }
