"""Saving and resuming a training run, atomically.

A run folder holds::

    checkpoint/model.safetensors   the weights (safetensors: no pickle, fast, safe)
    checkpoint/trainer.pt          optimizer and scheduler state (loaded weights_only)
    checkpoint/state.json          config, epoch reached, history so far
    metrics.json                   the final scores (written by the command line)

The checkpoint folder is written beside the old one and swapped in with
renames, so an interrupted save never leaves a half-written checkpoint: the
last good one survives. A NaN never reaches disk either - the loop checks
the losses before it saves.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

CHECKPOINT = "checkpoint"


def write_json(path: Path, data: dict) -> None:
    """Write JSON through a temporary file and a rename (atomic on POSIX)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2, default=str)
    os.replace(tmp, path)


def save_checkpoint(run_dir: str | Path, model, optimizer, scheduler, state: dict) -> Path:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=run_dir, prefix=".checkpoint-"))
    weights = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(weights, tmp / "model.safetensors")
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
               tmp / "trainer.pt")
    write_json(tmp / "state.json", state)
    final, old = run_dir / CHECKPOINT, run_dir / ".checkpoint-old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def read_state(run_dir: str | Path) -> dict:
    path = Path(run_dir) / CHECKPOINT / "state.json"
    if not path.exists():
        raise FileNotFoundError(f"No checkpoint in {run_dir} (expected {path}); "
                                "train first, or check --run / --out.")
    return json.loads(path.read_text())


def load_checkpoint(run_dir: str | Path, model, optimizer=None, scheduler=None) -> dict:
    """Restore weights (and optimizer/scheduler if given); return the saved state."""
    folder = Path(run_dir) / CHECKPOINT
    state = read_state(run_dir)
    model.load_state_dict(load_file(folder / "model.safetensors"))
    if optimizer is not None:
        trainer = torch.load(folder / "trainer.pt", map_location="cpu", weights_only=True)
        optimizer.load_state_dict(trainer["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(trainer["scheduler"])
    return state
