"""One setup for every notebook and script: device, seed, scale, Colab.

Every notebook starts with the same cell::

    from mtl_lib.setup import setup
    ctx = setup()          # seed, device, scale, paths; prints one summary line

so a notebook never hard-codes a device or a data size. The scale is the one
switch that decides how big a run is, everywhere (see ``SCALES``); notebooks
read it from the ``MTL_SCALE`` environment variable so that CI can execute
them at ``smoke`` scale while readers see ``laptop`` outputs.
"""

from __future__ import annotations

import os
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
# Where the course lives on GitHub: the Colab badges and the Colab install cell
# use it. A fork changes this one line (and re-runs tools/make_notebooks.py).
GITHUB_REPO = "mtl-minbert/mtl-minbert"


@dataclass(frozen=True)
class Scale:
    """How big a run is. Later notebooks add their own knobs here."""

    name: str
    checkpoint: str  # a known checkpoint name or a folder
    max_examples: int | None  # training rows kept per task (None: all)
    dev_examples: int | None  # dev rows kept per task (None: all)
    batch_size: int
    max_length: int  # tokens per sentence after truncation
    epochs: int
    notes: str = field(default="", compare=False)


SCALES: dict[str, Scale] = {
    "smoke": Scale("smoke", "all-MiniLM-L6-v2", 64, 64, 16, 64, 1,
                   "seconds per notebook: CI and nbval"),
    "laptop": Scale("laptop", "all-MiniLM-L6-v2", 2000, None, 32, 128, 2,
                    "the embedded MiniLM on a 2-core CPU, ~10 minutes a notebook"),
    "full": Scale("full", "bert-base-uncased", None, None, 32, 128, 10,
                  "bert-base-uncased, all the data, the paper's settings, on a GPU"),
}


def get_scale(scale: str | Scale | None = None) -> Scale:
    """Return the ``Scale`` named by the argument, else ``$MTL_SCALE``, else ``laptop``."""
    if isinstance(scale, Scale):
        return scale
    name = scale or os.environ.get("MTL_SCALE", "laptop")
    if name not in SCALES:
        raise ValueError(
            f"Unknown scale {name!r} (from {'the argument' if scale else 'MTL_SCALE'}); "
            f"choose one of {', '.join(SCALES)}."
        )
    return SCALES[name]


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and torch (all devices) so runs repeat."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def in_colab() -> bool:
    return "google.colab" in sys.modules


def get_device(prefer: str | None = None, verbose: bool = True) -> torch.device:
    """Pick ``cuda``, then ``mps``, then ``cpu`` (or the device named by
    ``prefer`` / ``$MTL_DEVICE``). On Colab without a GPU runtime, say how to get one."""
    prefer = prefer or os.environ.get("MTL_DEVICE")
    if prefer:
        if prefer.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"Device {prefer!r} was asked for, but torch sees no CUDA GPU. "
                               "Use 'cpu', or run on a machine with a GPU.")
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    if verbose and in_colab():
        print("No GPU found. On Colab: Runtime > Change runtime type > Hardware accelerator: "
              "GPU (T4 is enough), then run this cell again. Continuing on the CPU.")
    return torch.device("cpu")


@dataclass
class Context:
    """What the setup cell decided; notebooks pass it around."""

    device: torch.device
    scale: Scale
    seed: int
    repo_root: Path = REPO_ROOT

    def __str__(self) -> str:
        return (f"device={self.device} | scale={self.scale.name} ({self.scale.notes}) | "
                f"checkpoint={self.scale.checkpoint} | seed={self.seed} | torch {torch.__version__}")


def setup(scale: str | None = None, seed: int = 0, device: str | None = None,
          verbose: bool = True) -> Context:
    """The notebooks' setup cell: install on Colab, seed, pick device and scale.

    On Colab with a GPU and no explicit scale, the default becomes ``full``.
    """
    dev = get_device(device, verbose=verbose)
    if scale is None and "MTL_SCALE" not in os.environ and in_colab() and dev.type == "cuda":
        scale = "full"
    ctx = Context(device=dev, scale=get_scale(scale), seed=seed)
    seed_everything(seed)
    if verbose:
        print(ctx)
    return ctx
