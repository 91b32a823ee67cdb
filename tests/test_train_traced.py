"""fit with traced hyperparameters: the numbers of a hand-written optax loop, one compiled
program for runs that differ only in learning rate, weight decay, smoothing and z-loss, and
the fixed validation split."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from crossent_jax.train import TrainConfig, _loop, fit, load_dataset, make_model

BASE = TrainConfig(dataset="blobs", model="mlp", hidden_sizes=(16,), batch_size=64, epochs=2,
                   learning_rate=0.01, schedule="cosine", weight_decay=1e-3, seed=4)


def reference_run(c: TrainConfig):
    """The pre-change loop written out with plain optax: constants baked into the optimizer
    and the loss, one eager-dispatched jitted step per batch, host-side batching."""
    data = load_dataset(c.dataset)
    init, apply = make_model(c.model, c.hidden_sizes)
    n, k = data.x_train.shape[0], data.num_classes
    steps = -(-n // c.batch_size)
    sched = optax.cosine_decay_schedule(c.learning_rate, decay_steps=steps * c.epochs)
    tx = optax.adamw(sched, weight_decay=c.weight_decay)

    def loss_fn(p, x, y):
        logits = apply(p, x)
        t = optax.smooth_labels(jax.nn.one_hot(y, k), c.label_smoothing)
        lse = jax.nn.logsumexp(logits, axis=-1)
        return jnp.mean(optax.softmax_cross_entropy(logits, t) + c.z_loss * lse**2)

    @jax.jit
    def step(p, s, x, y):
        value, g = jax.value_and_grad(loss_fn)(p, x, y)
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s, value

    params = init(jax.random.key(c.seed), data.num_features, k)
    state = tx.init(params)
    losses = []
    for epoch in range(c.epochs):
        perm = np.random.default_rng([c.seed, epoch]).permutation(n)
        total = 0.0
        for s in range(steps):
            rows = perm[s * c.batch_size:(s + 1) * c.batch_size]
            params, state, v = step(params, state, data.x_train[rows], data.y_train[rows])
            total += float(v) * len(rows)
        losses.append(total / n)
    return params, losses


@pytest.mark.parametrize("change", [{}, {"label_smoothing": 0.1, "z_loss": 1e-3}], ids=["plain", "smooth-z"])
def test_fit_equals_hand_written_optax_loop(change):
    c = dataclasses.replace(BASE, **change)
    h = fit(c, test=False)
    params, losses = reference_run(c)
    for a, b in zip(jax.tree.leaves(h.params), jax.tree.leaves(params), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose([r["train_loss"] for r in h.epochs], losses, rtol=1e-5)
    assert h.test_probs is None and "test_loss" not in h.final


def test_runs_differing_in_traced_hyperparameters_share_one_program():
    fit(BASE, test=False)
    before = _loop._programs.cache_info()
    for change in ({"learning_rate": 0.03}, {"weight_decay": 0.0, "label_smoothing": 0.2},
                   {"z_loss": 0.01, "seed": 9}):
        fit(dataclasses.replace(BASE, **change), test=False)
    after = _loop._programs.cache_info()
    assert after.misses == before.misses and after.hits == before.hits + 3
    key = (_loop.static_config(BASE), 16, tuple(jax.devices()), (8, 4))
    assert _loop._programs(*key).epoch._cache_size() == 1  # one executable for them all


def test_validation_split_is_fixed_and_recorded():
    tr, va = _loop.validation_split(512, 0.2)
    assert len(va) == 102 and len(tr) == 410
    assert sorted(np.concatenate([tr, va]).tolist()) == list(range(512))
    c = dataclasses.replace(BASE, validation_fraction=0.2, epochs=1)
    h1, h2 = fit(c), fit(dataclasses.replace(c, seed=11))
    np.testing.assert_array_equal(_loop.validation_split(512, 0.2)[1], va)  # seed-free
    rec = h1.final
    assert {"val_loss", "val_accuracy", "val_ece"} <= set(rec)
    assert rec["val_loss"] != h2.final["val_loss"]  # other model, same rows
    # val_loss is the NLL of the held-out rows, recomputed here from the final parameters
    data = load_dataset("blobs")
    _, apply = make_model("mlp", (16,))
    logp = jax.nn.log_softmax(apply(h1.params, data.x_train[va]))
    want = -np.mean(np.take_along_axis(np.asarray(logp), data.y_train[va][:, None], 1))
    assert rec["val_loss"] == pytest.approx(float(want), rel=1e-5)
    acc = np.mean(np.argmax(np.asarray(logp), 1) == data.y_train[va])
    assert rec["val_accuracy"] == pytest.approx(acc, abs=1e-6)


def test_val_loss_is_nll_not_the_smoothed_objective():
    c = dataclasses.replace(BASE, validation_fraction=0.25, label_smoothing=0.3, epochs=1)
    h = fit(c)
    # test_loss is the smoothed objective; test_nll the plain CE: they differ, val follows nll
    assert h.final["test_loss"] > h.final["test_nll"] + 1e-3


@pytest.mark.parametrize("bad, match", [
    (1.0, r"validation_fraction must be in \[0.0, 1.0\), got 1.0"),
    (-0.1, r"validation_fraction must be in \[0.0, 1.0\], got -0.1"),
])
def test_bad_validation_fraction(bad, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(validation_fraction=bad)


def test_validation_fraction_leaving_no_rows():
    with pytest.raises(ValueError, match=r"validation_fraction 0.001 of 10 training examples leaves 0 validation and 10 training examples; both must be >= 1"):
        _loop.validation_split(10, 0.001)


def test_resume_check_reads_older_checkpoint_records():
    # written before validation_fraction existed, with hidden_sizes null (the default)
    old = {k: v for k, v in TrainConfig().to_dict().items() if k != "validation_fraction"}
    old["hidden_sizes"] = None
    _loop._check_resumable(old, TrainConfig(hidden_sizes=(256, 256)))  # same run: accepted
    with pytest.raises(ValueError, match=r"hidden_sizes: \[256, 256\] -> \[64\]"):
        _loop._check_resumable(old, TrainConfig(hidden_sizes=(64,)))
