"""A diagram of the multi-task model, drawn from a ``HeadConfig`` (the paper's Figure 1, extended).

One shared encoder (embeddings, Transformer layers, pooling) feeds three task heads; the pair tasks
combine the two sentence embeddings u and v into pair features first. Two of the course's methods act
on the picture: SMART perturbs the word embeddings (and compares the outputs of the clean and perturbed
passes), PCGrad edits the shared encoder's gradient. The labels follow the configuration, so the
diagram of ``HeadConfig(pair_features="rich", sts_head="cosine")`` shows what that model computes.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch

from .model import HeadConfig

POOLING_TEXT = {"cls": "the [CLS] vector", "pooler": "pooler: tanh(W h_[CLS])", "mean": "mean over tokens"}
PAIR_TEXT = {"concat": "[u; v]", "rich": "[u; v; |u - v|; u * v]"}


def _box(ax, x, y, w, h, text, color, fontsize=8.5):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                facecolor=color, edgecolor="0.3", linewidth=1))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax, start, end, color="0.3", style="-|>", ls="-"):
    ax.annotate("", xy=end, xytext=start,
                arrowprops=dict(arrowstyle=style, color=color, lw=1.2, linestyle=ls, shrinkA=0, shrinkB=0))


def head_texts(head: HeadConfig) -> dict[str, str]:
    """What each task head computes under ``head``: its input, its layers, its output and loss."""
    mlp = "3 linear layers, GELU between"
    sts = ("5 * cos(u, v)  (Eq. 2, scaled to 0..5)" if head.sts_head == "cosine"
           else f"{PAIR_TEXT[head.pair_features]} -> {mlp}")
    return {"sst": f"SST head: u -> {mlp}\n5 logits, cross entropy",
            "para": f"Quora head: {PAIR_TEXT[head.pair_features]} -> {mlp}\n1 logit, binary cross entropy",
            "sts": f"STS head: {sts}\n1 score in 0..5, mean squared error"}


def draw_model(head: HeadConfig | None = None, layers: int | None = None, ax=None):
    """Draw the multi-task model of ``head`` (default: the paper's pair features and STS head, ``pair_features="concat", sts_head="linear"``); return the figure.

    ``layers``: the number of Transformer layers to print (6 for MiniLM, 12 for bert-base); None: "L".
    """
    head = head or HeadConfig(pair_features="concat", sts_head="linear")
    if ax is None:
        fig, ax = plt.subplots(figsize=(11, 6.2))
    fig = ax.figure
    ax.set_xlim(0, 11)
    ax.set_ylim(0, 6.6)
    ax.axis("off")
    blue, grey, green, red = "#dbe8f6", "#eeeeee", "#e3f1df", "#f8e0e0"

    # the shared encoder, bottom to top, on the left
    x = 2.6
    _box(ax, x, 0.45, 4.2, 0.5, "sentence (pair tasks: sentence 1 and sentence 2, encoded separately)", grey, 8)
    _box(ax, x, 1.35, 4.2, 0.55, "word embeddings W_word[token]", blue)
    _box(ax, x, 2.25, 4.2, 0.55, "+ position + token type, LayerNorm", blue)
    n = layers if layers is not None else "L"
    _box(ax, x, 3.2, 4.2, 0.7, f"{n} Transformer layers\n(multi-head attention, Eq. 1; feed-forward)", blue)
    _box(ax, x, 4.2, 4.2, 0.55, f"pooling: {POOLING_TEXT[head.pooling]}", blue)
    _box(ax, x, 5.1, 4.2, 0.55, "sentence embedding u (and v for the second sentence)", grey)
    for y0, y1 in ((0.7, 1.075), (1.625, 1.975), (2.525, 2.85), (3.55, 3.925), (4.475, 4.825)):
        _arrow(ax, (x, y0), (x, y1))
    ax.add_patch(FancyBboxPatch((0.35, 1.0), 4.5, 3.55, boxstyle="round,pad=0.05", fill=False,
                                edgecolor="tab:blue", linestyle="--", linewidth=1.2))
    ax.text(0.45, 0.93, "shared encoder: minBERT (parameters theta)", color="tab:blue", fontsize=8.5, va="top")

    # the three heads on the right, their losses collected into the summed loss
    for (task, text), y in zip(head_texts(head).items(), (5.9, 4.8, 3.7)):
        _box(ax, 8.1, y, 5.2, 0.8, text, green, 8.2)
        _arrow(ax, (4.7, 5.1), (5.5, y))
        ax.plot([10.7, 10.9], [y, y], color="0.3", lw=1.2)
    ax.plot([10.9, 10.9], [5.9, 2.6], color="0.3", lw=1.2)
    _arrow(ax, (10.9, 2.6), (10.7, 2.6))
    _box(ax, 8.1, 2.6, 5.2, 0.6, "L = L_sst + L_para + L_sts   (one batch of every task per step)", grey, 8.2)

    # where the two methods act
    ax.annotate("PCGrad (Eq. 3): the three task gradients of theta\nare projected against each other, then summed",
                xy=(4.85, 3.2), xytext=(5.5, 1.55), fontsize=7.8, color="tab:purple", va="center",
                bbox=dict(facecolor="#ece3f4", edgecolor="tab:purple", boxstyle="round,pad=0.2"),
                arrowprops=dict(arrowstyle="-|>", color="tab:purple", lw=1.2))
    ax.annotate("SMART (Eq. 4-8): perturb the word embeddings, x + delta,\n"
                "and add lambda * l_s(f(x + delta), f(x)) to each task loss",
                xy=(4.7, 1.35), xytext=(5.5, 0.45), fontsize=7.8, color="tab:red", va="center",
                bbox=dict(facecolor=red, edgecolor="tab:red", boxstyle="round,pad=0.2"),
                arrowprops=dict(arrowstyle="-|>", color="tab:red", lw=1.2))
    ax.set_title(f"The multi-task model: pooling={head.pooling}, pair_features={head.pair_features}, "
                 f"sts_head={head.sts_head}", fontsize=10)
    fig.tight_layout()
    return fig
