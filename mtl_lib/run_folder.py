"""Saving and resuming a training run, atomically.

A run folder holds::

    checkpoint/model.safetensors   the weights (safetensors: no pickle, fast, safe)
    checkpoint/trainer.pt          optimizer, scheduler and GradScaler state (loaded weights_only), and for a
                                   mid-epoch checkpoint the random-number state; dropped when a run finishes
                                   (``drop_optimizer_state``): only resuming needs it
    checkpoint/state.json          config, epochs finished, history so far; a mid-epoch checkpoint
                                   also its ``position`` in the epoch (``mtl_lib.train``)
    metrics.json                   the final scores (written by the command line)

The checkpoint folder is written beside the old one and swapped in with
renames, so an interrupted save never leaves a half-written checkpoint: the
last good one survives. Between the two renames there is a moment when only
``.checkpoint-old`` exists; a crash there is repaired on the next read
(``checkpoint_dir`` moves it back), so a resume never silently starts over; the same happens when
``checkpoint/`` is damaged and ``.checkpoint-old`` is intact. A damaged file (cut short by a full disk
or an interrupted copy) is reported by name, with what to do, never as a raw reader error. A NaN never
reaches disk either - the loop checks the losses before it saves.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

def runs_dir(name: str | None = None) -> Path:
    """Where notebooks keep their runs: ``$MTL_RUNS_DIR`` (e.g. a mounted Google Drive folder, so that runs
    survive a recycled Colab runtime), else ``runs/`` in the working directory (beside the notebook);
    ``name`` gives a run's folder inside it."""
    base = Path(os.environ.get("MTL_RUNS_DIR") or "runs").expanduser()
    return base / name if name else base


CHECKPOINT = "checkpoint"
OLD_CHECKPOINT = ".checkpoint-old"
DAMAGED_CHECKPOINT = ".checkpoint-damaged"


class DamagedCheckpointError(RuntimeError):
    """A checkpoint file is cut short or corrupt."""


def damaged(path: Path, err: Exception) -> DamagedCheckpointError:
    """The error for a checkpoint file that cannot be read: which file, why, and what to do."""
    return DamagedCheckpointError(
        f"{path} is damaged or incomplete ({type(err).__name__}: {err}); a disk that filled up or an "
        f"interrupted copy leaves such a file. Copy the run folder again from where it was made, or train "
        f"the run again (into a new folder, or over this one: --force on the command line).")


def intact(folder: Path) -> bool:
    """Whether ``folder``'s state.json parses and its model.safetensors opens (header and size agree)."""
    try:
        json.loads((folder / "state.json").read_text())
        with safe_open(folder / "model.safetensors", "pt"):
            return True
    except Exception:  # noqa: BLE001 - any reader error means "not intact"
        return False


def write_json(path: Path, data: dict) -> None:
    """Write JSON through a temporary file and a rename (atomic on POSIX)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2, default=str)
    os.replace(tmp, path)


def checkpoint_dir(run_dir: str | Path) -> Path:
    """``run_dir/checkpoint``; if a save was interrupted between its renames (``checkpoint/`` missing)
    or ``checkpoint/`` is damaged, the last good checkpoint (``.checkpoint-old``, if intact) is first
    moved back into place; a damaged one is kept aside as ``.checkpoint-damaged``."""
    final, old = Path(run_dir) / CHECKPOINT, Path(run_dir) / OLD_CHECKPOINT
    if (old / "state.json").exists() and not (final.exists() and intact(final)) and intact(old):
        if final.exists():
            shutil.rmtree(Path(run_dir) / DAMAGED_CHECKPOINT, ignore_errors=True)
            final.rename(Path(run_dir) / DAMAGED_CHECKPOINT)
            warnings.warn(f"{final} is damaged; using the last good checkpoint {old} "
                          f"(the damaged one is kept as {DAMAGED_CHECKPOINT}).", stacklevel=2)
        old.rename(final)
    return final


def has_checkpoint(run_dir: str | Path) -> bool:
    return (checkpoint_dir(run_dir) / "state.json").exists()


def save_checkpoint(run_dir: str | Path, model, optimizer, scheduler, state: dict, scaler=None,
                    resume: dict | None = None) -> Path:
    """Write a checkpoint atomically; ``resume`` (tensors allowed, e.g. random-number states) goes into
    trainer.pt for ``read_resume_state``. Without an ``optimizer`` only the weights and state.json are
    written (``save_weights``)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=run_dir, prefix=".checkpoint-"))
    weights = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(weights, tmp / "model.safetensors")
    if optimizer is not None:
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict() if scaler is not None else {}, "resume": resume or {}},
                   tmp / "trainer.pt")
    write_json(tmp / "state.json", state)
    final, old = checkpoint_dir(run_dir), run_dir / OLD_CHECKPOINT
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def save_weights(run_dir: str | Path, model, state: dict) -> Path:
    """A finished run's checkpoint without its optimizer state (a third of the size with AdamW): what
    ``load_checkpoint`` restores for evaluation; ``state["epoch"]`` must say every epoch is trained."""
    return save_checkpoint(run_dir, model, None, None, state)


def read_state(run_dir: str | Path) -> dict:
    path = checkpoint_dir(run_dir) / "state.json"
    if not path.exists():
        raise FileNotFoundError(f"No checkpoint in {run_dir} (expected {path}); "
                                "train first, or check --run / --out.")
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise damaged(path, err) from None


def finished(state: dict) -> bool:
    """Whether a checkpoint's state is the end of its run (every epoch trained)."""
    return state["epoch"] >= state["train_config"]["epochs"]


def read_resume_state(run_dir: str | Path) -> dict:
    """What a mid-epoch checkpoint saved for resuming (``save_checkpoint``'s ``resume``); a clear error if lost."""
    path = checkpoint_dir(run_dir) / "trainer.pt"
    try:
        resume = torch.load(path, map_location="cpu", weights_only=True).get("resume")
    except Exception as err:  # noqa: BLE001 - a missing or truncated file
        raise damaged(path, err) from None
    if not resume:
        raise DamagedCheckpointError(f"{path} lacks the random-number state of its mid-epoch checkpoint, so the "
                                     "run cannot continue exactly. Train it again (--force on the command line).")
    return resume


def drop_optimizer_state(run_dir: str | Path) -> None:
    """Delete a finished run's optimizer state (``trainer.pt``: twice the weights' size with AdamW);
    the weights and state.json stay, enough to evaluate the run or to "resume" it (nothing left to train)."""
    (checkpoint_dir(run_dir) / "trainer.pt").unlink(missing_ok=True)


def load_checkpoint(run_dir: str | Path, model, optimizer=None, scheduler=None, scaler=None) -> dict:
    """Restore weights (and optimizer/scheduler/GradScaler if given); return the saved state.

    A finished run whose optimizer state was dropped restores its weights alone: nothing is left to train.
    """
    folder = checkpoint_dir(run_dir)
    state = read_state(run_dir)
    try:
        weights = load_file(folder / "model.safetensors")
    except Exception as err:  # noqa: BLE001 - SafetensorError, OSError: say which file, and what to do
        raise damaged(folder / "model.safetensors", err) from None
    model.load_state_dict(weights)
    if optimizer is not None and not (finished(state) and not (folder / "trainer.pt").exists()):
        try:
            trainer = torch.load(folder / "trainer.pt", map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - a missing or truncated file
            raise damaged(folder / "trainer.pt", err) from None
        optimizer.load_state_dict(trainer["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(trainer["scheduler"])
        if scaler is not None and trainer.get("scaler"):
            scaler.load_state_dict(trainer["scaler"])
    return state
