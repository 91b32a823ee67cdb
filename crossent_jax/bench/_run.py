"""Run a benchmark suite: cases × implementations, interleaved timings, one report.

A suite is a module (see :data:`SUITES`) that describes its cases and prepares the
implementations of each; this module owns everything they share: the device, the machine's
measured peaks, the memory check before any work, interleaved timing, statistics, ratios,
the report, its table and its figure. jax is imported only when a suite runs.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from crossent_jax._errors import InputValueError

#: suite name -> module
SUITES: dict[str, str] = {
    "softmax": "crossent_jax.bench._softmax",
    "linear": "crossent_jax.bench._linear",
    "continuous": "crossent_jax.bench._continuous",
    "train": "crossent_jax.bench._train",
}
BACKENDS = ("cpu", "gpu", "tpu")
SCHEMA_VERSION = 2


def suite_module(name: str) -> ModuleType:
    """The module of suite ``name`` (InputValueError naming the choices otherwise)."""
    if name not in SUITES:
        raise InputValueError(f"unknown bench suite {name!r}; choose from {', '.join(SUITES)}")
    return importlib.import_module(SUITES[name])


def resolve_device(backend: str | None):
    """The first device of ``backend`` (default: jax's default backend)."""
    import jax

    if backend is None:
        return jax.devices()[0]
    if backend not in BACKENDS:
        raise InputValueError(f"--backend expects one of {', '.join(BACKENDS)}, got {backend!r}")
    try:
        devices = jax.devices(backend)
    except RuntimeError:
        devices = []
    if not devices:
        have = sorted({d.platform for d in jax.devices()} | {"cpu"})
        raise InputValueError(
            f"--backend {backend}: no {backend} device in this jax installation "
            f"(available: {', '.join(have)})"
        )
    return devices[0]


def estimate(suite: ModuleType, shapes, dtypes, impls) -> dict[str, int]:
    """Estimated peak bytes of each case (label -> bytes)."""
    return {
        f"{suite.shape_label(s)} ({d})": int(suite.estimate_bytes(s, d, impls))
        for s in shapes
        for d in dtypes
    }


def check_fits(suite: ModuleType, shapes, dtypes, impls, device) -> dict[str, int]:
    """Refuse (one InputValueError line) cases whose estimated peak exceeds the device's
    available memory; returns the estimates."""
    from crossent_jax.bench import _harness as h

    est = estimate(suite, shapes, dtypes, impls)
    available, source = h.available_memory(device)
    h.check_memory(
        {k.split(" (")[0]: v for k, v in est.items()}, available, f"{device} ({source})"
    )
    return est


def run_suite(
    name: str,
    *,
    shapes: Sequence[tuple] | None = None,
    dtypes: Sequence[str] | None = None,
    impls: Sequence[str] | None = None,
    repeats: int | None = None,
    warmup: int = 1,
    backend: str | None = None,
    progress: Callable[[str], None] | None = None,
    on_case: Callable[[str], None] | None = None,
    measure_peaks: bool = True,
) -> dict[str, Any]:
    """Run suite ``name`` and return its report (a JSON-ready dict).

    Args:
      name: ``"softmax"``, ``"linear"``, ``"continuous"`` or ``"train"``.
      shapes, dtypes, impls: the cases and implementations (default: the suite's). The
        suite's reference implementation is always included (ratios are against it).
      repeats: timed rounds (default: the suite's); every implementation runs once per round,
        in a rotating order.
      warmup: untimed calls per implementation after compiling.
      backend: ``"cpu"``, ``"gpu"`` or ``"tpu"`` (default: jax's default).
      progress: called after each timed call; on_case: called with a status string.
      measure_peaks: measure the device's bandwidth and matmul throughput (for the
        roofline fractions); False skips it (fractions are then None).

    Returns:
      ``{"suite", "schema_version", "created", "title", "environment", "machine", "config",
      "groups"}``; each group (one shape and dtype) has ``impls``: per implementation the
      median / quartiles / IQR / min / count of its timings (seconds), ``ratio`` to the
      reference (ratio of medians) with ``ratio_ci95`` (bootstrap over paired rounds),
      ``compile_s``, ``memory`` (``memory_analysis()`` fields), ``note``,
      ``bandwidth_fraction`` and ``flops_fraction``; and ``work``, ``skipped``, ``summary``,
      ``target``.

    Raises:
      InputValueError: unknown suite/implementation/backend, or a case that would not fit
        in memory (checked before any work).

    Example:
      >>> from crossent_jax.bench import run_suite
      >>> try:
      ...     run_suite("softmax", shapes=[(10**8, 10**5)])
      ... except ValueError as err:  # refused before any work
      ...     print(err)
      --shapes 100000000x100000 needs about ... TiB (estimated peak of the compared ...
    """
    from crossent_jax.bench import _harness as h

    suite = suite_module(name)
    shapes = list(suite.DEFAULT_SHAPES if shapes is None else shapes)
    dtypes = list(suite.DEFAULT_DTYPES if dtypes is None else dtypes)
    impls = select_impls(suite, impls)
    repeats = suite.DEFAULT_REPEATS if repeats is None else repeats
    device = resolve_device(backend)
    estimates = check_fits(suite, shapes, dtypes, impls, device)

    peaks = h.machine_peaks(device) if measure_peaks else None
    groups = []
    for shape in shapes:
        for dtype in dtypes:
            ctx = getattr(suite, "context", lambda _d: contextlib.nullcontext())(dtype)
            with ctx:
                prepared, skipped, work = suite.prepare(
                    tuple(shape), dtype, impls, device, on_case=on_case
                )
                if on_case is not None:
                    on_case(f"time {suite.shape_label(shape)} {dtype}")
                times = h.time_prepared(
                    prepared, repeats=repeats, warmup=warmup, on_call=progress
                )
            recs = h.summarize_group(
                times, prepared, suite.REFERENCE, work_bytes=work.get("bytes"),
                work_flops=work.get("flops"), peaks=peaks,
            )
            group = {
                "shape": list(shape),
                "label": f"{suite.shape_label(shape)} {dtype}",
                "dtype": dtype,
                "reference": suite.REFERENCE,
                "estimated_peak_bytes": estimates[f"{suite.shape_label(shape)} ({dtype})"],
                "work": work,
                "impls": recs,
                "skipped": skipped,
            }
            group["summary"] = suite.summarize_group(group) if hasattr(
                suite, "summarize_group"
            ) else {}
            group["target"] = _target(suite, group)
            groups.append(group)
    return {
        "suite": name,
        "schema_version": SCHEMA_VERSION,
        "created": h.timestamp(),
        "title": suite.TITLE,
        "environment": h.environment(device),
        "machine": peaks,
        "config": {
            "shapes": [list(s) for s in shapes],
            "shape_format": suite.SHAPE_FORMAT,
            "dtypes": dtypes,
            "impls": impls,
            "reference": suite.REFERENCE,
            "repeats": repeats,
            "warmup": warmup,
            "measured": suite.MEASURED,
        },
        "groups": groups,
    }


def select_impls(suite: ModuleType, impls: Sequence[str] | None) -> list[str]:
    """The implementations to run: the reference first, then the others in given order."""
    chosen = list(suite.DEFAULT_IMPLS if impls is None else impls)
    for i in chosen:
        if i not in suite.IMPLS:
            raise InputValueError(
                f"--impl {i!r} is not an implementation of bench {suite.NAME}; "
                f"choose from {', '.join(suite.IMPLS)}"
            )
    return [suite.REFERENCE] + [i for i in dict.fromkeys(chosen) if i != suite.REFERENCE]


def _target(suite: ModuleType, group: dict) -> dict | None:
    """``{"impl", "ratio", "max_ratio", "ok"}`` for the suite's target, if it ran."""
    target = getattr(suite, "TARGET", None)
    if target is None:
        return None
    impl, max_ratio = target
    ratio, ci = group["summary"].get("target_ratio"), None
    if ratio is None:
        rec = group["impls"].get(impl)
        if rec is None:
            return None
        ratio, ci = rec["ratio"], rec.get("ratio_ci95")
    return {
        "impl": impl, "ratio": ratio, "ratio_ci95": ci, "max_ratio": max_ratio,
        "ok": ratio <= max_ratio,
    }


# ----------------------------------------------------------------------------------------
# Table and figure (the same for every suite).


def format_table(report: dict[str, Any]) -> str:
    """Plain-text table: one line per (case, implementation), then each case's target."""
    from crossent_jax.bench._harness import fmt_bytes

    head = (
        f"{'case':>22} {'impl':>16} {'median ms':>10} {'IQR ms':>8} {'ratio':>6}"
        f" {'compile s':>9} {'temp':>10} {'of BW':>6} {'of MM':>6}"
    )
    lines = [f"bench {report['suite']}: {report['title']}", head, "-" * len(head)]

    def pct(v):
        return "" if v is None else f"{100 * v:.0f}%"

    for g in report["groups"]:
        for name, r in g["impls"].items():
            mem = r["memory"]
            temp = fmt_bytes(None if mem is None else mem.get("temp_size_in_bytes"))
            comp = "" if r["compile_s"] is None else f"{r['compile_s']:.2f}"
            lines.append(
                f"{g['label']:>22} {name:>16} {r['median_s'] * 1e3:>10.3f}"
                f" {r['iqr_s'] * 1e3:>8.3f} {r['ratio']:>6.3f} {comp:>9} {temp:>10}"
                f" {pct(r['bandwidth_fraction']):>6} {pct(r['flops_fraction']):>6}"
            )
            if r["note"]:
                lines.append(f"{'':>24}note: {r['note']}")
        for name, why in g["skipped"].items():
            lines.append(f"{g['label']:>22} {name:>16} skipped: {why}")
        t = g["target"]
        if t is not None:
            ci = t["ratio_ci95"]
            ci_txt = "" if ci is None else f" (95% CI {ci[0]:.3f}-{ci[1]:.3f})"
            lines.append(
                f"  {t['impl']} / {g['reference']} = {t['ratio']:.3f}{ci_txt};"
                f" target <= {t['max_ratio']}: {'ok' if t['ok'] else 'MISSED'}"
            )
        for line in g["summary"].get("lines", []):
            lines.append(f"  {line}")
    m = report.get("machine")
    if m:
        lines.append(
            f"machine: {m['copy_bytes_per_s'] / 1e9:.1f} GB/s read+write,"
            f" {m['read_bytes_per_s'] / 1e9:.1f} GB/s read,"
            f" {m['matmul_flops_per_s'] / 1e9:.1f} GFLOP/s float32 matmul"
            " ('of BW' / 'of MM': fraction of these reached)"
        )
        if m.get("load_average"):
            lines.append(f"load average at start-up (1, 5, 15 min): {m['load_average']}")
    return "\n".join(lines)


def plot_figure(report: dict[str, Any]):
    """A Matplotlib figure: per case, the time ratio to the reference (paired IQR bars) and
    the compiled temp memory. Layout is constrained, so no title or label is clipped."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from crossent_jax.bench._harness import fmt_bytes

    groups = report["groups"]
    n = len(groups)
    fig, axes = plt.subplots(
        2, n, figsize=(max(4.6 * n, 5.5), 6.4), squeeze=False, layout="constrained"
    )
    for j, g in enumerate(groups):
        names = list(g["impls"])
        recs = [g["impls"][k] for k in names]
        ratio = [r["ratio"] for r in recs]
        err = [
            [max(r.get("paired_median", r["ratio"]) - r.get("paired_q25", r["ratio"]), 0)
             for r in recs],
            [max(r.get("paired_q75", r["ratio"]) - r.get("paired_median", r["ratio"]), 0)
             for r in recs],
        ]
        ax = axes[0, j]
        ax.bar(range(len(names)), ratio, yerr=err, color="tab:blue", capsize=3)
        ax.axhline(1.0, color="k", lw=0.8)
        t = g["target"]
        if t is not None:
            ax.axhline(t["max_ratio"], color="tab:red", ls="--", lw=0.8,
                       label=f"target {t['impl']} ≤ {t['max_ratio']}")
            ax.legend(fontsize=7, loc="upper left")
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
        ax.set_ylabel(f"median time / {g['reference']}", fontsize=9)
        ax.set_title(g["label"], fontsize=9)
        ax = axes[1, j]
        temp = [
            0.0 if r["memory"] is None else r["memory"].get("temp_size_in_bytes", 0) / 2**20
            for r in recs
        ]
        bars = ax.bar(range(len(names)), temp, color="tab:orange")
        labels = [
            "n/a" if r["memory"] is None else fmt_bytes(r["memory"].get("temp_size_in_bytes"))
            for r in recs
        ]
        ax.bar_label(bars, labels, rotation=90, fontsize=7, padding=2)
        ax.set_ylim(0, 1.6 * max(max(temp), 1e-3))
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
        ax.set_ylabel("compiled temp memory (MiB)", fontsize=9)
    env = report["environment"]
    fig.suptitle(
        f"bench {report['suite']} on {env['backend']} ({env['device_kind']}),"
        f" jax {env['jax']}", fontsize=10,
    )
    return fig
