"""The one place where example masks, example weights and reductions are resolved.

Semantics (PyTorch's for weights, with one deliberate difference):

* ``"none"``: the per-example values (already weighted by the caller) for counted examples
  and exactly ``0`` for the others (``where`` false, ``ignore_index``). Zeroing uses
  ``jnp.where`` *before* any arithmetic, so a NaN or inf in an ignored example never
  leaks into the value; the losses also replace an excluded example's *inputs* before
  computing (``_classes.keep_rows``), so it never leaks into gradients either.
* ``"sum"``: ``Σ wᵢ lᵢ`` over counted examples.
* ``"mean"``: ``Σ wᵢ lᵢ / Σ wᵢ`` over counted examples, and ``0.0`` (not NaN, unlike
  PyTorch) when nothing is counted, so a fully padded batch does not poison a training step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def reduce_loss(
    loss: jax.Array,
    *,
    counted: jax.Array | None = None,
    weight: jax.Array | None = None,
    reduction: str = "none",
) -> jax.Array:
    """Apply an example mask, example weights and a reduction to per-example losses.

    Args:
      loss: per-example losses ``wᵢ·lᵢ``, any shape ``[*batch]`` (weights already applied).
      counted: boolean ``[*batch]`` (or broadcastable), True where an example counts.
      weight: non-negative ``[*batch]`` example weights ``wᵢ`` (class weights of the
        labels), used only as the denominator of ``"mean"``; None means all ones.
      reduction: ``"none"``, ``"mean"`` or ``"sum"`` (already validated).

    Returns:
      ``[*batch]`` for ``"none"``, a scalar otherwise.
    """
    value = loss
    if counted is not None:
        counted = jnp.broadcast_to(counted, loss.shape)
        value = jnp.where(counted, value, jnp.zeros((), loss.dtype))
    if reduction == "none":
        return value
    total = jnp.sum(value)
    if reduction == "sum":
        return total
    # mean: Σ wᵢ lᵢ / Σ wᵢ over counted examples; 0 when the denominator is 0.
    if weight is None:
        denom = (
            jnp.asarray(loss.size, loss.dtype)
            if counted is None
            else jnp.sum(counted, dtype=loss.dtype)
        )
    else:
        w = jnp.broadcast_to(weight.astype(loss.dtype), loss.shape)
        denom = jnp.sum(w if counted is None else jnp.where(counted, w, 0))
    safe = jnp.where(denom == 0, jnp.ones((), loss.dtype), denom)
    return jnp.where(denom == 0, jnp.zeros((), loss.dtype), total / safe)
