"""Sentence embeddings: pool the token vectors, encode many sentences fast.

A sentence embedding squeezes the (T, H) token vectors into one (H,) vector:

* ``cls``    - the final vector of the [CLS] token;
* ``pooler`` - that vector through BERT's pre-trained dense + tanh layer;
* ``mean``   - the average of the real (non-padding) token vectors, which is
  how all-MiniLM-L6-v2 was trained to be used.

``encode`` runs a whole list of sentences through the encoder in batches
sorted by length (so each batch pads little), under ``torch.inference_mode``,
and returns the embeddings in the original order.
"""

from __future__ import annotations

from typing import Sequence

import torch
from .progress import bar as progress_bar

POOLINGS = ("cls", "pooler", "mean")


def pool(outputs: dict, attention_mask: torch.Tensor, how: str = "mean") -> torch.Tensor:
    """(B, T, H) token vectors -> (B, H) sentence vectors."""
    ### BEGIN SOLUTION
    ### HINT: 'cls': the first token's vector; 'pooler': outputs['pooler_output']; 'mean': sum the
    ### HINT: token vectors weighted by attention_mask, divided by the number of real tokens.
    if how == "cls":
        return outputs["last_hidden_state"][:, 0]
    if how == "pooler":
        return outputs["pooler_output"]
    if how == "mean":
        mask = attention_mask.unsqueeze(-1).to(outputs["last_hidden_state"].dtype)  # (B, T, 1)
        total = (outputs["last_hidden_state"] * mask).sum(1)  # (B, H)
        return total / mask.sum(1).clamp(min=1.0)
    ### END SOLUTION
    raise ValueError(f"Unknown pooling {how!r}; choose one of {', '.join(POOLINGS)}.")


@torch.inference_mode()
def encode(model, tokenizer, sentences: Sequence[str], pooling: str = "mean",
           batch_size: int = 64, max_length: int = 128, device=None,
           progress: bool = True) -> torch.Tensor:
    """Embed ``sentences`` -> (N, H) float32 on the CPU, in the input order."""
    device = device or next(model.parameters()).device
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))  # length-sorted
    out = [None] * len(sentences)
    batches = range(0, len(order), batch_size)
    for start in progress_bar(batches, progress, desc=f"encoding ({pooling})", leave=False):
        idx = order[start:start + batch_size]
        batch = tokenizer([sentences[i] for i in idx], max_length=max_length)
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        vectors = pool(model(**batch), batch["attention_mask"], pooling).float().cpu()
        for i, v in zip(idx, vectors):
            out[i] = v
    if not out:
        return torch.empty(0, model.config.hidden_size)
    return torch.stack(out)
