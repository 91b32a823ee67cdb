"""Outputs of a run: ``history.json``, ``curves.png`` and ``reliability.png``."""

from __future__ import annotations

import numpy as np

from crossent_jax._outputs import save_figure, write_json
from crossent_jax.train._metrics import ece, reliability_bins


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_history(history, path: str) -> None:
    """Write ``{"config": ..., "epochs": [...], "meta": ...}`` as strict JSON (atomically);
    non-finite metrics of a diverged run are written as ``null``, and ``meta`` records the
    kit, jax and optax versions, backend and devices."""
    write_json(path, history.to_dict())


def plot_curves(epochs: list[dict], path: str, *, title: str = "") -> None:
    """Loss (train and test) and accuracy (train and test) per epoch, side by side."""
    plt = _pyplot()
    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(10, 4))
    e = [r["epoch"] for r in epochs]
    ax_l.plot(e, [r["train_loss"] for r in epochs], "o-", ms=3, label="train loss")
    ax_l.plot(e, [r["test_loss"] for r in epochs], "s-", ms=3, label="test loss")
    ax_l.plot(e, [r["test_nll"] for r in epochs], ":", label="test NLL")
    ax_l.set_xlabel("epoch")
    ax_l.set_ylabel("loss")
    ax_l.legend()
    ax_a.plot(e, [r["train_accuracy"] for r in epochs], "o-", ms=3, label="train accuracy")
    ax_a.plot(e, [r["test_accuracy"] for r in epochs], "s-", ms=3, label="test accuracy")
    ax_a.set_xlabel("epoch")
    ax_a.set_ylabel("accuracy")
    ax_a.set_ylim(0, 1)
    ax_a.legend()
    for ax in (ax_l, ax_a):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
    plt.close(fig)


def reliability_axes(ax, probs, labels, *, num_bins: int = 15, title: str = "") -> float:
    """Draw a reliability diagram (accuracy per confidence bin vs. the diagonal) on ``ax``.

    Returns the ECE, which is also written in the title.
    """
    probs = np.asarray(probs)
    labels = np.asarray(labels)
    count, acc, conf = (np.asarray(a) for a in reliability_bins(probs, labels, num_bins=num_bins))
    value = float(ece(probs, labels, num_bins=num_bins))
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    width = 1.0 / num_bins
    nonempty = count > 0
    ax.bar(centres[nonempty], acc[nonempty], width=width, edgecolor="k", label="accuracy")
    # the gap between accuracy and mean confidence, above or below the accuracy bar
    low = np.minimum(acc, conf)[nonempty]
    ax.bar(
        centres[nonempty], np.abs(conf - acc)[nonempty], bottom=low, width=width,
        color="none", edgecolor="tab:red", hatch="//", label="gap to confidence",
    )
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (max probability)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{title}{' — ' if title else ''}ECE = {value:.3f} ({num_bins} bins)")
    ax.legend(loc="upper left", fontsize="small")
    return value


def plot_reliability(probs, labels, path: str, *, num_bins: int = 15, title: str = "") -> float:
    """Save a reliability diagram to ``path``; returns the ECE."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    value = reliability_axes(ax, probs, labels, num_bins=num_bins, title=title)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
    plt.close(fig)
    return value
