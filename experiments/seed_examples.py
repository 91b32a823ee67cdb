"""Every worked example of the two seed articles, recomputed with crossent_jax.

Hypothesis: each number the seeds print is reproducible with the kit's public functions,
except where the article is wrong (a sign slip giving −0.223; a "cross entropy vs 交差
エントロピー" distinction that does not exist; an "≈ 0.336" for the Gaussian age example that no
σ gives as a cross-entropy — H(N(35,σ), N(40,σ)) ≥ 3.5284 nats — and that matches KL(p‖q) in
nats at σ ≈ 6.10); the records say so plainly.

Command:   python experiments/seed_examples.py        (same as `crossent examples`)
Runtime:   ~10 s on a laptop CPU (mostly JAX start-up and compilation).
Output:    experiments/results/seed_examples.json
"""

from __future__ import annotations

import argparse
import os
import sys

from crossent_jax import _examples_cli

# the experiment writes the committed results (the CLI defaults to runs/examples/)
CONFIG = {"json": os.path.join(os.path.dirname(__file__), "results", "seed_examples.json")}

if __name__ == "__main__":
    sys.exit(_examples_cli.run(argparse.Namespace(**CONFIG)))
