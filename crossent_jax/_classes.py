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


def softcap(z: jax.Array, cap, kept=None) -> jax.Array:
    """``cap·tanh(z/cap)`` (Gemma 2 logit soft-capping); identity when ``cap`` is None.

    A ``-inf`` logit stays ``-inf`` (``cap·tanh(−∞) = −cap`` would silently make a class of
    probability 0 possible). Classes not ``kept`` (sliced out by a class mask) are capped
    as 0 by a double ``where``, so a NaN there reaches no gradient."""
    if cap is None:
        return z
    cap = jnp.asarray(cap, z.dtype)
    zero = jnp.zeros((), z.dtype)
    if kept is not None:
        z = jnp.where(kept, z, zero)
    neg = jnp.isneginf(z)  # double `where`: the capped branch never sees −inf (NaN derivatives)
    return jnp.where(neg, -jnp.inf, _capped(jnp.where(neg, zero, z), cap))


@jax.custom_jvp
def _capped(z, cap):
    """``cap·tanh(z/cap)``, differentiated through ``sech² = 1/cosh²`` instead of JAX's
    ``1 − tanh²``: the latter cancels where the cap saturates, which loses most digits of
    the second derivative in float32 (and the rule, written with differentiable ops, is
    exact to every order)."""
    return cap * jnp.tanh(z / cap)


@_capped.defjvp
def _capped_jvp(primals, tangents):
    z, cap = primals
    dz, dcap = tangents
    u = z / cap
    sech2 = 1 / jnp.cosh(u) ** 2  # cosh overflows to inf far out: sech² → 0, exactly right
    t = jnp.tanh(u)
    return cap * t, sech2 * dz + (t - u * sech2) * dcap


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
    v.check_number(z_loss, "z_loss", low=0.0, finite=True)
    if logit_softcap is not None:
        v.check_number(logit_softcap, "logit_softcap", low=0.0, low_open=True, finite=True,
                       hint=" (logit_softcap=None turns soft-capping off)")
    v.check_reduction(reduction)


def nan_if_bad_option(loss: jax.Array, label_smoothing=0.0, *, z_loss=0.0, logit_softcap=None):
    """Under ``jit`` an option traced to an invalid value gives NaN, never a number:
    ``label_smoothing`` outside [0, 1], a negative or infinite ``z_loss``, a
    ``logit_softcap`` ≤ 0 or infinite (or NaN for any). Concrete values were already checked
    (and raised) by :func:`check_options`."""
    ok = None

    def both(a, b):
        return b if a is None else a & b

    if not v.is_concrete(label_smoothing):
        a = jnp.asarray(label_smoothing)
        ok = both(ok, (a >= 0) & (a <= 1))
    if not v.is_concrete(z_loss):
        z = jnp.asarray(z_loss)
        ok = both(ok, (z >= 0) & jnp.isfinite(z))
    if logit_softcap is not None and not v.is_concrete(logit_softcap):
        c = jnp.asarray(logit_softcap)
        ok = both(ok, (c > 0) & jnp.isfinite(c))
    return loss if ok is None else jnp.where(ok, loss, jnp.nan)


def counted_rows(example_mask, kept_count, class_mask) -> jax.Array | None:
    """Rows that count in a mean: not excluded by an example mask, and (with a class mask)
    with at least one class left. None means all."""
    if class_mask is None:
        return example_mask
    has = kept_count > 0
    return has if example_mask is None else example_mask & has


def keep_rows(x: jax.Array, rows: jax.Array | None, fill=0) -> jax.Array:
    """``x`` (``[*batch, K]``) with the rows that do not count replaced by ``fill``: a NaN or
    inf in an excluded example (padding, ``ignore_index``) then reaches neither the value
    nor the gradient (its cotangent is 0, and 0·NaN would be NaN)."""
    if rows is None:
        return x
    return jnp.where(rows[..., None], x, jnp.asarray(fill, x.dtype))
