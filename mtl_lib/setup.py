"""One setup for every notebook and script: device, seed, scale, Colab.

Every notebook starts with the same cell (generated: ``setup_cell``)::

    from mtl_lib.setup import setup
    ctx = setup(notebook="04")   # seed, device, scale, paths; prints a summary and the expected time

so a notebook never hard-codes a device or a data size. The scale is the one
switch that decides how big a run is, everywhere (see ``SCALES``); notebooks
read it from the ``MTL_SCALE`` environment variable so that CI can execute
them at ``smoke`` scale while readers see ``laptop`` outputs.
"""

from __future__ import annotations

import os
import random
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
# Where the course lives on GitHub, and the ref (a tag or a commit) that Colab installs and opens:
# every notebook's badge and install line are generated from these two constants
# (``colab_badge``, ``install_line``; ``python -m mtl_lib.setup --sync-notebooks`` rewrites them,
# and tests/test_setup.py checks that every notebook agrees). A fork or a release changes these lines.
GITHUB_REPO = "mtl-minbert/mtl-minbert"
GIT_REF = "v0.1.0"


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
                    "the embedded MiniLM on a 2-core CPU, under a minute to ~70 minutes a notebook"),
    "colab": Scale("colab", "bert-base-uncased", 2000, 1000, 32, 128, 1,
                   "bert-base-uncased on one T4 (fp16), each notebook within 15 minutes"),
    "full": Scale("full", "bert-base-uncased", None, None, 32, 128, 10,
                  "bert-base-uncased, all the data, the paper's settings, on a GPU"),
}

# The colab scale's budget per notebook: the fields of the Scale that ``setup(notebook=...)`` hands that
# notebook (its cells fall back to ``ctx.scale`` outside smoke and laptop). Sized so that each notebook's
# work (``mtl_lib.budgets.NOTEBOOK_WORK``) fits 15 minutes on a T4 by the derived step cost.
COLAB_BUDGETS: dict[str, dict] = {
    "04": {"max_examples": 1024, "dev_examples": 500},  # 7 runs x 32 steps of 32 rows
    "05": {"max_examples": 2000, "dev_examples": 1000},  # 2 runs x 63 steps
    "06": {"max_examples": 1500, "dev_examples": 500},  # 2 runs x 47 steps
    "07": {"max_examples": 256, "dev_examples": 500},  # 5 runs x 3 epochs x 8 steps
    "09": {"max_examples": 1024, "dev_examples": 500},  # 2 runs x 32 steps (the levers' run, the final recipe)
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
    notebook: str | None = None  # "04" for 04_sequential_vs_summed.ipynb
    expected: str = ""  # how long the notebook takes at this scale on this device (mtl_lib.budgets)

    @property
    def train_dtype(self) -> torch.dtype:
        """The autocast dtype training uses here: bf16 on Ampere and later, fp16 on a T4, fp32 on a CPU."""
        from .train import amp_dtype

        return amp_dtype(self.device, True) or torch.float32

    def __str__(self) -> str:
        return (f"device={self.device} | scale={self.scale.name} ({self.scale.notes}) | "
                f"checkpoint={self.scale.checkpoint} | seed={self.seed} | torch {torch.__version__}")


def notebook_scale(scale: Scale, notebook: str | None) -> Scale:
    """The scale a notebook works at: at colab scale, the notebook's own budget (``COLAB_BUDGETS``)."""
    if scale.name != "colab" or notebook not in COLAB_BUDGETS:
        return scale
    return replace(scale, **COLAB_BUDGETS[notebook])


def setup(scale: str | None = None, seed: int = 0, device: str | None = None,
          verbose: bool = True, notebook: str | None = None) -> Context:
    """The notebooks' setup cell: seed, pick device and scale, say how long the notebook will take.

    On Colab with a GPU and no explicit scale (argument or ``MTL_SCALE``), the default becomes
    ``colab``: bert-base-uncased with per-notebook budgets that fit a free T4 session; ``full``
    stays for deliberate use. ``notebook`` ("04", or the file name) picks the notebook's budget
    and expected time.
    """
    dev = get_device(device, verbose=verbose)
    if scale is None and "MTL_SCALE" not in os.environ and in_colab() and dev.type == "cuda":
        scale = "colab"
    notebook = notebook[:2] if notebook else None
    chosen = notebook_scale(get_scale(scale), notebook)
    from .budgets import expected_time

    ctx = Context(device=dev, scale=chosen, seed=seed, notebook=notebook,
                  expected=expected_time(notebook, chosen.name, dev.type))
    seed_everything(seed)
    if verbose:
        print(ctx)
        if ctx.expected:
            print(ctx.expected)
    return ctx


# --- the Colab badge and install line of every notebook ---------------------------------------------
def colab_badge(notebook: str) -> str:
    """The Markdown badge that opens ``notebooks/<notebook>`` at ``GIT_REF`` on Colab."""
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{GITHUB_REPO}/blob/{GIT_REF}/notebooks/{notebook})")


def install_line() -> str:
    """The pip line the setup cell runs on Colab: the course at ``GIT_REF``, never whatever main is."""
    return f'%pip install -q "mtl-minbert @ git+https://github.com/{GITHUB_REPO}@{GIT_REF}"'


def setup_cell(notebook: str) -> str:
    """The first code cell of ``notebook`` (a file name such as ``04_sequential_vs_summed.ipynb``)."""
    return (f"# Setup: on Colab install the course; everywhere seed, device, scale and the expected time\n"
            f"# (MTL_SCALE = smoke | laptop | colab | full; on a Colab GPU the default is colab).\n"
            f"import sys\n"
            f"if \"google.colab\" in sys.modules:\n"
            f"    {install_line()}\n"
            f"from mtl_lib.setup import setup\n"
            f"ctx = setup(notebook=\"{notebook[:2]}\")")


BADGE_PATTERN = r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)"


def sync_notebooks(folder: Path = REPO_ROOT / "notebooks") -> list[str]:
    """Rewrite every notebook's badge, setup cell and Colab metadata from the constants; return those changed.

    Reads, edits and writes each file at once (others may be editing other cells)."""
    import re

    import nbformat

    changed = []
    for path in sorted(Path(folder).glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        before = nbformat.writes(nb)
        first_md = next(c for c in nb.cells if c.cell_type == "markdown")
        first_md.source = re.sub(BADGE_PATTERN, colab_badge(path.name).replace("\\", "\\\\"), first_md.source)
        first_code = next(c for c in nb.cells if c.cell_type == "code")
        first_code.source = setup_cell(path.name)
        nb.metadata["accelerator"] = "GPU"
        nb.metadata.setdefault("colab", {})["provenance"] = []
        nb.metadata["colab"]["gpuType"] = "T4"
        if nbformat.writes(nb) != before:
            nbformat.write(nb, path)
            changed.append(path.name)
    return changed


if __name__ == "__main__":
    if sys.argv[1:] == ["--sync-notebooks"]:
        print("rewrote:", ", ".join(sync_notebooks()) or "nothing (all agree)")
    else:
        print("usage: python -m mtl_lib.setup --sync-notebooks")
