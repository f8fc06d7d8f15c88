"""minBERT: a BERT encoder (Devlin et al. 2019) written to be read.

    input_ids ──► embeddings ──► N x encoder layer ──► last_hidden_state (B, T, H)
                 word + position                         │
                 + token type,                           └─► [CLS] ─► dense ─► tanh
                 LayerNorm, dropout                              pooler_output (B, H)

One encoder layer (post-norm, as in the original BERT)::

    a = LayerNorm(x + Dropout(W_o · MultiHeadSelfAttention(x)))
    y = LayerNorm(a + Dropout(W_2 · GELU(W_1 · a)))

The weights come from a real pretrained checkpoint
(``BertModel.from_pretrained("all-MiniLM-L6-v2")``); the test suite checks
that the outputs equal Hugging Face ``transformers.BertModel`` to 1e-5.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .attention import MultiHeadSelfAttention
from .pretrained import read_config, read_weights, resolve_checkpoint, to_minbert_names


@dataclass
class BertConfig:
    """The architecture, as in a Hugging Face ``config.json`` (defaults: bert-base)."""

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    attn_implementation: str = "sdpa"  # "sdpa" (fast) or "eager" (written out)

    @classmethod
    def from_dict(cls, d: dict, source: str = "config") -> "BertConfig":
        if d.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"{source}: hidden_act={d['hidden_act']!r}; minBERT implements 'gelu'.")
        if d.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{source}: only absolute position embeddings are implemented.")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def to_dict(self) -> dict:
        return asdict(self)


class BertEmbeddings(nn.Module):
    """Token vectors: word + position + token type, then LayerNorm and dropout."""

    def __init__(self, c: BertConfig):
        super().__init__()
        self.word = nn.Embedding(c.vocab_size, c.hidden_size, padding_idx=c.pad_token_id)
        self.position = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.norm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor,
                word_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) ids -> (B, T, H). ``word_embeds`` (B, T, H) replaces the word
        lookup, e.g. perturbed embeddings for SMART; position and token type
        are still added exactly once."""
        T = input_ids.size(1)
        if T > self.position.num_embeddings:
            raise ValueError(f"Sequence of {T} tokens is longer than the model's "
                             f"{self.position.num_embeddings} positions; truncate (max_length).")
        if word_embeds is None:
            word_embeds = self.word(input_ids)
        positions = torch.arange(T, device=input_ids.device)  # (T,), broadcast over B
        x = word_embeds + self.position(positions) + self.token_type(token_type_ids)
        return self.dropout(self.norm(x))


class BertLayer(nn.Module):
    """Self-attention, add & norm, feed-forward (GELU), add & norm."""

    def __init__(self, c: BertConfig):
        super().__init__()
        H = c.hidden_size
        self.attention = MultiHeadSelfAttention(H, c.num_attention_heads,
                                                c.attention_probs_dropout_prob,
                                                c.attn_implementation)
        self.attention_output = nn.Linear(H, H)
        self.attention_norm = nn.LayerNorm(H, eps=c.layer_norm_eps)
        self.ffn_in = nn.Linear(H, c.intermediate_size)
        self.ffn_out = nn.Linear(c.intermediate_size, H)
        self.ffn_norm = nn.LayerNorm(H, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, output_attentions: bool = False):
        ### BEGIN SOLUTION
        ### HINT: post-norm, as in the module docstring: attend, then
        ### HINT: x = attention_norm(x + dropout(attention_output(context))),
        ### HINT: x = ffn_norm(x + dropout(ffn_out(gelu(ffn_in(x))))); return (x, probs).
        context, probs = self.attention(x, mask, output_attentions)  # (B, T, H)
        x = self.attention_norm(x + self.dropout(self.attention_output(context)))
        h = self.ffn_out(F.gelu(self.ffn_in(x)))  # (B, T, I) -> (B, T, H)
        x = self.ffn_norm(x + self.dropout(h))
        return x, probs
        ### END SOLUTION


class BertPooler(nn.Module):
    """The [CLS] token's final vector through a dense layer and tanh."""

    def __init__(self, c: BertConfig):
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(hidden[:, 0]))  # (B, T, H) -> (B, H)


class BertModel(nn.Module):
    """The encoder: ``model(input_ids, attention_mask)`` -> dict of tensors."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.layers = nn.ModuleList(BertLayer(config) for _ in range(config.num_hidden_layers))
        self.pooler = BertPooler(config)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, output_attentions: bool = False,
                word_embeds: torch.Tensor | None = None) -> dict:
        """input_ids, attention_mask, token_type_ids: (B, T).

        Returns ``last_hidden_state`` (B, T, H), ``pooler_output`` (B, H), and
        with ``output_attentions`` a list ``attentions`` of (B, nh, T, T), one per layer.
        """
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        mask = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, T): which keys are real
        x = self.embeddings(input_ids, token_type_ids, word_embeds)
        attentions = []
        for layer in self.layers:
            x, probs = layer(x, mask, output_attentions)
            attentions.append(probs)
        out = {"last_hidden_state": x, "pooler_output": self.pooler(x)}
        if output_attentions:
            out["attentions"] = attentions
        return out

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path = "all-MiniLM-L6-v2", **overrides) -> "BertModel":
        """Build minBERT from a checkpoint (a known name or a Hugging Face folder).

        ``overrides`` change config fields, e.g. ``hidden_dropout_prob=0.3`` or
        ``attn_implementation="eager"``.
        """
        folder = resolve_checkpoint(name_or_path)
        config = BertConfig.from_dict({**read_config(folder), **overrides},
                                      source=str(folder / "config.json"))
        model = cls(config)
        weights = to_minbert_names(read_weights(folder))
        own = model.state_dict()
        missing = sorted(set(own) - set(weights))
        if missing:
            raise ValueError(f"Checkpoint {folder} lacks {len(missing)} minBERT parameters, "
                             f"e.g. {missing[:3]}; is it a BERT model?")
        for name, tensor in weights.items():
            if name in own and tensor.shape != own[name].shape:
                raise ValueError(f"Checkpoint {folder}: {name} has shape {tuple(tensor.shape)}, "
                                 f"config.json implies {tuple(own[name].shape)}.")
        # Extra tensors (position_ids buffers, pre-training heads) are not part of the encoder.
        model.load_state_dict({k: v for k, v in weights.items() if k in own})
        return model.eval()
