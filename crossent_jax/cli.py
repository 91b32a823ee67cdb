"""The ``crossent`` console script: a thin layer over library calls.

Each sub-command lives in a small module that provides ``add_arguments(parser)`` and
``run(args) -> int``; modules are imported lazily so ``crossent --help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "examples": (
        "crossent_jax._examples_cli",
        "recompute every worked number of the seed articles (writes JSON)",
    ),
    "bench": (
        "crossent_jax.bench._cli",
        "benchmark the kit against optax: interleaved medians, ratios, temp memory",
    ),
    "train": (
        "crossent_jax.train._cli",
        "train a classifier with the kit's losses on MNIST-1D and friends",
    ),
    "verify": (
        "crossent_jax.verify._cli",
        "verify the gradients of every loss (autodiff vs analytic vs finite differences)",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crossent", description="crossent_jax: cross-entropy research kit for JAX."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    module, _ = COMMANDS[args.command]
    try:
        return int(importlib.import_module(module).run(args) or 0)
    except (ValueError, TypeError, OSError) as e:  # OSError: unusable paths, full disks
        print(f"crossent {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"crossent {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
