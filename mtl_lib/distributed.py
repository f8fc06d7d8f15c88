"""Training on several processes (several GPUs) with ``torchrun``.

The same command runs on one process or on N::

    python -m mtl_lib train --out runs/a ...
    torchrun --nproc_per_node 4 -m mtl_lib train --out runs/a ...

How the N processes ("ranks") share the work, data-parallel style:

* every rank holds a full copy of the model, made identical at the start
  (rank 0's parameters are broadcast);
* every rank draws the SAME global batches (same seeds, so same shuffles) and
  keeps a disjoint share of each one: rows ``rank, rank + N, ...``. The
  ``--batch-size`` is the GLOBAL batch, so the number of steps, the learning
  rate schedule and the results do not depend on N;
* after backward, the gradients are averaged over the ranks (all-reduce).
  Each rank's loss is weighted by its share of the global batch, so the
  average is exactly the gradient of the global batch's mean loss, also
  when the batch does not split evenly;
* with PCGrad, each task's gradient of the shared encoder is averaged BEFORE
  the surgery, so every rank projects the same vectors and takes the same step;
* rank 0 alone evaluates and writes checkpoints, metrics and predictions,
  and sends what it measured to the others, so every rank ends with the same
  parameters and the same history (``check_in_sync`` verifies it).

Why by hand and not ``torch.nn.parallel.DistributedDataParallel``: DDP
averages gradients from hooks inside ``loss.backward()``. PCGrad takes
per-task gradients with ``torch.autograd.grad`` (no hooks fire, and the
average must come before the surgery, not after), SMART runs the encoder
twice per task, and the cosine STS head leaves parts of the model unused -
all awkward under DDP. One all-reduce of all gradients per step is simple and
exact; what it gives up is DDP's overlap of communication with the backward
pass, which matters little for a model of this size on one machine.

Backends: NCCL on CUDA GPUs (one GPU per rank, ``cuda:LOCAL_RANK``), gloo on CPU.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def world_size() -> int:
    """Number of processes (1 when not launched by torchrun)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's rank (0 when not launched by torchrun)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    """True on the process that evaluates and writes files (rank 0)."""
    return rank() == 0


def init(device: torch.device) -> torch.device:
    """Join the process group if torchrun started us (WORLD_SIZE > 1); return this rank's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or dist.is_initialized():
        return device
    missing = [k for k in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise RuntimeError(f"WORLD_SIZE={world} is set but {', '.join(missing)} are not: start "
                           "several processes with `torchrun --nproc_per_node N -m mtl_lib train ...`.")
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))  # one GPU per rank
        torch.cuda.set_device(device)
        backend = "nccl"
    elif device.type == "cpu":
        backend = "gloo"
    else:
        raise ValueError(f"--device {device} cannot be used with torchrun; use cuda (NCCL) or cpu (gloo).")
    dist.init_process_group(backend)  # reads RANK, WORLD_SIZE, MASTER_ADDR/PORT from the environment
    return device


def close() -> None:
    """Leave the process group (a no-op on one process)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard_rows(rows: list[int], rank: int, world: int) -> tuple[list[int], float]:
    """This rank's rows of a global batch, and the weight of its mean loss.

    The weight ``world * len(mine) / len(rows)`` makes the AVERAGE over ranks
    of the weighted losses equal the global batch's mean loss. A rank left
    without rows (a global batch smaller than the number of ranks) computes
    the first row with weight 0: it must still take part in every collective.
    """
    mine = rows[rank::world]
    if not mine:
        return rows[:1], 0.0
    return mine, world * len(mine) / len(rows)


def all_average_(tensors: list[torch.Tensor]) -> None:
    """Replace every tensor by its mean over the ranks, in place, in one collective."""
    world = world_size()
    if world == 1 or not tensors:
        return
    if len(tensors) == 1:  # one big vector (a PCGrad task gradient): no copy
        dist.all_reduce(tensors[0])
        tensors[0].div_(world)
        return
    flat = torch.cat([t.reshape(-1) for t in tensors])  # (sum of numels,): one message, not one per tensor
    dist.all_reduce(flat)
    flat.div_(world)
    offset = 0
    for t in tensors:
        t.copy_(flat[offset:offset + t.numel()].view_as(t))
        offset += t.numel()


def average_gradients(params) -> None:
    """Average the ``.grad`` of ``params`` over the ranks (those with a gradient; the same on every rank)."""
    all_average_([p.grad for p in params if p.grad is not None])


def broadcast_parameters(module: torch.nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank (the same start everywhere)."""
    if world_size() == 1:
        return
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=0)


def broadcast_object(obj):
    """Rank 0's ``obj`` (any picklable object) on every rank."""
    if world_size() == 1:
        return obj
    box = [obj if is_main() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def check_in_sync(module: torch.nn.Module) -> None:
    """Raise if this rank's parameters differ from rank 0's (they must be bit-identical)."""
    if world_size() == 1:
        return
    with torch.no_grad():
        sums = torch.stack([p.double().sum() for p in module.parameters()])  # (n_tensors,) fingerprint
        reference = sums.clone()
        dist.broadcast(reference, src=0)
    if not torch.equal(sums, reference):
        raise RuntimeError(f"Rank {rank()}'s parameters differ from rank 0's: the gradient averaging "
                           "is broken (every rank must run the same collectives in the same order).")
