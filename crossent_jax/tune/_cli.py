"""``crossent tune``: hyperparameter search judged by validation cross-entropy.

A thin layer over :func:`crossent_jax.tune.search`: the base run is described by the same
flags as ``crossent train`` (minus checkpoints), the space by ``--space FILE.json`` or the
default space (learning rate, weight decay, label smoothing, z-loss).
"""

from __future__ import annotations

import argparse
import json
import os
import time

from crossent_jax._errors import InputValueError

DEFAULT_OUT = os.path.join("runs", "tune")
DEFAULT_EPOCHS = 20
DEFAULT_BUDGET = 16
_FIELDS = ("dataset", "model", "loss", "optimizer", "schedule", "batch_size", "epochs",
           "validation_fraction")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--method", default="random", help="grid, random (default), bayes or population")
    a("--budget", type=int, default=DEFAULT_BUDGET,
      help=f"number of trials (default {DEFAULT_BUDGET})")
    a("--epochs", type=int, default=DEFAULT_EPOCHS,
      help=f"epochs per trial (default {DEFAULT_EPOCHS})")
    a("--space", help="JSON file: {\"learning_rate\": {\"log_uniform\": [1e-4, 1e-2]}, "
                      "\"optimizer\": {\"choice\": [\"adamw\", \"sgd\"]}, ...} (default: "
                      "learning rate, weight decay, label smoothing, z-loss)")
    a("--seed", type=int, default=0, help="seed of the search's sampler (default 0)")
    a("--objective", default="best",
      help="best (lowest validation CE over the epochs, default) or final (last epoch)")
    a("--out", default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    a("--dataset", help="mnist1d (default), digits or blobs")
    a("--model", help="linear, mlp (default) or cnn1d")
    a("--hidden-sizes", type=str, help="comma-separated MLP widths / CNN channels")
    a("--loss", help="softmax_cross_entropy (default), sigmoid or mse")
    a("--optimizer", help="any optax optimizer name (default adamw)")
    a("--schedule", help="constant, cosine (default) or warmup_cosine")
    a("--batch-size", type=int, help="examples per step (default 128)")
    a("--validation-fraction", type=float, default=0.2,
      help="part of the training set held out to judge trials (default 0.2)")
    a("--quiet", action="store_true", help="no progress bar")


def load_space(path: str) -> dict:
    """Read a ``--space`` file (see :func:`crossent_jax.tune.space_from_json`)."""
    from crossent_jax.tune._space import space_from_json

    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as e:
        raise InputValueError(f"--space {path!r}: cannot read it: {e.strerror or e}") from None
    except json.JSONDecodeError as e:
        raise InputValueError(f"--space {path!r}: invalid JSON: {e}") from None
    return space_from_json(doc)


def base_from_args(args: argparse.Namespace):
    from crossent_jax.train._cli import parse_sizes
    from crossent_jax.train._config import TrainConfig

    kw = {f: getattr(args, f) for f in _FIELDS if getattr(args, f) is not None}
    if args.hidden_sizes is not None:
        kw["hidden_sizes"] = parse_sizes(args.hidden_sizes)
    return TrainConfig(**kw)


def run(args: argparse.Namespace) -> int:
    from crossent_jax import _outputs
    from crossent_jax.tune._search import METHODS, OBJECTIVES, OUTPUTS, _check_args
    from crossent_jax.tune._space import check_space, default_space

    if args.method not in METHODS:
        raise InputValueError(f"--method must be one of {', '.join(METHODS)}; got {args.method!r}")
    if args.budget < 1:
        raise InputValueError(f"--budget must be >= 1 trial, got {args.budget}")
    if args.epochs < 1:
        raise InputValueError(f"--epochs must be >= 1, got {args.epochs}")
    if args.seed < 0:
        raise InputValueError(f"--seed must be >= 0, got {args.seed}")
    if args.objective not in OBJECTIVES:
        raise InputValueError(f"--objective must be best or final, got {args.objective!r}")
    base = base_from_args(args)
    space = check_space(base, load_space(args.space) if args.space else default_space())
    _check_args(base, args.method, args.budget, args.seed, args.objective)
    _outputs.prepare_dir(args.out, flag="--out", owned=OUTPUTS)  # before any training

    from crossent_jax.tune._search import search

    hidden = ",".join(map(str, base.resolved_hidden_sizes)) or "-"
    print(
        f"crossent tune: {args.method} search, {args.budget} trials of {base.model}({hidden}) "
        f"on {base.dataset}, loss {base.loss}, {base.optimizer} ({base.schedule}), "
        f"{base.epochs} epochs; judged by validation cross-entropy ({args.objective} epoch) "
        f"on {base.validation_fraction:g} of the training set; space: "
        f"{', '.join(sorted(space))}",
        flush=True,
    )
    t0 = time.perf_counter()
    study = search(base, space, method=args.method, budget=args.budget, seed=args.seed,
                   progress=not args.quiet, out=args.out, objective=args.objective)
    seconds = time.perf_counter() - t0
    states = [t.state for t in study.trials]
    print(f"{len(states)} trials: {states.count('complete')} complete, "
          f"{states.count('pruned')} pruned, {states.count('failed')} failed")
    best = study.best
    if best is None:
        print("no trial completed")
    else:
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in best.params.items())
        print(f"best: trial {best.number}, validation CE {best.value:.4f}: {params}")
        t = study.test
        print(f"best retrained, on the test set: accuracy {t['accuracy']:.4f}  NLL "
              f"{t['nll']:.4f}  ECE {t['ece']:.4f}  Brier {t['brier']:.4f}")
    paths = [os.path.join(args.out, n) for n in OUTPUTS]
    print(f"wall time {seconds:.1f} s; wrote {', '.join(p for p in paths if os.path.exists(p))}")
    return 0
