"""Session-wide JAX settings: float64 on, strict rank promotion (Kidger-style)."""

import jax

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")
