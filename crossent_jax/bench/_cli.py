"""``crossent bench SUITE``: run a benchmark suite, print a table, write JSON + PNG.

Suites are listed in :data:`crossent_jax.bench._run.SUITES`. Everything is checked before
the work: flags, output paths, the backend, and the estimated memory of every case (a case
that would not fit is refused with one line). Defaults write ``runs/bench/bench_SUITE.json``
and ``.png``; the committed ``experiments/results/`` are written only by the experiment
scripts.
"""

from __future__ import annotations

import argparse
import os

from crossent_jax._errors import InputValueError
from crossent_jax.bench._run import BACKENDS, SUITES, suite_module

DEFAULT_OUT = os.path.join("runs", "bench")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("suite", choices=list(SUITES), help="benchmark suite to run")
    parser.add_argument(
        "--shapes", default=None,
        help="comma-separated cases: softmax BxK (4096x1024), linear NxDxV (4096x512x65536), "
        "continuous N parameter sets (1000), train [DATASET/][MODEL:]BATCH (mnist1d/mlp:128); "
        "default: the suite's",
    )
    parser.add_argument(
        "--impl", default=None,
        help="comma-separated implementations (default: the suite's; the reference is always "
        "included)",
    )
    parser.add_argument(
        "--dtypes", default=None, help="comma-separated dtypes (default: the suite's)"
    )
    parser.add_argument(
        "--backend", choices=BACKENDS, default=None,
        help="run on this backend's first device (default: jax's default backend)",
    )
    parser.add_argument(
        "--repeats", type=int, default=None,
        help="timed rounds, each implementation once per round (default: the suite's)",
    )
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls first (default 1)")
    parser.add_argument(
        "--out", default=DEFAULT_OUT,
        help="directory for bench_SUITE.json and .png (default runs/bench)",
    )
    parser.add_argument("--json", default=None, help="write the JSON report here instead")
    parser.add_argument("--plot", default=None, help="write the PNG figure here instead")
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG")
    parser.add_argument(
        "--no-peaks", action="store_true",
        help="skip measuring the machine's bandwidth and matmul throughput (no roofline "
        "fractions)",
    )


def _split(text: str, flag: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise InputValueError(f"{flag} expects a comma-separated list, got {text!r}")
    return items


def parse_dtypes(suite, text: str) -> list[str]:
    dtypes = _split(text, "--dtypes")
    for d in dtypes:
        if d not in suite.DTYPES:
            raise InputValueError(
                f"--dtypes for bench {suite.NAME} expects some of {', '.join(suite.DTYPES)}, "
                f"got {d!r}"
            )
    return dtypes


def output_paths(args: argparse.Namespace) -> tuple[str, str | None]:
    """The JSON and PNG paths, checked writable (and stale owned files removed) before the
    work."""
    from crossent_jax._outputs import prepare_dir, prepare_file

    base = f"bench_{args.suite}"
    json_path = args.json
    plot_path = None if args.no_plot else args.plot
    owned = []
    if json_path is None:
        owned.append(base + ".json")
    if plot_path is None and not args.no_plot:
        owned.append(base + ".png")
    if owned:
        prepare_dir(args.out, flag="--out", owned=owned)
    if json_path is None:
        json_path = os.path.join(args.out, base + ".json")
    else:
        prepare_file(json_path, flag="--json")
    if not args.no_plot:
        if plot_path is None:
            plot_path = os.path.join(args.out, base + ".png")
        else:
            prepare_file(plot_path, flag="--plot")
    return json_path, plot_path


def run(args: argparse.Namespace) -> int:
    if args.repeats is not None and args.repeats < 1:
        raise InputValueError(f"--repeats must be a positive int, got {args.repeats}")
    if args.warmup < 0:
        raise InputValueError(f"--warmup must be a non-negative int, got {args.warmup}")
    suite = suite_module(args.suite)
    shapes = None
    if args.shapes is not None:
        shapes = [suite.parse_shape(s) for s in _split(args.shapes, "--shapes")]
    dtypes = None if args.dtypes is None else parse_dtypes(suite, args.dtypes)
    impls = None if args.impl is None else _split(args.impl, "--impl")

    from crossent_jax._outputs import save_figure, write_json
    from crossent_jax._progress import progress
    from crossent_jax.bench import _run

    impls = _run.select_impls(suite, impls)
    shapes = list(suite.DEFAULT_SHAPES) if shapes is None else shapes
    dtypes = list(suite.DEFAULT_DTYPES) if dtypes is None else dtypes
    device = _run.resolve_device(args.backend)
    _run.check_fits(suite, shapes, dtypes, impls, device)  # before any work or file
    json_path, plot_path = output_paths(args)

    repeats = suite.DEFAULT_REPEATS if args.repeats is None else args.repeats
    total = len(shapes) * len(dtypes) * len(impls) * repeats
    with progress(total, desc=f"bench {args.suite}", unit="call") as bar:
        report = _run.run_suite(
            args.suite, shapes=shapes, dtypes=dtypes, impls=impls, repeats=repeats,
            warmup=args.warmup, backend=args.backend, progress=lambda _n: bar.update(1),
            on_case=bar.set_postfix_str, measure_peaks=not args.no_peaks,
        )
    print(_run.format_table(report))
    write_json(json_path, report)
    print(f"wrote {json_path}")
    if plot_path is not None:
        save_figure(_run.plot_figure(report), plot_path)
        print(f"wrote {plot_path}")
    return 0
