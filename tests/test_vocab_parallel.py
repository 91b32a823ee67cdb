"""vocab_parallel_cross_entropy on 4 and 8 simulated CPU devices equals the unsharded loss.

One subprocess (``--xla_force_host_platform_device_count=8`` must be set before JAX is
imported) runs every sharded check and prints the errors; the assertions are made here.
"""


import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _multidevice import run_with_devices
from jax.sharding import PartitionSpec as P

from crossent_jax import softmax_cross_entropy_with_integer_labels as ce
from crossent_jax import vocab_parallel_cross_entropy
from crossent_jax._errors import InputTypeError, InputValueError

SCRIPT = r"""
import json, sys
assert "jax" not in sys.modules
import jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_enable_x64", True)
from jax.sharding import PartitionSpec as P
from crossent_jax import vocab_parallel_cross_entropy as vpce
from crossent_jax import softmax_cross_entropy_with_integer_labels as ce

assert jax.device_count() == 8, jax.devices()
N, V = 9, 13  # 13 classes: padded to 16 on 4 and on 8 devices
rng = np.random.default_rng(0)


def case(ndev, opts, reduction, vocab=V, dtype=jnp.float64):
    vs = -(-vocab // ndev)
    vp = vs * ndev
    x = jnp.asarray(rng.normal(size=(N, vp)) * 3, dtype)
    y = jnp.asarray(rng.integers(0, vocab, N)).at[1].set(-100)
    cw = jnp.asarray(rng.uniform(0.3, 2.0, vp), dtype)
    tok = jnp.asarray(rng.uniform(size=N) > 0.3)
    cls = jnp.asarray(rng.uniform(size=(N, vp)) > 0.4).at[4].set(False)  # row 4: no class
    kw = {k: val for k, val in opts.items() if k in ("label_smoothing", "z_loss", "logit_softcap")}
    kw["ignore_index"] = -100
    if "ignore_index" not in opts:
        y = y.at[1].set(2)
    use_cw, where = "class_weights" in opts, opts.get("where")
    wt = 1.0 + jnp.arange(N, dtype=dtype) if reduction == "none" else 1.0
    mesh = jax.make_mesh((ndev,), ("v",), devices=jax.devices()[:ndev])

    def local(x, y, cw, w):
        return vpce(x, y, axis_name="v", vocab_size=vocab, reduction=reduction,
                    class_weights=cw if use_cw else None, where=w, **kw)

    wspec = P() if where == "token" else P(None, "v")
    wval = {"token": tok, "class": cls, None: None}[where]
    sharded = jax.shard_map(local, in_specs=(P(None, "v"), P(), P("v"), wspec),
                            out_specs=P())

    def f(x, cw):
        return jnp.sum(sharded(x, y, cw, wval) * wt)  # wval: closed over, sharded below

    def ref(x, cw):
        w = None if where is None else (tok if where == "token" else cls[:, :vocab])
        out = ce(x[:, :vocab], y, reduction=reduction, where=w,
                 class_weights=cw[:vocab] if use_cw else None, **kw)
        return jnp.sum(out * wt)

    with jax.set_mesh(mesh):
        xs = jax.device_put(x, P(None, "v"))
        cws = jax.device_put(cw, P("v"))
        wval = None if wval is None else jax.device_put(wval, wspec)
        val, (gx, gw) = jax.jit(jax.value_and_grad(f, (0, 1)))(xs, cws)
        hlo = jax.jit(f).lower(xs, cws).as_text() if not opts else ""
    rv, (rx, rw) = jax.jit(jax.value_and_grad(ref, (0, 1)))(x, cw)
    gx, gw = np.asarray(gx, np.float64), np.asarray(gw, np.float64)
    rx, rw = np.asarray(rx, np.float64), np.asarray(rw, np.float64)
    return {
        "value": [float(val), float(rv)],
        "dx": float(np.max(np.abs(gx - rx)) / max(np.max(np.abs(rx)), 1e-30)),
        "dw": float(np.max(np.abs(gw - rw)) / max(np.max(np.abs(rw)), 1e-30)) if use_cw else 0.0,
        "pad_grad": float(np.max(np.abs(gx[:, vocab:]))) if gx.shape[1] > vocab else 0.0,
        "all_gather": "all-gather" in hlo or "all_gather" in hlo,
        "all_reduce": ("all-reduce" in hlo or "all_reduce" in hlo) if hlo else None,
    }


OPTS = {
    "plain": {},
    "ignore+token_where": {"ignore_index": True, "where": "token"},
    "smoothing+z_loss": {"label_smoothing": 0.2, "z_loss": 0.01},
    "weights+softcap": {"class_weights": True, "logit_softcap": 2.0},
    "class_where": {"where": "class"},
    "all": {"label_smoothing": 0.1, "class_weights": True, "ignore_index": True,
            "z_loss": 1e-3, "logit_softcap": 4.0, "where": "class"},
}
out = {}
for i, (name, opts) in enumerate(OPTS.items()):
    for red in (["mean", "sum", "none"] if name == "all" else [("mean", "sum", "none")[i % 3]]):
        out[f"4-{name}-{red}"] = case(4, opts, red)
for red in ("mean", "none"):
    out[f"8-all-{red}"] = case(8, OPTS["all"], red)
out["8-plain-mean"] = case(8, {}, "mean")
out["4-even-mean"] = case(4, OPTS["all"], "mean", vocab=16)  # no padding
out["8-f32-all-mean"] = case(8, OPTS["all"], "mean", dtype=jnp.float32)
print("RESULT" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def sharded_results():
    return run_with_devices(SCRIPT, 8)


def test_sharded_equals_unsharded_on_4_and_8_devices(sharded_results):
    assert len(sharded_results) == 8 + 2 + 3
    for name, r in sharded_results.items():
        rtol = 1e-5 if "f32" in name else 1e-12
        val, ref = r["value"]
        assert np.isfinite(ref), name
        np.testing.assert_allclose(val, ref, rtol=rtol, err_msg=name)
        assert r["dx"] <= rtol and r["dw"] <= rtol, (name, r)
        assert r["pad_grad"] == 0.0, name  # padding classes get no gradient


def test_logits_are_never_gathered(sharded_results):
    plain = [r for name, r in sharded_results.items() if "plain" in name]
    assert len(plain) == 2
    for r in plain:
        assert r["all_reduce"] is True and r["all_gather"] is False


def _one_device(fn, *args, specs):
    mesh = jax.make_mesh((1,), ("v",), devices=jax.devices()[:1])
    with jax.set_mesh(mesh):
        args = [jax.device_put(a, s) for a, s in zip(args, specs, strict=True)]
        # jitted: eager shard_map dispatches (and compiles) every primitive on its own
        return np.asarray(jax.jit(jax.shard_map(fn, in_specs=specs, out_specs=P()))(*args))


def test_one_device_equals_unsharded():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(5, 7)))
    y = jnp.asarray([0, 6, 3, 2, 1])
    out = _one_device(lambda x, y: vocab_parallel_cross_entropy(
        x, y, axis_name="v", vocab_size=6, label_smoothing=0.1, reduction="none"),
        x, y.at[1].set(5), specs=(P(None, "v"), P()))
    ref = ce(x[:, :6], y.at[1].set(5), label_smoothing=0.1)
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    # a label on a padding class is out of range: NaN, as for the unsharded loss
    bad = _one_device(lambda x, y: vocab_parallel_cross_entropy(
        x, y, axis_name="v", vocab_size=6, reduction="none"), x, y, specs=(P(None, "v"), P()))
    assert np.isnan(bad[1]) and np.all(np.isfinite(np.delete(np.asarray(bad), 1)))


def test_outside_shard_map_is_a_clear_error():
    with pytest.raises(InputValueError, match=r"axis_name 'v' is not a mesh axis here: call "
                                              r"vocab_parallel_cross_entropy inside jax.shard_map"):
        vocab_parallel_cross_entropy(jnp.zeros((2, 3)), jnp.zeros((2,), int), axis_name="v")


BAD = [
    (dict(labels=jnp.zeros((3,), int)), InputValueError, r"labels must have the logits' batch shape \(2,\), got \(3,\)"),
    (dict(labels=jnp.zeros((2,))), InputTypeError, r"labels must be an integer array"),
    (dict(logits=jnp.zeros((2, 4), int)), InputTypeError, r"logits_shard must be a floating-point array"),
    (dict(vocab_size=5), InputValueError, r"vocab_size must be in \[1, 4\] \(1 devices × 4 classes per shard\), got 5"),
    (dict(vocab_size=0), InputValueError, r"vocab_size must be in \[1, 4\]"),
    (dict(vocab_size=2.0), InputTypeError, r"vocab_size must be an int or None, got 2.0"),
    (dict(class_weights=jnp.ones(3)), InputValueError, r"class_weights must be this device's slice of shape \(4,\)"),
    (dict(where=jnp.ones((3,), bool)), InputValueError, r"where must be a class mask"),
    (dict(reduction="avg"), InputValueError, r"reduction must be one of"),
    (dict(z_loss=-1.0), InputValueError, r"z_loss must be in \[0.0, inf\], got -1.0"),
    (dict(ignore_index="x"), InputTypeError, r"ignore_index must be an int or None"),
]


@pytest.mark.parametrize("change, err, match", BAD, ids=[m[:30] for _, _, m in BAD])
def test_bad_arguments(change, err, match):
    kw = dict(logits=jnp.zeros((2, 4)), labels=jnp.zeros((2,), int))
    kw.update(change)
    x, y = kw.pop("logits"), kw.pop("labels")
    with pytest.raises(err, match=match):
        _one_device(lambda x, y: vocab_parallel_cross_entropy(x, y, axis_name="v", **kw),
                    x, y, specs=(P(None, "v"), P()))
