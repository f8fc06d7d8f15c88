"""The bookkeeping of a training run: when it reports, records and saves, and what it keeps to resume
exactly. None of it changes what the run computes (``BOOKKEEPING``: the options a run may be resumed
with other values of). ``Trainer`` (``mtl_lib.train``) keeps the state; these are its rules.
"""

from __future__ import annotations

import json
import time

import torch

from . import distributed

#: Options that change when and how often a run saves or reports, never what it computes:
#: a run may be resumed with other values of these.
BOOKKEEPING = ("log_every", "checkpoint_every", "checkpoint_minutes")


def every(done: int, period: int) -> bool:
    """Whether step count ``done`` ends a period of ``period`` steps (0: never)."""
    return bool(period) and done % period == 0


class CheckpointClock:
    """When a mid-epoch checkpoint is due: every ``steps`` optimizer steps, or ``minutes`` after the last
    save (0: off). Only with a run folder and in a single process: under torchrun every rank has its own
    random state, which one file does not keep."""

    def __init__(self, steps: int, minutes: float, enabled: bool):
        self.steps, self.minutes = steps, minutes
        self.enabled = enabled and distributed.world_size() == 1
        self.saved()

    def saved(self) -> None:
        """A checkpoint was written just now."""
        self.at = time.monotonic()

    def due(self, step: int) -> bool:
        if not self.enabled:
            return False
        by_steps = every(step, self.steps)
        by_time = bool(self.minutes) and time.monotonic() - self.at >= 60 * self.minutes
        return by_steps or by_time


def rng_state(device: torch.device, generator: torch.Generator) -> dict:
    """The random-number state a mid-epoch checkpoint keeps: dropout masks (CPU and CUDA) and PCGrad's
    visiting orders (``generator``)."""
    state = {"cpu": torch.get_rng_state(), "pcgrad": generator.get_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device, generator: torch.Generator) -> None:
    """Back to a state ``rng_state`` kept."""
    torch.set_rng_state(state["cpu"])
    generator.set_state(state["pcgrad"])
    if "cuda" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)


def config_changes(saved: dict, now: dict) -> list[str]:
    """What differs between the configuration a checkpoint saved and the one resuming it (both flat dicts:
    training options, and the head's as ``head.<name>``), ``BOOKKEEPING`` aside: 'lr (saved 0.0001, now 0.001)'."""
    saved, now = json.loads(json.dumps(saved, default=str)), json.loads(json.dumps(now, default=str))
    return [f"{k} (saved {saved.get(k)!r}, now {now.get(k)!r})"
            for k in sorted(set(saved) | set(now)) if saved.get(k) != now.get(k) and k not in BOOKKEEPING]


def loss_row(epoch: int, phase: str, step: int, tasks: list[str], sums: list[float], done: int,
             mark: tuple[int, list[float]], weights: dict[str, float]) -> dict:
    """A row of the loss history after ``done`` steps of a phase: each task's mean training loss since
    ``mark`` (the step count and the running loss sums ``sums`` had at the previous row), and the learned
    task weights, if any."""
    n = done - mark[0]
    return {"epoch": epoch + 1, "phase": phase, "step": step,
            **{f"train_loss_{t}": (v - m) / n for t, v, m in zip(tasks, sums, mark[1])},
            **{f"weight_{t}": w for t, w in weights.items()}}


def pcgrad_summary(tasks: list[str], steps: list[list[float]]) -> dict[str, float]:
    """A phase's PCGrad record (per step: the pairwise cosines of the task gradients, then the fraction of
    pairs projected) as its means: pcgrad_cos_sst-para, ..., pcgrad_projected."""
    names = [f"{a}-{b}" for i, a in enumerate(tasks) for b in tasks[i + 1:]]
    summary = {f"pcgrad_cos_{name}": sum(s[k] for s in steps) / len(steps) for k, name in enumerate(names)}
    summary["pcgrad_projected"] = sum(s[-1] for s in steps) / len(steps)
    return summary
