"""``crossent examples``: recompute every number of the seed articles, print them with their
formulas, and write JSON (default ``runs/examples/seed_examples.json``)."""

from __future__ import annotations

import argparse
import math
import os

DEFAULT_JSON = os.path.join("runs", "examples", "seed_examples.json")

FORMULAS = """\
The two tutorials the kit starts from, and their formulas:
  seed 000  E = −Σ_i t_i log y_i       (one example; softmax output y, one-hot label t)
  seed 001  H(p,q) = −E_p[log q]       (formula 1, continuous: the "age" example)
            H(p,q) = −Σ_i p_i log q_i  (formula 2, discrete)
            L = −(1/N) Σ_n t_n log y_n (formula 3, a batch of binary labels)
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        default=DEFAULT_JSON,
        metavar="PATH",
        help=f"where to write the records (default: {DEFAULT_JSON})",
    )


def _fmt(x, decimals=4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:.{decimals}f}"


def run(args: argparse.Namespace) -> int:
    from crossent_jax._outputs import prepare_file, write_json

    prepare_file(args.json, flag="--json")
    from crossent_jax.examples import seed_examples

    rows = seed_examples()
    print(FORMULAS)
    ws = max(len(r["source"]) for r in rows)
    wq = max(len(r["quantity"]) for r in rows)
    wf = max(len(r["formula"]) for r in rows)
    head = f"{'source':<{ws}} {'quantity':<{wq}} {'formula':<{wf}} {'article':>8} {'kit':>9}"
    print(f"{head}  agrees")
    for r in rows:
        agrees = {True: "yes", False: "NO", None: ""}[r["agrees_with_article"]]
        article = _fmt(r["article_value"], r["article_decimals"] or 3)
        print(
            f"{r['source']:<{ws}} {r['quantity']:<{wq}} {r['formula']:<{wf}} {article:>8} "
            f"{_fmt(r['kit_value']):>9}  {agrees}"
        )
    print()
    for r in rows:
        if r["agrees_with_article"] is False or (r["note"] and r["article_value"] is None):
            print(f"* {r['source']}: {r['note']}")
    write_json(args.json, {"records": rows})
    print(f"\nwrote {args.json}")
    return 0
