"""Who steers the shared encoder? Per-task gradient norms and cosines of the summed loss.

The summed loss L = L_sst + L_para + L_sts hands the encoder the sum of three gradients. If one
of them is much longer than the others, the sum points mostly where that task wants to go, and
the other tasks are trained only by what they happen to share with it: one reason a multi-task
model can fall short of fine-tuning each task alone (negative transfer). The STS loss is a mean
squared error on a 0..5 scale, so early in training it is several times larger than the two
cross entropies, and so is its gradient; PCGrad does not change that (it only removes the
conflicting *component* of each gradient, not the difference in length).

``task_gradient_norms`` measures, on a few batches of each task, the length of each task's
gradient on the shared encoder and the cosines between them.
"""

from __future__ import annotations

import pandas as pd
import torch

from .batches import to_device, train_loader
from .model import MultitaskBert, task_loss


def task_gradients(model: MultitaskBert, batches: dict, device=None) -> torch.Tensor:
    """(T, P) flat gradients of each task's loss on the shared encoder's trainable parameters."""
    device = torch.device(device or "cpu")
    shared = [p for p in model.encoder.parameters() if p.requires_grad]
    rows = []
    for task, (batch, labels) in batches.items():
        batch, labels = to_device(batch, labels, device)
        batch.pop("loss_weight", None)
        loss = task_loss(task, model(task, batch), labels)
        grads = torch.autograd.grad(loss, shared, allow_unused=True)
        rows.append(torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1)
                               for p, g in zip(shared, grads)]))
    return torch.stack(rows)  # (T tasks, P shared parameters)


def task_gradient_norms(model: MultitaskBert, tokenizer, frames: dict[str, pd.DataFrame], batch_size: int = 16,
                        batches: int = 4, max_length: int = 128, seed: int = 0, device=None) -> pd.DataFrame:
    """Per batch: each task's gradient norm on the encoder and the pairwise cosines.

    Returns one row per batch with columns ``norm_<task>`` and ``cos_<a>_<b>``; dropout is on
    (the model in train mode), as in a real step. The model's weights are not changed.
    """
    device = torch.device(device or "cpu")
    model.to(device).train()
    tasks = list(frames)
    loaders = {t: iter(train_loader(t, df, tokenizer, batch_size, max_length, seed + i))
               for i, (t, df) in enumerate(frames.items())}
    records = []
    for b in range(batches):
        flat = task_gradients(model, {t: next(loaders[t]) for t in tasks}, device)
        norms = flat.norm(dim=1)
        unit = flat / norms.clamp_min(1e-12)[:, None]
        cos = unit @ unit.T  # (T, T)
        record = {"batch": b, **{f"norm_{t}": float(n) for t, n in zip(tasks, norms)}}
        record.update({f"cos_{a}_{c}": float(cos[i, j]) for i, a in enumerate(tasks)
                       for j, c in enumerate(tasks) if j > i})
        records.append(record)
    model.zero_grad(set_to_none=True)
    return pd.DataFrame(records)
