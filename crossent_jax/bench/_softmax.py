"""Softmax suite: integer-label softmax cross-entropy, forward + backward.

Each case is ``jax.value_and_grad`` of the mean loss over ``[B, K]`` logits, compiled once.
Implementations:

* ``optax`` (the reference): ``optax.softmax_cross_entropy_with_integer_labels``;
* ``ours``: ``crossent_jax.softmax_cross_entropy_with_integer_labels``;
* ``naive``: ``-log_softmax(x)[label]`` via ``jax.nn.log_softmax`` and ``take_along_axis``;
* ``torch``: ``torch.nn.functional.cross_entropy`` + ``backward()`` under ``torch.compile``
  (falls back to eager, with a note, where compiling fails); ``torch_eager`` without it;
* ``optax_again``: optax against itself (a separate executable), the A/A noise floor;
* ``ours_ls0.1``, ``ours_zloss``, ``ours_ignore``: what label smoothing 0.1, z-loss 1e-4 and
  ``ignore_index`` (10% of labels ignored) cost;
* ``optax_onehot_ls``: optax's probability-label loss on smoothed one-hot labels, the
  memory a one-hot formulation of smoothing needs.

Minimal memory traffic of forward + backward: read the logits once and write their
gradient once, ``2·B·K·itemsize`` bytes; ``bandwidth_fraction`` is that over the median
time, divided by the machine's measured read+write bandwidth (the memory roofline).
"""

from __future__ import annotations

from typing import Any

from crossent_jax._errors import InputValueError

NAME = "softmax"
TITLE = "value_and_grad of the mean integer-label softmax cross-entropy, [B, K] logits"
MEASURED = "jax.value_and_grad(mean loss), compiled once, interleaved round-robin"
SHAPE_FORMAT = "BxK"
DEFAULT_SHAPES: tuple[tuple[int, int], ...] = ((4096, 1024), (1024, 32768))
DEFAULT_DTYPES: tuple[str, ...] = ("float32",)
DTYPES = ("float32", "bfloat16", "float16")
DEFAULT_REPEATS = 30
REFERENCE = "optax"
IMPLS = (
    "optax", "ours", "naive", "torch", "torch_eager", "optax_again", "ours_ls0.1",
    "ours_zloss", "ours_ignore", "optax_onehot_ls",
)
DEFAULT_IMPLS = (
    "optax", "ours", "naive", "torch", "optax_again", "ours_ls0.1", "ours_zloss",
    "ours_ignore", "optax_onehot_ls",
)
#: ours / optax target (issue 12)
TARGET = ("ours", 1.00)
IGNORE = -100


def parse_shape(text: str) -> tuple[int, int]:
    """``"4096x1024"`` -> ``(4096, 1024)``."""
    dims = text.strip().lower().split("x")
    try:
        shape = tuple(int(d) for d in dims)
    except ValueError:
        shape = ()
    if len(shape) != 2 or min(shape) < 1:
        raise InputValueError(f"--shapes expects BxK pairs of positive ints, got {text!r}")
    return shape


def shape_label(shape) -> str:
    return "x".join(str(s) for s in shape)


def itemsize(dtype: str) -> int:
    return 4 if dtype == "float32" else 2


def estimate_bytes(shape, dtype: str, impls) -> int:
    """Peak bytes, generously: logits and gradient in ``dtype``, three float32 ``[B, K]``
    temporaries per compiled loss, plus a one-hot pair for ``optax_onehot_ls`` and torch's
    own copies (logits, gradient, softmax) for the torch implementations."""
    b, k = shape
    n = b * k
    total = n * (2 * itemsize(dtype) + 3 * 4)
    if "optax_onehot_ls" in impls:
        total += 2 * n * itemsize(dtype)
    if any(i.startswith("torch") for i in impls):
        total += 3 * n * itemsize(dtype)
    return total


def _losses() -> dict[str, Any]:
    """name -> (logits, labels) -> scalar mean loss (the jax implementations)."""
    import jax
    import jax.numpy as jnp
    import optax

    from crossent_jax import softmax_cross_entropy_with_integer_labels as ce

    def naive(x, y):
        logp = jax.nn.log_softmax(x.astype(jnp.float32), axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=-1))

    def onehot_ls(x, y):
        t = optax.smooth_labels(jax.nn.one_hot(y, x.shape[-1], dtype=x.dtype), 0.1)
        return jnp.mean(optax.softmax_cross_entropy(x, t))

    def opt(x, y):
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(x, y))

    return {
        "optax": opt,
        "ours": lambda x, y: jnp.mean(ce(x, y)),
        "naive": naive,
        "optax_again": lambda x, y: opt(x, y),
        "ours_ls0.1": lambda x, y: jnp.mean(ce(x, y, label_smoothing=0.1)),
        "ours_zloss": lambda x, y: jnp.mean(ce(x, y, z_loss=1e-4)),
        "ours_ignore": lambda x, y: ce(x, y, ignore_index=IGNORE, reduction="mean"),
        "optax_onehot_ls": onehot_ls,
    }


def make_inputs(shape, dtype: str, seed: int = 0, device=None):
    """Random normal logits ``[B, K]``, labels, and labels with ~10% ``IGNORE``."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    b, k = shape
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.standard_normal((b, k), dtype=np.float32), dtype=dtype)
    y = rng.integers(0, k, size=(b,), dtype=np.int32)
    y_ign = np.where(rng.random(b) < 0.1, IGNORE, y).astype(np.int32)
    return jax.device_put((x, jnp.asarray(y), jnp.asarray(y_ign)), device)


def torch_impl(x, y, *, compiled: bool, device):
    """A :class:`Prepared` for ``torch.nn.functional.cross_entropy`` forward + backward on
    copies of ``x``, ``y``; ``(None, reason)`` if torch is missing or cannot run here."""
    import time

    import numpy as np

    from crossent_jax.bench._harness import Prepared

    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return None, "PyTorch is not installed"
    if device.platform == "cpu":
        tdev = "cpu"
    elif device.platform == "gpu" and torch.cuda.is_available():
        tdev = "cuda"
    else:
        return None, f"PyTorch has no {device.platform} device here"
    tdtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[
        str(x.dtype)
    ]
    xt = torch.from_numpy(np.array(x, dtype=np.float32, copy=True)).to(tdev, tdtype)
    xt.requires_grad_(True)
    yt = torch.from_numpy(np.array(y, dtype=np.int64, copy=True)).to(tdev)
    sync = torch.cuda.synchronize if tdev == "cuda" else (lambda: None)

    def loss(a, b):
        return F.cross_entropy(a, b)

    def make(fn):
        def call():
            xt.grad = None
            value = fn(xt, yt)
            value.backward()
            sync()
            return None

        return call

    note = None
    if compiled:
        t0 = time.perf_counter()
        try:
            call = make(torch.compile(loss))
            call()
            note = f"torch.compile, {torch.get_num_threads()} threads"
            return Prepared(call, time.perf_counter() - t0, None, note), None
        except Exception as e:  # noqa: BLE001 - any compiler failure: fall back, say so
            note = f"torch eager (torch.compile failed: {type(e).__name__}: {str(e)[:80]})"
    note = note or "torch eager"
    return Prepared(make(loss), None, None, f"{note}, {torch.get_num_threads()} threads"), None


def prepare(shape, dtype: str, impls, device, *, on_case=None):
    """Compile every selected implementation for one case; returns
    ``(prepared, skipped, work)``."""
    import jax

    from crossent_jax.bench import _harness as h

    x, y, y_ign = make_inputs(shape, dtype, device=device)
    losses = _losses()
    prepared, skipped = {}, {}
    for name in impls:
        if on_case is not None:
            on_case(f"compile {shape_label(shape)} {dtype} {name}")
        if name.startswith("torch"):
            p, why = torch_impl(x, y, compiled=name == "torch", device=device)
            if p is None:
                skipped[name] = why
            else:
                prepared[name] = p
            continue
        args = (x, y_ign if name == "ours_ignore" else y)
        prepared[name] = h.prepare_jax(jax.value_and_grad(losses[name]), args)
    b, k = shape
    work = {
        "bytes": 2 * b * k * itemsize(dtype),
        "flops": None,
        "what": "bytes: read the logits once, write their gradient once (2·B·K·itemsize)",
    }
    return prepared, skipped, work


def summarize_group(group: dict) -> dict:
    """Memory that label smoothing adds (``ours_ls0.1`` − ``ours``), in ``B × 4`` buffers."""
    impls = group["impls"]
    out: dict[str, Any] = {"lines": []}
    plain = (impls.get("ours") or {}).get("memory")
    smooth = (impls.get("ours_ls0.1") or {}).get("memory")
    if plain and smooth:
        diff = smooth["temp_size_in_bytes"] - plain["temp_size_in_bytes"]
        buffers = diff / (group["shape"][0] * 4)
        out["smoothing_temp_diff_bytes"] = diff
        out["smoothing_temp_diff_in_batch_f32_buffers"] = buffers
        out["lines"].append(
            f"temp(ours_ls0.1) - temp(ours) = {diff} B = {buffers:.2f} x (B x 4 B)"
        )
    aa = impls.get("optax_again")
    if aa is not None:
        out["lines"].append(f"A/A control optax_again / optax = {aa['ratio']:.3f}")
    return out
