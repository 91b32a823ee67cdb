"""crossent_jax: a JAX research kit for cross-entropy.

The whole public API is re-exported here, one name per line.
"""

__version__ = "0.1.0"

__all__: list[str] = []
