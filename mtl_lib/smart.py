"""SMART: smoothness-inducing adversarial regularization (Jiang et al. 2020).

Fine-tuning a large model on a small data set lets it fit sharp, brittle
functions. SMART asks the model's output to stay the same when the input
embeddings move a tiny bit (the seed paper's Equations 4-8: 4 the objective,
5 the task loss, 6 the regularizer, 7-8 the divergences)::

    min_theta  L(theta) + lambda * R_s(theta),
    R_s = (1/n) sum_i  max_{||delta_i||_inf <= eps}  l_s( f(x_i + delta_i), f(x_i) )

with l_s the symmetric KL divergence for classifiers and the squared error
for regression. The paper's variant replaces the inner max by ONE random
perturbation delta ~ N(0, sigma^2), sigma = 1e-5 (``steps=0``); the original
(SMART's Algorithm 1) takes gradient-ascent steps on delta, each of size
``step_size`` along the gradient normalised by its infinity norm (here per
token), and projects delta back onto the ball ||delta||_inf <= ``epsilon``
after every step (``steps=1``). SMART's defaults: sigma = 1e-5, step size
1e-3, epsilon = 1e-5, so the projection, not the step, sets delta's size.

Choices made here, on purpose:

* The perturbation goes on the WORD embeddings only; minBERT's embedding
  layer then adds position and token-type embeddings and applies LayerNorm
  exactly once (``BertModel(word_embeds=...)``). Perturbing the output of the
  whole embedding layer and feeding it back through it would add them twice,
  as mt-dnn's SMART code does (reported in namisan/mt-dnn issue #230,
  "Problem in SMART embedding", 2022); notebook 07 measures the damage.
* The clean output is a fixed target (detached): the gradient reaches the
  parameters through the perturbed pass only. mt-dnn instead lets the
  gradient of one of the two KL terms reach the clean logits too.
* Dropout. In training both passes run with dropout on. With independent
  masks (``dropout_state=None``), l_s measures how much two dropout draws
  disagree, and at sigma = 1e-5 that dwarfs the perturbation: R_s becomes a
  dropout-consistency penalty (like R-Drop, Liang et al. 2021). Passing the
  random-number state from before the clean pass (``dropout_state``, see
  ``rng_state``) replays the same masks in every perturbed pass, so R_s
  measures the perturbation alone. ``TrainConfig.smart_dropout`` picks one.
* Precision. A perturbation of sigma = 1e-5 moves an embedding by about 1e-3 of
  its size, below bf16's resolution (about 4e-3): under bf16 autocast the passes
  differ where rounding happens to flip, and R_s grows by 3-4 orders of
  magnitude (tests/test_precision.py measures it). The trainer therefore runs a
  SMART step's clean and perturbed passes in fp32 whatever ``precision`` says.
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


def rng_state(device: torch.device | str = "cpu") -> tuple:
    """The random-number state that decides the next dropout masks on ``device`` (CPU, or CPU + CUDA)."""
    device = torch.device(device)
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return torch.get_rng_state(), device, cuda


def set_rng_state(state: tuple) -> None:
    """Rewind to a state from ``rng_state``: the next forward pass draws the same dropout masks."""
    cpu, device, cuda = state
    torch.set_rng_state(cpu)
    if cuda is not None:
        torch.cuda.set_rng_state(cuda, device)


def perturbed_output(model, task: str, batch: dict, word_embeds: torch.Tensor,
                     dropout_state: tuple | None = None) -> torch.Tensor:
    """``model(task, batch, word_embeds=...)``, first rewound to ``dropout_state`` when one is given."""
    if dropout_state is not None:
        set_rng_state(dropout_state)
    return model(task, batch, word_embeds=word_embeds)


def smart_regularizer(model, task: str, batch: dict, clean_output: torch.Tensor, sigma: float = 1e-5,
                      steps: int = 0, step_size: float = 1e-3, epsilon: float = 1e-5,
                      dropout_state: tuple | None = None) -> torch.Tensor:
    """R_s for one batch: the divergence between the outputs at x + delta and at x.

    ``clean_output`` is the model's output on the unperturbed batch (treated as
    the target); gradients flow to the parameters through the perturbed pass.
    Each ascent step is projected onto ||delta||_inf <= ``epsilon``. Run every
    forward pass through ``perturbed_output(..., dropout_state)`` so that, given
    the state from before the clean pass, all passes share its dropout masks.
    """
    ### BEGIN SOLUTION
    ### HINT: look up the word embeddings, delta = sigma * randn; for each of `steps` ascent steps
    ### HINT: move delta along the gradient of the divergence (the output of perturbed_output at
    ### HINT: embeds + delta against the detached clean output), normalised per token by its max-abs
    ### HINT: value, times step_size, then clamp delta to [-epsilon, epsilon]; return the divergence
    ### HINT: at the final delta (perturbed_output again, with the same dropout_state).
    embeds = model.encoder.embeddings.word(batch["input_ids"])  # (B, T, H)
    target = clean_output.detach()
    delta = torch.randn_like(embeds) * sigma  # drawn before any rewind: the masks stay the clean pass's
    for _ in range(steps):  # the original SMART: ascend the divergence w.r.t. delta
        delta.requires_grad_(True)
        adv = divergence(task, perturbed_output(model, task, batch, embeds.detach() + delta, dropout_state), target)
        (grad,) = torch.autograd.grad(adv, delta)
        delta = delta + step_size * grad / (grad.abs().amax(-1, keepdim=True) + 1e-12)  # per token
        delta = delta.clamp(-epsilon, epsilon).detach()  # project onto the infinity-norm ball
    return divergence(task, perturbed_output(model, task, batch, embeds + delta, dropout_state), target)
    ### END SOLUTION
