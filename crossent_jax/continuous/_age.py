"""The seed's "age" example: true ages p = N(35, σ), model q = N(40, σ), ages 0..100.

Seed 001 computes H(p, q) = −E_p[log q] for this pair "on 100 points from 0 to 100" and
reports "≈ 0.336". For two Normals with the same σ,

    H(p, q) = ½ log(2π e σ²) + d²/(2σ²),   d = 40 − 35 = 5,

whose minimum over σ is at σ = d = 5 (dH/dσ = 1/σ − d²/σ³), where H = ½ log(2π e·25) + ½
= 3.5284 nats (5.0904 bits). So 0.336 is not a cross-entropy of these Gaussians in nats or
bits for any σ. What it can be: KL(p‖q) = d²/(2σ²) = 12.5/σ² equals 0.336 nats at σ ≈ 6.10
(and 0.336 bits at σ ≈ 7.33); :func:`age_0336_candidates` lists the quantities checked.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from crossent_jax.continuous._cross_entropy import (
    cross_entropy,
    entropy,
    grid_cross_entropy,
    kl_divergence,
)
from crossent_jax.continuous._distributions import Normal

TRUE_MEAN, MODEL_MEAN = 35.0, 40.0
_RULES = ("gauss_hermite", "gauss_legendre", "tanh_sinh", "trapezoid", "simpson")


def age_example(sigma: float, num: int = 100) -> dict:
    """Every form of H(p, q) for p = N(35, σ), q = N(40, σ), in nats.

    Returns a dict with ``closed_form``, one entry per quadrature rule (default points),
    ``grid`` (the seed's procedure: ``num`` points on [0, 100], Riemann sum with Δx),
    ``grid_sum_without_dx`` (the same sum without Δx, as the seed's step 3 literally reads),
    ``entropy_p``, ``kl`` and ``kl_bits``.

    Computed in float64 whatever the global ``jax_enable_x64`` setting.

    >>> r = age_example(5.0)
    >>> round(r["closed_form"], 4), round(r["kl"], 4)
    (3.5284, 0.5)
    """
    with jax.enable_x64(True):
        return _age_example(sigma, num)


def _age_example(sigma, num):
    p, q = Normal(TRUE_MEAN, sigma), Normal(MODEL_MEAN, sigma)
    out = {"sigma": float(sigma), "closed_form": float(cross_entropy(p, q, method="closed_form"))}
    for rule in _RULES:
        out[rule] = float(cross_entropy(p, q, method=rule))
    out["grid"] = float(grid_cross_entropy(p, q, low=0.0, high=100.0, num=num))
    x = jnp.linspace(0.0, 100.0, num)
    out["grid_sum_without_dx"] = float(-jnp.sum(jnp.exp(p.log_prob(x)) * q.log_prob(x)))
    out["entropy_p"] = float(entropy(p))
    out["kl"] = float(kl_divergence(p, q))
    out["kl_bits"] = out["kl"] / math.log(2)
    return out


def age_0336_candidates(target: float = 0.336) -> dict:
    """What the seed's "≈ 0.336" can and cannot be (closed forms; d = 5).

    >>> c = age_0336_candidates()
    >>> round(c["min_cross_entropy_nats"], 4), c["argmin_sigma"]
    (3.5284, 5.0)
    >>> round(c["sigma_kl_nats"], 2), round(c["sigma_kl_bits"], 2)
    (6.1, 7.33)
    """
    d2 = (MODEL_MEAN - TRUE_MEAN) ** 2
    hmin = 0.5 * math.log(2 * math.pi * math.e * d2) + 0.5
    return {
        "target": target,
        "min_cross_entropy_nats": hmin,
        "min_cross_entropy_bits": hmin / math.log(2),
        "argmin_sigma": math.sqrt(d2),
        # KL = d²/(2σ²) = target
        "sigma_kl_nats": math.sqrt(d2 / (2 * target)),
        "sigma_kl_bits": math.sqrt(d2 / (2 * target * math.log(2))),
        # entropy ½ log(2πeσ²) = target: not an age spread
        "sigma_entropy_nats": math.exp(target - 0.5 * math.log(2 * math.pi * math.e)),
        # Bhattacharyya distance d²/(8σ²) = target (not an entropy at all)
        "sigma_bhattacharyya": math.sqrt(d2 / (8 * target)),
    }


def age_seed_rows() -> list[dict]:
    """Records for :func:`crossent_jax.examples.seed_examples` (same keys)."""
    r5, r10 = age_example(5.0), age_example(10.0)
    c = age_0336_candidates()

    def rec(quantity, article, kit, call, note="", formula=""):
        agrees = None if article is None else round(kit, 3) == round(article, 3)
        return {
            "source": "seed 001, formula 1 (age)",
            "quantity": quantity,
            "formula": formula,
            "article_value": article,
            "article_decimals": None if article is None else 3,
            "kit_value": float(kit),
            "kit_call": call,
            "agrees_with_article": agrees,
            "note": note,
        }

    call = "continuous.cross_entropy(Normal(35, σ), Normal(40, σ))"
    return [
        rec("H(p,q), p = N(35, 5), q = N(40, 5)", 0.336, r5["closed_form"], call,
            "not reproducible: H(p,q) = ½log(2πeσ²) + 12.5/σ² is at least 3.5284 nats "
            "(minimum at σ = 5) and 5.0904 bits for every σ. The article's 0.336 matches "
            f"KL(p‖q) = 12.5/σ² in nats at σ ≈ {c['sigma_kl_nats']:.2f} (or in bits at "
            f"σ ≈ {c['sigma_kl_bits']:.2f}); it never states σ.",
            formula="½ log(2πe·5²) + 5²/(2·5²)"),
        rec("H(p,q), p = N(35, 10), q = N(40, 10)", None, r10["closed_form"], call,
            formula="½ log(2πe·10²) + 5²/(2·10²)"),
        rec("H(p,q), σ = 5, 100-point grid on [0, 100]", None, r5["grid"],
            "continuous.grid_cross_entropy(p, q, low=0, high=100, num=100)",
            "the article's procedure (Riemann sum, with Δx = 100/99) agrees with the closed "
            "form to ~1e-11: the grid resolves σ = 5 and [0, 100] holds all but 1e-12 of the mass",
            formula="−Σ_i p(x_i) log q(x_i) Δx, x_i = 100·i/99"),
        rec("KL(p‖q), σ = 5", None, r5["kl"], "continuous.kl_divergence(p, q)",
            "H(p,q) = H(p) + KL = 3.0284 + 0.5", formula="(35 − 40)²/(2·5²)"),
        rec("KL(p‖q), σ = 10", None, r10["kl"], "continuous.kl_divergence(p, q)",
            formula="(35 − 40)²/(2·10²)"),
        rec("σ at which KL(p‖q) = 0.336 nats", None, c["sigma_kl_nats"],
            "sqrt(12.5 / 0.336)", "the only Gaussian-pair reading of 0.336 with an age-like σ",
            formula="√(12.5/0.336)"),
    ]
