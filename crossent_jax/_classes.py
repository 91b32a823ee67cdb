"""Class-axis plumbing shared by the softmax losses: axis layout, masks, soft-capping, options.

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


def check_classes(shape, axes, name: str = "logits") -> int:
    """The number of classes ``K`` (product of the class axes); ``InputValueError`` if 0."""
    k = int(np.prod([shape[i] for i in axes], dtype=np.int64))
    if k == 0:
        raise InputValueError(
            f"{name} have no classes: the class axis {axes if len(axes) > 1 else axes[0]} of "
            f"shape {tuple(shape)} has size 0 (a softmax needs at least one class)"
        )
    return k


def check_options(*, label_smoothing, z_loss, logit_softcap, reduction) -> None:
    v.check_number(label_smoothing, "label_smoothing", low=0.0, high=1.0)
    v.check_number(z_loss, "z_loss", low=0.0)
    if logit_softcap is not None:
        v.check_number(logit_softcap, "logit_softcap", low=0.0, low_open=True)
    v.check_reduction(reduction)


def nan_if_bad_option(loss: jax.Array, label_smoothing=0.0, *, z_loss=0.0, logit_softcap=None):
    """Under ``jit`` an option traced to an invalid value gives NaN, never a number:
    ``label_smoothing`` outside [0, 1], a negative ``z_loss``, a ``logit_softcap`` ≤ 0 (or
    NaN). Concrete values were already checked (and raised) by :func:`check_options`."""
    ok = None

    def both(a, b):
        return b if a is None else a & b

    if not v.is_concrete(label_smoothing):
        a = jnp.asarray(label_smoothing)
        ok = both(ok, (a >= 0) & (a <= 1))
    if not v.is_concrete(z_loss):
        ok = both(ok, jnp.asarray(z_loss) >= 0)
    if logit_softcap is not None and not v.is_concrete(logit_softcap):
        ok = both(ok, jnp.asarray(logit_softcap) > 0)
    return loss if ok is None else jnp.where(ok, loss, jnp.nan)


def counted_rows(example_mask, kept_count, class_mask) -> jax.Array | None:
    """Rows that count in a mean: not excluded by an example mask, and (with a class mask)
    with at least one class left. None means all."""
    if class_mask is None:
        return example_mask
    has = kept_count > 0
    return has if example_mask is None else example_mask & has
