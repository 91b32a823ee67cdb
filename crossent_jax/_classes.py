"""Class-axis plumbing shared by the softmax losses: axis layout, masks, soft-capping.

Internally every softmax loss works on ``[*batch, K]`` arrays: the class axes named by
``axis`` are moved to the end (and flattened when ``axis`` is a tuple, as optax does).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from crossent_jax import _validation as v
from crossent_jax._errors import InputValueError


def batch_shape(shape, axes) -> tuple[int, ...]:
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def to_last(x: jax.Array, axes: tuple[int, ...]) -> jax.Array:
    """Move ``axes`` to the end and flatten them into one class axis ``K``."""
    nd = x.ndim
    if axes == (nd - 1,):
        return x
    rest = tuple(i for i in range(nd) if i not in axes)
    x = jnp.transpose(x, rest + axes)
    return x.reshape(x.shape[: len(rest)] + (-1,))


def from_last(x: jax.Array, shape, axes: tuple[int, ...]) -> jax.Array:
    """Inverse of :func:`to_last` for an array of the original ``shape``."""
    nd = len(shape)
    if axes == (nd - 1,):
        return x
    rest = tuple(i for i in range(nd) if i not in axes)
    x = x.reshape(tuple(shape[i] for i in rest) + tuple(shape[i] for i in axes))
    return jnp.transpose(x, np.argsort(rest + axes))


def split_where(where, shape, axes):
    """Resolve ``where`` into ``(class_mask [*batch, K] | None, example_mask [*batch] | None)``.

    A mask with as many dimensions as the logits (broadcastable to them) masks classes; a
    mask of exactly the batch shape (the logits' shape without ``axis``) masks examples.
    """
    if where is None:
        return None, None
    where = v.bool_array(where, "where")
    shape = tuple(shape)
    bshape = batch_shape(shape, axes)
    if where.ndim == len(shape):
        try:
            ok = np.broadcast_shapes(where.shape, shape) == shape
        except ValueError:
            ok = False
        if ok:
            return to_last(jnp.broadcast_to(where, shape), axes), None
    elif tuple(where.shape) == bshape:
        return None, where
    raise InputValueError(
        f"where must be a class mask broadcastable to the logits shape {shape} or an example "
        f"mask of the batch shape {bshape}, got shape {tuple(where.shape)}"
    )


def softcap(z: jax.Array, cap) -> jax.Array:
    """``cap·tanh(z/cap)`` (Gemma 2 logit soft-capping); identity when ``cap`` is None.

    A ``-inf`` logit stays ``-inf`` (a masked class stays masked; ``cap·tanh(−∞) = −cap``
    would silently unmask it)."""
    if cap is None:
        return z
    cap = jnp.asarray(cap, z.dtype)
    return jnp.where(jnp.isneginf(z), -jnp.inf, cap * jnp.tanh(z / cap))


def apply_class_mask(x: jax.Array, class_mask) -> jax.Array:
    """Masked classes become ``-inf`` logits: from here on ``-inf`` is the one mask."""
    return x if class_mask is None else jnp.where(class_mask, x, -jnp.inf)


def logsumexp(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Row-wise ``log Σ exp x`` over the last axis, and the rows with no finite entry.

    Like ``jax.nn.logsumexp`` (max-shifted), plus a double ``where`` on the sum so that a
    row of all ``-inf`` (every class masked, e.g. padding) gives ``lse = -inf`` with a
    *zero*, not NaN, gradient in both AD modes. The extra work is O(rows).

    Returns:
      ``(lse [*batch], empty [*batch])``.
    """
    m = jax.lax.stop_gradient(jnp.max(x, axis=-1))
    m = jnp.where(jnp.isfinite(m), m, 0)
    s = jnp.sum(jnp.exp(x - m[..., None]), axis=-1)
    empty = s == 0
    lse = jnp.log(jnp.where(empty, 1, s)) + m
    return jnp.where(empty, -jnp.inf, lse), empty


def check_options(*, label_smoothing, z_loss, logit_softcap, reduction) -> None:
    v.check_number(label_smoothing, "label_smoothing", low=0.0, high=1.0)
    v.check_number(z_loss, "z_loss", low=0.0)
    if logit_softcap is not None:
        v.check_number(logit_softcap, "logit_softcap", low=0.0, low_open=True)
    v.check_reduction(reduction)


def nan_if_bad_option(loss: jax.Array, label_smoothing) -> jax.Array:
    """Under ``jit`` a traced ``label_smoothing`` outside [0, 1] gives NaN, never a number."""
    if v.is_concrete(label_smoothing):
        return loss
    a = jnp.asarray(label_smoothing)
    return jnp.where((a >= 0) & (a <= 1), loss, jnp.nan)


def _row_sums(x: jax.Array, w: jax.Array | None):
    """One variadic reduction: (Σ_valid w·x, Σ_valid w, K_valid) over the last axis."""
    valid = x > -jnp.inf
    zero = jnp.zeros((), x.dtype)
    ops = [jnp.where(valid, x if w is None else w * x, zero), valid.astype(x.dtype)]
    if w is not None:
        ops.append(jnp.where(valid, jnp.broadcast_to(w, x.shape), zero))
    out = jax.lax.reduce(
        tuple(ops),
        tuple(zero for _ in ops),
        lambda a, b: tuple(p + q for p, q in zip(a, b, strict=True)),
        (x.ndim - 1,),
    )
    wx_sum, count = out[0], out[1]
    return wx_sum, (count if w is None else out[2]), count


@jax.custom_jvp
def masked_row_sums(x: jax.Array, w: jax.Array | None = None):
    """Row sums over valid (``> -inf``) classes: ``(Σ w_k x_k, Σ w_k, K_valid)``.

    Used by label smoothing on integer labels. It is one *variadic* reduction with its
    elementwise producers fused in, so no ``[batch, K]`` temporary is materialised (separate
    ``jnp.sum`` calls for the sum and the count each need one on XLA:CPU). The ``custom_jvp``
    only exists because ``lax.reduce`` with several operands has no differentiation rule; the
    rule is the exact derivative, written with differentiable ops, so every order of
    ``jvp``/``grad``/``hessian`` works. ``w`` (``[K]``, broadcast over rows) may be None.
    """
    return _row_sums(x, w)


@masked_row_sums.defjvp
def _masked_row_sums_jvp(primals, tangents):
    x, w = primals
    x_dot, w_dot = tangents
    out = masked_row_sums(x, w)
    valid = x > -jnp.inf
    zero = jnp.zeros((), x.dtype)
    wx = x_dot if w is None else w * x_dot
    if w is not None:
        wx = wx + w_dot * jnp.where(valid, x, zero)
    d_wx = jnp.sum(jnp.where(valid, wx, zero), axis=-1)
    d_w = jnp.zeros_like(out[1])
    if w is not None:
        d_w = jnp.sum(jnp.where(valid, jnp.broadcast_to(w_dot, x.shape), zero), axis=-1)
    return out, (d_wx, d_w, jnp.zeros_like(out[2]))
