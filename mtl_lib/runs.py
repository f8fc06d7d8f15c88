"""Saving and resuming a training run, atomically.

A run folder holds::

    checkpoint/model.safetensors   the weights (safetensors: no pickle, fast, safe)
    checkpoint/trainer.pt          optimizer, scheduler and GradScaler state (loaded weights_only)
    checkpoint/state.json          config, epoch reached, history so far
    metrics.json                   the final scores (written by the command line)

The checkpoint folder is written beside the old one and swapped in with
renames, so an interrupted save never leaves a half-written checkpoint: the
last good one survives. Between the two renames there is a moment when only
``.checkpoint-old`` exists; a crash there is repaired on the next read
(``checkpoint_dir`` moves it back), so a resume never silently starts over. A NaN never reaches disk either - the loop checks
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
OLD_CHECKPOINT = ".checkpoint-old"


def write_json(path: Path, data: dict) -> None:
    """Write JSON through a temporary file and a rename (atomic on POSIX)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2, default=str)
    os.replace(tmp, path)


def checkpoint_dir(run_dir: str | Path) -> Path:
    """``run_dir/checkpoint``; if a save was interrupted between its renames, the last good
    checkpoint (``.checkpoint-old``) is first moved back into place."""
    final, old = Path(run_dir) / CHECKPOINT, Path(run_dir) / OLD_CHECKPOINT
    if not final.exists() and (old / "state.json").exists():
        old.rename(final)
    return final


def has_checkpoint(run_dir: str | Path) -> bool:
    return (checkpoint_dir(run_dir) / "state.json").exists()


def save_checkpoint(run_dir: str | Path, model, optimizer, scheduler, state: dict, scaler=None) -> Path:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=run_dir, prefix=".checkpoint-"))
    weights = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(weights, tmp / "model.safetensors")
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict() if scaler is not None else {}}, tmp / "trainer.pt")
    write_json(tmp / "state.json", state)
    final, old = checkpoint_dir(run_dir), run_dir / OLD_CHECKPOINT
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def read_state(run_dir: str | Path) -> dict:
    path = checkpoint_dir(run_dir) / "state.json"
    if not path.exists():
        raise FileNotFoundError(f"No checkpoint in {run_dir} (expected {path}); "
                                "train first, or check --run / --out.")
    return json.loads(path.read_text())


def load_checkpoint(run_dir: str | Path, model, optimizer=None, scheduler=None, scaler=None) -> dict:
    """Restore weights (and optimizer/scheduler/GradScaler if given); return the saved state."""
    folder = checkpoint_dir(run_dir)
    state = read_state(run_dir)
    model.load_state_dict(load_file(folder / "model.safetensors"))
    if optimizer is not None:
        trainer = torch.load(folder / "trainer.pt", map_location="cpu", weights_only=True)
        optimizer.load_state_dict(trainer["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(trainer["scheduler"])
        if scaler is not None and trainer.get("scaler"):
            scaler.load_state_dict(trainer["scaler"])
    return state
