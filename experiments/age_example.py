"""The seed's age example: p = N(35, σ) (true ages), q = N(40, σ) (model), σ = 5 and 10.

Hypothesis: every form of H(p, q) — closed form, each quadrature rule, the seed's 100-point
grid on [0, 100] — agrees (the grid to ~1e-11 at σ = 5; at σ = 10 it loses the mass below 0
and is off by ~2e-3), and none is "≈ 0.336": H(p, q) = ½ log(2πeσ²) + 12.5/σ² ≥ 3.5284 nats
for every σ (minimum at σ = 5). 0.336 is KL(p‖q) = 12.5/σ² in nats at σ ≈ 6.10.

Command:   PYTHONPATH=. python experiments/age_example.py
Runtime:   ~15 s on a laptop CPU.
Output:    experiments/results/age_example.json and age_example.png (p, q and the integrand
           −p log q for both σ).
"""

from __future__ import annotations

import os

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from crossent_jax import continuous as ct  # noqa: E402
from crossent_jax._outputs import write_json  # noqa: E402 - strict JSON, meta

CONFIG = {"sigmas": (5.0, 10.0), "num": 100}
RESULTS = os.path.join(os.path.dirname(__file__), "results")


def main():
    out = {"config": CONFIG, "cases": [ct.age_example(s, CONFIG["num"]) for s in CONFIG["sigmas"]],
           "what_0336_is": ct.age_0336_candidates()}
    os.makedirs(RESULTS, exist_ok=True)
    write_json(os.path.join(RESULTS, "age_example.json"), out)
    x = jnp.linspace(0.0, 100.0, 801)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    for ax, sigma in zip(axes, CONFIG["sigmas"], strict=True):
        p, q = ct.Normal(35.0, sigma), ct.Normal(40.0, sigma)
        ax.plot(x, jnp.exp(p.log_prob(x)), label="p = N(35, σ)")
        ax.plot(x, jnp.exp(q.log_prob(x)), label="q = N(40, σ)")
        ax.plot(x, -jnp.exp(p.log_prob(x)) * q.log_prob(x) / 10, label="−p log q  (÷10)")
        h = float(ct.cross_entropy(p, q))
        ax.set_title(f"σ = {sigma:g}: H(p,q) = {h:.4f} nats, KL = {12.5 / sigma**2:.3f}")
        ax.set_xlabel("age")
        ax.legend(fontsize=8)
    fig.savefig(os.path.join(RESULTS, "age_example.png"), dpi=80)
    for c in out["cases"]:
        print({k: round(v, 12) for k, v in c.items()})
    print(out["what_0336_is"])


if __name__ == "__main__":
    main()
