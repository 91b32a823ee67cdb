"""checked(fn): value validation through checkify, naming the first bad index and value."""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import checkify

import crossent_jax as cj


def test_valid_inputs_give_the_plain_result():
    z = jnp.asarray(np.random.default_rng(0).normal(size=(4, 3)))
    y = jnp.array([0, 2, 1, -100])
    got = cj.checked(cj.softmax_cross_entropy_with_integer_labels)(
        z, y, ignore_index=-100, reduction="mean", label_smoothing=0.1
    )
    expected = cj.softmax_cross_entropy_with_integer_labels(
        z, y, ignore_index=-100, reduction="mean", label_smoothing=0.1
    )
    chex.assert_trees_all_close(got, expected)


@pytest.mark.parametrize(
    "fn, args, kwargs, match",
    [
        (cj.softmax_cross_entropy_with_integer_labels, (jnp.zeros((3, 4)), jnp.array([0, 7, 9])), {},
         r"labels at index \[1\] is 7: class labels must lie in \[0, 4\)"),
        (cj.softmax_cross_entropy_with_integer_labels, (jnp.zeros((2, 3)), jnp.array([[0], [-1]])[:, 0]), {},
         r"labels at index \[1\] is -1"),
        (cj.softmax_cross_entropy_with_integer_labels, (jnp.zeros((2, 2, 3)), jnp.array([[0, 1], [2, 5]])), {},
         r"labels at index \[1 1\] is 5"),
        (cj.softmax_cross_entropy_with_integer_labels, (jnp.array([[0.0, jnp.nan]]), jnp.array([0])), {},
         r"logits at index \[0 1\] is nan"),
        (cj.softmax_cross_entropy_with_integer_labels, (jnp.zeros((2, 3)), jnp.array([0, 1])),
         {"class_weights": jnp.array([1.0, -2.0, 1.0])}, r"class_weights at index \[1\] is -2"),
        (cj.softmax_cross_entropy, (jnp.zeros((2, 2)), jnp.array([[0.5, 0.5], [1.5, -0.5]])), {},
         r"labels at index \[1 1\] is -0.5: probabilities must be finite and non-negative"),
        (cj.softmax_cross_entropy, (jnp.zeros((2, 2)), jnp.array([[0.5, 0.5], [0.5, 0.6]])), {},
         r"sum of labels along axis at index \[1\] is 1.1.*must sum to 1"),
        (cj.softmax_cross_entropy, (jnp.array([[jnp.inf, 0.0]]), jnp.array([[0.5, 0.5]])), {},
         r"logits at index \[0 0\] is inf"),
        (cj.cross_entropy, (jnp.array([0.5, 0.5]), jnp.array([0.7, 0.7])), {},
         r"sum of q along axis.*1.4"),
        (cj.entropy, (jnp.array([-0.5, 1.5]),), {}, r"p at index \[0\] is -0.5"),
        (cj.binary_cross_entropy, (jnp.array([0.5, 1.2]), jnp.array([1, 0])), {},
         r"probs at index \[1\] is 1.2.*\[0, 1\]"),
        (cj.sigmoid_binary_cross_entropy, (jnp.zeros(3), jnp.array([0.0, 2.0, 1.0])), {},
         r"labels at index \[1\] is 2"),
    ],
    ids=["label-high", "label-negative", "label-2d", "nan-logit", "neg-weight", "neg-prob",
         "unnormalised", "posinf-logit", "ce-q", "entropy", "bce-probs", "sigmoid-labels"],
)
def test_bad_values_raise_with_index_and_value(fn, args, kwargs, match):
    with pytest.raises(checkify.JaxRuntimeError, match=match):
        cj.checked(fn)(*args, **kwargs)
    # The plain loss does not raise: it returns NaN / inf for the bad examples only (the
    # others keep their values). Two faults give numbers, and only `checked` reports them:
    # soft labels that are not a distribution (the loss is linear in them) and
    # non-normalised probabilities.
    out = np.asarray(fn(*args, **kwargs))
    if "sum" in match or "probabilities must be finite and non-negative" in match:
        assert np.all(np.isfinite(out))
        return
    bad = ~np.isfinite(out)
    assert np.any(bad)
    if fn is cj.softmax_cross_entropy_with_integer_labels and "class_weights" not in kwargs:
        # the good rows equal the loss computed without the bad ones (here: uniform logits
        # or logits (0, nan) → log K for in-range labels)
        k = args[0].shape[-1]
        np.testing.assert_allclose(out[~bad], np.log(k), rtol=1e-12)


def test_error_is_a_value_error_and_partial_works():
    f = cj.checked(functools.partial(cj.softmax_cross_entropy_with_integer_labels, reduction="sum"))
    with pytest.raises(ValueError, match="labels at index"):
        f(jnp.zeros((1, 2)), jnp.array([3]))
    assert f(jnp.zeros((1, 2)), jnp.array([1])) == pytest.approx(np.log(2))


def test_unknown_function_is_rejected():
    with pytest.raises(TypeError, match="checked\\(\\) supports the kit's losses.*got <function"):
        cj.checked(lambda x: x)


def test_static_errors_still_raise_normally():
    with pytest.raises(ValueError, match="reduction must be one of"):
        cj.checked(cj.softmax_cross_entropy)(jnp.zeros((1, 2)), jnp.ones((1, 2)) / 2, reduction="x")


# ---------------------------------------------------------------- issue 9, item 8
ICE, CE = cj.softmax_cross_entropy_with_integer_labels, cj.softmax_cross_entropy


def test_excluded_rows_are_not_inspected():
    z = jnp.array([[0.0, 1.0, 2.0], [jnp.nan, 0.0, 0.0], [1.0, 0.0, 0.0]])
    y = jnp.array([2, -1, 0])
    ex = jnp.array([True, False, True])  # row 1 (NaN logit, label −1) is excluded
    got = cj.checked(ICE)(z, y, where=ex, reduction="mean")
    chex.assert_trees_all_close(got, ICE(z, y, where=ex, reduction="mean"))
    np.testing.assert_allclose(got, np.mean([np.log(1 + np.e**-1 + np.e**-2),
                                             np.log(1 + 2 * np.e**-1)]), rtol=1e-14)
    # the same row excluded by ignore_index
    got = cj.checked(ICE)(z, jnp.array([2, -100, 0]), ignore_index=-100, reduction="sum")
    chex.assert_trees_all_close(got, ICE(z, jnp.array([2, -100, 0]), ignore_index=-100,
                                         reduction="sum"))
    # soft labels: an all-zero label row of an excluded example is not a distribution error
    t = jnp.array([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    chex.assert_trees_all_close(cj.checked(CE)(z, t, where=ex), CE(z, t, where=ex))
    # ... but the same fault in a counted row is reported, at its index
    with pytest.raises(checkify.JaxRuntimeError, match=r"logits at index \[1 0\] is nan"):
        cj.checked(ICE)(z, jnp.array([2, 1, 0]))


def test_masked_classes_are_not_inspected():
    z = jnp.array([[0.0, jnp.nan, 2.0]])
    keep = jnp.array([[True, False, True]])
    chex.assert_trees_all_close(cj.checked(ICE)(z, jnp.array([2]), where=keep),
                                ICE(z, jnp.array([2]), where=keep))


def test_array_valued_options_are_traced_and_checked():
    z = jnp.asarray(np.random.default_rng(0).normal(size=(2, 3)))
    y = jnp.array([0, 2])
    f = cj.checked(ICE)
    got = f(z, y, label_smoothing=jnp.asarray(0.1), z_loss=jnp.asarray(1e-2),
            logit_softcap=jnp.asarray(3.0))
    chex.assert_trees_all_close(got, ICE(z, y, label_smoothing=0.1, z_loss=1e-2, logit_softcap=3.0))
    for kwargs, match in (
        ({"label_smoothing": jnp.asarray(1.5)}, r"label_smoothing at index \[\] is 1.5: must lie in \[0, 1\]"),
        ({"z_loss": jnp.asarray(-0.1)}, r"z_loss at index \[\] is -0.1: must be finite and non-negative"),
        ({"logit_softcap": jnp.asarray(0.0)}, r"logit_softcap at index \[\] is 0.0: must be finite and positive"),
    ):
        with pytest.raises(checkify.JaxRuntimeError, match=match):
            f(z, y, **kwargs)
        # what the plain loss gives for it under jit (eagerly it raises a ValueError)
        assert np.all(np.isnan(jax.jit(lambda kw: ICE(z, y, **kw))(kwargs)))
        with pytest.raises(ValueError, match=f"{next(iter(kwargs))} must be in"):
            ICE(z, y, **kwargs)


def test_negative_pos_weight_is_reported():
    with pytest.raises(checkify.JaxRuntimeError, match=r"pos_weight at index \[1\] is -1.0"):
        cj.checked(cj.sigmoid_binary_cross_entropy)(
            jnp.zeros(2), jnp.ones(2), pos_weight=jnp.array([1.0, -1.0]))


def test_no_false_alarms_for_what_the_loss_handles():
    # +inf logits under a soft-cap become the cap: valid
    x = jnp.array([[jnp.inf, 0.0, 1.0], [0.0, 1.0, 2.0]])
    y = jnp.array([0, 1])
    chex.assert_trees_all_close(cj.checked(ICE)(x, y, logit_softcap=5.0),
                                ICE(x, y, logit_softcap=5.0))
    # soft labels with a class mask: a NaN or extra mass on the masked class is sliced out;
    # labels normalised over all classes, or over the kept ones, are both accepted
    x2 = jnp.array([[0.0, 1.0, 2.0]])
    cm = jnp.array([[True, True, False]])
    for t in ([[0.5, 0.5, jnp.nan]], [[0.5, 0.5, 0.4]], [[0.25, 0.25, 0.5]]):
        t = jnp.array(t)
        chex.assert_trees_all_close(cj.checked(CE)(x2, t, where=cm), CE(x2, t, where=cm))
    # ... but labels that are a distribution neither way are reported
    with pytest.raises(checkify.JaxRuntimeError, match=r"sum of labels along axis at index \[0\]"):
        cj.checked(CE)(x2, jnp.array([[0.25, 0.25, 0.4]]), where=cm)
    # a row with every class masked (padding) is not inspected
    cm2 = jnp.array([[False] * 3, [True] * 3])
    t5 = jnp.array([[0.0, 0.0, 0.0], [0.2, 0.8, 0.0]])
    chex.assert_trees_all_close(cj.checked(CE)(jnp.zeros((2, 3)), t5, where=cm2, reduction="mean"),
                                np.log(3), rtol=1e-14)
    chex.assert_trees_all_close(cj.checked(cj.cross_entropy)(t5, jnp.full((2, 3), 1 / 3), where=cm2),
                                cj.cross_entropy(t5, jnp.full((2, 3), 1 / 3), where=cm2))
    # scalar and tuple weights are arrays too
    chex.assert_trees_all_close(
        cj.checked(cj.sigmoid_binary_cross_entropy)(jnp.zeros(3), jnp.ones(3), pos_weight=2.0),
        jnp.full(3, 2 * np.log(2)), rtol=1e-14)
    chex.assert_trees_all_close(cj.checked(ICE)(jnp.zeros((2, 3)), y, class_weights=(1.0, 2.0, 3.0)),
                                jnp.array([1.0, 2.0]) * np.log(3), rtol=1e-14)


def test_infinite_weights_are_reported():
    with pytest.raises(checkify.JaxRuntimeError, match=r"class_weights at index \[0\] is inf"):
        cj.checked(ICE)(jnp.zeros((1, 3)), jnp.array([0]), class_weights=jnp.array([jnp.inf, 1, 1]))
    with pytest.raises(checkify.JaxRuntimeError, match=r"pos_weight at index \[0\] is inf"):
        cj.checked(cj.sigmoid_binary_cross_entropy)(jnp.array([0.5]), jnp.array([0.0]),
                                                    pos_weight=jnp.array([jnp.inf]))


def test_inside_jit_is_a_clear_error():
    f = cj.checked(ICE)
    with pytest.raises(ValueError, match=r"checked\(fn\) raises on bad values, so it cannot run inside jax.jit"):
        jax.jit(lambda x: f(x, jnp.array([0])))(jnp.zeros((1, 3)))
    # eager grad carries values: it works
    g = jax.grad(lambda x: f(x, jnp.array([0])).sum())(jnp.zeros((1, 3)))
    np.testing.assert_allclose(g, [[-2 / 3, 1 / 3, 1 / 3]], rtol=1e-14)
