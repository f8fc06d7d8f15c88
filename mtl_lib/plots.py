"""Matplotlib figures the notebooks share: data tours and attention maps.

Each function draws into a given ``ax`` (or makes a figure) and returns the
figure, so a notebook can show it, save it, or put several side by side.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .stats import mean_sd


def _axes(ax=None, figsize=(5, 4)):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    return ax.figure, ax


def plot_attention(probs, tokens: Sequence[str], ax=None, title: str = ""):
    """Heat-map of one head's attention: row = query token, column = key token.

    probs: (T, T) array or tensor, each row summing to 1.
    """
    probs = np.asarray(probs.detach().cpu() if hasattr(probs, "detach") else probs)
    T = len(tokens)
    fig, ax = _axes(ax, figsize=(0.35 * T + 2, 0.35 * T + 1.5))
    im = ax.imshow(probs[:T, :T], cmap="viridis", vmin=0, vmax=max(probs[:T, :T].max(), 1e-6))
    ax.set_xticks(range(T), tokens, rotation=90, fontsize=8)
    ax.set_yticks(range(T), tokens, fontsize=8)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return fig


def plot_attention_grid(attentions, tokens: Sequence[str], layers: Sequence[int] | None = None,
                        heads: Sequence[int] | None = None):
    """A grid of heat-maps (rows: layers, columns: heads) for one sentence.

    attentions: a list over layers of (nh, T, T) tensors (one sentence of a batch).
    """
    layers = list(range(len(attentions))) if layers is None else list(layers)
    heads = list(range(min(4, attentions[0].shape[0]))) if heads is None else list(heads)
    T = len(tokens)
    fig, axes = plt.subplots(len(layers), len(heads), squeeze=False,
                             figsize=(2.2 * len(heads), 2.2 * len(layers)))
    for i, layer in enumerate(layers):
        for j, head in enumerate(heads):
            ax = axes[i, j]
            ax.imshow(np.asarray(attentions[layer][head, :T, :T].detach().cpu()), cmap="viridis")
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_title(f"head {head}", fontsize=9)
            if j == 0:
                ax.set_ylabel(f"layer {layer}", fontsize=9)
    fig.suptitle(" ".join(tokens) if T <= 14 else " ".join(tokens[:14]) + " …", fontsize=9)
    fig.tight_layout()
    return fig


def plot_label_distributions(frames: dict[str, pd.DataFrame], titles: dict[str, str] | None = None):
    """One bar chart (or histogram for real-valued labels) per task's training labels."""
    fig, axes = plt.subplots(1, len(frames), figsize=(4.2 * len(frames), 3.2), squeeze=False)
    for ax, (task, df) in zip(axes[0], frames.items()):
        labels = df["label"]
        if labels.dtype.kind == "f" and labels.nunique() > 10:
            ax.hist(labels, bins=20, color="tab:green", edgecolor="white")
        else:
            counts = labels.value_counts().sort_index()
            ax.bar([str(v) for v in counts.index], counts.values, color="tab:blue")
        ax.set_title((titles or {}).get(task, task))
        ax.set_ylabel("examples")
    fig.tight_layout()
    return fig


def plot_length_histograms(lengths: dict[str, Sequence[int]], max_length: int | None = None):
    """Overlaid histograms of sentence lengths in word pieces, one per data set."""
    fig, ax = _axes(figsize=(7, 3.5))
    for name, values in lengths.items():
        values = np.asarray(values)
        ax.hist(values, bins=np.arange(0, values.max() + 2) - 0.5, histtype="step", linewidth=1.8,
                label=name, weights=np.full(len(values), 1 / len(values)))  # bars sum to 1
    if max_length:
        ax.axvline(max_length, color="k", linestyle="--", label=f"max_length = {max_length}")
    ax.set_xlabel("tokens per sentence, [CLS] and [SEP] included")
    ax.set_ylabel("fraction of sentences")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_similarity_scatter(predicted, gold, ax=None, title: str = ""):
    """Predicted vs gold similarity (STS) with Pearson r in the title."""
    predicted, gold = np.asarray(predicted, dtype=float), np.asarray(gold, dtype=float)
    fig, ax = _axes(ax, figsize=(4.5, 4))
    ax.scatter(gold, predicted, s=8, alpha=0.4)
    r = np.corrcoef(predicted, gold)[0, 1]
    ax.set_xlabel("gold similarity (0..5)")
    ax.set_ylabel("predicted")
    ax.set_title(f"{title} Pearson r = {r:.3f}".strip())
    fig.tight_layout()
    return fig


METRIC_LABELS = {"sst_acc": "SST accuracy", "para_acc": "Quora accuracy", "sts_corr": "STS Pearson r",
                 "overall": "overall"}


def plot_training_curves(history: pd.DataFrame, title: str = "", losses=None):
    """Train vs dev metric per task (like the paper's Figure 2), and the training loss if ``losses`` is given.

    history: rows with ``epoch`` and ``train_<metric>`` / ``dev_<metric>`` columns, as written by
    ``mtl_lib.train.Trainer``. With one row per epoch (sequential: per task phase) the x axis is the
    epoch (or phase); when the run was scored every ``eval_every`` steps, or ``losses`` is given, the
    x axis is the optimizer step, so that a one-epoch run draws curves, not single dots.
    losses: ``Trainer.loss_history`` (metrics.json's ``loss_history``): the mean training loss per task
    every ``history_every`` steps, drawn in an extra panel.
    """
    history = history.reset_index(drop=True)
    losses = pd.DataFrame(losses) if losses is not None and len(losses) else None
    metrics = [m for m in METRIC_LABELS if f"dev_{m}" in history]
    by_step = "step" in history and (losses is not None or history[["epoch", "phase"]].duplicated().any()
                                     if "phase" in history else losses is not None)
    x = history["step"].to_numpy() if by_step else np.arange(1, len(history) + 1)
    panels = len(metrics) + (losses is not None)
    fig, axes = plt.subplots(1, panels, figsize=(3.6 * panels, 3.2), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        if f"train_{m}" in history:
            ax.plot(x, history[f"train_{m}"], "o-", label="train")
        ax.plot(x, history[f"dev_{m}"], "s-", label="dev")
        ax.set_title(METRIC_LABELS[m])
        if by_step:
            ax.set_xlabel("step")
        elif "phase" in history and (history["phase"] != "all").any():
            ax.set_xticks(x, [f"{e}:{p}" for e, p in zip(history["epoch"], history["phase"])],
                          rotation=45, fontsize=8)
        else:
            ax.set_xticks(x)  # whole epochs only (one epoch: a single tick, not 0.96 ... 1.04)
            ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    if losses is not None:
        ax = axes[0][-1]
        for column in [c for c in losses if c.startswith("train_loss_")]:
            ax.plot(losses["step"], losses[column], ".-", label=column.removeprefix("train_loss_"))
        ax.set_title(f"training loss (mean of {int(losses['step'].diff().median() or 1)} steps)")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if metrics:
        axes[0][0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion(matrix, labels: Sequence[str], ax=None, title: str = ""):
    """Confusion matrix, each row normalized to 1 (colour) with the raw counts written in."""
    matrix = np.asarray(matrix)
    rates = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    fig, ax = _axes(ax, figsize=(5.5, 4.5))
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", color="white" if rates[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the gold class")
    fig.tight_layout()
    return fig


def plot_word_importance(table: pd.DataFrame, k: int = 20, ax=None, title: str = ""):
    """Horizontal bars: the ``k`` words with the highest mean occlusion importance."""
    top = table.head(k).iloc[::-1]
    fig, ax = _axes(ax, figsize=(5.5, 0.28 * len(top) + 1.2))
    ax.barh([f"{w} ({n})" for w, n in zip(top.index, top["count"])], top["importance"], color="tab:purple")
    ax.set_xlabel("mean drop in p(predicted class) when the word is removed")
    ax.set_title(title or "words the sentiment head leans on (occurrences)")
    fig.tight_layout()
    return fig


def plot_error_vs_overlap(pairs: pd.DataFrame, per_bin: pd.DataFrame, ax=None, title: str = "",
                          ylabel: str = "predicted - gold"):
    """Signed error of each pair against word overlap, with the per-bin means."""
    fig, ax = _axes(ax, figsize=(5.5, 4))
    ax.scatter(pairs["overlap"], pairs["error"], s=6, alpha=0.3, label="pairs")
    ax.plot(per_bin["overlap"], per_bin["error"], "o-", color="tab:red", label="bin mean")
    ax.axhline(0, color="k", linewidth=0.8)
    ax.set_xlabel("word overlap of the two sentences (Jaccard)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_sweep_heatmaps(results: pd.DataFrame, metric: str = "overall"):
    """One heat-map per learning rate: rows SMART lambda, columns dropout, colour ``metric``.

    Cells whose run did not finish cleanly carry its status instead of a number
    (``nonfinite``, ``failed``, ``pending``); collapsed runs show their score and "collapsed".
    """
    lrs = sorted(results["lr"].unique(), reverse=True)
    lams, drops = sorted(results["smart_lambda"].unique()), sorted(results["dropout"].unique())
    scores = results[metric].astype(float)
    vmin, vmax = (np.nanmin(scores), np.nanmax(scores)) if scores.notna().any() else (0, 1)
    fig, axes = plt.subplots(1, len(lrs), figsize=(3.2 * len(lrs) + 1, 0.5 * len(lams) + 2), squeeze=False)
    for ax, lr in zip(axes[0], lrs):
        grid = np.full((len(lams), len(drops)), np.nan)
        for _, row in results[results["lr"] == lr].iterrows():
            i, j = lams.index(row["smart_lambda"]), drops.index(row["dropout"])
            grid[i, j] = row[metric]
            text = f"{row[metric]:.3f}" if pd.notna(row[metric]) else row["status"]
            if row["status"] == "collapsed":
                text += "\ncollapsed"
            ax.text(j, i, text, ha="center", va="center", fontsize=8)
        im = ax.imshow(grid, cmap="viridis", vmin=vmin, vmax=vmax)
        ax.set_xticks(range(len(drops)), [f"{d:g}" for d in drops])
        ax.set_yticks(range(len(lams)), [f"{v:g}" for v in lams])
        ax.set_xlabel("dropout")
        ax.set_ylabel("SMART lambda")
        ax.set_title(f"lr = {lr:g}")
    fig.colorbar(im, ax=list(axes[0]), fraction=0.03, pad=0.02, label=METRIC_LABELS.get(metric, metric))
    return fig


def plot_fine_tuning_by_rows(table: pd.DataFrame, ax=None, title: str = ""):
    """Dev overall against training rows per task (log scale): the fine-tuned course recipe and the
    frozen encoder with the same heads, mean ± sd over seeds (``shipped.fine_tuning_by_rows``)."""
    fig, ax = _axes(ax, figsize=(6, 4))
    rows = list(table.index)
    for column, label in (("tuned", "fine-tuned"), ("frozen", "frozen encoder, same heads")):
        means, sds = zip(*(mean_sd(scores) for scores in table[column]))
        ax.errorbar(rows, means, yerr=sds, marker="o", capsize=3, label=label)
    ax.set_xscale("log")
    ax.set_xticks(rows, [f"{r:,}" for r in rows])
    ax.minorticks_off()
    ax.set_xlabel("training rows per task")
    ax.set_ylabel("dev overall")
    ax.set_title(title or "where fine-tuning pulls ahead")
    ax.legend()
    return fig
