"""Benchmark: the kit's integer-label softmax cross-entropy is as fast as optax's.

Hypothesis: forward + backward (``jax.value_and_grad`` of the mean loss) of
``crossent_jax.softmax_cross_entropy_with_integer_labels`` takes at most 1.00x the time of
``optax.softmax_cross_entropy_with_integer_labels`` at 4096x1024 and 1024x32768 (float32),
and label smoothing (α = 0.1) adds only a few ``batch × 4`` byte buffers of compiled
temporary memory (no one-hot, no ``[batch, K]`` temporary).

Command (same as ``crossent bench softmax --repeats 40 --dtypes float32,bfloat16
--json experiments/results/bench_softmax.json --plot experiments/results/bench_softmax.png``):

    python experiments/bench_softmax.py

Expected runtime: about 6-10 minutes (torch.compile included) on 2 CPU cores. Writes
``experiments/results/bench_softmax.json`` and ``.png``.
"""

import argparse
import os
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    repeats: int = 40
    dtypes: str = "float32,bfloat16"
    out: str = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def main(cfg: Config = Config()) -> int:
    from crossent_jax.bench import _cli

    parser = argparse.ArgumentParser()
    _cli.add_arguments(parser)
    base = os.path.join(cfg.out, "bench_softmax")
    args = parser.parse_args(
        ["softmax", "--repeats", str(cfg.repeats), "--dtypes", cfg.dtypes,
         "--json", base + ".json", "--plot", base + ".png"]
    )
    return _cli.run(args)


if __name__ == "__main__":
    sys.exit(main())
