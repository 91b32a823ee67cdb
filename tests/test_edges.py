"""Issue 9: the discrete losses exact at the edges.

Each test is a regression test for one item of the issue: it failed on the code before the
fix. Expected values come from float64 math on the given inputs, optax's documented `where`
convention, PyTorch, or the limit of the formula — never from the kit's own output.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import reference as ref
import torch

import crossent_jax as cj

CE = cj.softmax_cross_entropy
ICE = cj.softmax_cross_entropy_with_integer_labels
SBCE = cj.sigmoid_binary_cross_entropy


def _neg_log_softmax64(x):
    """−log softmax in float64 of the given (exactly converted) inputs, max-shifted."""
    x = np.asarray(x, np.float64)
    s = x - x.max(axis=-1, keepdims=True)
    return np.log(np.exp(s).sum(axis=-1, keepdims=True)) - s


# ----------------------------------------------------------------- 1. large logit offsets
@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32], ids=["f64", "f32"])
def test_equal_huge_logits_give_log_k(dtype):
    # Equal logits of 1e30: softmax is uniform, the loss is log 3 whatever the offset
    # (computing lse − x[label] after rounding lse gave 0.0).
    x = jnp.full((2, 3), 1e30, dtype)
    y = jnp.array([0, 2])
    t = jnp.asarray([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]], dtype)
    for got in (ICE(x, y), CE(x, t), ICE(x, y, label_smoothing=0.3),
                CE(x, t, label_smoothing=0.3)):
        np.testing.assert_allclose(got, [np.log(3)] * 2, rtol=1e-7)


def test_float32_logits_near_1e6_are_exact_for_the_given_inputs():
    # float32 logits around 1e6 (resolution 0.0625 there): the kit's float32 value must be
    # within a few ulps of float64 math on the same float32 numbers (it was 5% off), as
    # PyTorch's float32 F.cross_entropy is.
    rng = np.random.default_rng(0)
    x32 = (1e6 + rng.normal(size=(64, 10)) * 3).astype(np.float32)
    y = rng.integers(0, 10, size=64)
    t = rng.dirichlet(np.ones(10), size=64).astype(np.float32)
    nls = _neg_log_softmax64(x32)
    want_int = nls[np.arange(64), y]
    want_soft = (t.astype(np.float64) * nls).sum(-1)
    want_smooth = 0.9 * want_int + 0.1 * nls.mean(-1)
    lse = np.log(np.exp(x32.astype(np.float64) - 1e6).sum(-1)) + 1e6
    want_z = want_int + 1e-4 * lse**2
    np.testing.assert_allclose(ICE(x32, y), want_int, rtol=2e-6)
    np.testing.assert_allclose(CE(x32, t), want_soft, rtol=2e-6)
    np.testing.assert_allclose(ICE(x32, y, label_smoothing=0.1), want_smooth, rtol=2e-6)
    np.testing.assert_allclose(ICE(x32, y, z_loss=1e-4), want_z, rtol=2e-6)
    torch_err = np.abs(
        torch.nn.functional.cross_entropy(torch.tensor(x32), torch.tensor(y), reduction="none")
        .numpy() - want_int) / want_int
    kit_err = np.abs(np.asarray(ICE(x32, y)) - want_int) / want_int
    assert kit_err.max() <= max(4 * torch_err.max(), 1e-6)


def test_float64_is_exact_at_any_offset_and_the_gradient_does_not_move():
    # At an offset c the float64 inputs x + c are what they are (rounded to ulp(c)); the
    # loss of *those* inputs is computed by max-shifted float64 math (the shift is exact:
    # the entries are within a factor 2 of each other). Rounding lse (~c) first cost
    # ulp(c) ≈ 1e-4 at c = 1e12.
    x = np.random.default_rng(1).normal(size=(3, 5))
    y = np.array([0, 3, 4])
    for c in (1e3, 1e8, 1e12):
        xc = x + c
        want = _neg_log_softmax64(xc)
        want_int = want[np.arange(3), y]
        np.testing.assert_allclose(ICE(xc, y), want_int, rtol=1e-13)
        np.testing.assert_allclose(ICE(xc, y, label_smoothing=0.2),
                                   0.8 * want_int + 0.2 * want.mean(-1), rtol=1e-13)
        g = jax.grad(lambda z: ICE(z, y).sum())(jnp.asarray(xc))
        np.testing.assert_allclose(g, np.exp(-want) - np.eye(5)[y], atol=1e-14)


# --------------------------------------------------------------------- 2. NaN in, NaN out
def test_nan_logit_on_the_label_class_gives_nan():
    x = jnp.array([[0.0, jnp.nan, 1.0], [0.0, 1.0, 2.0]])
    got = ICE(x, jnp.array([1, 0]))
    assert np.isnan(got[0]) and np.isfinite(got[1])
    assert np.isnan(ICE(x, jnp.array([1, 0]), reduction="mean"))  # was +inf
    assert np.isnan(CE(x, jnp.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]))[0])
    assert np.isnan(ICE(x, jnp.array([1, 0]), label_smoothing=0.1, z_loss=1e-3)[0])


def test_nan_logit_of_a_masked_class_is_sliced_out():
    x = jnp.array([[0.0, jnp.nan, 1.0]])
    keep = jnp.array([[True, False, True]])
    want = ICE(jnp.array([[0.0, 1.0]]), jnp.array([1]))
    chex.assert_trees_all_close(ICE(x, jnp.array([2]), where=keep), want)
    g = jax.grad(lambda x: ICE(x, jnp.array([2]), where=keep).sum())(x)
    chex.assert_tree_all_finite(g)
    assert g[0, 1] == 0.0


# ------------------------------------------------------ 3. invalid options give NaN under jit
def test_negative_pos_weight_gives_nan():
    got = SBCE(jnp.zeros(3), jnp.ones(3), pos_weight=jnp.array([1.0, -0.5, 2.0]))
    assert np.isnan(got[1]) and np.all(np.isfinite(np.asarray(got)[[0, 2]]))  # was negative


@pytest.mark.parametrize("fn", ["soft", "int"])
def test_traced_bad_z_loss_and_softcap_give_nan(fn):
    x = jnp.asarray(np.random.default_rng(2).normal(size=(2, 4)))
    y = jnp.array([1, 3])
    loss = (lambda **kw: CE(x, jax.nn.one_hot(y, 4), **kw)) if fn == "soft" else (
        lambda **kw: ICE(x, y, **kw))
    assert np.all(np.isnan(jax.jit(lambda z: loss(z_loss=z))(-0.1)))
    for cap in (0.0, -2.0, np.nan):
        assert np.all(np.isnan(jax.jit(lambda c: loss(logit_softcap=c))(cap)))
    # the same traced values inside their range match the concrete ones
    chex.assert_trees_all_close(jax.jit(lambda z: loss(z_loss=z))(0.1), loss(z_loss=0.1))
    chex.assert_trees_all_close(jax.jit(lambda c: loss(logit_softcap=c))(2.0),
                                loss(logit_softcap=2.0))


# --------------------------------------------------- 4. `where` = classes sliced out (optax)
def test_class_mask_equals_slicing_even_with_label_mass_there():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 6))
    t = rng.dirichlet(np.ones(6), size=4)  # mass on every class, masked ones included
    keep = np.array([True, False, True, True, False, True])
    m = np.broadcast_to(keep, x.shape)
    for opts in ({}, {"label_smoothing": 0.2}, {"z_loss": 1e-2}):
        got = CE(x, t, where=m, **opts)
        chex.assert_trees_all_close(got, CE(x[:, keep], t[:, keep], **opts), rtol=1e-13)
    # optax's documented convention, as the independent reference
    chex.assert_trees_all_close(CE(x, t, where=m), optax.softmax_cross_entropy(x, t, where=m),
                                rtol=1e-13)
    chex.assert_trees_all_close(CE(x, t, where=m), ref.softmax_ce(x[:, keep], t[:, keep]),
                                rtol=1e-13)


def test_fully_masked_rows_give_zero_and_are_not_counted():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 4))
    y = np.array([1, 2, 0])
    t = np.eye(4)[y]
    m = np.ones((3, 4), bool)
    m[1] = False  # row 1: no class left
    for loss, lab in ((ICE, y), (CE, t)):
        for opts in ({}, {"label_smoothing": 0.1, "z_loss": 1e-3}):
            per = loss(x, lab, where=m, **opts)
            assert per[1] == 0.0
            mean = loss(x, lab, where=m, reduction="mean", **opts)
            keep = np.array([0, 2])
            want = np.mean(loss(x[keep], lab[keep], **opts))
            np.testing.assert_allclose(mean, want, rtol=1e-14)
            g = jax.grad(lambda x, loss=loss, lab=lab, opts=opts: loss(
                x, lab, where=m, reduction="mean", **opts))(jnp.asarray(x))
            chex.assert_tree_all_finite(g)
            np.testing.assert_array_equal(g[1], 0.0)
    # every row masked: mean 0 (not NaN), like an empty batch
    assert ICE(x, y, where=np.zeros((3, 4), bool), reduction="mean") == 0.0


def test_integer_labels_with_a_class_mask_equal_one_hot_soft_labels():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(5, 4))
    y = np.array([0, 1, 2, 3, 1])  # class 1 is masked in every row: labels 1 lose their mass
    m = np.broadcast_to(np.array([True, False, True, True]), x.shape)
    for opts in ({}, {"label_smoothing": 0.3}, {"z_loss": 1e-2}, {"logit_softcap": 2.0}):
        chex.assert_trees_all_close(ICE(x, y, where=m, **opts), CE(x, np.eye(4)[y], where=m, **opts),
                                    rtol=1e-13)
    # the sliced formula: label on a masked class → only the smoothing part α·(lse − mean x)
    xs = x[:, [0, 2, 3]]
    lse = np.log(np.exp(xs).sum(-1))
    np.testing.assert_allclose(ICE(x, y, where=m, label_smoothing=0.3)[1],
                               0.3 * (lse[1] - xs[1].mean()), rtol=1e-13)


def test_neg_inf_logit_is_impossible_not_masked():
    x = jnp.array([[0.0, -jnp.inf, 1.0]])
    assert ICE(x, jnp.array([1]))[0] == np.inf
    assert CE(x, jnp.array([[0.2, 0.8, 0.0]]))[0] == np.inf
    # ... while the same class masked instead is sliced out: finite
    m = jnp.array([[True, False, True]])
    assert np.isfinite(CE(jnp.zeros((1, 3)), jnp.array([[0.2, 0.8, 0.0]]), where=m)[0])


# ----------------------------------------------------------- 5. soft labels are linear
def test_check_grads_at_one_hot_labels():
    # the first thing a JAX user tries: both arguments, second order, both modes
    x = jnp.asarray(np.random.default_rng(6).normal(size=(3, 4)))
    t = jax.nn.one_hot(jnp.array([0, 3, 1]), 4, dtype=jnp.float64)
    for opts in ({}, {"label_smoothing": 0.1, "z_loss": 1e-2}):
        f = jax.jit(lambda x, t, opts=opts: CE(x, t, **opts))
        jax.test_util.check_grads(f, (x, t), order=2, modes=("fwd", "rev"))


def test_gradient_wrt_labels_is_minus_log_softmax_for_any_labels():
    x = jnp.asarray(np.random.default_rng(7).normal(size=(2, 3)))
    t = jnp.array([[1.5, -0.5, 0.0], [-1.0, 2.0, 0.0]])  # not distributions
    g = jax.grad(lambda t: CE(x, t, label_smoothing=0.25).sum())(t)
    np.testing.assert_allclose(g, -0.75 * np.log(ref.softmax(x)), rtol=1e-13)
    np.testing.assert_allclose(CE(x, t), ref.softmax_ce(x, t), rtol=1e-13)


# ---------------------------------------------------- 6. sigmoid BCE at infinite logits
def test_sigmoid_bce_at_infinite_logits():
    x = jnp.array([jnp.inf, -jnp.inf, jnp.inf, -jnp.inf])
    t = jnp.array([1.0, 0.0, 0.0, 1.0])
    # exact limits: certain and right costs 0, certain and wrong +inf; d/dx = σ(x) − t
    np.testing.assert_array_equal(SBCE(x, t), [0.0, 0.0, np.inf, np.inf])
    np.testing.assert_array_equal(jax.grad(lambda x: SBCE(x, t).sum())(x), [0.0, 0.0, 1.0, -1.0])
    pw = jnp.array([2.0, 2.0, 2.0, 0.0])  # a zero weight removes the positive term entirely
    np.testing.assert_array_equal(SBCE(x, t, pos_weight=pw), [0.0, 0.0, np.inf, 0.0])
    gw = jax.grad(lambda x: SBCE(x, t, pos_weight=pw).sum())(x)
    # σ(x)(1 − t + w t) − w t at the limits
    np.testing.assert_array_equal(gw, [0.0, 0.0, 1.0, 0.0])
    _, tan = jax.jvp(lambda x: SBCE(x, t), (x,), (jnp.ones(4),))
    np.testing.assert_array_equal(tan, [0.0, 0.0, 1.0, -1.0])
    # smoothing moves every target off {0, 1}: a certain prediction is then infinitely wrong
    assert np.all(SBCE(x, t, label_smoothing=0.1) == np.inf)


# ------------------------------------------------------------------- 7. small API edges
def test_numpy_integer_ignore_index():
    x = jnp.zeros((2, 3))
    y = jnp.array([1, -100])
    for ii in (np.int64(-100), np.int32(-100)):
        np.testing.assert_allclose(ICE(x, y, ignore_index=ii, reduction="mean"), np.log(3))
        np.testing.assert_allclose(cj.checked(ICE)(x, y, ignore_index=ii, reduction="mean"),
                                   np.log(3))
    with pytest.raises(TypeError, match="ignore_index must be an int or None, got True"):
        ICE(x, y, ignore_index=True)


@pytest.mark.parametrize(
    "call",
    [lambda: CE(jnp.zeros((3, 0)), jnp.zeros((3, 0))),
     lambda: ICE(jnp.zeros((3, 0)), jnp.zeros(3, int)),
     lambda: ICE(jnp.zeros((3, 0, 2)), jnp.zeros(3, int), axis=(1, 2))],
    ids=["soft", "int", "tuple-axis"],
)
def test_empty_class_axis_is_a_clear_error(call):
    with pytest.raises(ValueError, match=r"logits have no classes: the class axis .* has size 0"):
        call()


def test_pos_weight_may_not_enlarge_the_labels():
    with pytest.raises(ValueError, match=r"pos_weight must be broadcastable to labels \(3,\) "
                                         r"without enlarging them, got shape \(2, 3\)"):
        SBCE(jnp.zeros(3), jnp.ones(3), pos_weight=jnp.ones((2, 3)))


def test_binary_cross_entropy_promotes_with_the_labels_dtype():
    y = np.array([0.3, 0.7], np.float32)
    t = np.array([0.1, 0.9], np.float64)
    got = cj.binary_cross_entropy(y, t)
    assert got.dtype == jnp.float64
    np.testing.assert_allclose(got, ref.bce(y.astype(np.float64), t), rtol=1e-15)


# ------------------------------------------- adversarial review of issue 9 (regressions)
def test_nan_label_is_nan_even_where_q_is_zero():
    # NaN·log 0 is NaN (it used to be −inf: read as the best possible loss)
    assert np.isnan(CE(jnp.array([0.0, 1.0, -jnp.inf]), jnp.array([0.5, 0.5, jnp.nan])))
    assert np.isnan(cj.cross_entropy(jnp.array([jnp.nan, 1.0]), jnp.array([0.0, 1.0])))
    assert np.isnan(cj.binary_cross_entropy(jnp.array([0.0]), jnp.array([jnp.nan]),
                                            positive_only=True)[0])
    assert np.isnan(CE(jnp.array([[0.0, -jnp.inf]]), jnp.array([[1.0, jnp.nan]]),
                       label_smoothing=1.0)[0])


def test_softcap_with_a_masked_nan_logit_has_a_finite_gradient():
    z = jnp.array([[jnp.nan, 0.0, 1.0]])
    keep = jnp.array([[False, True, True]])
    for loss in (lambda z: ICE(z, jnp.array([1]), where=keep, logit_softcap=3.0).sum(),
                 lambda z: CE(z, jnp.array([[0.0, 1.0, 0.0]]), where=keep, logit_softcap=3.0).sum()):
        g = jax.grad(loss)(z)
        assert g[0, 0] == 0.0 and np.all(np.isfinite(g))
    # the value is the sliced problem's: c·tanh(x/c) of the kept logits
    x = 3.0 * np.tanh(np.array([0.0, 1.0]) / 3.0)
    np.testing.assert_allclose(ICE(z, jnp.array([1]), where=keep, logit_softcap=3.0),
                               [np.log(np.exp(x).sum()) - x[0]], rtol=1e-14)


def test_excluded_rows_leak_nothing_into_gradients():
    x = jnp.array([[jnp.nan, jnp.inf, 2.0], [0.0, 1.0, 2.0]])
    want = np.zeros((2, 3))
    want[1] = ref.softmax(np.array([0.0, 1.0, 2.0])) - np.eye(3)[1]
    g_ignore = jax.grad(lambda x: ICE(x, jnp.array([-1, 1]), ignore_index=-1,
                                      reduction="mean"))(x)
    g_where = jax.grad(lambda x: CE(x, jnp.array([[jnp.nan, 0.0, 1.0], [0.0, 1.0, 0.0]]),
                                    where=jnp.array([False, True]), reduction="mean"))(x)
    for g in (g_ignore, g_where):
        np.testing.assert_allclose(g, want, atol=1e-15)
    g_ce = jax.grad(lambda p: cj.cross_entropy(p, jnp.full((2, 3), 1 / 3),
                                               where=jnp.array([False, True])).sum())(x)
    np.testing.assert_allclose(g_ce, [[0.0] * 3, [np.log(3)] * 3], atol=1e-15)


def test_infinite_options_are_refused():
    x = jnp.zeros((1, 3))
    y = jnp.array([0])
    with pytest.raises(ValueError, match=r"logit_softcap must be finite, got inf \(logit_softcap=None"):
        ICE(x, y, logit_softcap=np.inf)
    with pytest.raises(ValueError, match="z_loss must be finite, got inf"):
        CE(x, jnp.ones((1, 3)) / 3, z_loss=np.inf)
    assert np.all(np.isnan(jax.jit(lambda c: ICE(x, y, logit_softcap=c))(np.inf)))
    assert np.all(np.isnan(jax.jit(lambda z: ICE(x, y, z_loss=z))(np.inf)))


def test_smooth_labels_with_no_classes_is_a_clear_error():
    with pytest.raises(ValueError, match=r"labels have no classes: the class axis 1 of shape \(3, 0\)"):
        cj.smooth_labels(jnp.zeros((3, 0)), 0.1)
