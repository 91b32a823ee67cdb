"""Every worked number of the two seed articles, recomputed with the kit.

The kit starts from two Japanese tutorial articles on cross-entropy; their formulas and worked
numbers are stated here (and in the README), so each can be checked without the articles:

* seed 000 — "クロスエントロピー誤差とは?" ("What is the cross-entropy error?"): for a
  dog/cat/bird classifier with the correct class "cat", E = −Σ_i t_i log y_i with a one-hot
  t. Case 1, y = (0.1, 0.8, 0.1): E = −log 0.8, printed 0.223. Case 2, y = (0.7, 0.1, 0.2):
  E = −log 0.1, printed 2.303, "more than 10 times" case 1.
* seed 001 — "【E資格対策】クロスエントロピーとは?" ("Cross-entropy for the E certificate"):
  formula 1, H(p,q) = −E_p[log q] (continuous; an "age" example with true ages
  p = N(35, σ), model q = N(40, σ), 100 points on ages 0..100, printed ≈ 0.336);
  formula 2, H(p,q) = −Σ p log q with p = (1, 0) (a dog), q = (0.8, 0.2), printed −0.223;
  formula 3, L = −(1/N) Σ_n t_n log y_n over a 5-image table with labels t = (1, 0, 1, 1, 0)
  and predictions y = (0.8, 0.2, 0.6, 0.9, 0.3): per-image values printed 0.223, 0, 0.511,
  0.105, 0 and the mean 0.168.

:func:`seed_examples` returns one record per number: the formula, the article's printed value
and its precision, the kit's value, the kit call that produced it, whether they agree at the
article's precision, and a note where the article is wrong or means something else.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from crossent_jax._binary import binary_cross_entropy
from crossent_jax._discrete import cross_entropy, entropy, kl_divergence
from crossent_jax._softmax import softmax_cross_entropy_with_integer_labels


def _record(source, quantity, article, kit, call, note="", decimals=3, formula=""):
    """One number: the article prints ``article`` with ``decimals`` decimals (None when the
    article prints none); they agree when the kit's value rounds to it."""
    kit = float(kit)
    agrees = None if article is None else round(kit, decimals) == round(article, decimals)
    return {
        "source": source,
        "quantity": quantity,
        "formula": formula,
        "article_value": article,
        "article_decimals": None if article is None else decimals,
        "kit_value": kit,
        "kit_call": call,
        "agrees_with_article": agrees,
        "note": note,
    }


def _seed000() -> list[dict]:
    # Classes (dog, cat, bird); the correct class is "cat" (index 1).
    probs = jnp.array([[0.1, 0.8, 0.1], [0.7, 0.1, 0.2]])
    # A softmax output y is reproduced exactly by the logits log y.
    losses = softmax_cross_entropy_with_integer_labels(jnp.log(probs), jnp.array([1, 1]))
    call = "softmax_cross_entropy_with_integer_labels(log(y), label=1)"
    return [
        _record(
            "seed 000, case 1",
            "E = −Σ t_i log y_i, y = (0.1, 0.8, 0.1), t = cat",
            0.223,
            losses[0],
            call,
            formula="−log 0.8",
        ),
        _record(
            "seed 000, case 2",
            "E = −Σ t_i log y_i, y = (0.7, 0.1, 0.2), t = cat",
            2.303,
            losses[1],
            call,
            formula="−log 0.1",
        ),
        _record(
            "seed 000, case 2 / case 1",
            "ratio of the two errors ('10倍以上')",
            None,
            losses[1] / losses[0],
            "ratio of the two values above",
            "the article says 'more than 10 times': 2.303 / 0.223 = 10.3, true",
            formula="log 0.1 / log 0.8",
        ),
    ]


def _seed001() -> list[dict]:
    p = jnp.array([1.0, 0.0])  # (dog, cat): the image is a dog
    q = jnp.array([0.8, 0.2])
    h = cross_entropy(p, q)
    out = [
        _record(
            "seed 001, formula 2",
            "H(p,q) = −Σ p log q, p = (1, 0), q = (0.8, 0.2)",
            -0.223,
            h,
            "cross_entropy(p, q)",
            "sign slip in the article: −(1·log 0.8 + 0·log 0.2) = −(−0.223) = +0.223; "
            "the article drops the sign of log 0.8 = −0.223 and prints −0.223. "
            "A cross-entropy is never negative.",
            formula="−(1·log 0.8 + 0·log 0.2)",
        ),
        _record(
            "seed 001, formula 2",
            "the same, as H(p) + KL(p‖q)",
            None,
            entropy(p) + kl_divergence(p, q),
            "entropy(p) + kl_divergence(p, q)",
            "the article's 'entropy plus relative entropy' definition: H(p) = 0 for a "
            "one-hot p, so all of H(p,q) is KL here",
            formula="0 + (1·log(1/0.8))",
        ),
    ]
    y = jnp.array([0.8, 0.2, 0.6, 0.9, 0.3])
    t = jnp.array([1, 0, 1, 1, 0])
    per = binary_cross_entropy(y, t, positive_only=True)
    for n, article in enumerate([0.223, 0.0, 0.511, 0.105, 0.0]):
        yn, tn = float(y[n]), int(t[n])
        out.append(
            _record(
                f"seed 001, formula 3, image {n + 1}",
                "L_n = −t_n log y_n",
                article,
                per[n],
                "binary_cross_entropy(y, t, positive_only=True)",
                formula=f"−{tn}·log {yn:g}",
            )
        )
    pos = binary_cross_entropy(y, t, positive_only=True, reduction="mean")
    full = binary_cross_entropy(y, t, reduction="mean")
    out += [
        _record(
            "seed 001, formula 3",
            "L = −(1/N) Σ t_n log y_n over the 5-image table",
            0.168,
            pos,
            "binary_cross_entropy(y, t, positive_only=True, reduction='mean')",
            "reproduced: this is the formula the article uses",
            formula="−(log 0.8 + log 0.6 + log 0.9)/5",
        ),
        _record(
            "seed 001, formula 3",
            "full binary cross-entropy of the same table",
            None,
            full,
            "binary_cross_entropy(y, t, reduction='mean')",
            "−(1/N) Σ [t log y + (1−t) log(1−y)] = 0.284. The article's formula keeps only "
            "the positive term, so the two cat images (t = 0) cost nothing whatever the "
            "model predicts; the full form charges them −log(1−0.2) = 0.223 and "
            "−log(1−0.3) = 0.357. A model answering y = 1 for every image would score "
            "0 with the article's formula.",
            formula="−(log 0.8 + log 0.8 + log 0.6 + log 0.9 + log 0.7)/5",
        ),
        _record(
            "seed 001",
            "'クロスエントロピー' vs '交差エントロピー'",
            None,
            math.nan,
            "—",
            "the article presents them as two different measures; 交差 is just the "
            "Japanese translation of 'cross': they are the same quantity, H(p,q).",
        ),
    ]
    return out


def seed_examples(*, include_continuous: bool = True) -> list[dict]:
    """All worked numbers of the seed articles as records (see the module docstring).

    Args:
      include_continuous: also add the continuous "age" example of seed 001
        (:func:`crossent_jax.continuous.age_seed_rows`).

    Returns:
      A list of dicts with keys ``source, quantity, article_value, kit_value, kit_call,
      agrees_with_article, note``.

    Example:
      >>> from crossent_jax.examples import seed_examples
      >>> rows = seed_examples(include_continuous=False)
      >>> [round(r["kit_value"], 3) for r in rows if r["quantity"].startswith("L = ")]
      [0.168]
    """
    rows = _seed000() + _seed001()
    if include_continuous:
        rows += _continuous_rows()
    return rows


def _continuous_rows() -> list[dict]:
    # the age example of seed 001, formula 1 (p = N(35, σ), q = N(40, σ)); imported here so
    # that the discrete rows do not pay for loading the continuous package
    from crossent_jax.continuous import age_seed_rows  # noqa: PLC0415

    return age_seed_rows()
