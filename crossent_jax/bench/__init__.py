"""Benchmarks: interleaved timings against optax and compiled memory (``crossent bench``)."""

from crossent_jax.bench._harness import compile_fn as compile_fn
from crossent_jax.bench._harness import memory_stats as memory_stats
from crossent_jax.bench._harness import paired_ratio as paired_ratio
from crossent_jax.bench._harness import summarize as summarize
from crossent_jax.bench._harness import time_interleaved as time_interleaved

__all__ = ["compile_fn", "memory_stats", "paired_ratio", "summarize", "time_interleaved"]
