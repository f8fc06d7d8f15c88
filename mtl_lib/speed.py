"""The fast path, measured: bf16 matrix products and length-grouped batches against today's fp32 step.

``python -m mtl_lib bench --only fastpath`` trains the course recipe's summed step (a batch of
every task) over the SAME training rows three ways, in one process, step by step interleaved:

* ``before``                - the step as it was: fp32, shuffled batches padded to their longest
  sentence, AdamW looping over the parameters;
* ``fp32, random batches``  - the same, with the fused AdamW the trainer now uses (``train.adamw``);
* ``bf16, random batches``  - the same batches, matrix products under bf16 autocast;
* ``bf16, grouped batches`` - the same rows in length-grouped batches (``batches.LengthGroupedBatches``).

Each contender makes one full pass over the rows (the same number of steps), so the ratio of the
totals is the ratio of epoch times. For each it reports real (non-padding) tokens per second and
the step's matmul FLOP/s as a share of this machine's large-GEMM rate in the matching dtype,
measured in the same run: the share says how close a step comes to what the hardware can do.
"""

from __future__ import annotations

import time

import torch

from .batches import train_loader
from .data import TASKS, load_task
from .experiment import cut
from .model import HeadConfig, MultitaskBert
from .precision import autocast_dtype
from .timing import synchronize as sync
from .tokenizer import load_tokenizer
from .train import Trainer, TrainConfig


def matmul_flops(config, batch_size: int, seq_len: int) -> float:
    """Matmul FLOPs of one forward pass of the encoder on a (B, T) padded batch (2 per multiply-add)."""
    B, T, H, I, L = batch_size, seq_len, config.hidden_size, config.intermediate_size, config.num_hidden_layers
    per_layer = 2 * B * T * H * (3 * H + H + 2 * I) + 2 * 2 * B * T * T * H  # projections + FFN; QK^T and PV
    return L * per_layer + 2 * B * H * H  # + the pooler


def gemm_flops_per_second(device, dtype=torch.float32, n: int = 2048, repeats: int = 5) -> float:
    """This machine's large square GEMM rate, best of ``repeats``."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(repeats + 1):
        sync(device)
        start = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best


CONTENDERS = {  # name -> (precision, group_by_length, fused AdamW)
    "before: fp32, random batches, per-parameter AdamW": ("fp32", False, False),
    "fp32, random batches": ("fp32", False, True),
    "bf16, random batches": ("bf16", False, True),
    "bf16, grouped batches": ("bf16", True, True),
}


def pass_batches(tok, rows: int, batch_size: int, grouped: bool, data_dir=None, seed: int = 0) -> list[dict]:
    """One pass over ``rows`` training rows per task: a list of steps, each {task: (batch, labels)}."""
    loaders = {t: train_loader(t, cut(load_task(t, "train", data_dir), rows, seed), tok, batch_size, 128, seed,
                               group_by_length=grouped) for t in TASKS}
    return [dict(zip(loaders, step)) for step in zip(*loaders.values())]


def step_counts(step: dict, config) -> tuple[int, float]:
    """(real tokens, matmul FLOPs of forward + backward) of one summed step."""
    real = sum(int(b["attention_mask"].sum()) for b, _ in step.values())
    flops = sum(3 * matmul_flops(config, *b["input_ids"].shape) for b, _ in step.values())
    return real, flops


def fastpath(rows: int = 256, batch_size: int = 32, device="cpu", data_dir=None) -> dict:
    """Seconds for one pass over ``rows`` rows per task for each contender, and what each achieves."""
    device = torch.device(device)
    tok = load_tokenizer()
    head = HeadConfig(pair_features="rich", sts_head="cosine", pooling="mean")  # the course recipe
    steps = {grouped: pass_batches(tok, rows, batch_size, grouped, data_dir) for grouped in (False, True)}
    trainers = {}
    for name, (precision, _, fused) in CONTENDERS.items():
        torch.manual_seed(0)
        cfg = TrainConfig(batch_size=batch_size, lr=1e-4, precision=precision, sampling="equal")
        trainer = Trainer(MultitaskBert.from_pretrained(head), tok, {}, {}, cfg, device=device, progress=False)
        if not fused:  # the optimizer as it was; the schedule is irrelevant to a step's time
            trainer.optimizer = torch.optim.AdamW([{**g, "fused": None} for g in trainer.optimizer.param_groups])
            trainer.scheduler = torch.optim.lr_scheduler.LambdaLR(trainer.optimizer, lambda step: 1.0)
        trainer.model.train()
        trainers[name] = trainer
    for name, trainer in trainers.items():  # warm-up: first calls pay for allocation and kernel choice
        trainer.update(trainer.losses(steps[CONTENDERS[name][1]][0]))
    seconds = dict.fromkeys(trainers, 0.0)
    names = list(trainers)
    n = min(len(s) for s in steps.values())
    for r in range(n):
        k = r % len(names)
        for name in names[k:] + names[:k]:  # rotate who goes first
            trainer, step = trainers[name], steps[CONTENDERS[name][1]][r]
            sync(device)
            start = time.perf_counter()
            trainer.update(trainer.losses(step))
            sync(device)
            seconds[name] += time.perf_counter() - start
    config = trainers[names[0]].model.encoder.config
    gemm = {p: gemm_flops_per_second(device, autocast_dtype(device, p) or torch.float32) for p in ("fp32", "bf16")}
    result = {"rows_per_task": rows, "batch_size": batch_size, "steps": n,
              "gemm_flops_per_s": gemm, "contenders": {}}
    for name, (precision, grouped, _) in CONTENDERS.items():
        real, flops, padded = 0, 0.0, 0
        for step in steps[grouped][:n]:
            r_, f_ = step_counts(step, config)
            real, flops = real + r_, flops + f_
            padded += sum(int(b["input_ids"].numel()) for b, _ in step.values())
        result["contenders"][name] = {
            "seconds": seconds[name], "real_tokens": real, "padded_tokens": padded,
            "real_share": real / padded, "real_tokens_per_s": real / seconds[name],
            "matmul_flops_per_s": flops / seconds[name], "gemm_share": flops / seconds[name] / gemm[precision],
            "speedup": seconds[names[0]] / seconds[name]}
    return result


def real_token_shares(rows: int = 3200, batch_size: int = 32, data_dir=None) -> dict:
    """Per task: the share of real tokens in a pass of random and of length-grouped batches."""
    tok = load_tokenizer()
    shares = {}
    for task in TASKS:
        df = cut(load_task(task, "train", data_dir), rows)
        for grouped in (False, True):
            batches = [b for b, _ in train_loader(task, df, tok, batch_size, 128, 0, group_by_length=grouped)]
            shares[(task, grouped)] = (sum(int(b["attention_mask"].sum()) for b in batches)
                                       / sum(b["input_ids"].numel() for b in batches))
    return {task: {"random": shares[(task, False)], "grouped": shares[(task, True)]} for task in TASKS}
