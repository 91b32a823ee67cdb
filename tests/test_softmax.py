"""Softmax cross-entropy (soft and integer labels): values, gradients, dtypes, transforms."""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import reference as ref

import crossent_jax as cj

CE = cj.softmax_cross_entropy
ICE = cj.softmax_cross_entropy_with_integer_labels


def _data(shape=(6, 5), seed=0, scale=3.0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=shape) * scale
    y = rng.integers(0, shape[-1], size=shape[:-1])
    t = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
    return z, y, t


OPTIONS = [
    dict(),
    dict(label_smoothing=0.1),
    dict(label_smoothing=1.0),
    dict(z_loss=1e-2),
    dict(logit_softcap=2.0),
    dict(label_smoothing=0.2, z_loss=1e-3, logit_softcap=5.0),
]
OPT_IDS = ["plain", "smooth0.1", "smooth1", "zloss", "softcap", "all"]


def _ref_kwargs(o):
    return dict(
        alpha=o.get("label_smoothing", 0.0), zeta=o.get("z_loss", 0.0), cap=o.get("logit_softcap")
    )


# --------------------------------------------------------------------------- float64 values
@pytest.mark.parametrize("opts", OPTIONS, ids=OPT_IDS)
def test_soft_labels_match_naive_reference(opts):
    z, _, t = _data()
    got = CE(z, t, **opts)
    chex.assert_shape(got, (6,))
    chex.assert_trees_all_close(got, ref.softmax_ce(z, t, **_ref_kwargs(opts)), rtol=1e-13)


@pytest.mark.parametrize("opts", OPTIONS, ids=OPT_IDS)
def test_integer_labels_match_naive_reference(opts):
    z, y, _ = _data()
    expected = ref.softmax_ce(z, ref.one_hot(y, 5), **_ref_kwargs(opts))
    chex.assert_trees_all_close(ICE(z, y, **opts), expected, rtol=1e-13)


def test_seed_article_cases():
    # Seed 000: softmax output y = (0.1, 0.8, 0.1) with target "cat" gives −log 0.8 ≈ 0.223,
    # y = (0.7, 0.1, 0.2) gives −log 0.1 ≈ 2.303. Logits log y reproduce those softmax outputs.
    y = jnp.array([[0.1, 0.8, 0.1], [0.7, 0.1, 0.2]])
    got = ICE(jnp.log(y), jnp.array([1, 1]))
    chex.assert_trees_all_close(got, jnp.array([-np.log(0.8), -np.log(0.1)]), rtol=1e-14)
    np.testing.assert_allclose(np.round(got, 3), [0.223, 2.303])


def test_optax_parity():
    z, y, t = _data((4, 3, 7))
    chex.assert_trees_all_close(CE(z, t), optax.softmax_cross_entropy(z, t), rtol=1e-13)
    chex.assert_trees_all_close(
        ICE(z, y), optax.softmax_cross_entropy_with_integer_labels(z, y), rtol=1e-13
    )
    smoothed = optax.smooth_labels(jnp.asarray(t), 0.3)
    chex.assert_trees_all_close(cj.smooth_labels(t, 0.3), smoothed, rtol=1e-14)
    chex.assert_trees_all_close(
        CE(z, t, label_smoothing=0.3), optax.softmax_cross_entropy(z, smoothed), rtol=1e-13
    )
    # class axis in the middle: [4, 7, 3] with the 7 classes on axis 1
    zt, tt = np.swapaxes(z, 1, 2), np.swapaxes(t, 1, 2)
    chex.assert_trees_all_close(
        CE(zt, tt, axis=1), optax.softmax_cross_entropy(zt, tt, axis=1), rtol=1e-13
    )
    chex.assert_trees_all_close(CE(zt, tt, axis=1), ref.softmax_ce(z, t), rtol=1e-13)
    chex.assert_trees_all_close(
        ICE(zt, y, axis=1), optax.softmax_cross_entropy_with_integer_labels(zt, y, axis=1)
    )


def test_tuple_axis_matches_optax_docstring_example():
    # optax's own docstring example for a tuple axis: expected [[6.4587 0.4587]].
    shape = (1, 2, 3, 4)
    logits = jnp.arange(np.prod(shape), dtype=jnp.float64).reshape(shape)
    labels = jnp.ravel_multi_index((jnp.array([[1, 2]]), jnp.array([[1, 3]])), shape[2:])
    got = ICE(logits, labels, axis=(2, 3))
    chex.assert_trees_all_close(
        got, optax.softmax_cross_entropy_with_integer_labels(logits, labels, axis=(2, 3))
    )
    np.testing.assert_allclose(got, [[6.4587, 0.4587]], atol=1e-4)
    onehot = jax.nn.one_hot(labels, 12).reshape(1, 2, 3, 4)
    chex.assert_trees_all_close(CE(logits, onehot, axis=(2, 3)), got, rtol=1e-13)
    chex.assert_trees_all_close(CE(logits, onehot, axis=(-2, -1)), got, rtol=1e-13)


# --------------------------------------------------------------------------- PyTorch parity
import torch  # noqa: E402  (PyTorch is a test dependency: the reference for F.cross_entropy)

F = torch.nn.functional

TORCH_CASES = [
    dict(reduction="none"),
    dict(reduction="mean"),
    dict(reduction="sum"),
    dict(reduction="mean", ignore_index=2),
    dict(reduction="none", ignore_index=-100),
    dict(reduction="mean", weight=True),
    dict(reduction="sum", weight=True, ignore_index=1),
    dict(reduction="mean", label_smoothing=0.15),
    dict(reduction="mean", label_smoothing=0.15, weight=True, ignore_index=3),
    dict(reduction="none", label_smoothing=0.3, weight=True),
]


@pytest.mark.parametrize("case", TORCH_CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_torch_cross_entropy_integer_targets(case):
    z, y, _ = _data((16, 6), seed=3)
    y[[1, 5]] = case.get("ignore_index", 0) if "ignore_index" in case else y[[1, 5]]
    w = np.random.default_rng(4).uniform(0.2, 2.0, size=6)
    kw = dict(reduction=case["reduction"], label_smoothing=case.get("label_smoothing", 0.0))
    t_kw = dict(kw, ignore_index=case.get("ignore_index", -100))
    if case.get("weight"):
        t_kw["weight"] = torch.tensor(w)
        kw["class_weights"] = w
    expected = F.cross_entropy(torch.tensor(z), torch.tensor(y), **t_kw).numpy()
    got = ICE(z, y, ignore_index=case.get("ignore_index"), **kw)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
def test_torch_cross_entropy_probability_targets(reduction, smoothing):
    z, _, t = _data((9, 5), seed=5)
    expected = F.cross_entropy(
        torch.tensor(z), torch.tensor(t), reduction=reduction, label_smoothing=smoothing
    ).numpy()
    got = CE(z, t, reduction=reduction, label_smoothing=smoothing)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_torch_cross_entropy_spatial_class_axis():
    # PyTorch puts classes on axis 1 for [N, C, d1] inputs.
    rng = np.random.default_rng(6)
    z = rng.normal(size=(3, 5, 4))
    y = rng.integers(0, 5, size=(3, 4))
    expected = F.cross_entropy(torch.tensor(z), torch.tensor(y), reduction="none").numpy()
    np.testing.assert_allclose(ICE(z, y, axis=1), expected, rtol=1e-12)


def test_all_ignored_batch_mean_is_zero_not_nan():
    # PyTorch returns NaN here (0/0); the kit returns 0.0 (documented difference).
    z, _, _ = _data((4, 3))
    y = np.full((4,), -100)
    assert np.isnan(F.cross_entropy(torch.tensor(z), torch.tensor(y)).item())
    got = ICE(z, y, ignore_index=-100, reduction="mean")
    assert got == 0.0
    g = jax.grad(lambda z: ICE(z, y, ignore_index=-100, reduction="mean"))(z)
    chex.assert_trees_all_close(g, jnp.zeros_like(g))
    assert CE(z, np.eye(3)[[0, 1, 2, 0]], where=np.zeros(4, bool), reduction="mean") == 0.0


# --------------------------------------------------------------------------- gradients
def _identity_case(dtype, opts, masked=False):
    z, y, _ = _data((8, 7), seed=11, scale=2.0)
    mask = None
    if masked:
        mask = np.ones((8, 7), bool)
        mask[:, 2] = False
        y = np.where(y == 2, 3, y)
    z = jnp.asarray(z, dtype)
    valid = np.ones((8, 7)) if mask is None else mask.astype(float)
    x = np.asarray(z, np.float64)
    cap = opts.get("logit_softcap")
    if cap is not None:
        x = cap * np.tanh(x / cap)
    a, zeta = opts.get("label_smoothing", 0.0), opts.get("z_loss", 0.0)
    xm = np.where(valid > 0, x, -np.inf)
    q = ref.softmax(xm)
    t_smooth = (1 - a) * ref.one_hot(y, 7) + a * valid / valid.sum(-1, keepdims=True)
    expected = (1 + 2 * zeta * ref.lse(xm))[:, None] * q - t_smooth
    if cap is not None:
        expected = expected * (1 - np.tanh(np.asarray(z, np.float64) / cap) ** 2)
    return z, y, mask, expected


@pytest.mark.parametrize("opts", OPTIONS, ids=OPT_IDS)
@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "classmask"])
@pytest.mark.parametrize("dtype,tol", [(jnp.float64, 1e-13), (jnp.float32, 2e-6)], ids=["f64", "f32"])
def test_gradient_identity(opts, masked, dtype, tol):
    z, y, mask, expected = _identity_case(dtype, opts, masked)
    g_int = jax.jit(jax.grad(lambda z: ICE(z, y, where=mask, **opts).sum()))(z)
    onehot = ref.one_hot(y, 7).astype(dtype)
    g_soft = jax.jit(jax.grad(lambda z: CE(z, onehot, where=mask, **opts).sum()))(z)
    for g in (g_int, g_soft):
        chex.assert_type(g, dtype)
        np.testing.assert_allclose(g, expected, rtol=0, atol=tol)
    # forward mode agrees: J·e_k columns equal the gradient rows
    tangent = jnp.zeros_like(z).at[:, 4].set(1)
    _, jvp = jax.jit(lambda z, v: jax.jvp(lambda z: ICE(z, y, where=mask, **opts), (z,), (v,)))(
        z, tangent
    )
    np.testing.assert_allclose(jvp, expected[:, 4], atol=tol)


def test_gradient_sums_to_zero_and_matches_finite_differences():
    z, y, _ = _data((3, 6), seed=2)
    f = lambda z: ICE(z, y, label_smoothing=0.1, z_loss=0.0).sum()
    g = jax.grad(f)(z)
    np.testing.assert_allclose(g.sum(-1), 0.0, atol=1e-15)
    # jit outside: check_grads differentiates the jitted function (fast, and jit is tested)
    jax.test_util.check_grads(jax.jit(f), (jnp.asarray(z),), order=2, modes=("fwd", "rev"))
    h = lambda z: ICE(z, y, logit_softcap=3.0, z_loss=1e-2, label_smoothing=0.2).sum()
    jax.test_util.check_grads(jax.jit(h), (jnp.asarray(z),), order=2, modes=("fwd", "rev"))


def test_gradient_wrt_soft_labels_is_minus_log_softmax():
    z, _, t = _data((5, 4), seed=7)
    g = jax.jit(jax.grad(lambda t: CE(z, t, label_smoothing=0.2).sum()))(jnp.asarray(t))
    np.testing.assert_allclose(g, -0.8 * np.log(ref.softmax(z)), rtol=1e-13)
    jax.test_util.check_grads(jax.jit(lambda t: CE(z, t).sum()), (jnp.asarray(t),), order=2)


@pytest.mark.parametrize("fn", ["soft", "int"])
def test_hessian_is_diag_minus_outer(fn):
    z, y, t = _data((6,), seed=8)
    loss = (lambda z: CE(z, t)) if fn == "soft" else (lambda z: ICE(z, jnp.asarray(y)))
    q = ref.softmax(z)
    for hess in (jax.hessian, lambda f: jax.jacfwd(jax.jacfwd(f)), lambda f: jax.jacrev(jax.jacrev(f))):
        h = jax.jit(hess(loss))(z)
        np.testing.assert_allclose(h, np.diag(q) - np.outer(q, q), atol=1e-15)


# --------------------------------------------------------------------------- −inf and extremes
def test_neg_inf_logits_finite_in_both_modes():
    z, y, _ = _data((4, 5), seed=9)
    z[:, 0] = -np.inf
    y = np.where(y == 0, 1, y)
    t = ref.one_hot(y, 5)
    z = jnp.asarray(z)
    for opts in ({}, {"label_smoothing": 0.1}, {"z_loss": 1e-3}, {"logit_softcap": 4.0}):
        for f in (lambda z, o=opts: ICE(z, y, **o).sum(), lambda z, o=opts: CE(z, t, **o).sum()):
            val, g = jax.jit(jax.value_and_grad(f))(z)
            chex.assert_tree_all_finite((val, g))
            _, tan = jax.jit(lambda z, f=f: jax.jvp(f, (z,), (jnp.ones_like(z),)))(z)
            chex.assert_tree_all_finite(tan)
            chex.assert_tree_all_finite(jax.jit(jax.hessian(f))(z))
            np.testing.assert_array_equal(g[:, 0], 0.0)
    # −inf class = masked class: identical to masking that class with `where`
    mask = np.ones((4, 5), bool)
    mask[:, 0] = False
    zf = jnp.where(jnp.isneginf(z), 0.0, z)
    chex.assert_trees_all_close(
        ICE(z, y, label_smoothing=0.1), ICE(zf, y, where=mask, label_smoothing=0.1), rtol=1e-14
    )
    # −inf logits with soft labels: the gradient w.r.t. labels stays finite too
    gt = jax.grad(lambda t: CE(z, t).sum())(jnp.asarray(t))
    chex.assert_tree_all_finite(gt)


def test_target_mass_on_impossible_class_is_inf():
    # A −inf logit is a class of probability 0: label mass there is +inf (p > 0, q = 0).
    z = jnp.array([[0.0, -jnp.inf, 1.0]])
    assert ICE(z, jnp.array([1]))[0] == np.inf
    assert CE(z, jnp.array([[0.5, 0.5, 0.0]]))[0] == np.inf
    # A *masked* class is sliced out instead: the label's mass there is dropped, so the
    # integer label on a masked class has no target left (loss 0; smoothing still spreads
    # α/K over the two remaining classes).
    mask = jnp.array([[True, False, True]])
    assert ICE(jnp.zeros((1, 3)), jnp.array([1]), where=mask)[0] == 0.0
    np.testing.assert_allclose(
        ICE(jnp.zeros((1, 3)), jnp.array([1]), where=mask, label_smoothing=0.4), [0.4 * np.log(2)]
    )


def test_extreme_logits_are_stable():
    z = jnp.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], jnp.float32)
    y = jnp.array([1, 0])
    got = ICE(z, y)
    np.testing.assert_allclose(got, [2e4, 2e4 + np.log(2)], rtol=1e-6)
    g = jax.grad(lambda z: ICE(z, y, z_loss=1e-4).sum())(z)
    chex.assert_tree_all_finite(g)


def test_all_classes_masked_row():
    z = jnp.array([[-jnp.inf, -jnp.inf], [0.0, 1.0]])
    y = jnp.array([0, 1])
    val = ICE(z, y)
    assert val[0] == np.inf
    ex = jnp.array([False, True])  # the padded row is masked as an example: 0, finite grads
    f = lambda z: ICE(z, y, where=ex, label_smoothing=0.1, reduction="mean")
    v, g = jax.value_and_grad(f)(z)
    # only row 1 counts: t̃ = (0.05, 0.95) over its two classes
    expected = -(0.05 * np.log(ref.softmax(np.array([0.0, 1.0]))[0])
                 + 0.95 * np.log(ref.softmax(np.array([0.0, 1.0]))[1]))
    np.testing.assert_allclose(v, expected, rtol=1e-13)
    chex.assert_tree_all_finite(g)


# --------------------------------------------------------------------------- masks & weights
def test_class_mask_equals_dropping_the_class():
    z, y, t = _data((5, 6), seed=12)
    keep = np.array([True, True, False, True, False, True])
    y = np.array([0, 1, 3, 5, 0])
    t = t * keep
    t = t / t.sum(-1, keepdims=True)
    mask = np.broadcast_to(keep, (5, 6))
    for o in ({}, {"label_smoothing": 0.3}, {"z_loss": 0.1}):
        sub = ICE(z[:, keep], np.searchsorted(np.flatnonzero(keep), y), **o)
        chex.assert_trees_all_close(ICE(z, y, where=mask, **o), sub, rtol=1e-13)
        chex.assert_trees_all_close(CE(z, t, where=keep[None], **o), CE(z[:, keep], t[:, keep], **o))


def test_example_mask_and_ignore_index():
    z, y, t = _data((6, 4), seed=13)
    ex = np.array([True, False, True, True, False, True])
    full = ICE(z, y)
    got = ICE(z, y, where=ex)
    np.testing.assert_array_equal(got, np.where(ex, full, 0.0))
    np.testing.assert_allclose(ICE(z, y, where=ex, reduction="mean"), full[ex].mean(), rtol=1e-14)
    np.testing.assert_allclose(ICE(z, y, where=ex, reduction="sum"), full[ex].sum(), rtol=1e-14)
    y2 = np.where(ex, y, 99)
    np.testing.assert_array_equal(ICE(z, y2, ignore_index=99), got)
    np.testing.assert_allclose(CE(z, t, where=ex, reduction="mean"), CE(z, t)[ex].mean())


def test_class_weights_mean_is_weighted_average():
    z, y, _ = _data((10, 3), seed=14)
    w = np.array([0.5, 2.0, 1.0])
    per = ICE(z, y, class_weights=w)
    np.testing.assert_allclose(per, w[y] * ICE(z, y), rtol=1e-14)
    np.testing.assert_allclose(
        ICE(z, y, class_weights=w, reduction="mean"), per.sum() / w[y].sum(), rtol=1e-14
    )


def test_out_of_range_labels_give_nan_for_that_example_only():
    z, y, _ = _data((4, 3), seed=15)
    y = np.array([0, 3, -1, 2])
    got = jax.jit(ICE)(z, y)
    assert np.isnan(got[1]) and np.isnan(got[2])
    assert np.isfinite(got[0]) and np.isfinite(got[3])
    assert np.isnan(ICE(z, y, reduction="mean"))


def test_soft_labels_are_a_linear_argument():
    # Issue 9.5: the loss is −Σ t log softmax(x) for *any* real t (no NaN poisoning of
    # negative entries), so it is differentiable around one-hot labels; validating label
    # values is checked()'s job.
    z = jnp.asarray(_data((2, 3), seed=3)[0])
    t = jnp.array([[1.2, -0.2, 0.0], [0.0, 1.0, 0.0]])
    np.testing.assert_allclose(CE(z, t), -np.sum(np.asarray(t) * np.log(ref.softmax(z)), -1),
                               rtol=1e-13)


def test_traced_label_smoothing_out_of_range_gives_nan():
    z, y, t = _data((3, 4))
    f = jax.jit(lambda a: ICE(z, y, label_smoothing=a))
    assert np.all(np.isnan(f(1.5)))
    np.testing.assert_allclose(f(0.1), ICE(z, y, label_smoothing=0.1), rtol=1e-14)
    assert np.all(np.isnan(jax.jit(lambda a: CE(z, t, label_smoothing=a))(-0.1)))
    # vmapping over the smoothing strength (a hyperparameter sweep) works
    sweep = jax.vmap(lambda a: ICE(z, y, label_smoothing=a, reduction="mean"))(jnp.linspace(0, 1, 3))
    np.testing.assert_allclose(sweep[2], ICE(z, y, label_smoothing=1.0, reduction="mean"))


# --------------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16], ids=["bf16", "f16"])
def test_low_precision_computes_in_float32(dtype):
    z, y, t = _data((8, 5), seed=16)
    zl = jnp.asarray(z, dtype)
    for fn, lab in ((ICE, y), (CE, jnp.asarray(t, dtype))):
        val, g = jax.value_and_grad(lambda z, fn=fn, lab=lab: fn(z, lab, reduction="sum"))(zl)
        chex.assert_type(val, jnp.float32)
        chex.assert_type(g, dtype)
        # value equals the float32 computation on the same (rounded) inputs
        ref32 = fn(zl.astype(jnp.float32), lab if fn is ICE else lab.astype(jnp.float32),
                   reduction="sum")
        np.testing.assert_allclose(val, ref32, rtol=1e-6)
    chex.assert_type(cj.smooth_labels(jnp.asarray(t, dtype), 0.1), dtype)


# --------------------------------------------------------------------------- transformations
def test_transformations_compose():
    z, y, t = _data((4, 3, 5), seed=17)
    z, y, t = jnp.asarray(z), jnp.asarray(y), jnp.asarray(t)
    opts = dict(label_smoothing=0.1, z_loss=1e-3, logit_softcap=3.0)
    per = ICE(z, y, **opts)
    chex.assert_trees_all_close(jax.jit(functools.partial(ICE, **opts))(z, y), per)
    chex.assert_trees_all_close(jax.vmap(functools.partial(ICE, **opts))(z, y), per)
    chex.assert_trees_all_close(
        jax.vmap(functools.partial(ICE, **opts), in_axes=(1, 1), out_axes=1)(z, y), per
    )
    grad = jax.grad(lambda z: ICE(z, y, **opts).sum())(z)
    g1 = jax.jit(jax.vmap(jax.grad(lambda z, y: ICE(z, y, **opts).sum())))(z, y)
    g2 = jax.grad(jax.jit(lambda z: ICE(z, y, **opts).sum()))(z)
    chex.assert_trees_all_close(g1, grad, rtol=1e-13)
    chex.assert_trees_all_close(g2, grad, rtol=1e-13)
    # forward-over-reverse Hessian-vector product equals reverse-over-reverse
    f = lambda z: CE(z, t, **opts).sum()
    v = jnp.ones_like(z) * 0.3
    hvp_fr = jax.jit(lambda z: jax.jvp(jax.grad(f), (z,), (v,))[1])(z)
    hvp_rr = jax.jit(jax.grad(lambda z: jnp.vdot(jax.grad(f)(z), v)))(z)
    chex.assert_trees_all_close(hvp_fr, hvp_rr, rtol=1e-12)
    # third order exists and is finite (any nesting)
    third = jax.jit(jax.jacfwd(jax.hessian(lambda z: ICE(z, y[0, 0], **opts))))(z[0, 0])
    chex.assert_shape(third, (5, 5, 5))
    chex.assert_tree_all_finite(third)


# --------------------------------------------------------------------------- memory
def _temp_bytes(fn, *args):
    compiled = jax.jit(fn).lower(*args).compile()
    stats = compiled.memory_analysis()
    assert stats is not None
    return stats.temp_size_in_bytes


def test_integer_label_smoothing_needs_no_one_hot():
    batch, k = 512, 4096
    z = jnp.zeros((batch, k), jnp.float32)
    y = jnp.zeros((batch,), jnp.int32)

    def vg(alpha):
        return jax.value_and_grad(lambda z: ICE(z, y, label_smoothing=alpha, reduction="mean"))

    plain = _temp_bytes(vg(0.0), z)
    smooth = _temp_bytes(vg(0.1), z)
    row = batch * 4
    # A one-hot would cost batch·K·4 = 8 MiB; the smoothing term costs a few row buffers.
    assert smooth - plain <= 8 * row, (plain, smooth)


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: CE(np.zeros((2, 3), np.int32), np.zeros((2, 3))), TypeError, "logits must be a floating.*int32"),
        (lambda: CE(np.zeros((2, 3)), np.zeros((2, 3), np.int32)), TypeError, "labels must be a floating.*int32"),
        (lambda: ICE(np.zeros((2, 3)), np.zeros((2,))), TypeError, r"integer array.*float64.*softmax_cross_entropy"),
        (lambda: ICE(np.zeros((2, 3)), np.zeros((2,), bool)), TypeError, "integer array.*bool"),
        (lambda: CE(np.zeros((2, 3)), np.zeros((2, 4))), ValueError, r"Shape mismatch.*\(2, 3\).*\(2, 4\)"),
        (lambda: ICE(np.zeros((2, 3)), np.zeros((3,), int)), ValueError, r"labels must have.*\(2,\), got \(3,\)"),
        (lambda: ICE(np.zeros((2, 3)), np.zeros((2,), int), axis=2), ValueError, "axis 2 is out of bounds.*2 dimensions"),
        (lambda: ICE(np.zeros((2, 3)), np.zeros((2,), int), axis=(1, 1)), ValueError, "repeated"),
        (lambda: ICE(np.zeros((2, 3)), np.zeros((2,), int), axis=1.0), TypeError, "axis must be an int.*float"),
        (lambda: ICE(np.zeros((2, 3)), np.zeros((2,), int), label_smoothing=1.5), ValueError, r"label_smoothing must be in \[0.0, 1.0\], got 1.5"),
        (lambda: CE(np.zeros((2, 3)), np.zeros((2, 3)), label_smoothing=-0.1), ValueError, "label_smoothing.*got -0.1"),
        (lambda: ICE(np.zeros((2, 3)), np.zeros((2,), int), reduction="avg"), ValueError, r"reduction must be one of.*got 'avg'"),
        (lambda: ICE(np.zeros((2, 3)), np.zeros((2,), int), z_loss=-1.0), ValueError, "z_loss.*got -1.0"),
        (lambda: ICE(np.zeros((2, 3)), np.zeros((2,), int), logit_softcap=0.0), ValueError, r"logit_softcap must be in \(0.0.*got 0.0"),
        (lambda: ICE(np.zeros((2, 3)), np.zeros((2,), int), class_weights=np.ones(4)), ValueError, r"class_weights must have shape \(3,\).*got \(4,\)"),
        (lambda: ICE(np.zeros((2, 3)), np.zeros((2,), int), class_weights=np.ones(3, int)), TypeError, "class_weights must be a floating"),
        (lambda: ICE(np.zeros((2, 3)), np.zeros((2,), int), where=np.ones((3,), bool)), ValueError, r"where must be a class mask.*\(2, 3\).*batch shape \(2,\).*got shape \(3,\)"),
        (lambda: ICE(np.zeros((2, 3)), np.zeros((2,), int), where=np.ones((2, 3))), TypeError, "where must be a boolean mask, got dtype float64"),
        (lambda: ICE(np.zeros((2, 3)), np.zeros((2,), int), ignore_index=1.5), TypeError, "ignore_index must be an int"),
        (lambda: ICE(np.zeros((2, 3)), np.zeros((2,), int), label_smoothing="0.1"), TypeError, "label_smoothing must be a real number"),
        (lambda: ICE("abc", np.zeros((2,), int)), TypeError, "logits must be a floating-point array, got str"),
        (lambda: cj.smooth_labels(np.zeros((2, 3)), 2.0), ValueError, r"alpha must be in \[0.0, 1.0\], got 2.0"),
        (lambda: cj.smooth_labels(np.zeros((2, 3)), 0.1, where=np.ones(2, bool)), ValueError, "class mask"),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# Regression (issue 3): a concrete bf16 scalar option was rejected with a spurious TypeError
# because numpy does not count bfloat16 as np.floating.
@pytest.mark.parametrize(
    "fn",
    [
        lambda x, a: cj.softmax_cross_entropy(x, jnp.full(x.shape, 0.25, x.dtype), label_smoothing=a),
        lambda x, a: cj.softmax_cross_entropy_with_integer_labels(x, jnp.array([0, 3]), label_smoothing=a),
        lambda x, a: cj.sigmoid_binary_cross_entropy(x, jnp.full(x.shape, 0.25, x.dtype), label_smoothing=a),
    ],
    ids=["soft", "integer", "sigmoid"],
)
def test_bf16_scalar_label_smoothing_is_accepted(fn):
    x = jnp.zeros((2, 4), jnp.bfloat16)
    got = fn(x, jnp.array(0.5, jnp.bfloat16))
    want = fn(x.astype(jnp.float32), 0.5)  # 0.5 is exact in bf16
    chex.assert_trees_all_close(got, want, rtol=1e-6)


@pytest.mark.parametrize("fn", ["soft", "int"])
def test_second_order_inside_scan(fn):
    # jvp(grad(·)) of a lax.scan over the loss (a Hessian-vector product in a training loop):
    # JAX inlines custom-JVP functions there, so the kernel's fused row sums are a primitive
    # with their own rules. Must equal the unrolled Python loop, and pass check_grads.
    z, y, t = (jnp.asarray(a) for a in _data((4, 3, 5), seed=21))
    opts = dict(label_smoothing=0.1, z_loss=1e-2)

    def one(zi, i):
        return CE(zi, t[i], **opts).sum() if fn == "soft" else ICE(zi, y[i], **opts).sum()

    def scanned(z):
        return jax.lax.scan(lambda c, a: (c + one(a[0], a[1]), None), 0.0,
                            (z, jnp.arange(4)))[0]

    def unrolled(z):
        return sum(one(z[i], i) for i in range(4))

    v = jnp.ones_like(z)
    got = jax.jit(lambda z: jax.jvp(jax.grad(scanned), (z,), (v,))[1])(z)
    want = jax.jit(lambda z: jax.jvp(jax.grad(unrolled), (z,), (v,))[1])(z)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    jax.test_util.check_grads(jax.jit(scanned), (z,), order=2, modes=("fwd", "rev"))
