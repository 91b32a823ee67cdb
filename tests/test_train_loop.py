"""fit(): history contents, bit-for-bit determinism, losses, optimizers and schedules."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from crossent_jax.train import TrainConfig, fit, make_optimizer

KEYS = {
    "epoch", "train_loss", "train_accuracy", "grad_norm", "test_loss", "test_accuracy",
    "test_nll", "test_ece", "test_brier", "seconds",
}
# constant schedule: the compiled step does not depend on epochs, so these runs share it
SMALL = dict(dataset="blobs", model="mlp", hidden_sizes=(16,), batch_size=64, learning_rate=0.01,
             schedule="constant")


def strip(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def assert_trees_equal(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_history_and_learning():
    seen = []
    h = fit(TrainConfig(**SMALL, epochs=3), callback=seen.append)
    assert [r["epoch"] for r in h.epochs] == [1, 2, 3]
    assert seen == h.epochs
    for r in h.epochs:
        assert set(r) == KEYS
        assert 0 <= r["test_accuracy"] <= 1 and 0 <= r["test_ece"] <= 1
        assert 0 <= r["test_brier"] <= 2
    assert h.epochs[-1]["train_loss"] < h.epochs[0]["train_loss"]
    assert h.final["test_accuracy"] > 0.8  # four well-separated blobs
    # training objective is softmax CE without smoothing: on the test set it *is* the NLL
    assert h.final["test_loss"] == pytest.approx(h.final["test_nll"], rel=1e-5)
    assert h.test_probs.shape == (256, 4) and h.test_labels.shape == (256,)
    np.testing.assert_allclose(h.test_probs.sum(axis=1), 1.0, rtol=1e-5)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(h.params))
    assert h.to_dict()["config"]["hidden_sizes"] == [16]


def test_same_seed_bit_identical_other_seed_differs():
    c = TrainConfig(**SMALL, epochs=2, seed=5)
    a, b = fit(c), fit(c)
    assert_trees_equal(a.params, b.params)
    assert strip(a.epochs) == strip(b.epochs)
    other = fit(TrainConfig(**SMALL, epochs=2, seed=6))
    assert strip(other.epochs) != strip(a.epochs)


def test_zero_epochs_returns_initial_model():
    h = fit(TrainConfig(**SMALL, epochs=0))
    assert h.epochs == [] and h.final == {}
    assert h.test_probs.shape == (256, 4)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"loss": "softmax_cross_entropy", "label_smoothing": 0.1, "z_loss": 1e-3},
        {"loss": "sigmoid", "label_smoothing": 0.05},
        {"loss": "mse"},
        {"model": "cnn1d", "hidden_sizes": (4,), "optimizer": "momentum", "schedule": "cosine"},
        {"model": "linear", "hidden_sizes": None, "optimizer": "sgd", "schedule": "warmup_cosine", "learning_rate": 0.5},
    ],
    ids=["ce-smooth-z", "sigmoid", "mse", "cnn-momentum", "linear-sgd"],
)
def test_losses_models_optimizers_train(kwargs):
    h = fit(TrainConfig(**{**SMALL, "learning_rate": 0.05, **kwargs}, epochs=2))
    assert math.isfinite(h.final["train_loss"])
    assert h.final["test_accuracy"] > 0.5  # chance is 0.25


def test_fit_rejects_non_config():
    with pytest.raises(TypeError, match=r"config must be a TrainConfig, got dict"):
        fit({"epochs": 1})


def _updates(tx, grads, params, steps):
    state = tx.init(params)
    out = []
    for _ in range(steps):
        u, state = tx.update(grads, state, params)
        out.append(float(u["w"][0]))
    return out


def test_weight_decay_added_to_sgd():
    # sgd has no weight_decay argument: add_decayed_weights then sgd, update = −lr·(g + wd·w)
    tx = make_optimizer(TrainConfig(optimizer="sgd", learning_rate=0.1, weight_decay=0.5), 1)
    params = {"w": jnp.array([2.0])}
    assert _updates(tx, {"w": jnp.array([1.0])}, params, 1)[0] == pytest.approx(-0.1 * (1 + 1.0))


def test_weight_decay_passed_to_adamw():
    # adamw with zero gradient: the Adam part is 0, the update is −lr·wd·w
    tx = make_optimizer(TrainConfig(optimizer="adamw", learning_rate=0.1, weight_decay=0.5), 1)
    params = {"w": jnp.array([2.0])}
    assert _updates(tx, {"w": jnp.array([0.0])}, params, 1)[0] == pytest.approx(-0.1 * 0.5 * 2)
    tx0 = make_optimizer(TrainConfig(optimizer="adamw", learning_rate=0.1, weight_decay=0.0), 1)
    assert _updates(tx0, {"w": jnp.array([0.0])}, params, 1)[0] == 0.0  # not optax's 1e-4


def test_cosine_schedule_values():
    # cosine over T = 4 steps: lr_t = lr·(1 + cos(π t / T)) / 2
    c = TrainConfig(optimizer="sgd", learning_rate=1.0, weight_decay=0.0, schedule="cosine")
    got = _updates(make_optimizer(c, 4), {"w": jnp.array([1.0])}, {"w": jnp.array([0.0])}, 5)
    want = [-(1 + math.cos(math.pi * t / 4)) / 2 for t in range(5)]
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_warmup_cosine_schedule_values():
    # 20 steps: linear warm-up over the first 2 (10%), then cosine to 0 at step 20
    c = TrainConfig(optimizer="sgd", learning_rate=1.0, weight_decay=0.0, schedule="warmup_cosine")
    got = _updates(make_optimizer(c, 20), {"w": jnp.array([1.0])}, {"w": jnp.array([0.0])}, 21)
    assert got[:3] == pytest.approx([0.0, -0.5, -1.0])
    assert got[11] == pytest.approx(-(1 + math.cos(math.pi * 9 / 18)) / 2)
    assert got[20] == pytest.approx(0.0, abs=1e-7)


def test_momentum_alias_is_sgd_with_momentum():
    c = TrainConfig(optimizer="momentum", learning_rate=1.0, weight_decay=0.0, schedule="constant")
    got = _updates(make_optimizer(c, 1), {"w": jnp.array([1.0])}, {"w": jnp.array([0.0])}, 2)
    assert got == pytest.approx([-1.0, -1.9])  # trace = g + 0.9·trace
    ref = optax.sgd(1.0, momentum=0.9)
    assert got == pytest.approx(_updates(ref, {"w": jnp.array([1.0])}, {"w": jnp.array([0.0])}, 2))


def test_noisy_sgd_is_seeded_by_the_run_seed():
    # noisy_sgd takes a PRNG key: it gets the run's seed (no optax "specify a key" warning,
    # which filterwarnings=error would turn into a failure) and stays deterministic
    c = TrainConfig(**{**SMALL, "optimizer": "noisy_sgd", "model": "linear", "hidden_sizes": None}, epochs=1)
    a, b = fit(c), fit(c)
    assert strip(a.epochs) == strip(b.epochs)
