"""Data parallelism: padding rules, masked objectives, and 4 simulated CPU devices == 1."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _multidevice import run_with_devices

from crossent_jax.train import objective
from crossent_jax.train._sharding import epoch_batches, pad_rows, padded_batch_size


@pytest.mark.parametrize(
    "b, n, want", [(128, 1, 128), (128, 4, 128), (30, 4, 32), (1, 4, 4), (5, 3, 6)], ids=str
)
def test_padded_batch_size(b, n, want):
    assert padded_batch_size(b, n) == want


def test_epoch_batches_cover_every_example_once():
    perm = np.random.default_rng(0).permutation(10)
    idx, mask = epoch_batches(perm, 4, 3)  # 3 steps of width 6: 4 + 4 + 2 real rows
    assert idx.shape == mask.shape == (3, 6)
    assert mask.sum(axis=1).tolist() == [4, 4, 2]
    np.testing.assert_array_equal(idx[mask], perm)
    assert (idx[~mask] == 0).all()


def test_pad_rows():
    x, mask = pad_rows(np.arange(10.0).reshape(5, 2), 4)
    assert x.shape == (8, 2) and mask.tolist() == [True] * 5 + [False] * 3
    np.testing.assert_array_equal(x[5:], 0)


@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "sigmoid", "mse"])
def test_padding_does_not_change_the_loss(loss):
    rng = np.random.default_rng(1)
    logits = jnp.asarray(rng.normal(size=(5, 4)), jnp.float32)
    labels = jnp.asarray([0, 3, 1, 1, 2])
    kw = {"loss": loss, "label_smoothing": 0.0 if loss == "mse" else 0.1}
    f = jax.jit(functools.partial(objective, **kw))
    plain = f(logits, labels, jnp.ones(5, bool))
    # pad with three garbage rows (huge logits, label 0) that the mask removes
    pad_logits = jnp.concatenate([logits, jnp.full((3, 4), 1e30, jnp.float32)])
    padded = f(
        pad_logits, jnp.concatenate([labels, jnp.zeros(3, int)]),
        jnp.asarray([True] * 5 + [False] * 3),
    )
    np.testing.assert_allclose(padded, plain, rtol=1e-6)


SCRIPT = r"""
import json, os, sys
assert "jax" not in sys.modules
import jax, numpy as np
from crossent_jax.train import TrainConfig, fit
from crossent_jax.train import _sharding as sh
assert jax.device_count() == 4, jax.devices()
# batch 30 does not divide by 4 devices: padded to 32 with zero-weight rows
cfg = TrainConfig(dataset="blobs", model="mlp", hidden_sizes=(16,), batch_size=30, epochs=2,
                  learning_rate=0.01, schedule="constant")
one = fit(cfg, devices=jax.devices()[:1])
four = fit(cfg, devices=jax.devices())
mesh = sh.make_mesh()
x = jax.device_put(np.zeros((8, 3), np.float32), sh.batch_sharding(mesh))
out = {
    # importing the kit and training without checkpoints never imports orbax
    "orbax_imported": sorted(m for m in sys.modules if m.startswith("orbax")),
    "one": [{k: v for k, v in r.items() if k != "seconds"} for r in one.epochs],
    "four": [{k: v for k, v in r.items() if k != "seconds"} for r in four.epochs],
    "max_param_diff": max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
                          for a, b in zip(jax.tree.leaves(one.params), jax.tree.leaves(four.params))),
    "param_devices": len(jax.tree.leaves(four.params)[0].sharding.device_set),
    "param_replicated": bool(jax.tree.leaves(four.params)[0].sharding.is_fully_replicated),
    "batch_shard_rows": sorted({s.data.shape[0] for s in x.addressable_shards}),
}
print("RESULT" + json.dumps(out))
"""


def test_four_simulated_devices_match_one_and_orbax_stays_unimported():
    out = run_with_devices(SCRIPT, 4, timeout=300)
    assert out["orbax_imported"] == []
    assert out["param_devices"] == 4 and out["param_replicated"]
    assert out["batch_shard_rows"] == [2]  # 8 rows split over 4 devices
    # the same computation up to the order of float32 sums in the gradient all-reduce
    assert out["max_param_diff"] < 1e-5
    for a, b in zip(out["one"], out["four"], strict=True):
        assert a["epoch"] == b["epoch"]
        for k in a:
            np.testing.assert_allclose(b[k], a[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_unknown_objective_and_empty_mesh_are_errors():
    from crossent_jax.train._sharding import make_mesh

    with pytest.raises(ValueError, match=r"unknown loss 'hinge'; known: mse, sigmoid, softmax_cross_entropy"):
        objective(jnp.zeros((1, 2)), jnp.zeros((1,), int), jnp.ones((1,), bool), loss="hinge")
    with pytest.raises(ValueError, match=r"need at least one device, got an empty list"):
        make_mesh([])
