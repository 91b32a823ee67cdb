"""Outputs of a run: ``history.json``, ``curves.png`` and ``reliability.png``."""

from __future__ import annotations

import numpy as np

from crossent_jax.train._metrics import ece, reliability_bins


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_history(history, path: str) -> None:
    """Write ``{"meta": ..., "config": ..., "epochs": [...]}`` through the kit's one JSON
    writer (:func:`crossent_jax._outputs.write_json`: strict JSON, atomic, non-finite
    metrics of a diverged run as ``null``, versions and devices in ``meta``)."""
    from crossent_jax._outputs import write_json

    write_json(path, history.to_dict())


def loss_label(config) -> str:
    """What the training loss of ``config`` is, for legends and titles, e.g.
    ``"softmax CE, smoothing 0.1, z-loss 0.001"``."""
    name = {"softmax_cross_entropy": "softmax CE", "sigmoid": "one-vs-rest sigmoid BCE",
            "mse": "MSE on probabilities"}[config.loss]
    parts = [name]
    if config.label_smoothing:
        parts.append(f"smoothing {config.label_smoothing:g}")
    if config.z_loss:
        parts.append(f"z-loss {config.z_loss:g}")
    return ", ".join(parts)


def run_title(config) -> str:
    """The settings that tell runs apart: model, data, loss, optimizer, learning rate."""
    hidden = ",".join(map(str, config.resolved_hidden_sizes)) or "-"
    return (f"{config.model}({hidden}) on {config.dataset}: {loss_label(config)}; "
            f"{config.optimizer} lr {config.learning_rate:g} ({config.schedule}), "
            f"seed {config.seed}")


def plot_curves(epochs: list[dict], path: str, *, title: str = "", config=None) -> None:
    """Loss and accuracy per epoch, side by side (integer epoch ticks).

    The training curve is the training *objective* (named after ``config``'s loss, with its
    smoothing and z-loss); ``test NLL`` and ``val NLL`` are the plain cross-entropy of the
    held-out sets, comparable across losses.
    """
    from matplotlib.ticker import MaxNLocator

    from crossent_jax._outputs import save_figure

    plt = _pyplot()
    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(11, 4.2))
    e = [r["epoch"] for r in epochs]
    objective = "training objective" if config is None else loss_label(config)
    has = lambda k: k in epochs[0]  # noqa: E731
    ax_l.plot(e, [r["train_loss"] for r in epochs], "o-", ms=3,
              label=f"train: {objective} (mean over the epoch)")
    if has("test_loss") and config is not None and (config.label_smoothing or config.z_loss
                                                     or config.loss != "softmax_cross_entropy"):
        ax_l.plot(e, [r["test_loss"] for r in epochs], "s--", ms=3, label=f"test: {objective}")
    if has("val_loss"):
        ax_l.plot(e, [r["val_loss"] for r in epochs], "^-", ms=3, label="validation NLL")
    if has("test_nll"):
        ax_l.plot(e, [r["test_nll"] for r in epochs], "s-", ms=3, label="test NLL (cross-entropy)")
    ax_l.set_ylabel("loss")
    ax_l.legend(fontsize="small")
    ax_a.plot(e, [r["train_accuracy"] for r in epochs], "o-", ms=3, label="train accuracy")
    if has("val_accuracy"):
        ax_a.plot(e, [r["val_accuracy"] for r in epochs], "^-", ms=3, label="validation accuracy")
    if has("test_accuracy"):
        ax_a.plot(e, [r["test_accuracy"] for r in epochs], "s-", ms=3, label="test accuracy")
    ax_a.set_ylabel("accuracy")
    ax_a.set_ylim(0, 1)
    ax_a.legend(fontsize="small", loc="lower right")
    for ax in (ax_l, ax_a):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    if title or config is not None:
        fig.suptitle(title or run_title(config), fontsize="medium")
    fig.tight_layout()
    save_figure(fig, path)


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
    from crossent_jax._outputs import save_figure

    save_figure(fig, path)
    return value
