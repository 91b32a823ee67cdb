"""``crossent bench SUITE``: run a benchmark suite, print a table, write JSON + PNG.

Suites are modules registered in :data:`SUITES`; each provides ``NAME``,
``DEFAULT_SHAPES``, ``DEFAULT_DTYPES``, ``count_calls``, ``run``, ``format_table`` and
``plot``. jax is imported only inside :func:`run` so ``crossent --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os

from crossent_jax._errors import InputValueError

#: suite name -> module; later suites (``linear``, ``continuous``) register here.
SUITES: dict[str, str] = {
    "softmax": "crossent_jax.bench._softmax",
}
DTYPES = ("float32", "bfloat16", "float16")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("suite", choices=sorted(SUITES), help="benchmark suite to run")
    parser.add_argument(
        "--repeats", type=int, default=30, help="timed calls per implementation (default 30)"
    )
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls first (default 2)")
    parser.add_argument(
        "--out",
        default=os.path.join("experiments", "results"),
        help="output directory for bench_<suite>.json and .png (default experiments/results)",
    )
    parser.add_argument(
        "--shapes",
        default=None,
        help="comma-separated BxK shapes, e.g. 4096x1024,1024x32768 (default: the suite's)",
    )
    parser.add_argument(
        "--dtypes", default=None, help="comma-separated logits dtypes (default: the suite's)"
    )
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG")


def parse_shapes(text: str) -> list[tuple[int, ...]]:
    """``"4096x1024,8x16"`` -> ``[(4096, 1024), (8, 16)]``; ValueError on anything else."""
    shapes = []
    for part in text.split(","):
        dims = part.strip().lower().split("x")
        try:
            shape = tuple(int(d) for d in dims)
        except ValueError:
            shape = ()
        if len(shape) != 2 or min(shape) < 1:
            raise InputValueError(f"--shapes expects BxK pairs of positive ints, got {part!r}")
        shapes.append(shape)
    return shapes


def parse_dtypes(text: str) -> list[str]:
    dtypes = [d.strip() for d in text.split(",")]
    for d in dtypes:
        if d not in DTYPES:
            raise InputValueError(f"--dtypes expects some of {', '.join(DTYPES)}, got {d!r}")
    return dtypes


def run(args: argparse.Namespace) -> int:
    if args.repeats < 1:
        raise InputValueError(f"--repeats must be a positive int, got {args.repeats}")
    if args.warmup < 0:
        raise InputValueError(f"--warmup must be a non-negative int, got {args.warmup}")
    suite = importlib.import_module(SUITES[args.suite])
    shapes = suite.DEFAULT_SHAPES if args.shapes is None else parse_shapes(args.shapes)
    dtypes = suite.DEFAULT_DTYPES if args.dtypes is None else parse_dtypes(args.dtypes)

    from tqdm import tqdm

    from crossent_jax.bench import _harness as h

    total = suite.count_calls(shapes=shapes, dtypes=dtypes, repeats=args.repeats)
    with tqdm(total=total, desc=f"bench {args.suite}", unit="call") as bar:
        report = suite.run(
            shapes=shapes,
            dtypes=dtypes,
            repeats=args.repeats,
            warmup=args.warmup,
            progress=lambda _name: bar.update(1),
            on_case=bar.set_postfix_str,
        )
    print(suite.format_table(report))
    base = os.path.join(args.out, f"bench_{args.suite}")
    h.write_json(base + ".json", report)
    print(f"wrote {base}.json")
    if not args.no_plot:
        suite.plot(report, base + ".png")
        print(f"wrote {base}.png")
    return 0
