"""The student release: a copy of the course with the solutions taken out.

Which files: the ones git knows (``git ls-files``: tracked, plus untracked
files that are not ignored, so uncommitted work is released as it is on
disk), or, outside a git checkout, a walk that skips the usual build and
cache folders. Instructor-only files (the hidden grading tests, the tests of
this tool) stay behind; every other file is copied unchanged unless it holds
solution blocks (stubbed) or is a notebook (stubbed and outputs cleared).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from . import GRADING_DIR, ClassroomError
from .stubs import BEGIN, library_message, stub_notebook, stub_text

INSTRUCTOR_ONLY = (GRADING_DIR + "/", "tests/test_classroom.py")
SKIP_DIRS = {".git", ".venv", "venv", "__pycache__", ".pytest_cache", ".ipynb_checkpoints",
             "build", "dist", "runs", ".mypy_cache"}


def course_files(root: Path) -> list[str]:
    """Paths (relative, with '/') of the course files under ``root``."""
    try:
        listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                 cwd=root, capture_output=True, text=True, check=True).stdout
        files = [f for f in listing.split("\0") if f]
    except (OSError, subprocess.CalledProcessError):  # no git, or not a checkout
        files = []
        for folder, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info"))
            files += [str((Path(folder) / n).relative_to(root).as_posix()) for n in names]
        files = [f for f in files if not f.startswith("data/") or f == "data/README.md"]
    return sorted(f for f in files if (root / f).is_file())  # a deleted, still-tracked file is gone


def make_release(source: Path, out: Path) -> dict:
    """Write the student copy of ``source`` into ``out`` (new or empty).

    Returns ``{"files": n, "stubbed": {path: blocks}}``. Raises ClassroomError
    for bad markers (naming file and line) or an unusable ``out``.
    """
    source, out = Path(source).resolve(), Path(out).resolve()
    if not (source / "mtl_lib").is_dir():
        raise ClassroomError(f"{source} is not the course repository (no mtl_lib folder there).")
    if out == source or source in out.parents:
        raise ClassroomError(f"--out {out} is inside the course repository {source}; choose a folder "
                             "outside it, e.g. ../course-release.")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ClassroomError(f"--out {out} already exists and is not an empty folder; "
                             "remove it or choose a new one.")
    stubbed, files = {}, [f for f in course_files(source) if not f.startswith(INSTRUCTOR_ONLY)]
    for rel in files:
        src, dst = source / rel, out / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".ipynb"):
            notebook, count = stub_notebook(json.loads(src.read_text(encoding="utf-8")), rel)
            dst.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        elif rel.endswith(".py") and BEGIN in (text := src.read_text(encoding="utf-8")):
            new_text, blocks = stub_text(text, rel, library_message(rel))
            dst.write_text(new_text, encoding="utf-8")
            count = len(blocks)
        else:
            shutil.copy2(src, dst)
            continue
        shutil.copymode(src, dst)
        if count:
            stubbed[rel] = count
    return {"files": len(files), "stubbed": stubbed}
