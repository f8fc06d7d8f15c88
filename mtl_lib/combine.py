"""How one step's task losses become the gradients of one update: their plain sum, or PCGrad's surgery.

* ``summed_backward`` - one backward pass of L = sum_t L_t (the summed loss);
* ``pcgrad_backward`` - one backward pass per task on the shared encoder, the surgery of
  ``mtl_lib.pcgrad`` on those gradients, their sum as the encoder's ``.grad``; each head keeps its
  own task's plain gradient.

Learned task weights (``mtl_lib.weighting``) scale the losses before either. Under torchrun both
average the gradients over the processes (``mtl_lib.distributed``); PCGrad does it per task, before
the surgery, so that every process makes the same decisions. ``Trainer.update`` calls these.
"""

from __future__ import annotations

import torch

from . import distributed
from .pcgrad import pcgrad_sum


def summed_backward(model, losses: dict[str, torch.Tensor], scaler) -> None:
    """The gradient of the summed loss in every parameter's ``.grad`` (``scaler``: a GradScaler)."""
    scaler.scale(sum(losses.values())).backward()
    distributed.average_gradients(model.parameters())  # torchrun: mean over ranks


def pcgrad_backward(model, losses: dict[str, torch.Tensor], scaler, generator: torch.Generator,
                    flat: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-task gradients of the shared encoder, surgery, then their sum as .grad.

    Each task has its own batch, so the task graphs are disjoint and the T backward passes together
    cost about one backward of the summed loss. ``flat``: the (T, P) buffer of the flat task gradients
    returned by the previous step (allocated here when None or of another shape: a fresh 3 x 91 MB
    every step costs page faults). Returns that buffer and the step's record, still on the device:
    the pairwise cosines of the task gradients (upper triangle) and the fraction of pairs projected.
    """
    shared = [p for p in model.encoder.parameters() if p.requires_grad]
    size = (len(losses), sum(p.numel() for p in shared))
    if flat is None or flat.shape != size:
        flat = torch.empty(size, device=shared[0].device, dtype=shared[0].dtype)
    for i, (task, loss) in enumerate(losses.items()):
        head = [p for p in model.heads[task].parameters()] if task in model.heads else []
        grads = torch.autograd.grad(scaler.scale(loss), shared + head, allow_unused=True)
        for p, g in zip(head, grads[len(shared):]):
            p.grad = g  # a head keeps its own, plain gradient
        torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1)
                   for p, g in zip(shared, grads[:len(shared)])], out=flat[i])
    for g in flat:  # torchrun: average each task's gradient BEFORE the surgery (same on every rank)
        distributed.all_average_([g])
    distributed.average_gradients(model.heads.parameters())
    update, stats = pcgrad_sum(flat, generator)
    offset = 0
    for p in shared:  # unflatten the update into the parameters' .grad (views, no copies)
        p.grad = update[offset:offset + p.numel()].view_as(p)
        offset += p.numel()
    iu = torch.triu_indices(len(flat), len(flat), 1)
    return flat, torch.cat([stats["cosine"][iu[0], iu[1]].float(), stats["projected"].float().reshape(1)])
