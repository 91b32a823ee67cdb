"""Class-axis plumbing shared by the softmax losses: axis layout, masks, soft-capping.

Internally every softmax loss works on ``[*batch, K]`` arrays: the class axes named by
``axis`` are moved to the end (and flattened when ``axis`` is a tuple, as optax does).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from crossent_jax import _validation as v


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
    raise ValueError(
        f"where must be a class mask broadcastable to the logits shape {shape} or an example "
        f"mask of the batch shape {bshape}, got shape {tuple(where.shape)}"
    )


def softcap(z: jax.Array, cap) -> jax.Array:
    """``cap·tanh(z/cap)`` (Gemma 2 logit soft-capping); identity when ``cap`` is None."""
    if cap is None:
        return z
    cap = jnp.asarray(cap, z.dtype)
    return cap * jnp.tanh(z / cap)


def valid_classes(z: jax.Array, class_mask):
    """Classes that take part in the softmax: not masked by ``where`` and not ``-inf``.

    Returns ``(valid [*batch, K], row_ok [*batch])``. Rows where no class is valid get all
    classes marked valid (so that the log-partition stays finite and no NaN reaches a
    gradient); callers replace their loss using ``row_ok``.
    """
    valid = ~jnp.isneginf(z)
    if class_mask is not None:
        valid = valid & class_mask
    row_ok = jnp.any(valid, axis=-1)
    valid = valid | ~row_ok[..., None]
    return valid, row_ok


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


@jax.custom_jvp
def count_and_sum_finite_below(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(n, s)`` over the last axis: the number of entries that are not ``-inf`` and their sum.

    One variadic reduction computes both, with the ``-inf`` test fused into it: two
    ``jnp.sum(jnp.where(...))`` would each materialise a ``[*batch, K]`` temporary on
    XLA:CPU, whose fast reductions do not fuse elementwise producers (variadic ones do).
    ``+inf`` and NaN entries are counted and summed like finite ones. The count is a
    constant of ``x`` (zero tangent); the sum's tangent is the sum of the tangents of the
    counted entries (a custom JVP, since a generic reduction is not differentiable; reverse
    mode transposes it into an elementwise ``where``, so it stays fused too).
    """
    keep = ~jnp.isneginf(x)
    zero = jnp.zeros((), x.dtype)
    n, s = jax.lax.reduce(
        (keep.astype(x.dtype), jnp.where(keep, x, zero)),
        (zero, zero),
        lambda a, b: (a[0] + b[0], a[1] + b[1]),
        (x.ndim - 1,),
    )
    return n, s


@count_and_sum_finite_below.defjvp
def _count_and_sum_finite_below_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    n, s = count_and_sum_finite_below(x)
    ds = jnp.sum(jnp.where(jnp.isneginf(x), jnp.zeros((), dx.dtype), dx), axis=-1)
    return (n, s), (jnp.zeros_like(n), ds)
