"""Binary cross-entropy: from logits (stable, via log-sigmoid) and from probabilities."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from crossent_jax import _classes as c
from crossent_jax import _validation as v
from crossent_jax._discrete import xlogy
from crossent_jax._errors import InputTypeError, InputValueError
from crossent_jax._reduction import reduce_loss


def _broadcast(logits, labels, names=("logits", "labels")):
    if tuple(logits.shape) != tuple(labels.shape):
        raise InputValueError(
            f"Shape mismatch: {names[0]} has shape {tuple(logits.shape)} but {names[1]} has "
            f"shape {tuple(labels.shape)}; they must be equal"
        )


def _float_dtypes(*arrays) -> tuple:
    """The dtypes of the floating ones among ``arrays`` (int / bool labels do not promote)."""
    return tuple(a.dtype for a in arrays if jnp.issubdtype(a.dtype, jnp.floating))


def _logit_bce(x: jax.Array, t: jax.Array, pw: jax.Array | None) -> jax.Array:
    """``pw·t·softplus(−x) + (1 − t)·softplus(x)``, i.e. ``−[pw·t log σ(x) + (1−t) log σ(−x)]``.

    ``softplus`` is stable for any finite logit. At ``x = ±inf`` one of the two terms is
    ``0·inf``: where a coefficient is 0 and its ``softplus`` is infinite the term is exactly
    0 (a certain, correct prediction costs nothing), by a double ``where`` so that the
    gradient stays ``σ(x)(1 − t + pw·t) − pw·t`` (finite) there too. A wrong certain
    prediction still costs ``+inf``.
    """
    a = t if pw is None else pw * t  # coefficient of −log σ(x)
    b = 1 - t  # coefficient of −log σ(−x)
    zero = jnp.zeros((), x.dtype)
    guard_a = (a == 0) & jnp.isneginf(x)
    guard_b = (b == 0) & jnp.isposinf(x)
    term_a = jnp.where(guard_a, zero, a * jax.nn.softplus(-jnp.where(guard_a, zero, x)))
    term_b = jnp.where(guard_b, zero, b * jax.nn.softplus(jnp.where(guard_b, zero, x)))
    return term_a + term_b


def sigmoid_binary_cross_entropy(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    label_smoothing: float | ArrayLike = 0.0,
    pos_weight: ArrayLike | None = None,
    reduction: str = "none",
) -> jax.Array:
    r"""Element-wise binary cross-entropy from logits (one-vs-rest / multi-label).

    .. math::
        \ell(x, t) = -\big[\, w_+\, \tilde t \log \sigma(x) + (1 - \tilde t) \log \sigma(-x) \big],
        \qquad \tilde t = (1-\alpha)\, t + \alpha / 2

    computed as ``w₊·t̃·softplus(−x) + (1 − t̃)·softplus(x)``, accurate for logits of any
    size and exact at ``x = ±inf``: a certain, correct prediction costs 0 and a certain,
    wrong one ``+inf``. The gradient is
    :math:`\sigma(x)(1 - \tilde t + w_+ \tilde t) - w_+ \tilde t`, i.e.
    :math:`\sigma(x) - \tilde t` without ``pos_weight`` (finite at ``±inf`` too; there the
    derivative with respect to the labels, exactly ``∓inf``, is taken as 0).

    Args:
      logits: ``[...]`` floating-point logits.
      labels: same shape: targets in ``[0, 1]`` (float, int or bool); outside it, NaN.
      label_smoothing: α in ``[0, 1]``, pulls targets towards 1/2.
      pos_weight: non-negative weight of the positive term, broadcastable to ``labels``
        without enlarging them (e.g. ``[C]`` per class), as PyTorch's
        ``BCEWithLogitsLoss(pos_weight=...)``; None means 1. A negative entry gives NaN.
      reduction: ``"none"`` (element-wise), ``"mean"`` or ``"sum"`` over all elements.

    Returns:
      Same shape as ``logits`` (float32 for 16-bit inputs), or a scalar.

    Example:
      >>> import jax.numpy as jnp
      >>> from crossent_jax import sigmoid_binary_cross_entropy
      >>> logits = jnp.log(jnp.array([0.8, 0.2]) / (1 - jnp.array([0.8, 0.2])))
      >>> print(sigmoid_binary_cross_entropy(logits, jnp.array([1.0, 0.0])).round(3))
      [0.223 0.223]

    References:
      `torch.nn.BCEWithLogitsLoss
      <https://pytorch.org/docs/stable/generated/torch.nn.BCEWithLogitsLoss.html>`_
    """
    logits = v.float_array(logits, "logits")
    labels = v.real_array(labels, "labels")
    _broadcast(logits, labels)
    v.check_number(label_smoothing, "label_smoothing", low=0.0, high=1.0)
    v.check_reduction(reduction)
    dt = v.compute_dtype(logits.dtype, *_float_dtypes(labels))
    x = logits.astype(dt)
    t = labels.astype(dt)
    pw = None
    if pos_weight is not None:
        pw = v.float_array(pos_weight, "pos_weight")
        try:
            ok = jnp.broadcast_shapes(pw.shape, x.shape) == tuple(x.shape)
        except ValueError:
            ok = False
        if not ok:
            raise InputValueError(
                f"pos_weight must be broadcastable to labels {tuple(x.shape)} without enlarging "
                f"them, got shape {tuple(pw.shape)}"
            )
        pw = pw.astype(dt)
        if pw.ndim < x.ndim:
            pw = pw.reshape((1,) * (x.ndim - pw.ndim) + pw.shape)
    ts = t if v.static_zero(label_smoothing) else (1 - label_smoothing) * t + label_smoothing / 2
    loss = _logit_bce(x, ts, pw)
    loss = jnp.where((t < 0) | (t > 1), jnp.nan, loss)  # a target of 2 is not a number to fit
    if pw is not None:  # a negative weight would give a negative, plausible-looking loss
        loss = jnp.where(pw < 0, jnp.nan, loss)
    loss = c.nan_if_bad_option(loss, label_smoothing)
    return reduce_loss(loss, reduction=reduction)


def binary_cross_entropy(
    probs: ArrayLike,
    labels: ArrayLike,
    *,
    positive_only: bool = False,
    reduction: str = "none",
) -> jax.Array:
    r"""Element-wise binary cross-entropy from probabilities: the seed's third formula.

    .. math::
        \ell(y, t) = -\big[\, t \log y + (1 - t) \log (1 - y) \big]
        \qquad\text{or, with ``positive_only``,}\qquad \ell(y, t) = -t \log y

    The ``positive_only`` form is the formula :math:`L = -\frac1N \sum_n t_n \log y_n` of the
    seed article: it ignores the examples with ``t = 0`` entirely, so a model that predicts
    ``y = 1`` for everything scores 0. Use it only to reproduce that article; the full form
    is the cross-entropy of the Bernoulli distributions ``(t, 1−t)`` and ``(y, 1−y)``.
    ``0·log 0 = 0``; probabilities outside ``[0, 1]`` give NaN. Prefer
    :func:`sigmoid_binary_cross_entropy` on logits for training (stable for tiny ``y``).

    Args:
      probs: ``[...]`` predicted probabilities of the positive class, in ``[0, 1]``.
      labels: same shape: targets in ``[0, 1]`` (float, int or bool).
      positive_only: keep only the ``t log y`` term (see above).
      reduction: ``"none"``, ``"mean"`` or ``"sum"`` over all elements.

    Returns:
      Same shape as ``probs``, or a scalar.

    Example:
      >>> import jax.numpy as jnp
      >>> from crossent_jax import binary_cross_entropy
      >>> # The seed's 5-image table (dog = 1, cat = 0).
      >>> y = jnp.array([0.8, 0.2, 0.6, 0.9, 0.3]); t = jnp.array([1, 0, 1, 1, 0])
      >>> print(binary_cross_entropy(y, t, positive_only=True, reduction="mean").round(3))
      0.168
      >>> print(binary_cross_entropy(y, t, reduction="mean").round(3))
      0.284

    References:
      Goodfellow et al, `Deep Learning <https://www.deeplearningbook.org/>`_, 2016, §6.2.2
    """
    probs = v.float_array(probs, "probs")
    labels = v.real_array(labels, "labels")
    _broadcast(probs, labels, ("probs", "labels"))
    if not isinstance(positive_only, bool):
        raise InputTypeError(f"positive_only must be a bool, got {positive_only!r}")
    v.check_reduction(reduction)
    dt = v.compute_dtype(probs.dtype, *_float_dtypes(labels))
    y = probs.astype(dt)
    t = labels.astype(dt)
    # 0·log 0 = 0 by a double `where` on the probability (finite gradients at y ∈ {0, 1}
    # when t matches). Guarding on t instead would zero ∂/∂t = −log y + log(1 − y) at
    # t ∈ {0, 1}, a wrong gradient for learned / distilled targets.
    loss = -xlogy(t, y)
    if not positive_only:
        loss = loss - xlogy(1 - t, 1 - y)
    bad = (y < 0) | (y > 1) | (t < 0) | (t > 1)
    loss = jnp.where(bad, jnp.nan, loss)
    return reduce_loss(loss, reduction=reduction)
