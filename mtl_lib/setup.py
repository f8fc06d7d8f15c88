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
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from .budgets import expected_time
from .options import BUDGETS, SCALES, Scale, get_scale  # noqa: F401 - their old home: notebooks import them here
from .train import amp_dtype

REPO_ROOT = Path(__file__).resolve().parent.parent
# Where the course lives on GitHub, and the ref (a tag or a commit) that Colab installs and opens:
# every notebook's badge and setup cell are generated from these constants (``colab_badge``,
# ``setup_cell``). Whoever publishes the course sets them with
# ``python -m mtl_lib.setup --sync-notebooks --repo OWNER/NAME --ref TAG``, which rewrites these lines
# and every notebook (tests/test_colab.py checks that every notebook agrees).
GITHUB_REPO = "mtl-minbert/mtl-minbert"
GIT_REF = "v0.1.0"
# True in a student release (``python -m mtl_lib.classroom release`` sets it): the setup cell then runs the
# student's own copy (on Colab: from their Drive, installed editable) and never installs the course package,
# which holds the solutions; and ``setup()`` turns autoreload on, so that edits to mtl_lib take effect.
STUDENT_COPY = False


# How big a run is (``Scale``, ``SCALES``, ``get_scale``) and the colab scale's budget per notebook (the Scale
# fields ``setup(notebook=...)`` hands it) live with the rest of the run configuration in ``mtl_lib.options``.
COLAB_BUDGETS: dict[str, dict] = BUDGETS["colab"]["notebooks"]


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
    ctx = Context(device=dev, scale=chosen, seed=seed, notebook=notebook,
                  expected=expected_time(notebook, chosen.name, dev.type))
    seed_everything(seed)
    if verbose:
        print(ctx)
        if ctx.expected:
            print(ctx.expected)
    from . import colab

    if STUDENT_COPY:
        colab.enable_autoreload()
    if in_colab():
        colab.offer_drive_runs(notebook)
    return ctx


# --- the Colab badge and setup cell of every notebook -----------------------------------------------
# Both are generated from the constants above (or the values given), so that a notebook, the package it
# installs and a release can never disagree. The setup cell is plain Python (no % magics): it runs, and
# can be tested, outside IPython too.

def colab_badge(notebook: str, repo: str | None = None, ref: str | None = None) -> str:
    """The Markdown badge that opens ``notebooks/<notebook>`` of ``repo`` (default ``GITHUB_REPO``) at ``ref``
    (default ``GIT_REF``) on Colab; "" for a repository of none (a student release without ``--repo``)."""
    repo = GITHUB_REPO if repo is None else repo
    if not repo:
        return ""
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"(https://colab.research.google.com/github/{repo}/blob/{ref or GIT_REF}/notebooks/{notebook})")


def install_spec(repo: str | None = None, ref: str | None = None) -> str:
    """What Colab's setup cell installs: the course at ``ref``, never whatever main is (public course only)."""
    return f"mtl-minbert @ git+https://github.com/{repo or GITHUB_REPO}@{ref or GIT_REF}"


def drive_folder(repo: str | None = None) -> str:
    """Where a student's copy of the course lives on the mounted Google Drive (named after the repository)."""
    name = (repo or GITHUB_REPO or "mtl-minbert").rsplit("/", 1)[-1]
    return f"/content/drive/MyDrive/{name}"


def _public_colab_lines(repo: str, ref: str) -> list[str]:
    """Install the pinned course; if pip fails, stop with one message that says what failed and what to do."""
    return [
        "    import subprocess",
        f'    COURSE = "{install_spec(repo, ref)}"',
        '    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", COURSE], capture_output=True, text=True)',
        "    if pip.returncode:",
        '        why = (pip.stderr.strip().splitlines() or ["pip said nothing"])[-1]',
        '        raise SystemExit(f"Could not install the course ({COURSE}): {why}\\n"',
        f'                         "Check that https://github.com/{repo}/tree/{ref} opens in a browser and that this "',
        '                         "runtime is online, then run this cell again. If it does not open, this notebook "',
        '                         "came from a copy that was never published: open the notebook from the course\'s "',
        '                         "README on GitHub instead (docs/colab.md, If the install fails).")',
    ]


def _student_colab_lines(repo: str) -> list[str]:
    """Mount Drive; the first time, clone the student's repository there (a token for a private one); then
    ``colab.use_own_copy`` installs that folder editable. Standard library only: mtl_lib is not there yet."""
    return [
        "    import os, subprocess",
        "    from getpass import getpass",
        "    from google.colab import drive",
        f'    COURSE = "{drive_folder(repo)}"  # your copy of the course on your Drive',
        '    drive.mount("/content/drive")',
        "    if not os.path.isdir(COURSE):  # the first time: clone your GitHub repository into COURSE",
        '        url = "https://github.com/" + input("Your GitHub repository (OWNER/NAME): ").strip()',
        '        token = getpass("A GitHub token that can read it (Enter: a public repository): ").strip()',
        '        login = url.replace("https://", f"https://x-access-token:{token}@") if token else url',
        '        clone = subprocess.run(["git", "clone", "-q", login, COURSE], capture_output=True, text=True)',
        "        if clone.returncode:",
        '            why = clone.stderr.strip().replace(token or "\\0", "***")',
        '            raise SystemExit(f"Could not clone {url} into {COURSE} ({why}); check the name and the token "',
        '                             "(docs/students.md), or upload your copy of the course there.")',
        '        subprocess.run(["git", "-C", COURSE, "remote", "set-url", "origin", url], check=True)  # no token kept',
        "    sys.path.insert(0, COURSE)",
        "    from mtl_lib.colab import use_own_copy",
        "    use_own_copy(COURSE)  # installs it editable; runs go to COURSE/notebooks/runs",
    ]


def setup_cell(notebook: str, repo: str | None = None, ref: str | None = None,
               student: bool | None = None) -> str:
    """The first code cell of ``notebook`` (a file name such as ``04_sequential_vs_summed.ipynb``).

    The public course (``student`` False) installs the package pinned at ``ref`` on Colab; a student copy
    (``STUDENT_COPY``) runs the student's own code, on Colab from their Drive, with autoreload."""
    repo = GITHUB_REPO if repo is None else repo
    ref = ref or GIT_REF
    student = STUDENT_COPY if student is None else student
    if student:
        head = ["# Setup: YOUR copy of the course runs here, and an edit to mtl_lib takes effect the next time a",
                "# cell runs (autoreload). On Colab your Google Drive is mounted and your copy installed from COURSE",
                "# there (the first time it is cloned from your GitHub repository; steps: docs/students.md).",
                "# Everywhere: seed, device, scale (MTL_SCALE) and the expected time."]
        colab = _student_colab_lines(repo)
    else:
        head = ["# Setup: on Colab install the course; everywhere seed, device, scale and the expected time",
                "# (MTL_SCALE = smoke | laptop | colab | full; on a Colab GPU the default is colab)."]
        colab = _public_colab_lines(repo, ref)
    return "\n".join([*head, "import sys", 'if "google.colab" in sys.modules:', *colab,
                      "from mtl_lib.setup import setup", f'ctx = setup(notebook="{notebook[:2]}")'])


BADGE_PATTERN = r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)"


def sync_notebooks(folder: Path = REPO_ROOT / "notebooks", repo: str | None = None, ref: str | None = None,
                   student: bool | None = None) -> list[str]:
    """Rewrite every notebook's badge, setup cell and Colab metadata (from the constants, or the values given);
    return the names of those changed. Reads, edits and writes each file at once (others may be editing
    other cells); a notebook's outputs are kept."""
    import re

    import nbformat

    changed = []
    for path in sorted(Path(folder).glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        before = nbformat.writes(nb)
        first_md = next(c for c in nb.cells if c.cell_type == "markdown")
        badge = colab_badge(path.name, repo, ref).replace("\\", "\\\\")
        first_md.source = re.sub(r" ?" + BADGE_PATTERN if not badge else BADGE_PATTERN, badge, first_md.source)
        first_code = next(c for c in nb.cells if c.cell_type == "code")
        first_code.source = setup_cell(path.name, repo, ref, student)
        nb.metadata["accelerator"] = "GPU"
        nb.metadata.setdefault("colab", {})["provenance"] = []
        nb.metadata["colab"]["gpuType"] = "T4"
        if nbformat.writes(nb) != before:
            nbformat.write(nb, path)
            changed.append(path.name)
    return changed


def publish(repo: str, ref: str, root: Path = REPO_ROOT) -> list[str]:
    """Point the course at ``repo`` (OWNER/NAME) and ``ref`` (a tag that exists there): rewrite
    ``GITHUB_REPO`` and ``GIT_REF`` in this file, the README's badges and every notebook. Returns what changed."""
    import re

    if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repo):
        raise ValueError(f"--repo {repo!r}: give the course's GitHub repository as OWNER/NAME.")
    if not re.fullmatch(r"[A-Za-z0-9_./-]+", ref) or ref in ("main", "master"):
        raise ValueError(f"--ref {ref!r}: give a tag (e.g. v0.1.0) that exists in {repo}: a branch moves, "
                         "and the notebooks would then install code they were not written for.")
    changed = []
    source = root / "mtl_lib" / "setup.py"
    text = source.read_text(encoding="utf-8")
    new = re.sub(r'^GITHUB_REPO = "[^"]*"', f'GITHUB_REPO = "{repo}"', text, count=1, flags=re.M)
    new = re.sub(r'^GIT_REF = "[^"]*"', f'GIT_REF = "{ref}"', new, count=1, flags=re.M)
    if new != text:
        source.write_text(new, encoding="utf-8")
        changed.append("mtl_lib/setup.py")
    readme = root / "README.md"
    text = readme.read_text(encoding="utf-8")
    new = re.sub(r"colab\.research\.google\.com/github/[^/\s]+/[^/\s]+/blob/[^/\s]+/notebooks/",
                 f"colab.research.google.com/github/{repo}/blob/{ref}/notebooks/", text)
    if new != text:
        readme.write_text(new, encoding="utf-8")
        changed.append("README.md")
    return changed + sync_notebooks(root / "notebooks", repo, ref, student=False)


def main(argv: list[str] | None = None) -> int:
    """``python -m mtl_lib.setup --sync-notebooks [--repo OWNER/NAME --ref TAG]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m mtl_lib.setup", description="Regenerate every notebook's "
                                     "Colab badge and setup cell; with --repo and --ref, first point the course "
                                     "(mtl_lib/setup.py, the README's badges) at that repository and tag.")
    parser.add_argument("--sync-notebooks", action="store_true", required=True)
    parser.add_argument("--repo", help="the GitHub repository the course is published in, OWNER/NAME")
    parser.add_argument("--ref", help="with --repo: the tag the badges open and Colab installs")
    args = parser.parse_args(argv)
    if bool(args.repo) != bool(args.ref):
        parser.error("--repo and --ref go together: the repository and the tag in it that Colab installs.")
    try:
        changed = publish(args.repo, args.ref) if args.repo else sync_notebooks()
    except ValueError as error:
        parser.error(str(error))
    print("rewrote:", ", ".join(changed) or "nothing (all agree)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
