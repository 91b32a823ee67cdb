"""Cross-entropy, entropy and KL divergence between discrete probability vectors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from crossent_jax import _classes as c
from crossent_jax import _validation as v


def _prepare(p, q, axis, where):
    p = v.float_array(p, "p")
    if q is not None:
        q = v.float_array(q, "q")
        v.check_same_shape(p.shape, q.shape, "p", "q")
    axes = v.normalize_axes(axis, p.ndim, "p", p.shape)
    class_mask, example_mask = c.split_where(where, p.shape, axes)
    dt = v.compute_dtype(p.dtype, *(() if q is None else (q.dtype,)))
    p = c.to_last(p, axes).astype(dt)
    q = None if q is None else c.to_last(q, axes).astype(dt)
    keep = jnp.ones(p.shape, bool) if class_mask is None else class_mask
    if class_mask is not None:  # masked terms are sliced out: a NaN there reaches no gradient
        p = jnp.where(keep, p, 0)
        q = None if q is None else jnp.where(keep, q, 1)
    # excluded examples likewise (their value is 0 and their cotangent 0: 0·NaN would be NaN)
    p = c.keep_rows(p, example_mask)
    q = None if q is None else c.keep_rows(q, example_mask, fill=1)
    return p, q, keep, example_mask


def xlogy(p: jax.Array, q: jax.Array) -> jax.Array:
    """``p·log q`` with ``0·log 0 = 0``; ``p > 0, q = 0`` → −inf (``p < 0`` → +inf, a NaN
    ``p`` → NaN).

    The kit's one ``xlogy`` (the discrete losses and :func:`binary_cross_entropy` use it).

    The double ``where`` is on ``q`` (the unused branch sees ``log 1 = 0``, so reverse- and
    forward-mode stay finite). Guarding on ``p == 0`` instead would give the wrong
    derivative ``∂/∂p = 0`` at ``p = 0`` where the true one is ``log q``. At ``p = q = 0``
    (and for :func:`entropy`, ``p log p`` at ``p = 0``) the derivative is taken as 0.
    """
    q_zero = q == 0
    inner = p * jnp.log(jnp.where(q_zero, 1, q))
    at_zero = jnp.where(p > 0, -jnp.inf, jnp.where(p < 0, jnp.inf, jnp.nan))
    return jnp.where(q_zero, jnp.where(p == 0, 0, at_zero), inner)


def _finish(value, bad, keep_rows):
    value = jnp.where(bad, jnp.nan, value)
    if keep_rows is None:
        return value
    return jnp.where(keep_rows, value, 0)


def cross_entropy(
    p: ArrayLike,
    q: ArrayLike,
    *,
    axis: int | tuple[int, ...] = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Cross-entropy between discrete distributions: the seed's second formula.

    .. math::
        H(p, q) = -\sum_i p(x_i) \log q(x_i) = H(p) + \mathrm{KL}(p \,\|\, q)

    with ``0·log 0 = 0``; ``p_i > 0`` where ``q_i = 0`` gives ``+inf``.

    Args:
      p: ``[..., K, ...]`` probability vectors along ``axis`` (the "true" distribution).
      q: same shape: probability vectors (the model). Neither needs to be normalised, but a
        negative entry gives NaN for that example.
      axis: class axis or tuple of axes.
      where: boolean class mask (terms to include) broadcastable to ``p``, or example mask
        of the batch shape (excluded examples give 0).

    Returns:
      ``[*batch]`` cross-entropies in nats.

    Example:
      >>> from crossent_jax import cross_entropy
      >>> # the seed's dog/cat example: p = (1, 0), q = (0.8, 0.2) gives +0.223, not -0.223
      >>> print(cross_entropy([1.0, 0.0], [0.8, 0.2]).round(3))
      0.223

    References:
      Cover and Thomas, `Elements of Information Theory
      <https://doi.org/10.1002/047174882X>`_, 2006, §2.3
    """
    p, q, keep, ex = _prepare(p, q, axis, where)
    value = -jnp.sum(jnp.where(keep, xlogy(p, q), 0), axis=-1)
    bad = jnp.any(keep & ((p < 0) | (q < 0)), axis=-1)
    return _finish(value, bad, ex)


def entropy(
    p: ArrayLike,
    *,
    axis: int | tuple[int, ...] = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Shannon entropy of discrete distributions, in nats.

    .. math::
        H(p) = -\sum_i p_i \log p_i, \qquad 0 \log 0 = 0

    The gradient at ``p_i = 0`` is taken as 0 (the one-sided derivative is ``+inf``).

    Args:
      p: ``[..., K, ...]`` probability vectors along ``axis``; negative entries give NaN.
      axis: class axis or tuple of axes.
      where: boolean class mask broadcastable to ``p``, or example mask of the batch shape.

    Returns:
      ``[*batch]`` entropies.

    Example:
      >>> from crossent_jax import entropy
      >>> print(entropy([0.5, 0.5, 0.0]).round(4))  # log 2
      0.6931

    References:
      Shannon, `A Mathematical Theory of Communication
      <https://doi.org/10.1002/j.1538-7305.1948.tb01338.x>`_, 1948
    """
    p, _, keep, ex = _prepare(p, None, axis, where)
    value = -jnp.sum(jnp.where(keep, xlogy(p, p), 0), axis=-1)
    bad = jnp.any(keep & (p < 0), axis=-1)
    return _finish(value, bad, ex)


def kl_divergence(
    p: ArrayLike,
    q: ArrayLike,
    *,
    axis: int | tuple[int, ...] = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Kullback–Leibler divergence KL(p ‖ q) between discrete distributions, in nats.

    .. math::
        \mathrm{KL}(p \,\|\, q) = \sum_i p_i (\log p_i - \log q_i) = H(p, q) - H(p) \ge 0

    Computed term by term (not as a difference of two cross-entropies) so that it is exactly
    0 for ``p = q``. ``p_i > 0, q_i = 0`` gives ``+inf``; negative entries give NaN.

    Args:
      p: ``[..., K, ...]`` probability vectors along ``axis`` (the reference).
      q: same shape, the approximation.
      axis: class axis or tuple of axes.
      where: boolean class mask broadcastable to ``p``, or example mask of the batch shape.

    Returns:
      ``[*batch]`` divergences.

    Example:
      >>> from crossent_jax import kl_divergence
      >>> print(kl_divergence([1.0, 0.0], [0.8, 0.2]).round(3))
      0.223

    References:
      Kullback and Leibler, `On Information and Sufficiency
      <https://doi.org/10.1214/aoms/1177729694>`_, 1951
    """
    p, q, keep, ex = _prepare(p, q, axis, where)
    value = jnp.sum(jnp.where(keep, xlogy(p, p) - xlogy(p, q), 0), axis=-1)
    bad = jnp.any(keep & ((p < 0) | (q < 0)), axis=-1)
    return _finish(value, bad, ex)
