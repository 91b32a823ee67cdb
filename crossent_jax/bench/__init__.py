"""Benchmarks (``crossent bench``): interleaved timings against reference implementations,
compiled memory, and fractions of the device's measured bandwidth and matmul throughput."""

from crossent_jax.bench._harness import compile_fn as compile_fn
from crossent_jax.bench._harness import machine_peaks as machine_peaks
from crossent_jax.bench._harness import memory_stats as memory_stats
from crossent_jax.bench._harness import paired_ratio as paired_ratio
from crossent_jax.bench._harness import summarize as summarize
from crossent_jax.bench._harness import time_interleaved as time_interleaved
from crossent_jax.bench._run import SUITES as SUITES
from crossent_jax.bench._run import format_table as format_table
from crossent_jax.bench._run import plot_figure as plot_figure
from crossent_jax.bench._run import run_suite as run_suite

__all__ = [
    "SUITES",
    "compile_fn",
    "format_table",
    "machine_peaks",
    "memory_stats",
    "paired_ratio",
    "plot_figure",
    "run_suite",
    "summarize",
    "time_interleaved",
]
