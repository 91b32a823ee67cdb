"""The ``crossent`` console script: a thin layer over library calls.

Each sub-command lives in a small module that provides ``add_arguments(parser)`` and
``run(args) -> int``; modules are imported lazily so ``crossent --help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from crossent_jax._errors import InputError

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "examples": (
        "crossent_jax._examples_cli",
        "recompute every worked number of the seed articles (writes JSON)",
    ),
    "bench": (
        "crossent_jax.bench._cli",
        "benchmark every loss and the training loop: interleaved ratios, memory, roofline",
    ),
    "train": (
        "crossent_jax.train._cli",
        "train a classifier with the kit's losses on MNIST-1D and friends",
    ),
    "tune": (
        "crossent_jax.tune._cli",
        "hyperparameter search by validation cross-entropy: grid, random, bayes, population",
    ),
    "verify": (
        "crossent_jax.verify._cli",
        "verify the gradients of every loss (autodiff vs analytic vs finite differences)",
    ),
}


class _VersionAction(argparse.Action):
    """``--version``: the kit's version and the versions it runs on (imports jax lazily)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())
        parser.exit()


def version_text() -> str:
    """``crossent_jax X (jax Y, jaxlib Y, optax Z; backend B, N device(s): KIND)``."""
    from crossent_jax._outputs import run_metadata

    m = run_metadata()
    if "backend_error" in m:
        return f"crossent_jax {m['crossent_jax']} ({m['backend_error']})"
    return (
        f"crossent_jax {m['crossent_jax']} (jax {m['jax']}, jaxlib {m['jaxlib']}, optax "
        f"{m['optax']}; python {m['python']}; backend {m['backend']}, {m['device_count']} "
        f"device(s): {m['device_kind']})"
    )


def build_parser() -> argparse.ArgumentParser:
    # allow_abbrev=False everywhere: `--epoch 3` must be an error, not silently `--epochs 3`.
    parser = argparse.ArgumentParser(
        prog="crossent",
        description="crossent_jax: cross-entropy research kit for JAX.",
        allow_abbrev=False,
    )
    parser.add_argument(
        "--version", action=_VersionAction, help="print the kit, jax and optax versions and exit"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, allow_abbrev=False)
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
    except InputError as e:  # the kit's own validation: a usage error, one line
        print(f"crossent {args.command}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a full disk, a file removed under us: not a usage error
        print(f"crossent {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"crossent {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
