"""Interactive viewers (ipywidgets) with a static matplotlib fallback.

In a Jupyter kernel - Jupyter Lab, VS Code, Colab - the viewer has drop-downs
and sliders: it uses core ipywidgets only, which Colab renders with its own
widget support (the course never turns on Colab's custom widget manager, which
loads code from a CDN). Where widgets cannot render - a plain Python shell, a
static notebook render on GitHub, ``MTL_STATIC_PLOTS=1`` - the same function
draws a static grid instead.
"""

from __future__ import annotations

import os
from typing import Sequence

import matplotlib.pyplot as plt
import torch

from .plots import plot_attention, plot_attention_grid


def in_kernel(shell) -> bool:
    """Whether ``shell`` is a Jupyter kernel's shell: ipykernel's ``ZMQInteractiveShell`` or a subclass of it.

    Colab's shell is such a subclass under another name, so the check walks the class's bases (by name:
    ipykernel need not be importable where the answer is no)."""
    return shell is not None and any(cls.__name__ == "ZMQInteractiveShell" for cls in type(shell).__mro__)


def widgets_available() -> bool:
    """True inside a Jupyter kernel (Colab's included) with ipywidgets installed, unless MTL_STATIC_PLOTS is set."""
    if os.environ.get("MTL_STATIC_PLOTS"):
        return False
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    return in_kernel(get_ipython())


@torch.inference_mode()
def sentence_attentions(model, tokenizer, sentence: str, max_length: int = 64):
    """Word pieces of ``sentence`` and its attention maps: list over layers of (nh, T, T)."""
    batch = tokenizer([sentence], max_length=max_length)
    batch = {k: v.to(next(model.parameters()).device) for k, v in batch.items()}
    out = model(**batch, output_attentions=True)
    tokens = tokenizer.convert_ids_to_tokens(batch["input_ids"][0])
    return tokens, [a[0].float().cpu() for a in out["attentions"]]


def attention_viewer(model, tokenizer, sentences: Sequence[str], interactive: bool | None = None):
    """Pick a sentence, a layer and a head; see where each token looks.

    Returns the widget (interactive) or the matplotlib figure (static fallback).
    """
    if interactive is None:
        interactive = widgets_available()
    cache: dict[str, tuple] = {}

    def get(sentence):
        if sentence not in cache:
            cache[sentence] = sentence_attentions(model, tokenizer, sentence)
        return cache[sentence]

    if not interactive:
        tokens, attentions = get(sentences[0])
        n_layers = len(attentions)
        return plot_attention_grid(attentions, tokens, layers=sorted({0, n_layers // 2, n_layers - 1}))

    import ipywidgets as w
    from IPython.display import display

    config = model.config
    pick = w.Dropdown(options=list(sentences), description="sentence", layout=w.Layout(width="95%"))
    layer = w.IntSlider(0, 0, config.num_hidden_layers - 1, description="layer")
    head = w.IntSlider(0, 0, config.num_attention_heads - 1, description="head")
    out = w.Output()

    def redraw(*_):
        tokens, attentions = get(pick.value)
        with out:
            out.clear_output(wait=True)
            fig = plot_attention(attentions[layer.value][head.value], tokens,
                                 title=f"layer {layer.value}, head {head.value}")
            display(fig)
            plt.close(fig)

    for control in (pick, layer, head):
        control.observe(redraw, names="value")
    redraw()
    box = w.VBox([pick, w.HBox([layer, head]), out])
    return box
