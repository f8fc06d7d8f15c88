"""Multi-head self-attention, the heart of BERT (Vaswani et al. 2017).

The paper's Equation 1::

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V

Every token's query is compared with every token's key; the softmax turns
the scores of one query into weights that sum to 1, and the output is the
weighted average of the values. Multi-head attention runs ``h`` such
attentions side by side on ``d_k = hidden / h``-dimensional slices, so each
head can look for a different relation, then concatenates the heads.

Padding tokens must not be attended to: their scores are set to the most
negative float before the softmax, so their weight is (numerically) zero.

Two ways to compute the same thing:

* ``"eager"`` - written out, returns the attention
  probabilities so they can be plotted;
* ``"sdpa"`` - ``torch.nn.functional.scaled_dot_product_attention``, which
  picks a fused kernel (FlashAttention / memory-efficient) when it can.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None,
                                 dropout: nn.Module | None = None):
    """Equation 1 written out. Returns ``(output, probabilities)``.

    q, k, v: (B, nh, T, hs). mask: bool, broadcastable to (B, nh, T, T),
    True where a query may attend to a key.
    Returns output (B, nh, T, hs) and probabilities (B, nh, T, T).
    """
    ### BEGIN SOLUTION
    ### HINT: scores = q @ k^T / sqrt(hs); masked_fill the forbidden keys (~mask) with the dtype's
    ### HINT: most negative float; softmax over the last dimension; apply dropout (if given) to the
    ### HINT: probabilities before @ v; return (output, probabilities).
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (B, nh, T, T)
    if mask is not None:
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    probs = scores.softmax(dim=-1)  # each row sums to 1
    weights = dropout(probs) if dropout is not None else probs
    return weights @ v, probs  # (B, nh, T, hs), (B, nh, T, T)
    ### END SOLUTION


class MultiHeadSelfAttention(nn.Module):
    """Project to queries, keys and values, attend per head, merge the heads.

    The output projection lives in the encoder layer (as in BERT's checkpoints).
    """

    def __init__(self, hidden_size: int, num_heads: int, dropout: float = 0.1,
                 implementation: str = "sdpa"):
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size {hidden_size} is not divisible by num_heads {num_heads}.")
        self.num_heads = num_heads
        self.head_size = hidden_size // num_heads
        self.query = nn.Linear(hidden_size, hidden_size)
        self.key = nn.Linear(hidden_size, hidden_size)
        self.value = nn.Linear(hidden_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.implementation = implementation

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        B, T, H = x.shape
        return x.view(B, T, self.num_heads, self.head_size).transpose(1, 2)  # (B, nh, T, hs)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                output_attentions: bool = False):
        """x: (B, T, H); mask: bool (B, 1, 1, T), True = a real token.

        Returns ``(context (B, T, H), probabilities (B, nh, T, T) or None)``.
        """
        ### BEGIN SOLUTION
        ### HINT: split q, k, v into heads with self.split_heads; use scaled_dot_product_attention
        ### HINT: for 'eager' or when output_attentions, else F.scaled_dot_product_attention
        ### HINT: (dropout_p only in training); merge the heads back: transpose(1, 2), reshape.
        B, T, H = x.shape
        q, k, v = (self.split_heads(proj(x)) for proj in (self.query, self.key, self.value))
        if output_attentions or self.implementation == "eager":
            out, probs = scaled_dot_product_attention(q, k, v, mask, self.dropout)
        elif self.implementation == "sdpa":
            p = self.dropout.p if self.training else 0.0
            out, probs = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p), None
        else:
            raise ValueError(f"Unknown attention implementation {self.implementation!r}; "
                             "use 'eager' or 'sdpa'.")
        out = out.transpose(1, 2).reshape(B, T, H)  # (B, nh, T, hs) -> (B, T, H)
        return out, (probs if output_attentions else None)
        ### END SOLUTION
