"""Timing code fairly: wait for the device, let the contenders take turns, keep the fastest run.

Two pitfalls make naive timings wrong. CUDA and MPS calls return before the work is done, so the
clock must wait for the device (``synchronize``). And on a machine shared with other programs a
background burst slows whichever function happens to run at that moment; letting the functions
take turns, and keeping each one's fastest run (the least disturbed), compares them under the same
conditions (``fastest_seconds``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def synchronize(device: torch.device | str) -> None:
    """Wait until the work queued on ``device`` has finished (CUDA, MPS); nothing to wait for on a CPU."""
    kind = torch.device(device).type
    if kind == "cuda":
        torch.cuda.synchronize(device)
    elif kind == "mps":
        torch.mps.synchronize()


def fastest_seconds(fns: dict[str, Callable[[], object]], repeats: int = 7, warmup: int = 1,
                    device: torch.device | str = "cpu", threads: int | None = None) -> dict[str, float]:
    """``{name: function}`` -> ``{name: its fastest of `repeats` timed runs, in seconds}``.

    Each function first runs ``warmup`` times untimed (first calls pay for kernel choice and memory
    allocation). Then, ``repeats`` times, every function runs once, each round starting with the
    next function in turn, with the clock stopped only after ``device`` has finished. With
    ``threads`` set, a CPU run uses that many torch threads (restored afterwards).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, not {repeats}")
    names = list(fns)
    saved_threads = torch.get_num_threads()
    if threads is not None and torch.device(device).type == "cpu":
        torch.set_num_threads(threads)
    try:
        for name in names:
            for _ in range(warmup):
                fns[name]()
        times: dict[str, list[float]] = {name: [] for name in names}
        for r in range(repeats):
            k = r % len(names)
            for name in names[k:] + names[:k]:  # rotate who goes first
                synchronize(device)
                start = time.perf_counter()
                fns[name]()
                synchronize(device)
                times[name].append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(saved_threads)
    return {name: min(t) for name, t in times.items()}
