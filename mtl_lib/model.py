"""One minBERT encoder, three task heads: the multi-task model.

    sentence ──► minBERT ──► pool ──► u ─┬─► sentiment head ──► 5 logits
                                         │
    pair (a, b) ─► same encoder ─► u, v ─┼─► paraphrase head ─► 1 logit
                                         └─► similarity head ─► score in 0..5

Each head is three linear layers with GELU between them (as in the paper).
Pair tasks embed both sentences with the SAME encoder and combine them:

* ``concat`` - ``[u; v]``, the paper's choice;
* ``rich``   - ``[u; v; |u - v|; u * v]`` (Conneau et al. 2017, Sentence-BERT):
  the difference and product make "how alike are they" easy to read off.

The similarity head is either such a linear head, or (paper Equation 2) the
cosine of the two embeddings scaled to the label range:
``score = 5 * cos(u, v)`` - no parameters of its own, so STS trains the
encoder's geometry directly.

A pair task may instead be *cross-encoded* (``cross_encode``, notebook 09):
one pass over ``[CLS] a [SEP] b [SEP]`` (token types 0 for a, 1 for b), so
that attention compares the two sentences word by word, and the head reads
the pooled joint vector (B, H). It costs a full encoder pass per pair, where
a bi-encoder embeds each sentence once and compares any two by a dot product
(which is why retrieval needs the bi-encoder).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .bert import BertModel
from .encode import POOLINGS, pool

TASK_NAMES = ("sst", "para", "sts")
STS_MAX = 5.0
PAIR_FEATURES = ("concat", "rich")  # [u; v], or [u; v; |u-v|; u*v]
STS_HEADS = ("linear", "cosine")  # an MLP on the pair features, or 5 x cos(u, v) (Equation 2)


@dataclass
class HeadConfig:
    """The choices that shape the model on top of the encoder. The defaults are the course's recipe
    (``options.RECIPES["course"]``); the paper's starting model is ``pair_features="concat",
    sts_head="linear", pooling="pooler"``."""

    checkpoint: str = "all-MiniLM-L6-v2"
    pooling: str = "mean"  # "cls", "pooler" or "mean"
    pair_features: str = "rich"  # "concat" ([u; v]) or "rich" ([u; v; |u-v|; u*v])
    sts_head: str = "cosine"  # "linear" or "cosine"
    dropout: float = 0.1  # heads and encoder (hidden and attention dropout)
    head_hidden: int = 256
    cross_encode: tuple = ()  # pair tasks read as one sequence [CLS] a [SEP] b [SEP] (see join_pairs)

    def __post_init__(self):
        self.cross_encode = tuple(self.cross_encode)
        wrong = [t for t in self.cross_encode if t not in ("para", "sts")]
        if wrong:
            raise ValueError(f"cross_encode={self.cross_encode!r}: only the pair tasks para and sts can be "
                             f"cross-encoded, not {', '.join(wrong)}.")
        if "sts" in self.cross_encode and self.sts_head == "cosine":
            raise ValueError("cross_encode includes sts, but sts_head='cosine' needs two separate embeddings "
                             "(Equation 2): use sts_head='linear' with a cross-encoded STS, or cross-encode para only.")
        checks = {"pooling": POOLINGS, "pair_features": PAIR_FEATURES, "sts_head": STS_HEADS}
        for name, allowed in checks.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r}; choose one of {', '.join(allowed)}.")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout={self.dropout} must be in [0, 1).")

    def to_dict(self) -> dict:
        return asdict(self)


class TaskHead(nn.Sequential):
    """Linear -> GELU -> Dropout -> Linear -> GELU -> Dropout -> Linear."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int, dropout: float):
        super().__init__(
            nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden, out_dim),
        )


def join_pairs(batch: dict, word_embeds: torch.Tensor | None = None) -> tuple[dict, torch.Tensor | None]:
    """A bi-encoder pair batch (2B rows: the B first sentences, then the B second ones, each
    ``[CLS] x [SEP]`` and padded) -> B rows ``[CLS] a [SEP] b [SEP]`` with token types 0 for a and 1
    for b, what the tokenizer gives for a pair; ``word_embeds`` (2B, T, H), if given, are moved the
    same way (SMART perturbs the embeddings of the batch it was given)."""
    ids, mask = batch["input_ids"], batch["attention_mask"]
    a_len, b_len = mask.sum(1).chunk(2)  # (B,), (B,): real tokens of a and of b
    B, T = len(a_len), ids.shape[1]
    total = a_len + b_len - 1  # b's [CLS] is dropped
    pos = torch.arange(int(total.max()), device=ids.device)[None]  # (1, J)
    in_a = pos < a_len[:, None]  # (B, J)
    rows = torch.arange(B, device=ids.device)[:, None]
    source_row = torch.where(in_a, rows, rows + B)  # (B, J): which of the 2B rows a position comes from
    source_col = torch.where(in_a, pos, pos - a_len[:, None] + 1).clamp(max=T - 1)
    valid = pos < total[:, None]  # (B, J): not padding
    joint = {"input_ids": ids[source_row, source_col] * valid, "attention_mask": valid.long(),
             "token_type_ids": (~in_a & valid).long()}
    if word_embeds is not None:
        word_embeds = word_embeds[source_row, source_col] * valid[..., None]  # (B, J, H)
    return joint, word_embeds


def pair_features(u: torch.Tensor, v: torch.Tensor, kind: str) -> torch.Tensor:
    """(B, H), (B, H) -> (B, 2H) for ``concat`` or (B, 4H) for ``rich``."""
    if kind == "concat":
        return torch.cat([u, v], dim=-1)
    return torch.cat([u, v, (u - v).abs(), u * v], dim=-1)


class MultitaskBert(nn.Module):
    """``model(task, batch)`` -> sst: (B, 5) logits; para: (B,) logits; sts: (B,) scores.

    For a pair task, ``batch`` holds 2B rows: the B first sentences, then the
    B second sentences (see ``mtl_lib.batches``), so that one encoder call
    embeds both sides.
    """

    def __init__(self, encoder: BertModel, config: HeadConfig):
        super().__init__()
        self.config = config
        self.encoder = encoder
        H = encoder.config.hidden_size
        pair_dim = (2 if config.pair_features == "concat" else 4) * H
        in_dim = {t: H if t in config.cross_encode else pair_dim for t in ("para", "sts")}
        self.heads = nn.ModuleDict({
            "sst": TaskHead(H, config.head_hidden, 5, config.dropout),
            "para": TaskHead(in_dim["para"], config.head_hidden, 1, config.dropout),
        })
        if config.sts_head == "linear":
            self.heads["sts"] = TaskHead(in_dim["sts"], config.head_hidden, 1, config.dropout)

    @classmethod
    def from_pretrained(cls, config: HeadConfig | None = None, **kwargs) -> "MultitaskBert":
        config = config or HeadConfig(**kwargs)
        encoder = BertModel.from_pretrained(config.checkpoint, hidden_dropout_prob=config.dropout,
                                            attention_probs_dropout_prob=config.dropout)
        return cls(encoder, config)

    def embed(self, batch: dict, word_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """Tokenized batch -> (B, H) sentence embeddings."""
        out = self.encoder(batch["input_ids"], batch["attention_mask"],
                           batch.get("token_type_ids"), word_embeds=word_embeds)
        return pool(out, batch["attention_mask"], self.config.pooling)

    def head(self, task: str, u: torch.Tensor, v: torch.Tensor | None = None) -> torch.Tensor:
        """Task output from sentence embeddings (also used on cached features)."""
        if task in self.config.cross_encode:
            raise ValueError(f"{task} is cross-encoded: its head reads the joint pass of model({task!r}, batch), "
                             "not two separate embeddings.")
        if task == "sst":
            return self.heads["sst"](u)  # (B, 5)
        if task == "sts" and self.config.sts_head == "cosine":
            ### BEGIN SOLUTION
            ### HINT: Equation 2: the cosine of u and v along the last dimension, scaled by STS_MAX
            ### HINT: to the label range; shape (B,).
            return STS_MAX * F.cosine_similarity(u, v, dim=-1)  # (B,), Equation 2
            ### END SOLUTION
        if task in ("para", "sts"):
            return self.heads[task](pair_features(u, v, self.config.pair_features)).squeeze(-1)
        raise ValueError(f"Unknown task {task!r}; choose one of {', '.join(TASK_NAMES)}.")

    def forward(self, task: str, batch: dict, word_embeds: torch.Tensor | None = None) -> torch.Tensor:
        if task in self.config.cross_encode:
            joint, word_embeds = join_pairs(batch, word_embeds)
            return self.heads[task](self.embed(joint, word_embeds)).squeeze(-1)  # (B, H) -> (B,)
        emb = self.embed(batch, word_embeds)
        if task == "sst":
            return self.head(task, emb)
        u, v = emb.chunk(2)  # (2B, H) -> (B, H), (B, H)
        return self.head(task, u, v)


def task_loss(task: str, output: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross entropy (sst), binary cross entropy on a logit (para), MSE (sts)."""
    output = output.float()  # losses in fp32, also under autocast
    if task == "sst":
        return F.cross_entropy(output, labels)
    if task == "para":
        return F.binary_cross_entropy_with_logits(output, labels.float())
    if task == "sts":
        return F.mse_loss(output, labels.float())
    raise ValueError(f"Unknown task {task!r}; choose one of {', '.join(TASK_NAMES)}.")


def predictions(task: str, output: torch.Tensor) -> torch.Tensor:
    """Model output -> what is scored: class ids (sst), 0/1 (para), score clipped to 0..5 (sts)."""
    if task == "sst":
        return output.argmax(-1)
    if task == "para":
        return (output > 0).long()
    return output.float().clamp(0.0, STS_MAX)
