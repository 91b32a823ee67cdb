"""``vocab_parallel_cross_entropy``: logits sharded along the vocabulary (Megatron-style).

Each device holds a contiguous slice of the vocabulary. It computes the row statistics of
its slice (:func:`crossent_jax._rowstats.integer_row_stats`), the statistics are combined
across the mesh axis by one ``pmax`` (the row maximum) and one ``psum`` (every other
statistic, re-shifted to the common maximum exactly as :func:`crossent_jax._rowstats.merge`
does) and fed to the same kernel :func:`crossent_jax._rowstats.row_loss`. The logits are
never gathered: the collectives move ``O(tokens)`` numbers.
"""

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


def _psum(xs, axis_name):
    """``lax.psum`` of a tuple whose entries may be device-invariant (a constant count):
    under ``shard_map``'s varying-axes typing (jax ≥ 0.7) those are cast to varying first,
    so the sum counts them once per device, as it does for the others."""
    typeof = getattr(jax, "typeof", None)
    if typeof is not None and hasattr(jax.lax, "pcast"):
        names = axis_name if isinstance(axis_name, tuple) else (axis_name,)

        def vary(x):
            vma = getattr(typeof(x), "vma", None)
            missing = () if vma is None else tuple(a for a in names if a not in vma)
            return jax.lax.pcast(x, missing, to="varying") if missing else x

        xs = tuple(vary(x) for x in xs)
    return jax.lax.psum(xs, axis_name)


def allreduce_stats(st: rs.RowStats, axis_name) -> rs.RowStats:
    """Exact statistics of the union of every device's classes (an n-way :func:`merge`)."""
    m = jax.lax.stop_gradient(jax.lax.pmax(jax.lax.stop_gradient(st.m), axis_name))
    m_safe = jnp.where(jnp.isneginf(m), jnp.zeros((), m.dtype), m)
    d = jax.lax.stop_gradient(jnp.where(st.s != 0, st.m - m_safe, 0))  # 0 for an empty part
    s, tx, t, imp, wx, w, k, n = _psum(
        (st.s * jnp.exp(d), st.tx + d * st.t, st.t, st.imp, st.wx + d * st.w, st.w, st.k,
         st.n),
        axis_name,
    )
    return rs.RowStats(m, s, tx, t, imp, wx, w, k, n)


def _axis_size(axis_name) -> int:
    return int(jax.lax.psum(1, axis_name))


def vocab_parallel_cross_entropy(
    logits_shard: ArrayLike,
    labels: ArrayLike,
    *,
    axis_name,
    vocab_size: int | None = None,
    where: ArrayLike | None = None,
    ignore_index: int | None = None,
    label_smoothing: float | ArrayLike = 0.0,
    class_weights: ArrayLike | None = None,
    z_loss: float | ArrayLike = 0.0,
    logit_softcap: float | None = None,
    reduction: str = "none",
) -> jax.Array:
    r"""Integer-label softmax cross-entropy of logits sharded along the vocabulary.

    Call it inside ``jax.shard_map`` with the logits' class axis split over the mesh axis
    ``axis_name``: device ``i`` of ``P`` holds classes ``[i·V_s, (i+1)·V_s)``. The result
    (identical on every device) equals, in value and gradient,
    ``softmax_cross_entropy_with_integer_labels(logits[..., :vocab_size], labels, ...)`` of
    the gathered logits, for every option — but the logits are never gathered (Megatron-LM's
    scheme): each device reduces its slice to row statistics and the statistics are
    all-reduced,

    .. math::
        m = \max_p m_p,\quad s = \sum_p s_p e^{m_p - m},\quad
        \textstyle\sum t(x - m) = \sum_p \big[\sum t(x - m_p) + (m_p - m)\, T_p\big], \dots

    (one ``pmax`` and one ``psum`` of ``O(tokens)`` numbers), then fed to the same kernel
    as the unsharded loss. Label smoothing spreads ``α/K`` over the ``K`` valid classes of
    the *whole* vocabulary (the kit's convention, not NeMo's ``α·K/(K−1)``).

    Args:
      logits_shard: ``[*batch, V_s]`` this device's slice of the logits.
      labels: ``[*batch]`` integer *global* class indices in ``[0, vocab_size)``, the same
        on every device of the axis.
      axis_name: the mesh axis the vocabulary is split over.
      vocab_size: the true vocabulary size ``V ≤ P·V_s``; classes ``≥ V`` are padding and
        are sliced out (a vocabulary that does not divide evenly is padded at the end).
        None means ``P·V_s``.
      where: token mask ``[*batch]`` (same on every device), or this device's slice of a
        class mask, broadcastable to ``[*batch, V_s]``.
      ignore_index, label_smoothing, z_loss, logit_softcap, reduction: as in
        :func:`softmax_cross_entropy_with_integer_labels`.
      class_weights: this device's slice ``[V_s]`` of the class weights (sharded like the
        logits; padding entries are ignored).

    Returns:
      ``[*batch]`` per-token losses or a scalar (float32 for 16-bit inputs), the same on
      every device of the axis.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from jax.sharding import PartitionSpec as P
      >>> from crossent_jax import vocab_parallel_cross_entropy
      >>> from crossent_jax import softmax_cross_entropy_with_integer_labels as ce
      >>> mesh = jax.make_mesh((1,), ("vocab",))
      >>> logits = jax.random.normal(jax.random.key(0), (4, 6))
      >>> labels = jnp.array([0, 5, 2, 1])
      >>> f = jax.jit(jax.shard_map(
      ...     lambda x, y: vocab_parallel_cross_entropy(x, y, axis_name="vocab",
      ...                                               label_smoothing=0.1),
      ...     in_specs=(P(None, "vocab"), P()), out_specs=P()))
      >>> with jax.set_mesh(mesh):  # logits split along the vocabulary
      ...     loss = f(jax.device_put(logits, P(None, "vocab")), labels)
      >>> bool(jnp.allclose(loss, ce(logits, labels, label_smoothing=0.1)))
      True

    References:
      Shoeybi et al, `Megatron-LM: Training Multi-Billion Parameter Language Models Using
      Model Parallelism <https://arxiv.org/abs/1909.08053>`_, 2019
    """
    x = v.float_array(logits_shard, "logits_shard")
    labels = v.int_array(labels, "labels")
    if x.ndim < 1 or x.shape[-1] == 0:
        raise InputValueError(
            f"logits_shard must be [*batch, V_s] with V_s ≥ 1, got shape {tuple(x.shape)}"
        )
    v_s = x.shape[-1]
    bshape = tuple(x.shape[:-1])
    if tuple(labels.shape) != bshape:
        raise InputValueError(
            f"Shape mismatch: labels must have the logits' batch shape {bshape}, got "
            f"{tuple(labels.shape)} (logits_shard shape {tuple(x.shape)})"
        )
    c.check_options(label_smoothing=label_smoothing, z_loss=z_loss,
                    logit_softcap=logit_softcap, reduction=reduction)
    if ignore_index is not None and (
        isinstance(ignore_index, (bool, np.bool_)) or not isinstance(ignore_index, numbers.Integral)
    ):
        raise InputTypeError(f"ignore_index must be an int or None, got {ignore_index!r}")
    try:
        n_dev = _axis_size(axis_name)
    except NameError as e:
        raise InputValueError(
            f"axis_name {axis_name!r} is not a mesh axis here: call "
            f"vocab_parallel_cross_entropy inside jax.shard_map over that axis ({e})"
        ) from None
    total = n_dev * v_s
    if vocab_size is None:
        vocab_size = total
    if isinstance(vocab_size, (bool, np.bool_)) or not isinstance(vocab_size, numbers.Integral):
        raise InputTypeError(f"vocab_size must be an int or None, got {vocab_size!r}")
    if not 1 <= vocab_size <= total:
        raise InputValueError(
            f"vocab_size must be in [1, {total}] ({n_dev} devices × {v_s} classes per shard), "
            f"got {vocab_size}"
        )
    class_mask, example_mask = c.split_where(where, x.shape, (x.ndim - 1,))

    dt = v.compute_dtype(x.dtype)
    offset = jax.lax.axis_index(axis_name) * v_s
    gidx = offset + jnp.arange(v_s)
    kept = None
    if vocab_size < total or class_mask is not None:
        pad_ok = (gidx < vocab_size).reshape((1,) * len(bshape) + (v_s,))
        kept = pad_ok if class_mask is None else class_mask & pad_ok
    counted = example_mask
    if ignore_index is not None:
        keep = labels != ignore_index
        counted = keep if counted is None else counted & keep
    z = c.keep_rows(x.astype(dt), counted)
    xc = c.softcap(z, logit_softcap, kept)

    w = None
    if class_weights is not None:
        w = v.float_array(class_weights, "class_weights")
        if tuple(w.shape) != (v_s,):
            raise InputValueError(
                f"class_weights must be this device's slice of shape ({v_s},) (sharded like "
                f"the logits), got {tuple(w.shape)}"
            )
        w = jnp.where(gidx < vocab_size, w.astype(dt), 1)  # padding weights are never used

    local = labels - offset
    in_shard = (local >= 0) & (local < v_s)
    safe = jnp.where(in_shard, local, 0)
    smoothing = not v.static_zero(label_smoothing)
    w_row = None if w is None else w.reshape((1,) * len(bshape) + (v_s,))
    st = rs.integer_row_stats(xc, safe, kept, w_row, uniform=smoothing)
    zero = jnp.zeros((), dt)
    st = st._replace(tx=jnp.where(in_shard, st.tx, zero), t=jnp.where(in_shard, st.t, zero),
                     imp=jnp.where(in_shard, st.imp, zero))
    st = allreduce_stats(st, axis_name)
    w_label = None
    if w is not None:
        (w_label,) = _psum((jnp.where(in_shard, jnp.take(w, safe), zero),), axis_name)
    loss = rs.row_loss(st, label_smoothing=label_smoothing, z_loss=z_loss, w_label=w_label,
                       smoothing=smoothing, zloss=not v.static_zero(z_loss))
    in_range = (labels >= 0) & (labels < vocab_size)
    loss = jnp.where(in_range, loss, jnp.nan)
    if w is not None:  # a negative class weight on any shard gives NaN
        (bad,) = _psum((jnp.sum(w < 0),), axis_name)
        loss = jnp.where(bad > 0, jnp.nan, loss)
    loss = c.nan_if_bad_option(loss, label_smoothing, z_loss=z_loss, logit_softcap=logit_softcap)
    counted = c.counted_rows(counted, st.n, kept)
    return reduce_loss(loss, counted=counted, weight=w_label, reduction=reduction)
