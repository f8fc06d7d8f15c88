"""SMART: smoothness-inducing adversarial regularization (Jiang et al. 2020).

Fine-tuning a large model on a small data set lets it fit sharp, brittle
functions. SMART asks the model's output to stay the same when the input
embeddings move a tiny bit (Equations 4-8)::

    min_theta  L(theta) + lambda * R_s(theta),
    R_s = (1/n) sum_i  max_{||delta_i|| <= eps}  l_s( f(x_i + delta_i), f(x_i) )

with l_s the symmetric KL divergence for classifiers and the squared error
for regression. The paper's variant replaces the inner max by ONE random
perturbation delta ~ N(0, sigma^2), sigma = 1e-5; the original takes one
gradient-ascent step on delta (step size 1e-3, normalised per token by its
infinity norm). Both are here (``steps=0`` or ``1``).

The perturbation goes on the WORD embeddings only; minBERT's embedding layer
then adds position and token-type embeddings and applies LayerNorm exactly
once (``BertModel(word_embeds=...)``). Perturbing the output of the whole
embedding layer and feeding it back through it would add them twice - a
known bug in a popular implementation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def symmetric_kl(p_logits: torch.Tensor, q_logits: torch.Tensor) -> torch.Tensor:
    """KL(p||q) + KL(q||p) for categorical distributions given by logits (..., C); batch mean."""
    ### BEGIN SOLUTION
    ### HINT: log_softmax both (in float32); KL(p||q) = sum p (log p - log q) over the last
    ### HINT: dimension; add KL(q||p); mean over the batch.
    p_log, q_log = p_logits.float().log_softmax(-1), q_logits.float().log_softmax(-1)
    kl_pq = (p_log.exp() * (p_log - q_log)).sum(-1)
    kl_qp = (q_log.exp() * (q_log - p_log)).sum(-1)
    return (kl_pq + kl_qp).mean()
    ### END SOLUTION


def binary_logits(logit: torch.Tensor) -> torch.Tensor:
    """A sigmoid's two-class distribution as 2-way logits: softmax([0, z]) = [1 - s(z), s(z)]."""
    return torch.stack([torch.zeros_like(logit), logit], dim=-1)


def divergence(task: str, perturbed: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """l_s: symmetric KL (sst, para) or squared error (sts)."""
    if task == "sst":
        return symmetric_kl(perturbed, clean)
    if task == "para":
        return symmetric_kl(binary_logits(perturbed), binary_logits(clean))
    if task == "sts":
        return F.mse_loss(perturbed.float(), clean.float())
    raise ValueError(f"Unknown task {task!r}; choose one of sst, para, sts.")


def smart_regularizer(model, task: str, batch: dict, clean_output: torch.Tensor, sigma: float = 1e-5,
                      steps: int = 0, step_size: float = 1e-3) -> torch.Tensor:
    """R_s for one batch: the divergence between the outputs at x + delta and at x.

    ``clean_output`` is the model's output on the unperturbed batch (treated as
    the target); gradients flow to the parameters through the perturbed pass.
    """
    ### BEGIN SOLUTION
    ### HINT: look up the word embeddings, delta = sigma * randn; for each of `steps` ascent steps
    ### HINT: move delta along the gradient of the divergence, normalised per token by its max-abs
    ### HINT: value, times step_size; return divergence(task, model(task, batch, word_embeds=embeds
    ### HINT: + delta), clean_output.detach()).
    embeds = model.encoder.embeddings.word(batch["input_ids"])  # (B, T, H)
    target = clean_output.detach()
    delta = torch.randn_like(embeds) * sigma
    for _ in range(steps):  # the original SMART: ascend the divergence w.r.t. delta
        delta.requires_grad_(True)
        adv = divergence(task, model(task, batch, word_embeds=embeds.detach() + delta), target)
        (grad,) = torch.autograd.grad(adv, delta)
        delta = delta + step_size * grad / (grad.abs().amax(-1, keepdim=True) + 1e-12)  # per token
        delta = delta.detach()
    return divergence(task, model(task, batch, word_embeds=embeds + delta), target)
    ### END SOLUTION
