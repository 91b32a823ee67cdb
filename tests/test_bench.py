"""Benchmark harness and ``crossent bench``: statistics against independent definitions,
interleaving, memory fields, the report schema of every suite, flags and output paths.

No timing is asserted (timings are the benchmark's output, not a property); a fake clock
stands in wherever a duration matters, and expected values come from the standard library,
hand-worked numbers or the test's own fake costs, never from the harness itself.
"""

import json
import math
import os
import statistics

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossent_jax import cli
from crossent_jax.bench import _harness as h
from crossent_jax.bench import _run
from crossent_jax.bench import _softmax as softmax_suite
from crossent_jax.bench import _train as train_suite


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


def quartiles(samples):
    """Q1, median, Q3 by the standard library (linear interpolation between order
    statistics, the same definition as numpy's default, computed independently)."""
    if len(samples) == 1:
        return samples[0], samples[0], samples[0]
    q1, q2, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return q1, q2, q3


# ---------------------------------------------------------------------------- statistics


@pytest.mark.parametrize(
    "samples",
    [[3.0, 1.0, 2.0], [1.0, 2.0, 3.0, 4.0], [5.0], [0.3, 0.1, 0.9, 0.4, 0.4, 2.5, 0.2]],
    ids=["odd", "even", "single", "skewed"],
)
def test_summarize_matches_the_standard_library_quartiles(samples):
    q1, med, q3 = quartiles(samples)
    s = h.summarize(samples)
    assert s["median_s"] == pytest.approx(statistics.median(samples))
    assert (s["q25_s"], s["median_s"], s["q75_s"]) == pytest.approx((q1, med, q3))
    assert s["iqr_s"] == pytest.approx(q3 - q1)
    assert s["min_s"] == min(samples) and s["n"] == len(samples)


def test_summarize_hand_worked_even_case():
    # 1, 2, 3, 4: positions 0.75, 1.5, 2.25 -> 1.75, 2.5, 3.25
    s = h.summarize([4.0, 1.0, 3.0, 2.0])
    assert (s["q25_s"], s["median_s"], s["q75_s"]) == (1.75, 2.5, 3.25)


def test_summarize_rejects_empty():
    with pytest.raises(ValueError, match="at least one sample, got none"):
        h.summarize([])


def test_paired_ratio_against_hand_worked_values():
    times = {"base": [1.0, 2.0, 4.0], "impl": [2.0, 2.0, 2.0]}
    r = h.paired_ratio(times, "impl", "base")
    assert r["ratio"] == pytest.approx(statistics.median([2, 2, 2]) / statistics.median([1, 2, 4]))
    # per-round ratios 2, 1, 0.5: median 1, quartiles 0.75 and 1.5
    assert (r["paired_q25"], r["paired_median"], r["paired_q75"]) == pytest.approx(
        (0.75, 1.0, 1.5)
    )


def test_paired_ratio_interval_covers_the_true_ratio_of_noisy_timings():
    # impl is exactly 1.5x base, each call with independent log-normal noise (sigma 0.1).
    rng = np.random.default_rng(1)
    base = np.exp(rng.normal(0, 0.1, 60))
    impl = 1.5 * np.exp(rng.normal(0, 0.1, 60))
    r = h.paired_ratio({"b": base.tolist(), "i": impl.tolist()}, "i", "b")
    lo, hi = r["ratio_ci95"]
    assert lo < 1.5 < hi
    # the interval of a median ratio from 60 pairs at 10% noise is a few percent wide
    assert 0.005 < hi - lo < 0.3


def test_paired_ratio_interval_collapses_for_constant_times():
    r = h.paired_ratio({"base": [1.0] * 5, "impl": [2.0] * 5}, "impl", "base")
    assert r["ratio"] == 2.0 and r["ratio_ci95"] == pytest.approx([2.0, 2.0])


def test_summarize_group_fractions_of_the_machine_peaks():
    # fake timings: 0.5 s per call; 1e9 bytes at 4e9 B/s would take 0.25 s -> half the
    # roofline; 3e10 flops at 1.2e11 flop/s would take 0.25 s -> half as well.
    prepared = {"ref": h.Prepared(lambda: None), "x": h.Prepared(lambda: None, 1.5, None, "n")}
    times = {"ref": [0.25, 0.25, 0.25], "x": [0.5, 0.4, 0.6]}
    peaks = {"copy_bytes_per_s": 4e9, "matmul_flops_per_s": 1.2e11}
    out = h.summarize_group(
        times, prepared, "ref", work_bytes=1e9, work_flops=3e10, peaks=peaks
    )
    assert out["x"]["bandwidth_fraction"] == pytest.approx(0.5)
    assert out["x"]["flops_fraction"] == pytest.approx(0.5)
    assert out["ref"]["bandwidth_fraction"] == pytest.approx(1.0)
    assert out["x"]["ratio"] == pytest.approx(2.0)
    assert out["x"]["compile_s"] == 1.5 and out["x"]["note"] == "n"
    none = h.summarize_group(times, prepared, "ref")
    assert none["x"]["bandwidth_fraction"] is None and none["x"]["flops_fraction"] is None


# ---------------------------------------------------------------------------- interleaving


def test_round_robin_puts_each_name_once_at_every_position():
    names = ["a", "b", "c"]
    assert [h.round_robin(names, r) for r in range(3)] == [
        ["a", "b", "c"],
        ["b", "c", "a"],
        ["c", "a", "b"],
    ]
    for cycle in range(4):
        orders = [h.round_robin(names, 3 * cycle + r) for r in range(3)]
        for pos in range(3):
            assert sorted(o[pos] for o in orders) == names


def test_round_robin_varies_the_predecessor_across_cycles():
    before_a = set()
    for r in range(4 * 8):
        order = h.round_robin(["a", "b", "c", "d"], r)
        i = order.index("a")
        if i > 0:
            before_a.add(order[i - 1])
    assert len(before_a) > 1  # a plain rotation would always put "d" before "a"


def test_time_interleaved_order_warmup_and_durations():
    clock, log = FakeClock(), []
    fns = make_fns(clock, {"x": 1.0, "y": 3.0}, log)
    times, order = h.time_interleaved(fns, repeats=4, warmup=2, timer=clock)
    assert log[:4] == ["x", "x", "y", "y"]  # warm-up first, untimed
    assert order == ["x", "y", "y", "x", "x", "y", "y", "x"]
    assert log[4:] == order
    assert times == {"x": [1.0] * 4, "y": [3.0] * 4}


@pytest.mark.parametrize(
    "kwargs, match",
    [({"repeats": 0}, "repeats must be a positive int, got 0"),
     ({"repeats": 1, "warmup": -1}, "warmup must be a non-negative int, got -1")],
    ids=["repeats", "warmup"],
)
def test_time_interleaved_rejects_bad_counts(kwargs, match):
    with pytest.raises(ValueError, match=match):
        h.time_interleaved({"a": lambda: 0}, **kwargs)


def test_time_prepared_collects_self_timed_durations():
    calls = []

    def self_timed():
        calls.append("s")
        return [0.1, 0.2]

    prepared = {
        "s": h.Prepared(self_timed, self_timed=True, after_warmup=lambda: calls.append("w")),
        "t": h.Prepared(lambda: 0),
    }
    times = h.time_prepared(prepared, repeats=3, warmup=1)
    assert calls == ["s", "w", "s", "s", "s"]  # one warm-up, its hook, three rounds
    assert times["s"] == [0.1, 0.2] * 3 and len(times["t"]) == 3


# ---------------------------------------------------------------------------- memory, machine


def test_memory_stats_of_a_compiled_function_has_the_documented_fields():
    x = jnp.ones((8, 16), jnp.float32)
    mem = h.memory_stats(h.compile_fn(lambda a: jnp.sum(jnp.exp(a) * a), (x,)))
    assert mem is not None and set(mem) <= set(h.MEMORY_FIELDS)
    assert mem["argument_size_in_bytes"] == 8 * 16 * 4


class _NoAnalysis:
    def memory_analysis(self):
        return None


class _RaisingAnalysis:
    def memory_analysis(self):
        raise NotImplementedError("no memory analysis on this backend")


@pytest.mark.parametrize("compiled", [_NoAnalysis(), _RaisingAnalysis()], ids=["none", "raises"])
def test_memory_stats_is_none_where_the_backend_gives_nothing(compiled):
    assert h.memory_stats(compiled) is None


def test_machine_peaks_are_positive_and_cached():
    dev = jax.devices("cpu")[0]
    p = h.machine_peaks(dev, array_bytes=2**20, matmul_n=64, repeats=2)
    assert h.machine_peaks(dev, array_bytes=2**20, matmul_n=64, repeats=2) is p
    for key in ("read_bytes_per_s", "copy_bytes_per_s", "matmul_flops_per_s"):
        assert math.isfinite(p[key]) and p[key] > 0


def test_available_memory_on_cpu_agrees_with_proc_meminfo():
    avail, source = h.available_memory(jax.devices("cpu")[0])
    if os.path.exists("/proc/meminfo"):
        with open("/proc/meminfo") as f:
            kb = next(int(ln.split()[1]) for ln in f if ln.startswith("MemAvailable:"))
        assert source == "/proc/meminfo MemAvailable"
        assert avail == pytest.approx(kb * 1024, rel=0.2)  # both read a moving figure
    assert avail > 0


def test_check_memory_refuses_the_largest_case_in_one_line():
    with pytest.raises(ValueError, match=r"^--shapes 9x9 needs about 3\.0 GiB .* 1\.0 GiB"):
        h.check_memory({"1x1": 10, "9x9": 3 * 2**30}, 2**30, "cpu")
    h.check_memory({"1x1": 10}, 2**30, "cpu")  # fits: no error
    h.check_memory({"1x1": 2**40}, None, "cpu")  # unknown: no error


def test_softmax_estimate_covers_the_compiled_footprint():
    # the estimate must not be below what XLA actually allocates (args + outputs + temp)
    shape, impls = (256, 512), ["optax", "ours", "optax_onehot_ls"]
    x, y, _ = softmax_suite.make_inputs(shape, "float32")
    losses = softmax_suite._losses()
    for name in impls:
        mem = h.memory_stats(h.compile_fn(jax.value_and_grad(losses[name]), (x, y)))
        used = sum(mem[k] for k in ("argument_size_in_bytes", "output_size_in_bytes",
                                    "temp_size_in_bytes"))
        assert softmax_suite.estimate_bytes(shape, "float32", impls) >= used


# ---------------------------------------------------------------------------- the suites


def test_suite_losses_agree_with_optax_and_torch():
    import torch
    import torch.nn.functional as F

    x, y, _ = softmax_suite.make_inputs((4, 8), "float32")
    fns = softmax_suite._losses()
    v_opt, g_opt = jax.jit(jax.value_and_grad(fns["optax"]))(x, y)
    for name in ("ours", "naive"):
        v, g = jax.jit(jax.value_and_grad(fns[name]))(x, y)
        np.testing.assert_allclose(v, v_opt, rtol=1e-6)
        np.testing.assert_allclose(g, g_opt, rtol=1e-5, atol=1e-7)
    xt = torch.tensor(np.asarray(x), requires_grad=True)
    vt = F.cross_entropy(xt, torch.tensor(np.asarray(y), dtype=torch.int64))
    vt.backward()
    np.testing.assert_allclose(vt.item(), v_opt, rtol=1e-6)
    np.testing.assert_allclose(xt.grad.numpy(), g_opt, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        jax.jit(fns["ours_ls0.1"])(x, y), jax.jit(fns["optax_onehot_ls"])(x, y), rtol=1e-6
    )


def test_torch_falls_back_to_eager_and_says_so(monkeypatch):
    import torch

    def broken_compile(fn, *a, **k):
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(torch, "compile", broken_compile)
    x, y, _ = softmax_suite.make_inputs((4, 8), "float32")
    p, why = softmax_suite.torch_impl(x, y, compiled=True, device=jax.devices("cpu")[0])
    assert why is None and p.compile_s is None and p.memory is None
    assert p.note.startswith("torch eager (torch.compile failed: RuntimeError: no C++ compiler)")
    assert p.call() is None  # runs eagerly


def _check_common_schema(report, suite_name, impls, n_samples):
    json.dumps(report, allow_nan=False)  # strict-JSON-ready as produced
    assert report["suite"] == suite_name and report["schema_version"] == 2
    assert {"created", "title", "environment", "machine", "config", "groups"} <= set(report)
    env = report["environment"]
    assert env["backend"] == "cpu" and env["jax"] == jax.__version__
    assert env["device"] == str(jax.devices("cpu")[0])
    cfg = report["config"]
    assert cfg["impls"][0] == cfg["reference"]
    for g in report["groups"]:
        assert list(g["impls"]) + list(g["skipped"]) == impls
        assert g["estimated_peak_bytes"] > 0
        for name, r in g["impls"].items():
            assert r["n"] == n_samples, name
            for key in ("median_s", "q25_s", "q75_s", "iqr_s", "ratio", "compile_s",
                        "memory", "note", "bandwidth_fraction", "flops_fraction"):
                assert key in r, (name, key)
        ref = g["impls"][g["reference"]]
        assert ref["ratio"] == 1.0 and ref["ratio_ci95"] == [1.0, 1.0]


def test_softmax_report_schema(monkeypatch):
    impls = ["optax", "ours", "naive", "torch_eager", "ours_ls0.1"]
    peaks = {"copy_bytes_per_s": 1e9, "read_bytes_per_s": 2e9, "matmul_flops_per_s": 1e10,
             "method": "fake"}
    monkeypatch.setattr(h, "machine_peaks", lambda device: peaks)
    report = _run.run_suite(
        "softmax", shapes=[(8, 16)], impls=impls[1:], repeats=2, warmup=0, backend="cpu"
    )
    _check_common_schema(report, "softmax", impls, 2)
    (g,) = report["groups"]
    assert g["shape"] == [8, 16] and g["work"]["bytes"] == 2 * 8 * 16 * 4
    ours = g["impls"]["ours"]
    assert ours["bandwidth_fraction"] == pytest.approx(8 * 16 * 4 * 2 / ours["median_s"] / 1e9)
    assert "eager" in g["impls"]["torch_eager"]["note"]
    assert g["impls"]["ours"]["memory"]["temp_size_in_bytes"] >= 0
    assert g["target"]["impl"] == "ours" and g["target"]["max_ratio"] == 1.0
    assert "smoothing_temp_diff_bytes" in g["summary"]
    table = _run.format_table(report)
    for name in impls:
        assert name in table
    assert "target <= 1.0" in table


def test_linear_report_schema():
    report = _run.run_suite(
        "linear", shapes=[(8, 4, 16)], repeats=2, warmup=0, measure_peaks=False
    )
    (g,) = report["groups"]
    assert g["work"]["flops"] == 6 * 8 * 4 * 16
    from crossent_jax.bench import _linear

    if _linear.linear_loss() is None:
        assert set(g["skipped"]) == {"ours"}
        _check_common_schema(report, "linear", ["unfused", "unfused_ours", "ours"], 2)
    else:
        _check_common_schema(report, "linear", ["unfused", "ours", "unfused_ours"], 2)
        assert "ours_temp_over_logits" in g["summary"]


def test_continuous_report_schema_and_accuracy_against_scipy():
    report = _run.run_suite("continuous", shapes=[(3,)], repeats=1, warmup=0,
                            measure_peaks=False)
    _check_common_schema(report, "continuous", ["scipy", "ours"], 1)
    (g,) = report["groups"]
    # QUADPACK at epsrel 1e-10 and the kit's rule agree to float64 accuracy
    assert g["summary"]["max_rel_diff_ours_vs_scipy"] < 1e-9


def test_continuous_scipy_densities_match_scipy_stats():
    # the suite's plain-math integrand (fast callbacks) against scipy.stats' densities
    from scipy import stats

    from crossent_jax.bench import _continuous

    xs = np.linspace(-30, 30, 41)
    lp = _continuous._normal_logpdf(0.7, 1.3)
    lq = _continuous._student_logpdf(3.5, -0.4, 0.8)
    np.testing.assert_allclose([lp(x) for x in xs], stats.norm.logpdf(xs, 0.7, 1.3), rtol=1e-12)
    np.testing.assert_allclose(
        [lq(x) for x in xs], stats.t.logpdf(xs, 3.5, -0.4, 0.8), rtol=1e-12
    )


def test_train_report_schema_and_the_minimal_loop_trains_what_fit_trains():
    from crossent_jax.train import fit, load_dataset

    shape = ("blobs", "linear", 256)
    report = _run.run_suite("train", shapes=[shape], repeats=2, warmup=1, measure_peaks=False)
    _check_common_schema(
        report, "train", ["minimal", "minimal_eval", "fit"], 2 * train_suite.EPOCHS
    )
    (g,) = report["groups"]
    s = g["summary"]
    assert s["fit_train_seconds"] == pytest.approx(
        g["impls"]["fit"]["median_s"] - s["fit_eval_seconds"]
    )
    assert g["target"]["ratio"] == s["target_ratio"] and g["target"]["max_ratio"] == 1.2
    assert "median of 6)" in s["lines"][0]  # the warm-up call's evaluations are dropped
    assert s["eval_seconds"] > 0 and s["fit_eval_share"] == pytest.approx(
        s["fit_eval_seconds"] / g["impls"]["fit"]["median_s"]
    )
    assert "fit_eval_times" not in g["work"]
    # Same model, optimizer, schedule, loss and batches: after the same epochs the minimal
    # loop holds fit's parameters (so the comparison is of loops, not of workloads).
    config, data = train_suite.config_of(shape), load_dataset("blobs")
    epoch_fn, state, _, _, _, _ = train_suite.minimal_loop(config, data, jax.devices()[0])
    for e in range(config.epochs):
        state, _ = epoch_fn(state, *train_suite._batches(config, data, e))
    flat, flat_ref = jax.tree.leaves(state[0]), jax.tree.leaves(fit(config, dataset=data).params)
    assert len(flat) == len(flat_ref) == 2  # weight and bias
    for a, b in zip(flat, flat_ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)


# ---------------------------------------------------------------------------- the CLI


def run_cli(argv, capsys):
    code = cli.main(["bench", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(
    "argv, match",
    [
        (["softmax", "--repeats", "0"], "--repeats must be a positive int, got 0"),
        (["softmax", "--warmup", "-1"], "--warmup must be a non-negative int, got -1"),
        (["softmax", "--shapes", "8x"], "--shapes expects BxK pairs of positive ints, got '8x'"),
        (["softmax", "--shapes", "0x16"], "got '0x16'"),
        (["linear", "--shapes", "8x16"], "expects NxDxV triples of positive ints, got '8x16'"),
        (["continuous", "--shapes", "-3"], "expects positive counts N, got '-3'"),
        (["train", "--shapes", "imagenet/mlp:8"], "got 'imagenet/mlp:8'"),
        (["softmax", "--dtypes", "int8"], "--dtypes for bench softmax expects some of"),
        (["train", "--dtypes", "bfloat16"], "--dtypes for bench train expects some of float32"),
        (["softmax", "--impl", "ours,fast"], "--impl 'fast' is not an implementation of bench"),
        (["softmax", "--shapes", ""], "--shapes expects a comma-separated list, got ''"),
    ],
    ids=["repeats", "warmup", "shape-missing", "shape-zero", "linear-2d", "continuous-neg",
         "train-dataset", "dtype", "train-dtype", "impl", "empty"],
)
def test_cli_bad_flags_exit_2_with_one_line(argv, match, tmp_path, capsys):
    code, out, err = run_cli(argv + ["--out", str(tmp_path / "o")], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("crossent bench: error: ")
    assert match in err
    assert not (tmp_path / "o").exists()  # refused before any file


def test_cli_missing_backend_is_one_line(tmp_path, capsys):
    have = {d.platform for d in jax.devices()}
    missing = next(b for b in ("tpu", "gpu") if b not in have)
    code, _, err = run_cli(["softmax", "--backend", missing, "--out", str(tmp_path)], capsys)
    assert code == 2 and err.count("\n") == 1
    assert f"--backend {missing}: no {missing} device" in err


@pytest.mark.parametrize("flag", ["--out", "--json", "--plot"])
def test_cli_bad_output_paths_are_refused_before_work(flag, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(_run, "run_suite", _fail("run_suite ran"))
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    target = str(a_file) if flag == "--out" else str(a_file / "x.json")
    code, _, err = run_cli(["softmax", "--shapes", "4x4", flag, target], capsys)
    assert code == 2 and err.count("\n") == 1 and flag in err and "a_file" in err


def _fail(msg):
    def f(*a, **k):
        raise AssertionError(msg)

    return f


def test_cli_refuses_too_large_shapes_before_any_work(tmp_path, capsys, monkeypatch):
    for name in ("machine_peaks", "compile_fn", "prepare_jax"):
        monkeypatch.setattr(h, name, _fail(f"{name} ran"))
    monkeypatch.setattr(_run, "run_suite", _fail("run_suite ran"))
    out = tmp_path / "o"
    for argv in (["softmax", "--shapes", "8x16,100000000x100000"],
                 ["linear", "--shapes", "1000000x4096x1000000"]):
        code, stdout, err = run_cli(argv + ["--out", str(out)], capsys)
        assert code == 2 and stdout == "" and err.count("\n") == 1
        assert "needs about" in err and "is available on" in err
        assert "100000000x100000" in err or "1000000x4096x1000000" in err
    assert not out.exists()


def test_cli_defaults_write_under_runs_bench(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(
        ["softmax", "--shapes", "8x16", "--impl", "ours", "--repeats", "2", "--no-peaks"], capsys
    )
    assert code == 0, err
    base = os.path.join("runs", "bench", "bench_softmax")
    assert f"wrote {base}.json" in out and f"wrote {base}.png" in out
    assert sorted(os.listdir(tmp_path)) == ["runs"]  # nothing under experiments/results
    with open(base + ".json") as f:
        doc = json.load(f)
    assert doc["meta"]["jax"] == jax.__version__ and doc["suite"] == "softmax"
    assert os.path.getsize(base + ".png") > 0


def test_cli_json_and_plot_paths(tmp_path, capsys):
    j, p = tmp_path / "r" / "x.json", tmp_path / "f" / "y.png"
    code, out, _ = run_cli(
        ["continuous", "--shapes", "2", "--repeats", "1", "--no-peaks", "--json", str(j),
         "--plot", str(p), "--out", str(tmp_path / "unused")], capsys
    )
    assert code == 0 and j.exists() and p.exists()
    assert not (tmp_path / "unused").exists()


def test_plot_has_no_clipped_text():
    report = {
        "suite": "softmax",
        "environment": {"backend": "cpu", "device_kind": "cpu", "jax": jax.__version__},
        "groups": [
            {
                "label": f"{b}x32768 bfloat16", "reference": "optax",
                "target": {"impl": "ours", "max_ratio": 1.0},
                "impls": {
                    n: {"ratio": 1.0 + 0.1 * i, "paired_median": 1.0, "paired_q25": 0.9,
                        "paired_q75": 1.1, "memory": {"temp_size_in_bytes": 2**20 * i}}
                    for i, n in enumerate(softmax_suite.IMPLS)
                },
            }
            for b in (1024, 4096, 8192)
        ],
    }
    fig = _run.plot_figure(report)
    fig.canvas.draw()
    box = fig.bbox
    texts = [fig._suptitle] + [
        t for ax in fig.axes
        for t in [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.get_xticklabels(),
                  *ax.get_yticklabels()]
        if t.get_text() and t.get_visible()
    ]
    assert len(texts) > 30
    for t in texts:
        e = t.get_window_extent()
        assert e.x0 >= box.x0 - 1 and e.x1 <= box.x1 + 1, t.get_text()
        assert e.y0 >= box.y0 - 1 and e.y1 <= box.y1 + 1, t.get_text()
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_registry_points_at_suites_with_the_documented_interface():
    for name in _run.SUITES:
        mod = _run.suite_module(name)
        assert mod.NAME == name and mod.REFERENCE in mod.IMPLS
        assert set(mod.DEFAULT_IMPLS) <= set(mod.IMPLS)
        for attr in ("TITLE", "MEASURED", "SHAPE_FORMAT", "DEFAULT_SHAPES", "DEFAULT_DTYPES",
                     "DTYPES", "DEFAULT_REPEATS", "parse_shape", "shape_label",
                     "estimate_bytes", "prepare"):
            assert hasattr(mod, attr), f"{name} lacks {attr}"
        for shape in mod.DEFAULT_SHAPES:
            assert mod.parse_shape(mod.shape_label(shape)) == tuple(shape)
