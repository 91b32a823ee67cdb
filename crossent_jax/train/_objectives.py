"""Training objectives from this kit, and the probabilities the metrics are computed on.

Each objective maps ``(logits [B, K], labels [B], mask [B] bool)`` to the mean loss over
the examples where ``mask`` is True (padding examples have mask False and contribute
nothing, so a padded batch gives exactly the loss of the unpadded one).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from crossent_jax._binary import sigmoid_binary_cross_entropy
from crossent_jax._errors import InputValueError
from crossent_jax._reduction import reduce_loss
from crossent_jax._softmax import softmax_cross_entropy_with_integer_labels


def objective(
    logits: jax.Array,
    labels: jax.Array,
    mask: jax.Array,
    *,
    loss: str,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
) -> jax.Array:
    r"""Mean training loss over the masked-in examples.

    * ``"softmax_cross_entropy"``: :func:`crossent_jax.softmax_cross_entropy_with_integer_labels`
      with ``label_smoothing`` α and ``z_loss`` ζ.
    * ``"sigmoid"``: one-vs-rest, :math:`\sum_k \mathrm{BCE}(x_k, [y = k])` per example with
      :func:`crossent_jax.sigmoid_binary_cross_entropy` (targets smoothed towards 1/2).
    * ``"mse"``: :math:`\sum_k (\operatorname{softmax}(x)_k - [y = k])^2` per example, the
      squared error on probabilities (its gradient carries a factor ``p(1 − p)`` that vanishes
      for confident wrong predictions, unlike cross-entropy's ``p − t``).

    Example:
      >>> import jax.numpy as jnp
      >>> from crossent_jax.train import objective
      >>> logits = jnp.zeros((2, 4), jnp.float32)
      >>> mask = jnp.array([True, False])
      >>> print(objective(logits, jnp.array([0, 3]), mask, loss="softmax_cross_entropy"))  # ln 4
      1.386...
    """
    if loss == "softmax_cross_entropy":
        return softmax_cross_entropy_with_integer_labels(
            logits,
            labels,
            where=mask,
            label_smoothing=label_smoothing,
            z_loss=z_loss,
            reduction="mean",
        )
    onehot = jax.nn.one_hot(labels, logits.shape[-1], dtype=logits.dtype)
    if loss == "sigmoid":
        per_class = sigmoid_binary_cross_entropy(logits, onehot, label_smoothing=label_smoothing)
        per_example = jnp.sum(per_class, axis=-1)
    elif loss == "mse":
        per_example = jnp.sum((jax.nn.softmax(logits, axis=-1) - onehot) ** 2, axis=-1)
    else:
        raise InputValueError(f"unknown loss {loss!r}; known: mse, sigmoid, softmax_cross_entropy")
    return reduce_loss(per_example, counted=mask, reduction="mean")


def predict_proba(logits: jax.Array, *, loss: str) -> jax.Array:
    """Class probabilities ``[B, K]`` for the metrics.

    ``softmax(logits)`` for softmax cross-entropy and mse; for the one-vs-rest sigmoid loss
    the per-class ``sigmoid(logits)`` normalised to sum to 1.
    """
    if loss == "sigmoid":
        p = jax.nn.sigmoid(logits)
        return p / jnp.sum(p, axis=-1, keepdims=True)
    return jax.nn.softmax(logits, axis=-1)
