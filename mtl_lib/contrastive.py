"""In-batch negatives for the pair tasks: a contrastive objective beside the heads' losses.

For a batch of B pairs (u_i, v_i) embedded by the bi-encoder, every pair that is a *positive*
(a Quora duplicate, or an STS pair scored at least ``STS_POSITIVE``) asks that v_i be the
closest of the batch's B second sentences to u_i, and u_i the closest first sentence to v_i:

    L_con = - mean over positives i of  1/2 [ log softmax_j (s cos(u_i, v_j))_i
                                             + log softmax_j (s cos(v_i, u_j))_i ]

with a scale s (``SCALE``, a temperature of 1/20). The other B - 1 sentences of the batch are
the negatives, for free: no extra encoder pass. This is the multiple-negatives ranking loss of
Henderson et al. (2017), the objective all-MiniLM-L6-v2 itself was trained with; so it keeps the
encoder's geometry, which the cosine STS head reads, in the shape MiniLM already has.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SCALE = 20.0
STS_POSITIVE = 4.0  # STS pairs scored 4-5 ("mostly" or "completely equivalent") count as paraphrases


def positives(task: str, labels: torch.Tensor) -> torch.Tensor:
    """(B,) bool: which pairs of a para or sts batch are positives."""
    if task == "para":
        return labels > 0.5
    if task == "sts":
        return labels >= STS_POSITIVE
    raise ValueError(f"in-batch negatives need a pair task (para or sts), not {task!r}.")


def in_batch_negatives(u: torch.Tensor, v: torch.Tensor, positive: torch.Tensor,
                       scale: float = SCALE) -> torch.Tensor:
    """(B, H), (B, H), (B,) bool -> the symmetric loss over the positive rows (0 when there are none)."""
    sims = scale * F.normalize(u.float(), dim=-1) @ F.normalize(v.float(), dim=-1).T  # (B, B): row i = u_i vs every v_j
    target = torch.arange(len(u), device=u.device)
    both = F.cross_entropy(sims, target, reduction="none") + F.cross_entropy(sims.T, target, reduction="none")
    weight = positive.float()
    return (both * weight).sum() / (2 * weight.sum().clamp(min=1.0))
