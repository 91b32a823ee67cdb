"""Metrics against hand-computed values.

ECE follows Guo et al. 2017 ("On Calibration of Modern Neural Networks", eq. 3): equal-width
bins of the top-class confidence, ``Σ_m |B_m|/N · |acc(B_m) − conf(B_m)|``; the Brier score
is Brier's 1950 multi-class definition ``mean_i Σ_k (p_ik − t_ik)²``.
"""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from crossent_jax.train import accuracy, all_metrics, brier, ece, nll, reliability_bins

P = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
Y = np.array([0, 1, 1])


def test_accuracy():
    assert float(accuracy(P, Y)) == pytest.approx(2 / 3)


def test_nll():
    assert float(nll(P, Y)) == pytest.approx(-(math.log(0.9) + math.log(0.4) + math.log(0.8)) / 3)


def test_nll_of_zero_probability_is_finite():
    value = float(nll(jnp.array([[1.0, 0.0]], jnp.float32), jnp.array([1])))
    assert value == pytest.approx(-math.log(np.finfo(np.float32).tiny), rel=1e-6)  # ≈ 87.34


def test_brier():
    # (0.1² + 0.1²) + (0.6² + 0.6²) + (0.2² + 0.2²) = 0.02 + 0.72 + 0.08
    assert float(brier(P, Y)) == pytest.approx(0.82 / 3)


def test_brier_extremes():
    k = 5
    uniform = np.full((4, k), 1 / k)
    assert float(brier(uniform, np.arange(4))) == pytest.approx(1 - 1 / k)
    assert float(brier(np.eye(3), np.arange(3))) == 0.0
    assert float(brier(np.eye(3), np.array([1, 2, 0]))) == pytest.approx(2.0)  # worst case


def test_ece_one_example_per_bin():
    probs = np.array([[0.85, 0.15], [0.65, 0.35], [0.25, 0.75], [0.95, 0.05]])
    labels = np.array([0, 1, 1, 0])
    # bins of width 0.1: 0.85 correct, 0.65 wrong, 0.75 correct, 0.95 correct
    expected = (abs(1 - 0.85) + abs(0 - 0.65) + abs(1 - 0.75) + abs(1 - 0.95)) / 4
    assert float(ece(probs, labels, num_bins=10)) == pytest.approx(expected)  # 0.275


def test_ece_shared_bin_averages_before_the_absolute_value():
    # 0.82 and 0.88 share (0.8, 0.9]: accuracy 1/2, confidence 0.85 -> 2/3·0.35;
    # 0.6 alone in (0.5, 0.6], correct -> 1/3·0.4
    probs = np.array([[0.82, 0.18], [0.88, 0.12], [0.4, 0.6]])
    labels = np.array([0, 1, 1])
    assert float(ece(probs, labels, num_bins=10)) == pytest.approx(2 / 3 * 0.35 + 1 / 3 * 0.4)


def test_ece_perfectly_calibrated_is_zero():
    probs = np.tile([0.75, 0.25], (4, 1))
    labels = np.array([0, 0, 0, 1])  # 3/4 correct at confidence 3/4
    assert float(ece(probs, labels)) == pytest.approx(0.0, abs=1e-12)


def test_reliability_bin_edges():
    # bins (0, 0.5], (0.5, 1]: confidence 0.5 belongs to the first, 1.0 to the last
    probs = np.array([[0.5, 0.5], [1.0, 0.0], [0.7, 0.3]])
    count, acc, conf = reliability_bins(probs, np.array([0, 0, 1]), num_bins=2)
    np.testing.assert_array_equal(count, [1, 2])
    np.testing.assert_allclose(acc, [1.0, 0.5])
    np.testing.assert_allclose(conf, [0.5, 0.85])


def test_reliability_empty_bins_are_zero():
    count, acc, conf = reliability_bins(np.array([[0.95, 0.05]]), np.array([0]), num_bins=4)
    np.testing.assert_array_equal(count, [0, 0, 0, 1])
    np.testing.assert_array_equal(acc[:3], 0)
    np.testing.assert_array_equal(conf[:3], 0)


def test_all_metrics_are_floats():
    m = all_metrics(P, Y)
    assert set(m) == {"accuracy", "nll", "ece", "brier"}
    assert all(isinstance(v, float) for v in m.values())


@pytest.mark.parametrize(
    "probs, labels, kwargs, err, match",
    [
        (np.ones((3, 2)), np.zeros(2, int), {}, ValueError, r"Shape mismatch: expected probs \[N, K\] and labels \[N\], got \(3, 2\) and \(2,\)"),
        (np.ones(3), np.zeros(3, int), {}, ValueError, r"Shape mismatch"),
        (np.ones((3, 2)), np.zeros(3), {}, TypeError, r"labels must be integers, got float"),
        (np.ones((3, 2)), np.zeros(3, int), {"num_bins": 0}, ValueError, r"num_bins must be a positive int, got 0"),
    ],
    ids=["rows", "rank", "float-labels", "bins"],
)
def test_errors(probs, labels, kwargs, err, match):
    with pytest.raises(err, match=match):
        ece(probs, labels, **kwargs)
