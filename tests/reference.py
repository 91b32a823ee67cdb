"""Naive float64 NumPy reference implementations, written straight from the definitions.

Deliberately unoptimised (explicit one-hots, explicit softmax, Python loops where that is
clearer) so that they share no code and no numerical trick with the kit.
"""

from __future__ import annotations

import numpy as np


def softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def lse(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, np.float64)
    m = z.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))[..., 0]


def softmax_ce(z, t, alpha=0.0, zeta=0.0, cap=None):
    """-Σ t̃ log softmax(x) + ζ lse(x)², x = cap·tanh(z/cap); rows along the last axis."""
    z = np.asarray(z, np.float64)
    t = np.asarray(t, np.float64)
    x = z if cap is None else cap * np.tanh(z / cap)
    k = z.shape[-1]
    tt = (1 - alpha) * t + alpha / k
    out = np.zeros(z.shape[:-1])
    for idx in np.ndindex(*z.shape[:-1]):
        q = softmax(x[idx])
        out[idx] = -sum(tt[idx][j] * np.log(q[j]) for j in range(k)) + zeta * lse(x[idx]) ** 2
    return out


def one_hot(labels, k):
    labels = np.asarray(labels)
    out = np.zeros(labels.shape + (k,))
    for idx in np.ndindex(*labels.shape):
        out[idx + (labels[idx],)] = 1.0
    return out


def softmax_ce_grad(z, t, alpha=0.0, zeta=0.0):
    """The analytic gradient (1 + 2ζ lse) softmax − t̃ (labels summing to one)."""
    z = np.asarray(z, np.float64)
    tt = (1 - alpha) * np.asarray(t, np.float64) + alpha / z.shape[-1]
    return (1 + 2 * zeta * lse(z))[..., None] * softmax(z) - tt


def cross_entropy(p, q):
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    out = np.zeros(p.shape[:-1])
    for idx in np.ndindex(*p.shape[:-1]):
        s = 0.0
        for j in range(p.shape[-1]):
            if p[idx][j] > 0:
                s -= p[idx][j] * (np.log(q[idx][j]) if q[idx][j] > 0 else -np.inf)
        out[idx] = s
    return out


def sigmoid_bce(x, t, pos_weight=1.0):
    x, t = np.asarray(x, np.float64), np.asarray(t, np.float64)
    p = 1 / (1 + np.exp(-x))
    return -(pos_weight * t * np.log(p) + (1 - t) * np.log(1 - p))


def bce(y, t):
    y, t = np.asarray(y, np.float64), np.asarray(t, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(t > 0, t * np.log(y), 0.0)
        b = np.where(t < 1, (1 - t) * np.log(1 - y), 0.0)
    return -(a + b)
