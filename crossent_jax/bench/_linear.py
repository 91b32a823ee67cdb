"""Linear suite: the classifier's matmul and the loss, forward + backward.

Each case is ``jax.value_and_grad`` (w.r.t. ``hidden`` and ``weight``) of the mean
integer-label cross-entropy of ``hidden [N, D] @ weight [D, V]``. Implementations:

* ``unfused`` (the reference): ``hidden @ weight`` then
  ``optax.softmax_cross_entropy_with_integer_labels`` — the ``[N, V]`` logits and their
  gradient exist in memory;
* ``ours``: ``crossent_jax.linear_cross_entropy`` (chunked: the logits never exist at once;
  ``chunk_size=None`` lets it choose);
* ``unfused_ours``: ``hidden @ weight`` then the kit's
  ``softmax_cross_entropy_with_integer_labels``.

Work: ``6·N·D·V`` floating-point operations (the logits, then the gradients of ``hidden`` and
``weight``: three ``N×D×V`` products); ``flops_fraction`` is that over the median time,
divided by the machine's measured float32 matmul throughput.
"""

from __future__ import annotations

from typing import Any

from crossent_jax._errors import InputValueError

NAME = "linear"
TITLE = "value_and_grad (hidden, weight) of mean CE(hidden @ weight, labels)"
MEASURED = "jax.value_and_grad(loss, argnums=(0, 1)), compiled once, interleaved round-robin"
SHAPE_FORMAT = "NxDxV"
DEFAULT_SHAPES: tuple[tuple[int, int, int], ...] = ((2048, 512, 32768),)
DEFAULT_DTYPES: tuple[str, ...] = ("float32",)
DTYPES = ("float32", "bfloat16")
DEFAULT_REPEATS = 10
REFERENCE = "unfused"
IMPLS = ("unfused", "ours", "unfused_ours")
DEFAULT_IMPLS = IMPLS
#: ours / unfused target (issue 12)
TARGET = ("ours", 1.10)


def parse_shape(text: str) -> tuple[int, int, int]:
    """``"4096x512x65536"`` -> ``(4096, 512, 65536)``."""
    dims = text.strip().lower().split("x")
    try:
        shape = tuple(int(d) for d in dims)
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise InputValueError(
            f"--shapes for bench linear expects NxDxV triples of positive ints, got {text!r}"
        )
    return shape


def shape_label(shape) -> str:
    return "x".join(str(s) for s in shape)


def estimate_bytes(shape, dtype: str, impls) -> int:
    """Peak bytes, generously: inputs and their gradients (weight and dW in float32), plus
    three float32 ``[N, V]`` buffers (logits, gradient, one temporary) for the unfused
    implementations, or 1/4 of one for ours."""
    n, d, v = shape
    s = 4 if dtype == "float32" else 2
    total = 2 * (n * d + d * v) * s + 2 * d * v * 4
    if any(i.startswith("unfused") for i in impls):
        total += 3 * n * v * 4
    else:
        total += n * v
    return total


def linear_loss():
    """``crossent_jax.linear_cross_entropy`` or None in a kit version without it."""
    import crossent_jax

    return getattr(crossent_jax, "linear_cross_entropy", None)


def make_inputs(shape, dtype: str, seed: int = 0, device=None):
    import jax
    import jax.numpy as jnp
    import numpy as np

    n, d, v = shape
    rng = np.random.default_rng(seed)
    h = jnp.asarray(rng.standard_normal((n, d), dtype=np.float32), dtype=dtype)
    w = jnp.asarray(rng.standard_normal((d, v), dtype=np.float32) / np.sqrt(d), dtype=dtype)
    y = jnp.asarray(rng.integers(0, v, size=(n,), dtype=np.int32))
    return jax.device_put((h, w, y), device)


def prepare(shape, dtype: str, impls, device, *, on_case=None):
    """Compile every selected implementation for one case; ``(prepared, skipped, work)``."""
    import jax
    import jax.numpy as jnp
    import optax

    from crossent_jax import softmax_cross_entropy_with_integer_labels as ce
    from crossent_jax.bench import _harness as h

    hidden, weight, labels = make_inputs(shape, dtype, device=device)
    fns: dict[str, Any] = {
        "unfused": lambda a, w, y: jnp.mean(
            optax.softmax_cross_entropy_with_integer_labels(a @ w, y)
        ),
        "unfused_ours": lambda a, w, y: jnp.mean(ce(a @ w, y)),
    }
    lce = linear_loss()
    if lce is not None:
        fns["ours"] = lambda a, w, y: lce(a, w, y)  # reduction="mean" is the default
    prepared, skipped = {}, {}
    for name in impls:
        if name not in fns:
            skipped[name] = "crossent_jax.linear_cross_entropy is not in this version of the kit"
            continue
        if on_case is not None:
            on_case(f"compile {shape_label(shape)} {dtype} {name}")
        grad = jax.value_and_grad(fns[name], argnums=(0, 1))
        prepared[name] = h.prepare_jax(grad, (hidden, weight, labels))
    n, d, v = shape
    work = {
        "bytes": None,
        "flops": 6 * n * d * v,
        "what": "flops: 6·N·D·V (logits, d hidden, d weight: three N×D×V matmuls)",
    }
    return prepared, skipped, work


def summarize_group(group: dict) -> dict:
    """Temp memory of ours against the unfused logits (``N·V·4`` bytes)."""
    n, _, v = group["shape"]
    logits = n * v * 4
    out: dict[str, Any] = {"logits_f32_bytes": logits, "lines": []}
    mem = (group["impls"].get("ours") or {}).get("memory")
    if mem:
        out["ours_temp_over_logits"] = mem["temp_size_in_bytes"] / logits
        out["lines"].append(
            f"temp(ours) = {mem['temp_size_in_bytes'] / 2**20:.1f} MiB ="
            f" {out['ours_temp_over_logits']:.3f} x the float32 logits"
            f" ({logits / 2**20:.0f} MiB)"
        )
    return out
