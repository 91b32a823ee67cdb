"""Softmax cross-entropy from logits, with probability labels and with integer labels."""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from crossent_jax import _classes as c
from crossent_jax import _rowstats as rs
from crossent_jax import _validation as v
from crossent_jax._errors import InputTypeError, InputValueError
from crossent_jax._reduction import reduce_loss


def smooth_labels(
    labels: ArrayLike,
    alpha: float | ArrayLike,
    *,
    axis: int | tuple[int, ...] = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Label smoothing: mix the labels with the uniform distribution over valid classes.

    .. math::
        \tilde t_k = (1 - \alpha)\, t_k + \frac{\alpha}{K_{\mathrm{valid}}}\,[k \text{ valid}]

    where the valid classes are those not masked out by ``where`` (all ``K`` classes when
    ``where`` is None). Masked classes keep ``(1 − α)·t_k`` (normally 0).

    Args:
      labels: ``[..., K, ...]`` floating-point probability vectors along ``axis``.
      alpha: smoothing strength in ``[0, 1]``.
      axis: the class axis (or a tuple of axes, flattened into one class axis).
      where: optional boolean class mask broadcastable to ``labels``.

    Returns:
      ``[..., K, ...]`` smoothed labels, same shape and dtype as ``labels``.

    Example:
      >>> import jax.numpy as jnp
      >>> from crossent_jax import smooth_labels
      >>> print(smooth_labels(jnp.array([0.0, 1.0, 0.0, 0.0]), 0.2))
      [0.05 0.85 0.05 0.05]

    References:
      Szegedy et al, `Rethinking the Inception Architecture for Computer Vision
      <https://arxiv.org/abs/1512.00567>`_, 2016
    """
    labels = v.float_array(labels, "labels")
    v.check_number(alpha, "alpha", low=0.0, high=1.0)
    axes = v.normalize_axes(axis, labels.ndim, "labels", labels.shape)
    c.check_classes(labels.shape, axes, "labels")
    class_mask, example_mask = c.split_where(where, labels.shape, axes)
    if example_mask is not None:
        raise InputValueError(
            "smooth_labels takes a class mask broadcastable to labels "
            f"{tuple(labels.shape)}, got an example mask of shape {tuple(example_mask.shape)}"
        )
    t = c.to_last(labels, axes)
    out = _smooth(t, alpha, class_mask)
    out = c.nan_if_bad_option(out, alpha)
    return c.from_last(out, labels.shape, axes).astype(labels.dtype)


def _smooth(t: jax.Array, alpha, valid) -> jax.Array:
    if valid is None:
        return (1 - alpha) * t + alpha / t.shape[-1]
    k_valid = jnp.sum(valid, axis=-1, keepdims=True).astype(t.dtype)
    return (1 - alpha) * t + jnp.where(valid, alpha / jnp.maximum(k_valid, 1), 0)


def softmax_cross_entropy(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    axis: int | tuple[int, ...] = -1,
    where: ArrayLike | None = None,
    label_smoothing: float | ArrayLike = 0.0,
    z_loss: float | ArrayLike = 0.0,
    logit_softcap: float | None = None,
    reduction: str = "none",
) -> jax.Array:
    r"""Softmax cross-entropy between logits and probability labels.

    .. math::
        \ell(z, t) = -\sum_k \tilde t_k \log \operatorname{softmax}(x)_k
                     + \zeta \operatorname{lse}(x)^2,
        \qquad x = c \tanh(z / c),

    with :math:`\tilde t` the smoothed labels (:func:`smooth_labels`), :math:`\zeta` the
    z-loss weight and :math:`c` the soft-cap (``x = z`` when ``logit_softcap`` is None).
    Its gradient is exactly

    .. math::
        \frac{\partial \ell}{\partial x} = (1 + 2\zeta\,\operatorname{lse}(x))
            \operatorname{softmax}(x) - \tilde t

    (for labels summing to one), times :math:`1 - \tanh^2(z/c)` through the soft-cap; the
    gradient with respect to the labels is :math:`-(1-\alpha)\log\operatorname{softmax}(x)`.

    Values are computed from max-shifted logits (``Σ t̃·log s − Σ t̃ (x − m)`` with
    ``s = Σ exp(x − m)``), so they are exact for the given inputs at any offset.

    **Masked vs impossible.** Classes masked by a class-shaped ``where`` are *sliced out*
    (optax's convention): the loss equals the loss on ``x[mask]``, ``t[mask]`` — label mass
    on a masked class is dropped, and a row with no class left gives 0 and is not counted in
    a mean. A ``-inf`` logit is a class of probability 0: it is out of the softmax too
    (smoothing does not spread onto it), but label mass there gives ``+inf``
    (``p > 0, q = 0``); values and gradients stay finite wherever the label has no mass
    there. The loss is linear in the labels for any real values (no NaN for negative
    entries); :func:`crossent_jax.checked` validates them. NaN logits give NaN.

    Args:
      logits: ``[..., K, ...]`` floating-point logits (any real values, ``-inf`` allowed).
      labels: same shape as ``logits``: probability vectors along ``axis`` (floating; any
        real values are accepted — the loss is linear in them).
      axis: class axis, or a tuple of axes flattened into one class axis.
      where: boolean class mask broadcastable to ``logits`` (same number of dimensions), or
        boolean example mask of the batch shape (``logits`` without ``axis``).
      label_smoothing: α in ``[0, 1]``; ``t̃ = (1 − α)·t + α/K`` over valid classes.
      z_loss: ζ ≥ 0, adds ``ζ·lse(x)²`` per example (PaLM).
      logit_softcap: ``c > 0`` applies ``c·tanh(z/c)`` first (Gemma 2), or None.
      reduction: ``"none"`` (per-example, class axis removed), ``"mean"`` over counted
        examples (0.0 when none is counted) or ``"sum"``.

    Returns:
      ``[*batch]`` losses (float32 for 16-bit inputs) or a scalar when reduced.

    Example:
      >>> import jax.numpy as jnp
      >>> from crossent_jax import softmax_cross_entropy
      >>> logits = jnp.log(jnp.array([[0.1, 0.8, 0.1], [0.7, 0.1, 0.2]]))
      >>> labels = jnp.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
      >>> print(softmax_cross_entropy(logits, labels).round(3))  # -log 0.8, -log 0.1
      [0.223 2.303]

    References:
      Chowdhery et al, `PaLM: Scaling Language Modeling with Pathways
      <https://arxiv.org/abs/2204.02311>`_, 2022 (z-loss);
      Gemma Team, `Gemma 2 <https://arxiv.org/abs/2408.00118>`_, 2024 (soft-capping)
    """
    logits = v.float_array(logits, "logits")
    labels = v.float_array(labels, "labels")
    v.check_same_shape(logits.shape, labels.shape, "logits", "labels")
    axes = v.normalize_axes(axis, logits.ndim, "logits", logits.shape)
    c.check_classes(logits.shape, axes)
    c.check_options(
        label_smoothing=label_smoothing,
        z_loss=z_loss,
        logit_softcap=logit_softcap,
        reduction=reduction,
    )
    class_mask, example_mask = c.split_where(where, logits.shape, axes)

    dt = v.compute_dtype(logits.dtype, labels.dtype)
    z = c.keep_rows(c.to_last(logits, axes).astype(dt), example_mask)
    x = c.softcap(z, logit_softcap, class_mask)
    t = c.keep_rows(c.to_last(labels, axes).astype(dt), example_mask)
    smoothing = not v.static_zero(label_smoothing)
    stats = rs.soft_row_stats(x, t, class_mask, uniform=smoothing)
    loss = rs.row_loss(
        stats,
        label_smoothing=label_smoothing,
        z_loss=z_loss,
        smoothing=smoothing,
        zloss=not v.static_zero(z_loss),
    )
    loss = c.nan_if_bad_option(loss, label_smoothing, z_loss=z_loss, logit_softcap=logit_softcap)
    counted = c.counted_rows(example_mask, stats.n, class_mask)
    return reduce_loss(loss, counted=counted, reduction=reduction)


def softmax_cross_entropy_with_integer_labels(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    axis: int | tuple[int, ...] = -1,
    where: ArrayLike | None = None,
    ignore_index: int | None = None,
    label_smoothing: float | ArrayLike = 0.0,
    class_weights: ArrayLike | None = None,
    z_loss: float | ArrayLike = 0.0,
    logit_softcap: float | None = None,
    reduction: str = "none",
) -> jax.Array:
    r"""Softmax cross-entropy between logits and integer class labels.

    Computed as ``lse(x) − x[label]`` (no log-softmax over all classes, no one-hot): with
    label smoothing the uniform part is ``lse(x) − mean_valid(x)``, a row reduction, so
    memory stays O(batch) beyond the logits themselves.

    .. math::
        \ell_i = -\sum_k w_k \tilde t_{ik} \log \operatorname{softmax}(x_i)_k
                 + \zeta\, w_{y_i} \operatorname{lse}(x_i)^2,
        \qquad \tilde t_i = (1-\alpha)\,e_{y_i} + \alpha / K_{\mathrm{valid}}

    with class weights :math:`w` (all ones by default). Without smoothing this is
    :math:`w_{y_i}(\operatorname{lse}(x_i) - x_{i y_i})`; with smoothing the uniform part
    weights class :math:`k` by :math:`w_k`, which is PyTorch's ``F.cross_entropy``
    convention. Without class weights the gradient is exactly
    :math:`(1 + 2\zeta\operatorname{lse})\operatorname{softmax}(x) - \tilde t`.

    Args:
      logits: ``[..., K, ...]`` floating-point logits (``-inf`` allowed: a class of
        probability 0).
      labels: integer ``[*batch]`` class indices, the logits' shape without ``axis``. With a
        tuple ``axis`` the index is into the flattened (row-major) class axes, as in optax.
      axis: class axis or tuple of axes.
      where: boolean class mask broadcastable to ``logits`` or example mask ``[*batch]``.
      ignore_index: label value whose examples give 0 and are not counted (PyTorch's
        ``ignore_index``); None to disable.
      label_smoothing: α in ``[0, 1]``.
      class_weights: ``[K]`` non-negative floating weights (a negative one gives NaN), or None.
      z_loss: ζ ≥ 0, adds ``ζ·lse²`` (PaLM).
      logit_softcap: ``c > 0`` for ``c·tanh(z/c)`` (Gemma 2), or None.
      reduction: ``"none"``, ``"mean"`` (``Σ wᵢ lᵢ / Σ wᵢ`` over counted examples, 0.0 when
        nothing is counted) or ``"sum"``.

    Returns:
      ``[*batch]`` per-example losses, or a scalar. A label outside ``[0, K)`` (and not
      ``ignore_index``) gives NaN for that example. A label on a class masked by ``where``
      is sliced out with its class (no label mass left: only the smoothing part and the
      z-loss remain, exactly as for the one-hot soft label); a label on a ``-inf`` logit
      gives ``+inf``. Values are exact at any logit offset (``log s − (x_y − m)``).

    Example:
      >>> import jax.numpy as jnp
      >>> from crossent_jax import softmax_cross_entropy_with_integer_labels as ce
      >>> logits = jnp.log(jnp.array([[0.1, 0.8, 0.1], [0.7, 0.1, 0.2]]))
      >>> print(ce(logits, jnp.array([1, 1])).round(3))
      [0.223 2.303]
      >>> print(ce(logits, jnp.array([1, -100]), ignore_index=-100, reduction="mean").round(3))
      0.223

    References:
      `torch.nn.functional.cross_entropy
      <https://pytorch.org/docs/stable/generated/torch.nn.functional.cross_entropy.html>`_;
      Müller et al, `When Does Label Smoothing Help? <https://arxiv.org/abs/1906.02629>`_, 2019
    """
    logits = v.float_array(logits, "logits")
    labels = v.int_array(labels, "labels")
    axes = v.normalize_axes(axis, logits.ndim, "logits", logits.shape)
    num_classes = c.check_classes(logits.shape, axes)
    bshape = c.batch_shape(logits.shape, axes)
    if tuple(labels.shape) != bshape:
        raise InputValueError(
            f"Shape mismatch: labels must have the logits' shape without axis {axis!r}, i.e. "
            f"{bshape}, got {tuple(labels.shape)} (logits shape {tuple(logits.shape)})"
        )
    c.check_options(
        label_smoothing=label_smoothing,
        z_loss=z_loss,
        logit_softcap=logit_softcap,
        reduction=reduction,
    )
    if ignore_index is not None and (
        isinstance(ignore_index, (bool, np.bool_)) or not isinstance(ignore_index, numbers.Integral)
    ):
        raise InputTypeError(f"ignore_index must be an int or None, got {ignore_index!r}")
    class_mask, example_mask = c.split_where(where, logits.shape, axes)

    dt = v.compute_dtype(logits.dtype)
    counted = example_mask
    if ignore_index is not None:
        keep = labels != ignore_index
        counted = keep if counted is None else counted & keep
    z = c.keep_rows(c.to_last(logits, axes).astype(dt), counted)
    x = c.softcap(z, logit_softcap, class_mask)
    w = None
    if class_weights is not None:
        w = v.float_array(class_weights, "class_weights")
        if tuple(w.shape) != (num_classes,):
            raise InputValueError(
                f"class_weights must have shape ({num_classes},) (one weight per class), "
                f"got {tuple(w.shape)}"
            )
        w = w.astype(dt)

    in_range = (labels >= 0) & (labels < num_classes)
    safe = jnp.where(in_range, labels, 0)
    smoothing = not v.static_zero(label_smoothing)
    w_row = None if w is None else w.reshape((1,) * (x.ndim - 1) + (num_classes,))
    stats = rs.integer_row_stats(x, safe, class_mask, w_row, uniform=smoothing)
    w_label = None if w is None else jnp.take(w, safe)
    loss = rs.row_loss(
        stats,
        label_smoothing=label_smoothing,
        z_loss=z_loss,
        w_label=w_label,
        smoothing=smoothing,
        zloss=not v.static_zero(z_loss),
    )
    loss = jnp.where(in_range, loss, jnp.nan)
    if w is not None:  # a negative class weight would make a plausible-looking loss
        loss = jnp.where(jnp.any(w < 0), jnp.nan, loss)
    loss = c.nan_if_bad_option(loss, label_smoothing, z_loss=z_loss, logit_softcap=logit_softcap)

    counted = c.counted_rows(counted, stats.n, class_mask)
    return reduce_loss(loss, counted=counted, weight=w_label, reduction=reduction)
