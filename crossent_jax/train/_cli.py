"""``crossent train``: train a classifier, print a summary, write history.json and plots.

A thin layer over :func:`crossent_jax.train.fit`: every flag is a :class:`TrainConfig`
field, left at the config's default when not given (``TrainConfig`` validates them, so a bad
value is a one-line ``ValueError`` from the dispatcher, not a traceback).
"""

from __future__ import annotations

import argparse
import os
import time

from crossent_jax._errors import InputValueError

DEFAULT_OUT = os.path.join("runs", "train")


def parse_sizes(text: str) -> tuple[int, ...]:
    """``"256,256"`` -> ``(256, 256)``; ``""`` -> ``()``; ValueError on anything else."""
    text = text.strip()
    if not text:
        return ()
    try:
        return tuple(int(p) for p in text.split(","))
    except ValueError:
        raise InputValueError(
            f"--hidden-sizes expects comma-separated positive ints like 256,256, got {text!r}"
        ) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--dataset", help="mnist1d (default), digits or blobs")
    a("--model", help="linear, mlp (default) or cnn1d")
    a(
        "--hidden-sizes",
        type=str,
        help="comma-separated MLP widths / CNN channels (default 256,256 / 32,32,32)",
    )
    a("--loss", help="softmax_cross_entropy (default), sigmoid or mse")
    a("--label-smoothing", type=float, help="label smoothing alpha in [0, 1] (default 0)")
    a("--z-loss", type=float, help="z-loss coefficient >= 0 (default 0)")
    a("--optimizer", help="any optax optimizer name, e.g. adamw (default), sgd, momentum, lion")
    a("--learning-rate", "--lr", type=float, help="peak learning rate > 0 (default 3e-3)")
    a("--schedule", help="constant, cosine (default) or warmup_cosine")
    a("--weight-decay", type=float, help="weight decay >= 0 (default 1e-4)")
    a("--batch-size", type=int, help="examples per step (default 128)")
    a("--epochs", type=int, help="passes over the training set (default 40)")
    a("--seed", type=int, help="seed of initialisation and shuffling (default 0)")
    a("--validation-fraction", type=float,
      help="hold out this part of the training set for validation metrics (default 0)")
    a("--out", default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    a("--checkpoint-dir", help="save an orbax checkpoint after every epoch here")
    a(
        "--resume",
        action="store_true",
        help="continue from the latest checkpoint in --checkpoint-dir (from scratch if none)",
    )
    a("--no-plots", action="store_true", help="write history.json only")
    a("--quiet", action="store_true", help="no progress bars")


_FIELDS = (
    "dataset", "model", "loss", "label_smoothing", "z_loss", "optimizer", "learning_rate",
    "schedule", "weight_decay", "batch_size", "epochs", "seed", "validation_fraction",
    "checkpoint_dir",
)


def config_from_args(args: argparse.Namespace):
    """The :class:`TrainConfig` that the parsed flags describe."""
    from crossent_jax.train._config import TrainConfig

    kw = {f: getattr(args, f) for f in _FIELDS if getattr(args, f) is not None}
    if args.hidden_sizes is not None:
        kw["hidden_sizes"] = parse_sizes(args.hidden_sizes)
    if args.resume:
        kw["resume"] = True
    return TrainConfig(**kw)


#: files ``crossent train`` writes into ``--out`` (cleared first, so runs never mix).
OUTPUTS = ("history.json", "curves.png", "reliability.png")


def header(config, n_devices: int) -> str:
    """The settings that matter, on one line, printed before training."""
    hidden = ",".join(map(str, config.resolved_hidden_sizes)) or "-"
    return (
        f"crossent train: {config.model}({hidden}) on {config.dataset}, loss {config.loss} "
        f"(label smoothing {config.label_smoothing:g}, z-loss {config.z_loss:g}), "
        f"{config.optimizer} lr {config.learning_rate:g} ({config.schedule}, weight decay "
        f"{config.weight_decay:g}), batch {config.batch_size}, {config.epochs} epochs, "
        f"seed {config.seed}, {n_devices} device(s)"
    )


def run(args: argparse.Namespace) -> int:
    from crossent_jax import _outputs

    if args.epochs is not None and args.epochs < 1:
        raise InputValueError(f"--epochs must be >= 1, got {args.epochs}")
    config = config_from_args(args)  # validate every flag before importing jax
    # before training; clears every owned file, so --no-plots leaves no stale PNGs
    _outputs.prepare_dir(args.out, flag="--out", owned=OUTPUTS)

    import jax

    from crossent_jax.train._loop import fit
    from crossent_jax.train._plots import plot_curves, plot_reliability, run_title, save_history

    print(header(config, jax.device_count()), flush=True)
    t0 = time.perf_counter()
    history = fit(config, progress=not args.quiet)
    seconds = time.perf_counter() - t0
    paths = [os.path.join(args.out, "history.json")]
    save_history(history, paths[0])
    if not args.no_plots and history.epochs:
        paths.append(os.path.join(args.out, "curves.png"))
        plot_curves(history.epochs, paths[-1], config=config)
        paths.append(os.path.join(args.out, "reliability.png"))
        plot_reliability(history.test_probs, history.test_labels, paths[-1],
                         title=run_title(config))

    if history.resumed_from is not None:
        print(f"resumed from epoch {history.resumed_from} of {config.epochs} in "
              f"{config.checkpoint_dir}")
    f = history.final
    if f:
        print(
            f"epoch {f['epoch']}/{config.epochs}: train loss {f['train_loss']:.4f}  "
            f"test loss {f['test_loss']:.4f}  accuracy {f['test_accuracy']:.4f}  "
            f"NLL {f['test_nll']:.4f}  ECE {f['test_ece']:.4f}  Brier {f['test_brier']:.4f}"
        )
    print(f"wall time {seconds:.1f} s; wrote {', '.join(paths)}")
    return 0
