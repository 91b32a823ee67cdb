"""``crossent examples``: recompute every number of the seed articles and write JSON."""

from __future__ import annotations

import argparse
import json
import math
import os

DEFAULT_JSON = os.path.join("experiments", "results", "seed_examples.json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        default=DEFAULT_JSON,
        metavar="PATH",
        help=f"where to write the records (default: {DEFAULT_JSON})",
    )


def _fmt(x) -> str:
    if x is None:
        return "—"
    if isinstance(x, float) and math.isnan(x):
        return "—"
    return f"{x:.4f}"


def run(args: argparse.Namespace) -> int:
    from crossent_jax.examples import seed_examples

    rows = seed_examples()
    width = max(len(r["quantity"]) for r in rows)
    print(f"{'source':<32} {'quantity':<{width}} {'article':>9} {'kit':>9}  agrees")
    for r in rows:
        agrees = {True: "yes", False: "NO", None: ""}[r["agrees_with_article"]]
        print(
            f"{r['source']:<32} {r['quantity']:<{width}} {_fmt(r['article_value']):>9} "
            f"{_fmt(r['kit_value']):>9}  {agrees}"
        )
    print()
    for r in rows:
        if r["agrees_with_article"] is False or (r["note"] and r["article_value"] is None):
            print(f"* {r['source']}: {r['note']}")
    directory = os.path.dirname(args.json)
    if directory:
        os.makedirs(directory, exist_ok=True)
    clean = [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        for r in rows
    ]
    with open(args.json, "w", encoding="utf-8") as f:
        json.dump({"records": clean}, f, ensure_ascii=False, indent=2)
    print(f"\nwrote {args.json}")
    return 0
