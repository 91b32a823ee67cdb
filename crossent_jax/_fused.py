"""``linear_cross_entropy``: the classifier matmul fused with the loss, chunked over tokens.

The ``[tokens, vocab]`` logits never exist at once. Tokens are processed in chunks of
``chunk_size`` rows (``lax.scan``); each chunk's logits ``h_c @ W + b`` are fed to the very
same row-statistics kernel as :func:`softmax_cross_entropy_with_integer_labels` (it *is*
that function, applied to the chunk), so every option behaves identically.

Two differentiation strategies, chosen by ``reduction``:

* ``"mean"`` / ``"sum"`` (a scalar): a ``jax.custom_vjp`` computes the gradient during the
  forward pass (as the Liger kernel does): per chunk, the logits' cotangent ``dz`` is
  formed and immediately contracted into ``dh_c = dz Wᵀ``, ``dW += h_cᵀ dz``,
  ``db += Σ dz`` — three matmuls in all, like the unfused loss, and only one chunk of
  logits alive. The backward pass scales the stored gradients by the incoming cotangent.
  Reverse mode of any order works (the forward rule is ordinary JAX code), and so does
  ``hessian`` (forward over reverse); forward mode applied to the loss itself (``jvp``,
  ``jacfwd``, ``linearize``) raises :class:`ForwardModeError`.
* ``"none"``: a rematerialised scan (``jax.checkpoint`` of a chunk): the backward pass
  recomputes each chunk's logits (four matmuls instead of three). Plain autodiff, so every
  transformation works (``jvp``, ``hessian``, ``vmap``); reduce the rows yourself if you
  need forward mode of a scalar loss.
"""

from __future__ import annotations

import math
import numbers
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from crossent_jax import _classes as c
from crossent_jax import _validation as v
from crossent_jax._errors import InputTypeError, InputValueError
from crossent_jax._softmax import softmax_cross_entropy_with_integer_labels

#: Default memory budget for one chunk of logits (bytes): ``chunk_size=None`` takes
#: ``budget // (V · itemsize)`` tokens (128 at V = 65536 in float32), chosen by measurement
#: (``experiments/bench_linear.py``).
CHUNK_BUDGET_BYTES = 32 * 2**20


class ForwardModeError(InputValueError):
    """Forward-mode differentiation of a scalar-reduced ``linear_cross_entropy``."""


_FWD_MSG = (
    "linear_cross_entropy with reduction={r!r} computes its gradient in the forward pass "
    "(jax.custom_vjp): reverse mode of any order (grad, vjp, grad of grad, jacrev) is "
    "supported, and so is jax.hessian (forward over reverse); forward mode (jvp, jacfwd, "
    "linearize) applied to the loss itself is not. For forward mode use "
    "reduction='none' (a rematerialised scan, every transformation works) and reduce the "
    "per-token losses yourself."
)


class _Static(NamedTuple):
    chunk: int
    mm_dtype: np.dtype  # matmul operand dtype
    dt: np.dtype  # accumulation / loss dtype
    has_bias: bool
    cm_shared: bool | None  # None: no class mask; True: one [V] mask; False: [N, V]
    ignore_index: int | None
    static_opts: tuple  # concrete options as (name, value) pairs
    reduction: str


def default_chunk_size(num_tokens: int, vocab: int, itemsize: int = 4,
                       budget: int = CHUNK_BUDGET_BYTES) -> int:
    """Tokens per chunk: the logits of one chunk fit ``budget`` bytes (at least 8 tokens,
    at most ``num_tokens``; a multiple of 8 when below it)."""
    c_ = max(8, budget // max(1, vocab * itemsize))
    c_ = max(8, c_ - c_ % 8)
    return max(1, min(c_, num_tokens))


def _logits(h, w, b, dt):
    z = jax.lax.dot_general(h, w, (((1,), (0,)), ((), ())), preferred_element_type=dt)
    return z if b is None else z + b.astype(dt)[None, :]


def _chunk_loss(st: _Static, z, lab, rows, cm, opts):
    """Per-row losses of one chunk of logits: the unfused loss itself (``reduction="none"``,
    0 for rows that do not count)."""
    if cm is None:
        where = rows
    else:
        where = cm & rows[:, None]
    return softmax_cross_entropy_with_integer_labels(
        z, lab, where=where, ignore_index=st.ignore_index, reduction="none", **opts
    )


def _options(st: _Static, traced: dict) -> dict:
    opts = dict(st.static_opts)
    opts.update(traced)
    return opts


def _chunks(x, nc, chunk):
    return x.reshape((nc, chunk) + x.shape[1:])


def _rows_none(st: _Static, h3, w, b, lab3, rows3, cm, traced):
    """Per-token losses ``[nc, C]`` by a rematerialised scan (plain autodiff)."""
    if np.dtype(w.dtype).itemsize < np.dtype(st.dt).itemsize:
        # the scan's transpose accumulates dW in W's dtype: do it in the compute dtype
        w = w.astype(st.dt)
        b = None if b is None else b.astype(st.dt)

    @jax.checkpoint
    def one(xs):
        h_c, lab_c, rows_c, cm_c = xs
        z = _logits(h_c.astype(w.dtype), w, b, st.dt)
        cm_c = cm if st.cm_shared else cm_c
        return _chunk_loss(st, z, lab_c, rows_c, cm_c, _options(st, traced))

    cm3 = cm if not st.cm_shared and cm is not None else None
    return jax.lax.map(one, (h3, lab3, rows3, cm3))


def _grad_pass(st: _Static, h3, w, b, lab3, rows3, cm, traced):
    """The forward pass with the gradient (Liger-style): ``Σ loss`` and its gradients."""
    dt, mm = st.dt, st.mm_dtype
    v_size = w.shape[1]
    cm3 = cm if not st.cm_shared and cm is not None else None

    def body(carry, xs):
        total, dw, db, dtr = carry
        h_c, lab_c, rows_c, cm_c = xs
        z = _logits(h_c, w, b, dt)
        cm_c = cm if st.cm_shared else cm_c

        def f(z, tr):
            return _chunk_loss(st, z, lab_c, rows_c, cm_c, _options(st, tr))

        loss, vjp = jax.vjp(f, z, traced)
        dz, dtr_c = vjp(jnp.ones_like(loss))
        dzm = dz.astype(mm)
        dh = jax.lax.dot_general(dzm, w, (((1,), (1,)), ((), ())), preferred_element_type=dt)
        dw = dw + jax.lax.dot_general(
            h_c, dzm, (((0,), (0,)), ((), ())), preferred_element_type=dt
        )
        db = None if db is None else db + jnp.sum(dz, axis=0)
        dtr = jax.tree.map(jnp.add, dtr, dtr_c)
        return (total + jnp.sum(loss), dw, db, dtr), dh.astype(h_c.dtype)

    init = (
        jnp.zeros((), dt),
        jnp.zeros((w.shape[0], v_size), dt),
        jnp.zeros((v_size,), dt) if st.has_bias else None,
        jax.tree.map(jnp.zeros_like, traced),
    )
    (total, dw, db, dtr), dh = jax.lax.scan(body, init, (h3, lab3, rows3, cm3))
    return total, (dh, dw, db, dtr)


def _total(st: _Static, h3, w, b, lab3, rows3, cm, traced):
    """``Σ loss`` over tokens with the gradient computed in the forward pass."""

    @jax.custom_vjp
    def total(h3, w, b, traced, aux):
        return _grad_pass(st, h3, w, b, *aux, traced)[0]

    def fwd(h3, w, b, traced, aux):
        t, grads = _grad_pass(st, h3, w, b, *aux, traced)
        return t, (grads, (h3, w, b, traced))

    def bwd(res, g):
        (dh, dw, db, dtr), (h3, w, b, traced) = res

        def scale(x, like):
            return (g.astype(x.dtype) * x).astype(like.dtype)

        return (
            scale(dh, h3),
            scale(dw, w),
            None if db is None else scale(db, b),
            jax.tree.map(scale, dtr, traced),
            None,  # labels and masks: integer / boolean, no cotangent
        )

    total.defvjp(fwd, bwd)
    return total(h3, w, b, traced, (lab3, rows3, cm))


@partial(jax.jit, static_argnums=0)
def _run(st: _Static, h2, w, b, lab, rows, cm, traced, denom_w):
    n = h2.shape[0]
    chunk = st.chunk
    nc = -(-n // chunk) if n else 0
    pad = nc * chunk - n
    mm = st.mm_dtype
    # tokens that do not count are zeroed: a NaN feature there cannot reach dW (0·NaN)
    h2 = jnp.where(rows[:, None], h2.astype(mm), jnp.zeros((), mm))
    w = w.astype(mm)
    if pad:
        h2 = jnp.concatenate([h2, jnp.zeros((pad, h2.shape[1]), mm)])
        lab = jnp.concatenate([lab, jnp.zeros((pad,), lab.dtype)])
        rows = jnp.concatenate([rows, jnp.zeros((pad,), bool)])
        if cm is not None and not st.cm_shared:
            cm = jnp.concatenate([cm, jnp.zeros((pad, cm.shape[1]), bool)])
    h3, lab3, rows3 = (_chunks(x, nc, chunk) for x in (h2, lab, rows))
    if cm is not None and not st.cm_shared:
        cm = _chunks(cm, nc, chunk)
    if st.reduction == "none":
        return _rows_none(st, h3, w, b, lab3, rows3, cm, traced).reshape(-1)[:n]
    total = _total(st, h3, w, b, lab3, rows3, cm, traced)
    if st.reduction == "sum":
        return total
    # mean: Σ wᵢ lᵢ / Σ wᵢ over counted tokens, 0 when nothing is counted (as reduce_loss)
    denom = denom_w
    safe = jnp.where(denom == 0, jnp.ones((), denom.dtype), denom)
    return jnp.where(denom == 0, jnp.zeros((), total.dtype), total / safe.astype(total.dtype))


def _split_where(where, bshape, vocab):
    """``(example_mask [N] | None, class_mask [1, V] | [N, V] | None, shared)``."""
    if where is None:
        return None, None, None
    where = v.bool_array(where, "where")
    shape = bshape + (vocab,)
    if where.ndim == len(shape):
        try:
            ok = np.broadcast_shapes(where.shape, shape) == shape
        except ValueError:
            ok = False
        if ok:
            if all(s == 1 for s in where.shape[:-1]):
                return None, jnp.broadcast_to(where.reshape(1, -1), (1, vocab)), True
            return None, jnp.broadcast_to(where, shape).reshape(-1, vocab), False
    elif tuple(where.shape) == bshape:
        return where.reshape(-1), None, None
    raise InputValueError(
        f"where must be a class mask broadcastable to the logits shape {shape} (hidden's "
        f"batch shape + (V,)) or a token mask of the batch shape {bshape}, got shape "
        f"{tuple(where.shape)}"
    )


def linear_cross_entropy(
    hidden: ArrayLike,
    weight: ArrayLike,
    labels: ArrayLike,
    *,
    bias: ArrayLike | None = None,
    chunk_size: int | None = None,
    where: ArrayLike | None = None,
    ignore_index: int | None = None,
    label_smoothing: float | ArrayLike = 0.0,
    class_weights: ArrayLike | None = None,
    z_loss: float | ArrayLike = 0.0,
    logit_softcap: float | None = None,
    reduction: str = "mean",
) -> jax.Array:
    r"""Softmax cross-entropy of a linear classifier, without materialising the logits.

    Equals, in value and in gradients w.r.t. ``hidden``, ``weight``, ``bias`` (and traced
    ``label_smoothing`` / ``z_loss`` / ``logit_softcap`` / ``class_weights``),

    .. math::
        \ell_i = \operatorname{CE}\big(h_i W + b,\; y_i\big)
        \quad\text{i.e.}\quad
        \texttt{softmax\_cross\_entropy\_with\_integer\_labels(hidden @ weight + bias, labels, ...)}

    with every option of that function, but the ``[tokens, V]`` logits never exist at once:
    tokens are processed ``chunk_size`` at a time, so the temporary memory is
    ``O(chunk_size · V)`` plus one weight-sized gradient accumulator. Each chunk's logits are
    computed in float32 (float64 for float64 inputs; 16-bit operands are multiplied with
    float32 accumulation) and fed to the same row-statistics kernel as the unfused loss.

    For ``reduction="mean"`` / ``"sum"`` the gradient is computed during the forward pass
    (three matmuls per chunk, like the unfused loss); reverse mode of any order and
    ``hessian`` (forward over reverse) work, forward mode applied to the loss itself
    (``jvp``, ``jacfwd``, ``linearize``) raises :class:`ForwardModeError` (an
    ``InputValueError``). ``reduction="none"`` recomputes each chunk's logits in the
    backward pass and supports every transformation. Second-order derivatives do not keep
    the memory bound (they store every chunk's residuals).

    Args:
      hidden: ``[*batch, D]`` floating-point features.
      weight: ``[D, V]`` classifier weight.
      labels: ``[*batch]`` integer class indices in ``[0, V)``.
      bias: optional ``[V]`` bias.
      chunk_size: tokens per chunk (any positive int; need not divide the token count), or
        None to take ``32 MiB // (V · 4 bytes)`` tokens (128 at V = 65536).
      where: token mask ``[*batch]``, or class mask broadcastable to ``[*batch, V]``
        (e.g. ``[1, V]`` to slice out padding classes of the vocabulary).
      ignore_index, label_smoothing, class_weights, z_loss, logit_softcap: as in
        :func:`softmax_cross_entropy_with_integer_labels` (``class_weights`` ``[V]``).
      reduction: ``"mean"`` (default, over counted tokens; class-weighted), ``"sum"`` or
        ``"none"``.

    Returns:
      A scalar (float32 for 16-bit inputs), or ``[*batch]`` per-token losses.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from crossent_jax import linear_cross_entropy
      >>> from crossent_jax import softmax_cross_entropy_with_integer_labels as ce
      >>> h = jax.random.normal(jax.random.key(0), (10, 4))
      >>> w = jax.random.normal(jax.random.key(1), (4, 7))
      >>> y = jnp.arange(10) % 7
      >>> fused = linear_cross_entropy(h, w, y, chunk_size=3)  # 4 chunks, last one padded
      >>> bool(jnp.allclose(fused, ce(h @ w, y, reduction="mean"), rtol=1e-5))
      True
      >>> try:
      ...     linear_cross_entropy(h, w[:3], y)
      ... except ValueError as e:
      ...     print(e)
      Shape mismatch: hidden has feature size D=4 (shape (10, 4)) but weight has D=3 ...

    References:
      Wijmans et al, `Cut Your Losses in Large-Vocabulary Language Models
      <https://arxiv.org/abs/2411.09009>`_, 2024;
      Hsu et al, `Liger Kernel: Efficient Triton Kernels for LLM Training
      <https://arxiv.org/abs/2410.10989>`_, 2024
    """
    hidden = v.float_array(hidden, "hidden")
    weight = v.float_array(weight, "weight")
    labels = v.int_array(labels, "labels")
    if hidden.ndim < 1:
        raise InputValueError("hidden must be [*batch, D] (at least 1-D), got a scalar")
    if weight.ndim != 2:
        raise InputValueError(f"weight must be [D, V] (2-D), got shape {tuple(weight.shape)}")
    d, vocab = weight.shape
    if hidden.shape[-1] != d:
        raise InputValueError(
            f"Shape mismatch: hidden has feature size D={hidden.shape[-1]} (shape "
            f"{tuple(hidden.shape)}) but weight has D={d} (shape {tuple(weight.shape)}); "
            "weight must be [D, V]"
        )
    if vocab == 0:
        raise InputValueError(
            f"weight has no classes: shape {tuple(weight.shape)} (V = 0; a softmax needs at "
            "least one class)"
        )
    bshape = tuple(hidden.shape[:-1])
    if tuple(labels.shape) != bshape:
        raise InputValueError(
            f"Shape mismatch: labels must have hidden's batch shape {bshape}, got "
            f"{tuple(labels.shape)} (hidden shape {tuple(hidden.shape)})"
        )
    dtypes = [hidden.dtype, weight.dtype]
    if bias is not None:
        bias = v.float_array(bias, "bias")
        if tuple(bias.shape) != (vocab,):
            raise InputValueError(
                f"bias must have shape ({vocab},) (one entry per class of weight "
                f"{tuple(weight.shape)}), got {tuple(bias.shape)}"
            )
        dtypes.append(bias.dtype)
    if chunk_size is not None and (
        isinstance(chunk_size, (bool, np.bool_)) or not isinstance(chunk_size, numbers.Integral)
    ):
        raise InputTypeError(f"chunk_size must be a positive int or None, got {chunk_size!r}")
    if chunk_size is not None and chunk_size <= 0:
        raise InputValueError(f"chunk_size must be a positive int or None, got {chunk_size}")
    c.check_options(label_smoothing=label_smoothing, z_loss=z_loss,
                    logit_softcap=logit_softcap, reduction=reduction)
    if ignore_index is not None and (
        isinstance(ignore_index, (bool, np.bool_)) or not isinstance(ignore_index, numbers.Integral)
    ):
        raise InputTypeError(f"ignore_index must be an int or None, got {ignore_index!r}")
    example_mask, cm, cm_shared = _split_where(where, bshape, vocab)

    mm = np.dtype(jnp.result_type(*dtypes))
    dt = v.compute_dtype(*dtypes)
    n = math.prod(bshape)
    chunk = default_chunk_size(n, vocab, np.dtype(dt).itemsize) if chunk_size is None \
        else max(1, min(int(chunk_size), n))

    traced, static = {}, {}
    for name, val in (("label_smoothing", label_smoothing), ("z_loss", z_loss),
                      ("logit_softcap", logit_softcap)):
        if val is None:
            continue
        if v.is_concrete(val):
            static[name] = float(val)
        else:
            traced[name] = val
    w_cls = None
    if class_weights is not None:
        w_cls = v.float_array(class_weights, "class_weights")
        if tuple(w_cls.shape) != (vocab,):
            raise InputValueError(
                f"class_weights must have shape ({vocab},) (one weight per class), "
                f"got {tuple(w_cls.shape)}"
            )
        traced["class_weights"] = w_cls.astype(dt)

    lab = labels.reshape(-1)
    rows = jnp.ones((n,), bool) if example_mask is None else example_mask
    if ignore_index is not None:
        rows = rows & (lab != ignore_index)
    # the mean's denominator Σ wᵢ over counted tokens does not involve the logits
    denom = None
    if reduction == "mean":
        counted = rows if cm is None else rows & jnp.any(cm, axis=-1)
        if w_cls is None:
            denom = jnp.sum(counted, dtype=dt)
        else:
            in_range = (lab >= 0) & (lab < vocab)
            w_lab = jnp.take(traced["class_weights"], jnp.where(in_range, lab, 0))
            denom = jnp.sum(jnp.where(counted, w_lab, 0))

    st = _Static(
        chunk=chunk, mm_dtype=mm, dt=np.dtype(dt), has_bias=bias is not None,
        cm_shared=cm_shared, ignore_index=None if ignore_index is None else int(ignore_index),
        static_opts=tuple(sorted(static.items())), reduction=reduction,
    )
    try:
        out = _run(st, hidden.reshape(n, d), weight, bias, lab, rows, cm, traced, denom)
    except TypeError as e:
        if "forward-mode" in str(e) and "custom_vjp" in str(e):
            raise ForwardModeError(_FWD_MSG.format(r=reduction)) from None
        raise
    return out.reshape(bshape) if reduction == "none" else out
