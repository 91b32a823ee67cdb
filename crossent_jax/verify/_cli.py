"""``crossent verify``: run :func:`crossent_jax.verify.verify_all`, print the table.

Exit status: 0 when every row passed, 1 when any failed, 2 on a usage error (an unknown
loss or dtype; ``crossent_jax.cli.main`` prints the one-line message).
"""

from __future__ import annotations

import argparse
import os

from crossent_jax._outputs import prepare_file, write_json


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
    if args.json:
        prepare_file(args.json, flag="--json")  # a bad path fails now, not after the run
    from crossent_jax.verify import Report, verify_all
    from crossent_jax.verify._verify_all import DTYPES

    # verify_all enables float64 only inside itself; XLA_FLAGS is read when the backend
    # starts and restored afterwards, so neither setting outlives this command.
    saved = os.environ.get("XLA_FLAGS")
    if args.fast_compile:
        os.environ["XLA_FLAGS"] = f"{saved or ''} {FAST_COMPILE_FLAGS}".strip()
    try:
        report = verify_all(
            dtypes=tuple(args.dtype or DTYPES), seed=args.seed, losses=args.loss, progress=True
        )
    finally:
        if saved is None:
            os.environ.pop("XLA_FLAGS", None)
        else:
            os.environ["XLA_FLAGS"] = saved
    shown = report if not args.failures_only else Report(report.failures, report.seconds)
    print(shown.to_markdown() if shown.rows else report.summary)
    if args.json:
        write_json(args.json, report.to_dict())
        print(f"wrote {args.json}")
    print("PASSED" if report.passed else f"FAILED: {len(report.failures)} rows")
    return 0 if report.passed else 1
