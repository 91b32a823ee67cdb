"""Benchmark: every ``crossent bench`` suite on every backend present, one file per device.

Hypotheses (issue 12 targets, measured here rather than asserted in tests):

* softmax cross-entropy, forward + backward, at 4096×1024 and 1024×32768 float32: the kit
  takes ≤ 1.00× optax's time, and reaches a stated fraction of the memory roofline (the
  device's measured read+write bandwidth);
* ``linear_cross_entropy`` takes ≤ 1.10× the unfused ``hidden @ weight`` + optax loss with a
  fraction of its compiled temp memory;
* the batched continuous cross-entropy is ≥ 20× faster than a SciPy ``quad`` loop;
* ``train.fit``'s training time per epoch is ≤ 1.2× a minimal scan-jitted optax loop of the
  same model, batches and optimizer (the evaluation's share reported separately).

Command:

    python experiments/bench_backends.py            # full: ~25 min on 2 CPU cores
    python experiments/bench_backends.py --quick    # fewer repeats, small linear: ~6 min
    python experiments/bench_backends.py --suites linear   # re-run one suite, keep the rest

For each backend jax sees (cpu, and gpu / tpu where present) this writes
``experiments/results/bench_<backend>_<device>.json`` (every suite's report) and
``bench_<backend>_<device>_<suite>.png``, then rebuilds the README's backend table (between
the ``bench-backends`` markers) from every such JSON in the results folder, so a run on a
GPU or TPU machine adds its row without code changes (``--no-readme`` leaves the README).
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import os
import re
import sys

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
README = os.path.join(os.path.dirname(RESULTS), "..", "README.md")
BEGIN, END = "<!-- bench-backends:begin -->", "<!-- bench-backends:end -->"


@dataclasses.dataclass(frozen=True)
class SuiteRun:
    shapes: tuple
    repeats: int
    impls: tuple[str, ...] | None = None
    dtypes: tuple[str, ...] | None = None


@dataclasses.dataclass(frozen=True)
class Config:
    softmax: SuiteRun = SuiteRun(((4096, 1024), (1024, 32768)), 30)
    linear: SuiteRun = SuiteRun(((2048, 512, 32768), (4096, 512, 65536)), 5)
    continuous: SuiteRun = SuiteRun(((1000,),), 5)
    train: SuiteRun = SuiteRun((("mnist1d", "mlp", 128),), 5)
    warmup: int = 1


QUICK = Config(
    softmax=SuiteRun(
        ((4096, 1024), (1024, 32768)), 15,
        ("optax", "ours", "naive", "torch_eager", "optax_again", "ours_ls0.1"),
    ),
    linear=SuiteRun(((1024, 256, 8192),), 5),
    continuous=SuiteRun(((300,),), 3),
    train=SuiteRun((("mnist1d", "mlp", 128),), 5),
)


def backends() -> list[str]:
    import jax

    found = []
    for b in ("cpu", "gpu", "tpu"):
        try:
            if jax.devices(b):
                found.append(b)
        except RuntimeError:
            pass
    return found


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "device"


def run_backend(backend: str, cfg: Config, quick: bool, suites=None) -> str:
    """Run ``suites`` (default: all) on ``backend``; a partial run replaces those suites in
    the device's existing results file and keeps the others."""
    from crossent_jax._outputs import save_figure, write_json
    from crossent_jax.bench import _run

    reports = {}
    for name in suites or _run.SUITES:
        s: SuiteRun = getattr(cfg, name)
        print(f"== {backend}: bench {name}", flush=True)
        report = _run.run_suite(
            name, shapes=list(s.shapes), dtypes=s.dtypes, impls=s.impls, repeats=s.repeats,
            warmup=cfg.warmup, backend=backend,
        )
        print(_run.format_table(report), flush=True)
        reports[name] = report
    env = next(iter(reports.values()))["environment"]
    base = os.path.join(RESULTS, f"bench_{backend}_{slug(env['device_kind'])}")
    for name, report in reports.items():
        save_figure(_run.plot_figure(report), f"{base}_{name}.png", dpi=80)
    doc = {"quick": quick, "suites": reports}
    if suites and os.path.exists(base + ".json"):
        with open(base + ".json") as f:
            old = json.load(f)
        doc = {"quick": old["quick"] or quick, "suites": {**old["suites"], **reports}}
    write_json(base + ".json", doc)
    print(f"wrote {base}.json")
    return base + ".json"


def _impl(report, label, impl="ours"):
    for g in report["groups"]:
        if g["label"] == label:
            return g["impls"].get(impl)
    return None


def _softmax_cell(report, label) -> str:
    r = _impl(report, label)
    if r is None:
        return "—"
    frac = r.get("bandwidth_fraction")
    roof = "" if frac is None else f" ({100 * frac:.0f}% of roofline)"
    return f"{r['ratio']:.2f}{roof}"


def _linear_cell(report) -> str:
    cells = []
    for g in report["groups"]:
        ours = g["impls"].get("ours")
        if ours is None:
            cells.append(f"{g['label']}: not in this version")
            continue
        temp = g["summary"].get("ours_temp_over_logits")
        temp_txt = "" if temp is None else f", temp {temp:.2f}× logits"
        n, d, v = g["shape"]
        cells.append(f"{n}×{d}×{v}: {ours['ratio']:.2f}{temp_txt}")
    return "; ".join(cells)


def _train_cell(report) -> str:
    g = report["groups"][0]
    fit, minimal, sm = g["impls"]["fit"], g["impls"]["minimal"], g["summary"]
    return (
        f"{fit['median_s'] * 1e3:.0f} ms / {minimal['median_s'] * 1e3:.0f} ms"
        f" ({sm['target_ratio']:.2f}); eval {sm['fit_eval_seconds'] * 1e3:.0f} ms"
        f" ({100 * sm['fit_eval_share']:.0f}%)"
    )


def table_rows(paths: list[str]) -> list[str]:
    """One README row per results file."""
    rows = []
    for path in sorted(paths):
        with open(path) as f:
            doc = json.load(f)
        s = doc["suites"]
        env = s["softmax"]["environment"]
        m = s["softmax"]["machine"]
        cg = s["continuous"]["groups"][0]
        cells = [
            env["backend"],
            f"{env['device_kind']} ({env['device_count']} device(s), {env['cpu_count']} CPU cores)"
            + (" (quick)" if doc["quick"] else ""),
            _softmax_cell(s["softmax"], "4096x1024 float32"),
            _softmax_cell(s["softmax"], "1024x32768 float32"),
            _linear_cell(s["linear"]),
            f"{cg['impls']['ours']['ratio']:.4f} (N={cg['shape'][0]})",
            _train_cell(s["train"]),
            f"{m['copy_bytes_per_s'] / 1e9:.1f} GB/s, {m['matmul_flops_per_s'] / 1e9:.0f} GFLOP/s",
            f"jax {env['jax']}",
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


HEADER = (
    "| backend | device | softmax ours / optax, 4096×1024 | 1024×32768 |"
    " linear ours / unfused | continuous ours / scipy |"
    " fit epoch / minimal epoch (training-only ratio); eval |"
    " measured peaks (read+write, matmul) | versions |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


def update_readme(path: str = README) -> None:
    rows = table_rows(glob.glob(os.path.join(RESULTS, "bench_*_*.json")))
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        print(f"README has no {BEGIN} … {END} markers; table not written")
        return
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    table = "\n".join([HEADER, *rows])
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{head}{BEGIN}\n{table}\n{END}{tail}")
    print("\n".join(["README table:", table]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, a small linear case")
    ap.add_argument("--no-readme", action="store_true", help="leave README.md unchanged")
    ap.add_argument("--readme-only", action="store_true", help="only rebuild the README table")
    ap.add_argument(
        "--suites", default=None,
        help="comma-separated suites to (re-)run, kept with the others in the device's file",
    )
    args = ap.parse_args(argv)
    suites = None if args.suites is None else args.suites.split(",")
    if not args.readme_only:
        cfg = QUICK if args.quick else Config()
        for b in backends():
            run_backend(b, cfg, args.quick, suites)
    if not args.no_readme:
        update_readme()
    return 0


if __name__ == "__main__":
    sys.exit(main())
