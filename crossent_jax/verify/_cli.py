"""``crossent verify``: run :func:`crossent_jax.verify.verify_all`, print the table.

Exit status: 0 when every row passed, 1 when any failed, 2 on a usage error (an unknown
loss or dtype; ``crossent_jax.cli.main`` prints the one-line message).
"""

from __future__ import annotations

import argparse
import os

DTYPES = ("float64", "float32", "bfloat16")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dtype",
        action="append",
        default=None,
        metavar="DTYPE",
        help="dtype to verify in (repeatable; default: float64, float32, bfloat16; "
        "float16 also accepted)",
    )
    parser.add_argument(
        "--loss",
        action="append",
        default=None,
        metavar="NAME",
        help="public loss to verify, e.g. softmax_cross_entropy (repeatable; default: all)",
    )
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the report")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    parser.add_argument(
        "--failures-only", action="store_true", help="print only the rows that failed"
    )
    parser.add_argument(
        "--fast-compile",
        action="store_true",
        help="compile with XLA's LLVM optimisation off (about 25%% less CPU time on the "
        "many tiny verification programs; HLO-level passes are unchanged). Only takes "
        "effect when the command starts the JAX backend itself",
    )


FAST_COMPILE_FLAGS = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


def run(args: argparse.Namespace) -> int:
    if args.fast_compile:  # read when the backend starts, i.e. at the first computation
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {FAST_COMPILE_FLAGS}"
    import jax

    jax.config.update("jax_enable_x64", True)  # the float64 reference needs it
    from crossent_jax.verify import Report, verify_all

    report = verify_all(
        dtypes=tuple(args.dtype or DTYPES), seed=args.seed, losses=args.loss, progress=True
    )
    shown = report if not args.failures_only else Report(report.failures, report.seconds)
    print(shown.to_markdown() if shown.rows else report.summary)
    if args.json:
        directory = os.path.dirname(args.json)
        if directory:
            os.makedirs(directory, exist_ok=True)
        with open(args.json, "w") as f:
            f.write(report.to_json())
        print(f"wrote {args.json}")
    print("PASSED" if report.passed else f"FAILED: {len(report.failures)} rows")
    return 0 if report.passed else 1
