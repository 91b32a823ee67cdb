"""linear_cross_entropy equals the unfused ``hidden @ weight + bias`` loss, within a memory bound.

The reference is the kit's unfused integer-label loss on materialised logits (itself tested
against float64 / PyTorch references in test_softmax.py) and, for the plain case, optax.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from crossent_jax import ForwardModeError, linear_cross_entropy
from crossent_jax import softmax_cross_entropy_with_integer_labels as ce
from crossent_jax._errors import InputTypeError, InputValueError
from crossent_jax._fused import default_chunk_size

N, D, V = 11, 5, 13


def problem(dtype=jnp.float64, n=N, d=D, v=V, seed=0, batch=None):
    rng = np.random.default_rng(seed)
    bshape = (n,) if batch is None else batch
    h = jnp.asarray(rng.normal(size=bshape + (d,)), dtype)
    w = jnp.asarray(rng.normal(size=(d, v)), dtype)
    b = jnp.asarray(rng.normal(size=(v,)), dtype)
    y = jnp.asarray(rng.integers(0, v, bshape), jnp.int32)
    return h, w, b, y


def aff(h, w, b):
    return h @ w + b.reshape((1,) * (h.ndim - 1) + (-1,))


def both(h, w, b, y, *, reduction="mean", chunk_size=4, **kw):
    """(value, grads) of the fused loss and of the unfused reference, w.r.t. (h, w, b)."""

    def fused(h, w, b):
        out = linear_cross_entropy(h, w, y, bias=b, chunk_size=chunk_size,
                                   reduction=reduction, **kw)
        return jnp.sum(out * jnp.arange(1, out.size + 1).reshape(out.shape))  # rows differ

    def unfused(h, w, b):
        out = ce(aff(h, w, b), y, reduction=reduction, **kw)
        return jnp.sum(out * jnp.arange(1, out.size + 1).reshape(out.shape))

    a = jax.jit(jax.value_and_grad(fused, argnums=(0, 1, 2)))(h, w, b)
    r = jax.jit(jax.value_and_grad(unfused, argnums=(0, 1, 2)))(h, w, b)
    return a, r


def assert_close(a, r, rtol):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(r), strict=True):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        # relative to the array's scale: one norm for every entry of a gradient
        np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol * max(np.max(np.abs(y)), 1e-30))


def _options():
    rng = np.random.default_rng(5)
    cw = jnp.asarray(rng.uniform(0.2, 3.0, V))
    tok = jnp.asarray(rng.uniform(size=N) > 0.3)
    cls = jnp.asarray(rng.uniform(size=(1, V)) > 0.3)
    full = jnp.asarray(rng.uniform(size=(N, V)) > 0.4).at[2].set(False)  # row 2: nothing left
    return {
        "plain": {},
        "ignore_index": {"ignore_index": -100},
        "label_smoothing": {"label_smoothing": 0.2},
        "class_weights": {"class_weights": cw},
        "z_loss": {"z_loss": 0.01},
        "softcap": {"logit_softcap": 2.0},
        "token_where": {"where": tok},
        "vocab_where": {"where": cls},
        "full_class_where": {"where": full},
        "smooth+weights+ignore": {"label_smoothing": 0.1, "class_weights": cw,
                                  "ignore_index": -100},
        "all": {"label_smoothing": 0.3, "class_weights": cw, "ignore_index": -100,
                "z_loss": 1e-3, "logit_softcap": 3.0, "where": cls},
        "all+full_where": {"label_smoothing": 0.1, "class_weights": cw, "ignore_index": -100,
                           "z_loss": 1e-2, "logit_softcap": 1.5, "where": full},
    }


OPTIONS = _options()
CASES = [(name, red) for i, name in enumerate(OPTIONS)
         for red in (["mean", "sum", "none"] if name == "all" else
                     [("mean", "sum", "none")[i % 3]])]


@pytest.mark.parametrize("name, reduction", CASES, ids=[f"{n}-{r}" for n, r in CASES])
def test_equals_unfused_float64(name, reduction):
    h, w, b, y = problem()
    y = y.at[3].set(-100).at[7].set(-100)  # ignored tokens (an error when not ignored: NaN)
    kw = dict(OPTIONS[name])
    if "ignore_index" not in kw:
        y = y.at[3].set(1).at[7].set(4)
    a, r = both(h, w, b, y, reduction=reduction, **kw)
    assert np.isfinite(float(r[0]))
    assert_close(a, r, 1e-12)


def test_equals_optax_float32():
    h, w, b, y = problem(jnp.float32, n=37, d=16, v=300)
    f = jax.jit(jax.value_and_grad(lambda h, w: linear_cross_entropy(h, w, y, chunk_size=8), (0, 1)))
    g = jax.jit(jax.value_and_grad(
        lambda h, w: optax.softmax_cross_entropy_with_integer_labels(h @ w, y).mean(), (0, 1)))
    assert_close(f(h, w), g(h, w), 1e-5)


def test_float32_all_options_and_batch_shape():
    h, w, b, y = problem(jnp.float32, batch=(3, 7), d=8, v=50)
    y = y.at[1, 2].set(-1)
    cw = jnp.linspace(0.5, 2.0, 50, dtype=jnp.float32)
    a, r = both(h, w, b, y, chunk_size=5, ignore_index=-1, label_smoothing=0.1,
                class_weights=cw, z_loss=1e-3, logit_softcap=10.0)
    assert_close(a, r, 1e-5)
    out = linear_cross_entropy(h, w, y, bias=b, ignore_index=-1, reduction="none")
    assert out.shape == (3, 7) and float(out[1, 2]) == 0.0


@pytest.mark.parametrize("chunk", [1, 3, 7, 11, 64], ids=str)
def test_chunk_sizes_that_do_not_divide_tokens(chunk):
    h, w, b, y = problem()
    a, r = both(h, w, b, y, chunk_size=chunk, label_smoothing=0.1)
    assert_close(a, r, 1e-12)


def test_default_chunk_size():
    assert default_chunk_size(4096, 65536) == 128  # 32 MiB of float32 logits
    assert default_chunk_size(10, 65536) == 10  # never more than the tokens
    assert default_chunk_size(10**6, 10**7) == 8  # at least 8
    assert default_chunk_size(1000, 1000) == 1000
    h, w, b, y = problem()
    a, r = both(h, w, b, y, chunk_size=None)
    assert_close(a, r, 1e-12)


def test_everything_ignored_or_masked_gives_zero_and_zero_gradients():
    h, w, b, y = problem()
    for kw in ({"ignore_index": -7, "y": jnp.full((N,), -7)},
               {"where": jnp.zeros((N,), bool)},
               {"where": jnp.zeros((1, V), bool)}):
        labels = kw.pop("y", y)
        val, grads = jax.value_and_grad(
            lambda h, w, b, labels=labels, kw=kw: linear_cross_entropy(
                h, w, labels, bias=b, chunk_size=4, **kw), (0, 1, 2))(h, w, b)
        assert float(val) == 0.0
        for g in grads:
            assert not np.any(np.asarray(g))


def test_excluded_tokens_do_not_leak_nan():
    h, w, b, y = problem()
    h = h.at[4].set(jnp.nan)  # a NaN feature in an ignored token
    y = y.at[4].set(-100)
    val, grads = jax.value_and_grad(
        lambda h, w: linear_cross_entropy(h, w, y, chunk_size=4, ignore_index=-100), (0, 1))(h, w)
    assert np.isfinite(float(val)) and all(np.all(np.isfinite(g)) for g in grads)


def test_out_of_range_label_is_nan_as_unfused():
    h, w, b, y = problem()
    y = y.at[0].set(V)
    assert np.isnan(float(linear_cross_entropy(h, w, y, chunk_size=4)))
    out = linear_cross_entropy(h, w, y, chunk_size=4, reduction="none")
    assert np.isnan(out[0]) and np.all(np.isfinite(out[1:]))


def test_bfloat16_inputs_accumulate_in_float32():
    h, w, b, y = problem(jnp.bfloat16, n=40, d=32, v=200)
    f = jax.jit(jax.value_and_grad(
        lambda h, w, b: linear_cross_entropy(h, w, y, bias=b, chunk_size=16,
                                             label_smoothing=0.1), (0, 1, 2)))
    val, grads = f(h, w, b)
    assert val.dtype == jnp.float32
    assert [g.dtype for g in grads] == [jnp.bfloat16] * 3
    # reference: the same bf16 values in float64 (bf16 products are exact in float32)
    h64, w64, b64 = (x.astype(jnp.float64) for x in (h, w, b))
    rv, rg = jax.jit(jax.value_and_grad(
        lambda h, w, b: ce(aff(h, w, b), y, label_smoothing=0.1, reduction="mean"), (0, 1, 2)
    ))(h64, w64, b64)
    np.testing.assert_allclose(float(val), float(rv), rtol=1e-5)
    # gradients go through bf16 matmul operands (dz rounded to bf16, as unfused bf16 does)
    assert_close(grads, rg, 2e-2)
    # the none path (float32 dW accumulation through a float32 weight copy)
    g_none = jax.jit(jax.grad(lambda w: linear_cross_entropy(h, w, y, reduction="none",
                                                             chunk_size=16).sum()))(w)
    rg_none = jax.jit(jax.grad(lambda w: ce(h64 @ w, y).sum()))(w64)
    assert g_none.dtype == jnp.bfloat16
    assert_close(g_none, rg_none, 2e-2)


def test_traced_options_and_their_gradients():
    h, w, b, y = problem()
    cw = jnp.linspace(0.5, 2.0, V)

    fused = jax.jit(lambda ls, zl, cap, cw: linear_cross_entropy(
        h, w, y, bias=b, chunk_size=4, label_smoothing=ls, z_loss=zl, logit_softcap=cap,
        class_weights=cw))
    unfused = jax.jit(lambda ls, zl, cap, cw: ce(
        aff(h, w, b), y, label_smoothing=ls, z_loss=zl, logit_softcap=cap, class_weights=cw,
        reduction="mean"))
    args = (0.2, 1e-2, 3.0, cw)
    assert_close(jax.jit(jax.value_and_grad(fused, argnums=(0, 1, 2, 3)))(*args),
                 jax.jit(jax.value_and_grad(unfused, argnums=(0, 1, 2, 3)))(*args), 1e-12)
    assert np.isnan(float(fused(1.5, 0.0, 3.0, cw)))  # traced label_smoothing out of [0, 1]


def test_second_order_reverse_and_hessian():
    h, w, b, y = problem(n=5, d=2, v=4)
    kw = {"label_smoothing": 0.1, "z_loss": 1e-2, "logit_softcap": 2.0}
    fused = lambda h: linear_cross_entropy(h, w, y, chunk_size=4, **kw)
    unfused = lambda h: ce(h @ w, y, reduction="mean", **kw)
    gg = lambda f: jax.jit(jax.grad(lambda h: jnp.sum(jax.grad(f)(h) ** 2)))
    assert_close(gg(fused)(h), gg(unfused)(h), 1e-12)
    assert_close(jax.jit(jax.hessian(fused))(h), jax.jit(jax.hessian(unfused))(h), 1e-12)  # fwd-over-rev


def test_forward_mode_raises_for_scalar_reductions_and_works_for_none():
    h, w, b, y = problem(n=6, d=3, v=5)
    for fn in (lambda f, x: jax.jvp(f, (x,), (x,)), lambda f, x: jax.jacfwd(f)(x)):
        with pytest.raises(ForwardModeError, match=r"forward mode \(jvp, jacfwd.*reduction='none'"):
            fn(lambda h: linear_cross_entropy(h, w, y, reduction="sum"), h)
    t = jax.jvp(lambda h: linear_cross_entropy(h, w, y, chunk_size=4, reduction="none"),
                (h,), (h,))[1]
    r = jax.jvp(lambda h: ce(h @ w, y), (h,), (h,))[1]
    assert_close(t, r, 1e-12)


def test_vmap():
    h, w, b, y = problem()
    hs = jnp.stack([h, 2 * h])
    out = jax.vmap(lambda h: linear_cross_entropy(h, w, y, chunk_size=4))(hs)
    ref = jnp.stack([ce(x @ w, y, reduction="mean") for x in hs])
    assert_close(out, ref, 1e-12)


def test_compiled_temp_memory_is_bounded():
    # the bound at a reduced shape: one float32 dW + 1/16 of the logits
    n, d, v, chunk = 1024, 64, 8192, 32
    args = (jax.ShapeDtypeStruct((n, d), jnp.float32), jax.ShapeDtypeStruct((d, v), jnp.float32),
            jax.ShapeDtypeStruct((n,), jnp.int32))

    def temp(f):
        c = jax.jit(jax.value_and_grad(f, argnums=(0, 1))).lower(*args).compile()
        return c.memory_analysis().temp_size_in_bytes

    fused = temp(lambda h, w, y: linear_cross_entropy(h, w, y, chunk_size=chunk,
                                                      label_smoothing=0.1, z_loss=1e-4))
    unfused = temp(lambda h, w, y: ce(h @ w, y, reduction="mean"))
    logits = n * v * 4
    assert fused <= d * v * 4 + logits // 16, fused
    assert unfused >= logits  # the reference does hold the logits


BAD = [
    (dict(hidden=jnp.zeros((4, 3)), weight=jnp.zeros((2, 5))), InputValueError,
     r"hidden has feature size D=3 \(shape \(4, 3\)\) but weight has D=2"),
    (dict(weight=jnp.zeros((5,))), InputValueError, r"weight must be \[D, V\] \(2-D\), got shape \(5,\)"),
    (dict(weight=jnp.zeros((3, 0))), InputValueError, r"weight has no classes"),
    (dict(hidden=jnp.zeros(())), InputValueError, r"hidden must be \[\*batch, D\]"),
    (dict(labels=jnp.zeros((3,), int)), InputValueError, r"labels must have hidden's batch shape \(4,\), got \(3,\)"),
    (dict(labels=jnp.zeros((4,))), InputTypeError, r"labels must be an integer array.*float"),
    (dict(hidden=jnp.zeros((4, 3), int)), InputTypeError, r"hidden must be a floating-point array, got dtype int"),
    (dict(weight=jnp.zeros((3, 5), int)), InputTypeError, r"weight must be a floating-point"),
    (dict(bias=jnp.zeros((4,))), InputValueError, r"bias must have shape \(5,\).*got \(4,\)"),
    (dict(bias=jnp.zeros((5,), int)), InputTypeError, r"bias must be a floating-point"),
    (dict(chunk_size=0), InputValueError, r"chunk_size must be a positive int or None, got 0"),
    (dict(chunk_size=-3), InputValueError, r"chunk_size must be a positive int or None, got -3"),
    (dict(chunk_size=2.5), InputTypeError, r"chunk_size must be a positive int or None, got 2.5"),
    (dict(chunk_size=True), InputTypeError, r"chunk_size must be a positive int or None, got True"),
    (dict(class_weights=jnp.ones(4)), InputValueError, r"class_weights must have shape \(5,\)"),
    (dict(where=jnp.ones((3,), bool)), InputValueError, r"where must be a class mask broadcastable to the logits shape \(4, 5\)"),
    (dict(where=jnp.ones((4,))), InputTypeError, r"where must be a boolean mask"),
    (dict(reduction="avg"), InputValueError, r"reduction must be one of"),
    (dict(label_smoothing=2.0), InputValueError, r"label_smoothing must be in \[0.0, 1.0\], got 2.0"),
    (dict(ignore_index=1.0), InputTypeError, r"ignore_index must be an int or None"),
]


@pytest.mark.parametrize("change, err, match", BAD, ids=[m[:30] for _, _, m in BAD])
def test_bad_arguments(change, err, match):
    kw = dict(hidden=jnp.zeros((4, 3)), weight=jnp.zeros((3, 5)), labels=jnp.zeros((4,), int))
    kw.update(change)
    with pytest.raises(err, match=match):
        linear_cross_entropy(kw.pop("hidden"), kw.pop("weight"), kw.pop("labels"), **kw)
