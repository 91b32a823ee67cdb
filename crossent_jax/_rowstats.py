"""The softmax losses' kernel: a row's loss from a handful of row statistics.

Every softmax cross-entropy the kit computes — soft or integer labels, with label smoothing,
class weights, z-loss, soft-capping, masks; on whole rows, on vocabulary chunks
(:func:`crossent_jax.linear_cross_entropy`) or on vocabulary shards across devices
(:func:`crossent_jax.vocab_parallel_cross_entropy`) — is :func:`row_loss` applied to a
:class:`RowStats`. Statistics of two parts of the same rows combine exactly with
:func:`merge` (an online log-sum-exp), so "chunked" and "sharded" are only other ways to
*feed* the one kernel.

Classes of a row come in three kinds:

* **masked** (``where`` is False): sliced out — they take no part in the softmax, their label
  mass is dropped, they are not counted in ``K``;
* **impossible** (kept, logit ``-inf``): probability 0 — label mass there gives ``+inf``;
* **in the softmax** (kept, logit ``> -inf``; NaN counts here, so NaN propagates).

Values are computed from max-shifted logits — ``log s − (x_y − m)`` rather than
``lse − x_y`` — so they are exact for the given inputs at any logit offset (equal logits of
``1e30`` give ``log K``, not 0). The shift ``m`` is under ``stop_gradient``; it cancels
analytically, so gradients of every order are the exact ones.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.core import ShapedArray
from jax.extend import core as jex_core
from jax.interpreters import ad, batching, mlir


class RowStats(NamedTuple):
    """Sufficient statistics of rows of logits ``x`` and targets ``t`` (all ``[*batch]``).

    Sums run over the classes *in the softmax* unless stated otherwise; ``w`` are the class
    weights of the uniform (label-smoothing) part, all ones without class weights.

    Attributes:
      m: row maximum of the logits in the softmax, under ``stop_gradient``; ``-inf`` for a
        row with none (then ``s = 0``).
      s: ``Σ exp(x_k − m)``.
      tx: ``Σ t_k (x_k − m)`` — for integer labels ``x_y − m`` when the label's class is in
        the softmax, else 0.
      t: ``Σ t_k`` (integer labels: 1 or 0).
      imp: the impossible-mass term ``Σ_{kept, x_k = −inf} (+inf if t_k > 0, −inf if
        t_k < 0, 0 if t_k = 0)``: 0, ``±inf`` or NaN; it adds to the loss as it is.
      wx: ``Σ w_k (x_k − m)``.
      w: ``Σ w_k``.
      k: ``K_valid``, the number of classes in the softmax.
      n: the number of kept (unmasked) classes; a row with ``n = 0`` gives 0 and is not
        counted.
    """

    m: jax.Array
    s: jax.Array
    tx: jax.Array
    t: jax.Array
    imp: jax.Array
    wx: jax.Array
    w: jax.Array
    k: jax.Array
    n: jax.Array


def _variadic_sum(*ops: jax.Array) -> list[jax.Array]:
    zero = jnp.zeros((), ops[0].dtype)
    return list(jax.lax.reduce(
        ops,
        tuple(zero for _ in ops),
        lambda a, b: tuple(p + q for p, q in zip(a, b, strict=True)),
        (ops[0].ndim - 1,),
    ))


# Row sums of several same-shaped arrays in *one* variadic reduction: XLA fuses the
# elementwise producers of every operand into a single pass over the rows, so no
# [batch, K] temporary is materialised (separate `jnp.sum` calls, or one sum over a stack,
# each need one on XLA:CPU: +16 MB at 4096×1024 and +134 MB at 1024×32768 for
# label smoothing, measured). It is a primitive of its own, with its own rules, because a
# `custom_jvp` around `lax.reduce` is not enough: under `jvp(grad(·))` of a `lax.scan`
# JAX inlines custom-JVP functions and differentiates `lax.reduce` itself, whose JVP
# rule fails on symbolic-zero tangents (jax 0.10.2).
row_sums_p = jex_core.Primitive("crossent_row_sums")
row_sums_p.multiple_results = True
row_sums_p.def_impl(lambda *ops: _variadic_sum(*ops))


def _row_sums_abstract(*avals):
    # keep each operand's sharding and varying-manual-axes type (the class axis dropped):
    # a bare ShapedArray would type a sum of per-device values as device-invariant inside
    # shard_map, and the psum of vocab_parallel_cross_entropy would then fail to linearize
    out = []
    for a in avals:
        try:
            spec = jax.sharding.PartitionSpec(*tuple(a.sharding.spec)[:-1])
            out.append(a.update(shape=a.shape[:-1], sharding=a.sharding.update(spec=spec)))
        except (AttributeError, TypeError, ValueError):  # older JAX: no sharding in avals
            out.append(ShapedArray(a.shape[:-1], a.dtype))
    return out


row_sums_p.def_abstract_eval(_row_sums_abstract)
mlir.register_lowering(row_sums_p, mlir.lower_fun(_variadic_sum, multiple_results=True))


def _row_sums_jvp(primals, tangents):
    # a sum is linear: the tangent of each row sum is the row sum of its tangent
    out = row_sums_p.bind(*primals)
    t_out = [
        jnp.zeros(o.shape, o.dtype) if type(t) is ad.Zero else jnp.sum(t, axis=-1)
        for o, t in zip(out, tangents, strict=True)
    ]
    return out, t_out


def _row_sums_batch(args, dims):
    size = next(a.shape[d] for a, d in zip(args, dims, strict=True) if d is not None)
    args = [batching.bdim_at_front(a, d, size) for a, d in zip(args, dims, strict=True)]
    return row_sums_p.bind(*args), [0] * len(args)


ad.primitive_jvps[row_sums_p] = _row_sums_jvp
batching.primitive_batchers[row_sums_p] = _row_sums_batch


def row_sums(*ops: jax.Array) -> tuple[jax.Array, ...]:
    """``tuple(jnp.sum(op, axis=-1) for op in ops)`` in one fused pass (see ``row_sums_p``).

    Differentiable to any order in both modes, batchable with ``vmap``.
    """
    return tuple(row_sums_p.bind(*ops))


def _shift(x: jax.Array, in_softmax: jax.Array | None):
    """``(m, m_safe, x − m_safe)`` with ``m`` the stop-gradient row max over the classes in
    the softmax (``in_softmax`` None: every class; ``-inf`` entries never raise a max)."""
    xm = x if in_softmax is None else jnp.where(in_softmax, x, -jnp.inf)
    m = jax.lax.stop_gradient(jnp.max(xm, axis=-1))
    m_safe = jnp.where(jnp.isneginf(m), jnp.zeros((), x.dtype), m)
    return m, m_safe, x - m_safe[..., None]


def _exp_in(xs: jax.Array, in_softmax: jax.Array | None) -> jax.Array:
    """``exp(x − m)`` on the classes in the softmax, 0 elsewhere. Without a class mask the
    only excluded classes are ``-inf`` ones, whose ``exp`` (and its derivative) is already
    0; with one, a double ``where`` keeps a NaN logit of a masked class out of gradients."""
    if in_softmax is None:
        return jnp.exp(xs)
    zero = jnp.zeros((), xs.dtype)
    return jnp.where(in_softmax, jnp.exp(jnp.where(in_softmax, xs, zero)), zero)


def _impossible(t: jax.Array, impossible: jax.Array) -> jax.Array:
    """``[*batch, K]`` terms: ``+inf`` / ``−inf`` for label mass of either sign on an
    impossible class (NaN for a NaN label), 0 elsewhere. Built from constants, so no
    gradient flows through it (the exact derivative w.r.t. such a label entry is infinite;
    it is taken as 0)."""
    inf = jnp.asarray(jnp.inf, t.dtype)
    signed = jnp.where(t > 0, inf, jnp.where(t < 0, -inf, jnp.nan))
    return jnp.where(impossible & (t != 0), signed, 0)


def _kept_count(kept: jax.Array | None, x: jax.Array) -> jax.Array:
    if kept is None:
        return jnp.full(x.shape[:-1], x.shape[-1], x.dtype)
    return jnp.sum(jnp.broadcast_to(kept, x.shape), axis=-1, dtype=x.dtype)


def soft_row_stats(
    x: jax.Array, t: jax.Array, kept: jax.Array | None = None, *, uniform: bool = True
) -> RowStats:
    """Row statistics of logits ``x`` and probability labels ``t`` (both ``[*batch, K]``).

    Args:
      x: logits (already soft-capped); ``-inf`` marks an impossible class.
      t: labels of the same shape (any real values: the loss is linear in them).
      kept: boolean class mask broadcastable to ``x`` (False = sliced out), or None.
      uniform: also compute ``wx``/``k`` for label smoothing (else 0 / ``K``).
    """
    finite = ~jnp.isneginf(x)
    in_softmax = finite if kept is None else finite & kept
    m, _, xs = _shift(x, None if kept is None else in_softmax)
    zero = jnp.zeros((), x.dtype)
    # Double `where`: the unused branch never sees 0·(−inf), so gradients stay finite.
    xs_in = jnp.where(in_softmax, xs, zero)
    t_in = jnp.where(in_softmax, t, zero)
    impossible = ~finite if kept is None else ~finite & kept
    ops = [_exp_in(xs, None if kept is None else in_softmax), t_in * xs_in, t_in,
           _impossible(t, impossible)]
    if uniform:
        ops += [xs_in, in_softmax.astype(x.dtype)]
    sums = row_sums(*ops)
    s, tx, tsum, imp = sums[:4]
    if uniform:
        wx, k = sums[4], sums[5]
    else:
        wx, k = jnp.zeros_like(s), jnp.full(s.shape, x.shape[-1], x.dtype)
    return RowStats(m, s, tx, tsum, imp, wx, k, k, _kept_count(kept, x))


def integer_row_stats(
    x: jax.Array,
    labels: jax.Array,
    kept: jax.Array | None = None,
    class_weights: jax.Array | None = None,
    *,
    uniform: bool = True,
) -> RowStats:
    """Row statistics of logits ``x`` (``[*batch, K]``) and in-range integer ``labels``
    (``[*batch]``; the caller turns out-of-range labels into NaN).

    Args:
      x: logits (already soft-capped); ``-inf`` marks an impossible class.
      labels: class indices in ``[0, K)``.
      kept: boolean class mask broadcastable to ``x`` (False = sliced out), or None.
      class_weights: weights of the uniform (smoothing) part with the rank of ``x``
        (``[1, ..., 1, K]``), or None for ones.
      uniform: also compute ``wx``/``w``/``k`` for label smoothing.
    """
    in_softmax = None if kept is None else ~jnp.isneginf(x) & kept
    m, m_safe, xs = _shift(x, in_softmax)
    zero = jnp.zeros((), x.dtype)
    x_label = jnp.take_along_axis(x, labels[..., None], axis=-1)[..., 0]
    if kept is None:
        label_kept = jnp.ones(labels.shape, bool)
    else:
        kept_full = jnp.broadcast_to(kept, x.shape)
        label_kept = jnp.take_along_axis(kept_full, labels[..., None], axis=-1)[..., 0]
    label_impossible = label_kept & jnp.isneginf(x_label)
    label_in = label_kept & ~jnp.isneginf(x_label)  # NaN counts as in: it propagates
    tx = jnp.where(label_in, x_label - m_safe, zero)
    imp = jnp.where(label_impossible, jnp.asarray(jnp.inf, x.dtype), zero)
    # The exp-sum (and the uniform part's sums) in one variadic pass over the row.
    ops = [_exp_in(xs, in_softmax)]
    if uniform:
        finite = ~jnp.isneginf(x) if in_softmax is None else in_softmax
        xs_in = jnp.where(finite, xs, zero)
        ops += [xs_in if class_weights is None else class_weights * xs_in,
                finite.astype(x.dtype)]
        if class_weights is not None:
            ops.append(jnp.where(finite, jnp.broadcast_to(class_weights, x.shape), zero))
    sums = row_sums(*ops)
    s = sums[0]
    if uniform:
        wx, k = sums[1], sums[2]
        w = k if class_weights is None else sums[3]
    else:
        wx, w = jnp.zeros_like(s), jnp.full(s.shape, x.shape[-1], x.dtype)
        k = w
    return RowStats(m, s, tx, label_in.astype(x.dtype), imp, wx, w, k, _kept_count(kept, x))


def merge(a: RowStats, b: RowStats) -> RowStats:
    """Exact statistics of the union of two disjoint sets of classes of the same rows.

    The online log-sum-exp: both parts are re-shifted to the common maximum ``m``
    (``s ← s·exp(m_part − m)``, ``Σ t(x − m) ← Σ t(x − m_part) + (m_part − m)·Σ t``).
    """
    m = jnp.maximum(a.m, b.m)
    m_safe = jnp.where(jnp.isneginf(m), jnp.zeros((), m.dtype), m)

    def delta(part):  # m_part − m, 0 for an empty part (whose sums are all 0)
        return jnp.where(part.s != 0, part.m - m_safe, 0)

    da, db = delta(a), delta(b)
    return RowStats(
        m=m,
        s=a.s * jnp.exp(da) + b.s * jnp.exp(db),
        tx=a.tx + da * a.t + b.tx + db * b.t,
        t=a.t + b.t,
        imp=a.imp + b.imp,
        wx=a.wx + da * a.w + b.wx + db * b.w,
        w=a.w + b.w,
        k=a.k + b.k,
        n=a.n + b.n,
    )


def row_loss(
    st: RowStats,
    *,
    label_smoothing=0.0,
    z_loss=0.0,
    w_label: jax.Array | None = None,
    smoothing: bool = True,
    zloss: bool = True,
) -> jax.Array:
    r"""The one kernel: ``[*batch]`` losses from row statistics.

    .. math::
        \ell = (1-\alpha)\, w_y \big(T \log s - \textstyle\sum t (x - m)\big)
             + \frac{\alpha}{K} \big(W \log s - \textstyle\sum w (x - m)\big)
             + \zeta\, w_y\, (m + \log s)^2 + \text{impossible mass}

    i.e. :math:`-\sum_k \tilde t_k \log \operatorname{softmax}(x)_k + \zeta\,\mathrm{lse}^2`
    with :math:`\tilde t = (1-\alpha)t + \alpha/K` over the classes in the softmax. A row
    with no class kept gives 0; a row whose kept classes are all ``-inf`` has no softmax,
    so only its impossible mass counts (no smoothing or z-loss term).

    Args:
      st: the rows' statistics.
      label_smoothing: α (validated by the caller).
      z_loss: ζ.
      w_label: the example's class weight ``w_y`` (integer labels), or None for 1.
      smoothing, zloss: static switches (False when α / ζ is a concrete 0).
    """
    has = st.s != 0  # NaN counts as "has": it must propagate
    one = jnp.ones((), st.s.dtype)
    log_s = jnp.log(jnp.where(has, st.s, one))
    main = st.t * log_s - st.tx
    if w_label is not None:
        main = w_label * main
    loss = main
    if smoothing:
        uniform = (st.w * log_s - st.wx) / jnp.maximum(st.k, one)
        loss = (1 - label_smoothing) * main + label_smoothing * uniform
    if zloss:
        lse = jnp.where(has, st.m, 0) + log_s
        z_term = z_loss * lse**2
        loss = loss + (z_term if w_label is None else w_label * z_term)
    loss = jnp.where(has, loss, 0)
    # Label mass on an impossible class (q = 0) is ±inf — unless smoothing took all of it
    # (a NaN label stays NaN either way).
    imp = st.imp
    if smoothing:
        imp = jnp.where((label_smoothing < 1) | jnp.isnan(imp), imp, 0)
    loss = loss + imp
    return jnp.where(st.n > 0, loss, 0)
