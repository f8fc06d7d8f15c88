"""The arithmetic of a training schedule: examples per task per step, steps per epoch and phase, the
learning rate at each step, and per encoder layer (the optimizer's parameter groups).

Pure functions of the task sizes and a ``TrainConfig`` (``mtl_lib.train``, which explains the options:
``sampling``, ``schedule``, ``warmup``, ``layer_decay``), so that a notebook can ask what a run will do
without building a model; ``Trainer`` reads its schedule from here.
"""

from __future__ import annotations

import math

import torch


def task_batch_sizes(sizes: dict[str, int], cfg, epoch: int) -> dict[str, int]:
    """Examples per task per step under ``cfg.sampling`` (at least 1 each)."""
    if cfg.sampling == "equal":
        return {t: cfg.batch_size for t in sizes}
    alpha = 1.0 if cfg.sampling == "proportional" else 1.0 - 0.5 * epoch / max(cfg.epochs - 1, 1)
    weights = {t: n ** alpha for t, n in sizes.items()}
    total = sum(weights.values())
    budget = cfg.batch_size * len(sizes)
    return {t: max(1, round(budget * w / total)) for t, w in weights.items()}


def steps_per_epoch(sizes: dict[str, int], cfg, epoch: int = 0) -> int:
    """Steps of epoch ``epoch``: sequential, every task's batches in turn; summed, ``cfg.steps_per_epoch``
    or as many as it takes to show the largest task once at its batch size."""
    if cfg.method == "sequential":
        return sum(math.ceil(n / cfg.batch_size) for n in sizes.values())
    if cfg.steps_per_epoch:
        return cfg.steps_per_epoch
    bs = task_batch_sizes(sizes, cfg, epoch)
    return max((math.ceil(n / bs[t]) for t, n in sizes.items()), default=0)


def phase_steps(sizes: dict[str, int], cfg) -> list[int]:
    """Sequential: the steps of every task phase, epoch by epoch, in training order."""
    steps = {t: math.ceil(n / cfg.batch_size) for t, n in sizes.items()}
    return [steps[t] for _ in range(cfg.epochs) for t in cfg.order if t in steps]


def schedule_segments(sizes: dict[str, int], cfg) -> list[int]:
    """The stretches of steps over which the rate warms up and decays once."""
    if cfg.schedule == "per-phase":
        return phase_steps(sizes, cfg)
    return [sum(steps_per_epoch(sizes, cfg, e) for e in range(cfg.epochs))]  # annealed epochs differ


def schedule_multiplier(segments: list[int], warmup: float, constant: bool = False):
    """Step -> learning-rate multiplier: in each stretch of ``segments[i]`` steps, a linear warm-up
    over its first ``warmup`` fraction, then a linear decay to zero (or 1 throughout if ``constant``)."""
    bounds = [sum(segments[:i]) for i in range(len(segments) + 1)]  # start of each stretch, then the end

    def multiplier(step: int) -> float:
        if constant:
            return 1.0
        i = max((k for k in range(len(segments)) if bounds[k] <= step), default=0)
        n, pos = segments[i], step - bounds[i]
        warm = int(warmup * n)
        if pos < warm:
            return (pos + 1) / warm
        return max(0.0, (n - pos) / max(n - warm, 1))
    return multiplier


def rate_multiplier(sizes: dict[str, int], cfg):
    """Step -> the multiplier of the peak rate that ``cfg`` gives at that step (``schedule_multiplier``)."""
    return schedule_multiplier(schedule_segments(sizes, cfg), cfg.warmup, constant=cfg.schedule == "constant")


def phase_rates(sizes: dict[str, int], cfg) -> list[float]:
    """Sequential: the mean learning rate of every task phase, as a fraction of the peak."""
    rate = rate_multiplier(sizes, cfg)
    means, start = [], 0
    for n in phase_steps(sizes, cfg):
        means.append(sum(rate(s) for s in range(start, start + n)) / max(n, 1))
        start += n
    return means


def layer_rates(encoder, lr: float, decay: float) -> list:
    """Layer-wise learning-rate decay (Howard & Ruder 2018; ELECTRA, Clark et al. 2020): the top of
    the encoder learns at ``lr``, each layer below at ``decay`` times the one above it, the embeddings
    lowest: lr * decay ** L. Lower layers hold the general features, which fine-tuning should
    move least. Returns (module, rate) pairs that cover the encoder's parameters once."""
    if decay == 1:
        return [(encoder, lr)]  # one group, as without the option
    n = len(encoder.layers)
    top = [m for name, m in encoder.named_children() if name not in ("embeddings", "layers")]  # the pooler
    return ([(encoder.embeddings, lr * decay ** n)]
            + [(layer, lr * decay ** (n - 1 - k)) for k, layer in enumerate(encoder.layers)]
            + [(m, lr) for m in top])


def parameter_groups(model, cfg) -> list[dict]:
    """The optimizer's parameter groups of a ``MultitaskBert``: the encoder by layer (``layer_rates``) at
    ``cfg.lr``, the heads at ``cfg.head_lr``; in each, the weight matrices with ``cfg.weight_decay`` and
    the biases and LayerNorm weights without. Frozen parameters are left out."""
    groups = []
    for part, lr in (*layer_rates(model.encoder, cfg.lr, cfg.layer_decay), (model.heads, cfg.head_lr)):
        params = [p for p in part.parameters() if p.requires_grad]
        groups += [{"params": [p for p in params if p.ndim >= 2], "lr": lr, "weight_decay": cfg.weight_decay},
                   {"params": [p for p in params if p.ndim < 2], "lr": lr, "weight_decay": 0.0}]
    return groups


def adamw(groups: list[dict], device: torch.device) -> torch.optim.AdamW:
    """AdamW, fused into one kernel over all parameters where torch has that for the device (CPU from
    torch 2.4, CUDA): the same update as the per-parameter loop, which on a 2-core CPU spends about
    0.3 s a step on MiniLM's 23 M parameters (the fused one: about 0.04 s)."""
    try:
        return torch.optim.AdamW(groups, fused=device.type in ("cpu", "cuda"))
    except (RuntimeError, TypeError):  # an older torch, or a device without the fused kernel
        return torch.optim.AdamW(groups)
