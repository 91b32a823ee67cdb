"""crossent_jax: a JAX research kit for cross-entropy.

The whole public API is re-exported here, one name per line.
"""

from crossent_jax._binary import binary_cross_entropy as binary_cross_entropy
from crossent_jax._binary import sigmoid_binary_cross_entropy as sigmoid_binary_cross_entropy
from crossent_jax._checked import checked as checked
from crossent_jax._discrete import cross_entropy as cross_entropy
from crossent_jax._discrete import entropy as entropy
from crossent_jax._discrete import kl_divergence as kl_divergence
from crossent_jax._fused import ForwardModeError as ForwardModeError
from crossent_jax._fused import linear_cross_entropy as linear_cross_entropy
from crossent_jax._softmax import smooth_labels as smooth_labels
from crossent_jax._softmax import softmax_cross_entropy as softmax_cross_entropy
from crossent_jax._softmax import (
    softmax_cross_entropy_with_integer_labels as softmax_cross_entropy_with_integer_labels,
)

__version__ = "0.1.0"

__all__ = [
    "binary_cross_entropy",
    "checked",
    "cross_entropy",
    "entropy",
    "ForwardModeError",
    "kl_divergence",
    "linear_cross_entropy",
    "sigmoid_binary_cross_entropy",
    "smooth_labels",
    "softmax_cross_entropy",
    "softmax_cross_entropy_with_integer_labels",
]
