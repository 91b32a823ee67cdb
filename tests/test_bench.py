"""Benchmark harness and ``crossent bench``: statistics, order, memory fields, report schema.

No timing is asserted here (timings are the benchmark's output, not a property); the
clock is replaced by a fake one wherever a duration matters.
"""

import argparse
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossent_jax.bench import _cli
from crossent_jax.bench import _harness as h
from crossent_jax.bench import _softmax as suite


class FakeClock:
    """A timer that only advances when a fake workload says so."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def make_fns(clock, costs, log):
    def make(name):
        def fn():
            log.append(name)
            clock.now += costs[name]
            return jnp.zeros(())

        return fn

    return {name: make(name) for name in costs}


@pytest.mark.parametrize(
    "samples, median, q25, q75",
    [
        ([3.0, 1.0, 2.0], 2.0, 1.5, 2.5),
        ([1.0, 2.0, 3.0, 4.0], 2.5, 1.75, 3.25),
        ([5.0], 5.0, 5.0, 5.0),
    ],
    ids=["odd", "even", "single"],
)
def test_summarize_matches_numpy_percentiles(samples, median, q25, q75):
    # Expected values: numpy's default (linear) percentile definition, worked by hand.
    s = h.summarize(samples)
    assert s["median_s"] == pytest.approx(median)
    assert s["q25_s"] == pytest.approx(q25)
    assert s["q75_s"] == pytest.approx(q75)
    assert s["iqr_s"] == pytest.approx(q75 - q25)
    assert s["min_s"] == min(samples)
    assert s["n"] == len(samples)


def test_summarize_rejects_empty():
    with pytest.raises(ValueError, match="at least one sample"):
        h.summarize([])


def test_round_robin_puts_each_name_once_at_every_position():
    names = ["a", "b", "c"]
    assert [h.round_robin(names, r) for r in range(3)] == [
        ["a", "b", "c"],
        ["b", "c", "a"],
        ["c", "a", "b"],
    ]
    for cycle in range(4):
        orders = [h.round_robin(names, 3 * cycle + r) for r in range(3)]
        for order in orders:
            assert sorted(order) == names
        for pos in range(3):
            assert sorted(o[pos] for o in orders) == names


def test_round_robin_varies_the_predecessor_across_cycles():
    names = ["a", "b", "c", "d"]
    before_a = set()
    for r in range(4 * 8):
        order = h.round_robin(names, r)
        i = order.index("a")
        if i > 0:
            before_a.add(order[i - 1])
    # A plain rotation would always put "d" before "a".
    assert len(before_a) > 1


def test_time_interleaved_order_warmup_and_durations():
    clock, log = FakeClock(), []
    costs = {"x": 1.0, "y": 3.0}
    fns = make_fns(clock, costs, log)
    times, order = h.time_interleaved(fns, repeats=4, warmup=2, timer=clock)
    # Warm-up calls come first, untimed: two per implementation.
    assert log[:4] == ["x", "x", "y", "y"]
    assert order == ["x", "y", "y", "x", "x", "y", "y", "x"]
    assert log[4:] == order
    assert times == {"x": [1.0] * 4, "y": [3.0] * 4}


def test_time_interleaved_calls_progress_once_per_timed_call():
    clock, seen = FakeClock(), []
    fns = make_fns(clock, {"a": 1.0, "b": 1.0}, [])
    h.time_interleaved(fns, repeats=3, warmup=0, timer=clock, on_call=seen.append)
    assert len(seen) == 6 and sorted(set(seen)) == ["a", "b"]


@pytest.mark.parametrize(
    "kwargs, match",
    [({"repeats": 0}, "repeats must be a positive int"), ({"repeats": 1, "warmup": -1}, "warmup")],
    ids=["repeats", "warmup"],
)
def test_time_interleaved_rejects_bad_counts(kwargs, match):
    with pytest.raises(ValueError, match=match):
        h.time_interleaved({"a": lambda: 0}, **kwargs)


def test_paired_ratio_of_medians_and_per_round_ratios():
    times = {"base": [1.0, 2.0, 4.0], "impl": [2.0, 2.0, 2.0]}
    r = h.paired_ratio(times, "impl", "base")
    assert r["ratio"] == pytest.approx(2.0 / 2.0)
    # per-round ratios 2, 1, 0.5 -> median 1, quartiles 0.75 and 1.5
    assert r["paired_median"] == pytest.approx(1.0)
    assert r["paired_q25"] == pytest.approx(0.75)
    assert r["paired_q75"] == pytest.approx(1.5)
    lo, hi = r["ratio_ci95"]
    assert lo <= hi


def test_paired_ratio_interval_collapses_for_constant_times():
    r = h.paired_ratio({"base": [1.0] * 5, "impl": [2.0] * 5}, "impl", "base")
    assert r["ratio"] == pytest.approx(2.0)
    assert r["ratio_ci95"] == pytest.approx([2.0, 2.0])


def test_memory_stats_of_a_compiled_function_has_the_documented_fields():
    x = jnp.ones((8, 16), jnp.float32)
    compiled = h.compile_fn(lambda a: jnp.sum(jnp.exp(a) * a), (x,))
    mem = h.memory_stats(compiled)
    # The CPU backend, like GPU/TPU, implements memory_analysis; the argument is 8*16*4 B.
    assert mem is not None
    assert set(mem) <= set(h.MEMORY_FIELDS)
    assert mem["argument_size_in_bytes"] == 8 * 16 * 4
    assert all(isinstance(v, int) and v >= 0 for v in mem.values())


class _NoAnalysis:
    def memory_analysis(self):
        return None


class _RaisingAnalysis:
    def memory_analysis(self):
        raise NotImplementedError("no memory analysis on this backend")


@pytest.mark.parametrize("compiled", [_NoAnalysis(), _RaisingAnalysis()], ids=["none", "raises"])
def test_memory_stats_is_none_where_the_backend_gives_nothing(compiled):
    assert h.memory_stats(compiled) is None


def test_environment_records_backend_devices_versions():
    env = h.environment()
    assert env["backend"] == jax.default_backend()
    assert env["jax"] == jax.__version__
    assert env["device_count"] == len(jax.devices()) and len(env["devices"]) >= 1


def test_cli_tiny_run_writes_json_png_and_table(tmp_path, capsys):
    # One CLI run (6 small compiles) checks the files, the JSON schema and the table.
    parser = argparse.ArgumentParser()
    _cli.add_arguments(parser)
    args = parser.parse_args(
        ["softmax", "--shapes", "8x16", "--repeats", "2", "--warmup", "0", "--out", str(tmp_path)]
    )
    assert _cli.run(args) == 0
    assert os.path.getsize(tmp_path / "bench_softmax.png") > 0
    with open(tmp_path / "bench_softmax.json") as f:
        report = json.load(f)
    assert report["suite"] == "softmax"
    assert {"schema_version", "created", "environment", "config", "groups"} <= set(report)
    assert report["config"]["repeats"] == 2
    assert [g["shape"] for g in report["groups"]] == [[8, 16]]
    for g in report["groups"]:
        assert g["baseline"] == "optax" and g["dtype"] == "float32"
        assert list(g["impls"]) == list(suite.IMPLS)
        for r in g["impls"].values():
            assert r["n"] == 2
            assert r["q25_s"] <= r["median_s"] <= r["q75_s"]
            assert r["memory"] is None or "temp_size_in_bytes" in r["memory"]
        assert g["impls"]["optax"]["ratio"] == pytest.approx(1.0)
        lo, hi = g["impls"]["kit"]["ratio_ci95"]
        assert lo <= hi
        assert g["ratio_kit"] == g["impls"]["kit"]["ratio"]
        sm = g["smoothing_memory"]
        assert sm["diff_bytes"] == sm["temp_smoothing_bytes"] - sm["temp_plain_bytes"]
        assert sm["diff_in_batch_f32_buffers"] == pytest.approx(sm["diff_bytes"] / (4 * 8))
    printed = capsys.readouterr().out
    assert printed.startswith(suite.format_table(report))
    for name in suite.IMPLS:
        assert name in printed
    assert "kit/optax" in printed and "temp(ls=0.1)" in printed


def test_suite_losses_agree_with_each_other():
    # The benchmarked functions compute the same loss: kit == optax (values and gradients).
    x, y, _ = suite.make_inputs((4, 8), "float32")
    fns = suite._mean_losses()
    v_opt, g_opt = jax.jit(jax.value_and_grad(fns["optax"]))(x, y)
    v_kit, g_kit = jax.jit(jax.value_and_grad(fns["kit"]))(x, y)
    np.testing.assert_allclose(v_kit, v_opt, rtol=1e-6)
    np.testing.assert_allclose(g_kit, g_opt, rtol=1e-5, atol=1e-7)
    # ...and kit smoothing equals optax's one-hot smoothing.
    np.testing.assert_allclose(
        jax.jit(fns["kit_ls0.1"])(x, y), jax.jit(fns["optax_onehot_ls"])(x, y), rtol=1e-6
    )


@pytest.mark.parametrize(
    "argv, match",
    [
        (["softmax", "--repeats", "0"], "--repeats must be a positive int"),
        (["softmax", "--warmup", "-1"], "--warmup must be a non-negative int"),
        (["softmax", "--shapes", "8x"], "--shapes expects BxK"),
        (["softmax", "--shapes", "8x16x2"], "--shapes expects BxK"),
        (["softmax", "--shapes", "0x16"], "--shapes expects BxK"),
        (["softmax", "--dtypes", "int8"], "--dtypes expects"),
    ],
    ids=["repeats", "warmup", "shape-missing", "shape-3d", "shape-zero", "dtype"],
)
def test_cli_bad_flags_raise_value_error(argv, match, tmp_path):
    parser = argparse.ArgumentParser()
    _cli.add_arguments(parser)
    args = parser.parse_args(argv + ["--out", str(tmp_path)])
    with pytest.raises(ValueError, match=match):
        _cli.run(args)


def test_cli_registry_points_at_importable_suites():
    import importlib

    for name, module in _cli.SUITES.items():
        mod = importlib.import_module(module)
        assert mod.NAME == name
        for attr in ("DEFAULT_SHAPES", "DEFAULT_DTYPES", "count_calls", "run", "format_table"):
            assert hasattr(mod, attr), f"{module} lacks {attr}"
