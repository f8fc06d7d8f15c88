"""The student release: a copy of the course with the solutions taken out.

Which files: the ones git knows (``git ls-files``: tracked, plus untracked
files that are not ignored, so uncommitted work is released as it is on
disk), or, outside a git checkout, a walk that skips the usual build and
cache folders. Instructor-only files (the hidden grading tests, the tests of
this tool, ``docs/instructors.md``) stay behind, and so does the README's
"For instructors" section. Every other file is copied unchanged unless it
holds solution blocks (stubbed) or is a notebook (stubbed and outputs cleared).

One assignment at a time (``assignment=N``): the exercises of assignment N and
of every later assignment are stubbed (a release never hands out the answers
of assignments still to come), the reference code of earlier assignments stays
in, so that a student stuck on assignment 1 can go on with assignment 2 (a
notebook still stops where it uses a stubbed exercise). ``keep_later=True`` keeps later assignments' solutions too (for
a course whose students never get a later release). Library blocks follow
their exercise's assignment, notebook blocks their notebook's.

For students on Colab (``repo="OWNER/NAME"``, ``ref``): the Colab badges, the
notebooks' install lines and ``GITHUB_REPO`` in ``mtl_lib/setup.py`` point at
the students' repository instead of the public course, which holds the answers.
The release also gets ``.github/classroom/autograding.json`` (``autograding``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from . import EXERCISES, GRADING_DIR, ClassroomError, assignment_box, exercise_at, get_assignment, \
    notebook_assignment
from .stubs import BEGIN, Block, library_message, stub_notebook, stub_text

INSTRUCTOR_ONLY = (GRADING_DIR + "/", "tests/test_classroom.py", "docs/instructors.md")
SKIP_DIRS = {".git", ".venv", "venv", "__pycache__", ".pytest_cache", ".ipynb_checkpoints",
             "build", "dist", "runs", ".mypy_cache"}
TEXT_SUFFIXES = (".ipynb", ".md", ".py", ".toml", ".txt", ".yml", ".yaml", ".cfg", ".json")
REPO_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
REF_PATTERN = re.compile(r"^[A-Za-z0-9_./-]+$")


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


def stubbed_exercises(assignment: int | None, keep_later: bool = False) -> list:
    """The exercises a release stubs: all (None), or assignment N and (unless ``keep_later``) the later ones."""
    chosen = get_assignment(assignment)
    if chosen is None:
        return list(EXERCISES)
    return [e for e in EXERCISES if e.assignment == chosen.number or (e.assignment > chosen.number and not keep_later)]


def github_target(source: Path) -> tuple[str, str | None]:
    """``GITHUB_REPO`` (and ``GITHUB_REF`` if it is there) as written in the course's ``mtl_lib/setup.py``."""
    text = (source / "mtl_lib" / "setup.py").read_text(encoding="utf-8")
    repo = re.search(r"^GITHUB_REPO\s*(?::\s*str\s*)?=\s*[\"']([^\"']+)[\"']", text, re.M)
    ref = re.search(r"^GITHUB_REF\s*(?::\s*str\s*)?=\s*[\"']([^\"']+)[\"']", text, re.M)
    if not repo:
        raise ClassroomError(f"{source / 'mtl_lib/setup.py'}: no line GITHUB_REPO = \"OWNER/NAME\" to "
                             "retarget; --repo needs it.")
    return repo.group(1), ref.group(1) if ref else None


def retarget(text: str, old_repo: str, new_repo: str, ref: str | None) -> str:
    """Point GitHub and Colab links of ``old_repo`` at ``new_repo``.

    ``.../blob/X/...`` and ``.../tree/X/...`` get ``ref`` (``main`` when none is given);
    ``git+https://github.com/OLD[@X]`` install lines get ``@ref`` (no ref: none);
    other links just change the repository.
    """
    pattern = re.compile(r"(?P<host>git\+https://github\.com/|github\.com/|colab\.research\.google\.com/github/)"
                         + re.escape(old_repo) + r"(?P<rest>/(?:blob|tree)/[^/\s\"')]+|@[\w.\-/]*\w)?(?![\w-])")

    def replace(match: re.Match) -> str:
        host, rest = match["host"], match["rest"] or ""
        if rest.startswith("/"):  # /blob/X or /tree/X
            rest = f"/{rest.split('/')[1]}/{ref or 'main'}"
        elif host.startswith("git+") or rest.startswith("@"):
            rest = f"@{ref}" if ref else ""
        return f"{host}{new_repo}{rest}"

    return pattern.sub(replace, text)


def drop_instructor_section(readme: str) -> str:
    """README without its "## For instructors" section; links to removed parts become plain text."""
    readme = re.sub(r"^## For instructors\b.*?(?=^## |\Z)", "", readme, flags=re.S | re.M)
    return re.sub(r"\[([^\]]+)\]\((?:#for-instructors|docs/instructors\.md)\)", r"\1", readme)


def drop_classroom_check(ci: str) -> str:
    """``.ci/run`` without the instructors' classroom check (a release has no grading tests to check)."""
    return re.sub(r"^# README: classroom check\n[^\n]*\n", "", ci, flags=re.M)


def autograding(exercises: list) -> dict:
    """GitHub Classroom's ``.github/classroom/autograding.json``: one test per exercise.

    Each runs the exercise's public sanity checks (``python -m mtl_lib.classroom test NAME``, exit 0 = the
    points): the hidden grading tests never go to the students' repositories, so these points are feedback,
    and the grade comes from ``grade`` on the submissions."""
    tests = []
    for i, e in enumerate(exercises):
        tests.append({
            "name": f"{e.name} (public checks; {e.file}, {e.function})",
            "setup": ("pip install -q torch --index-url https://download.pytorch.org/whl/cpu && pip install -q -e ."
                      if i == 0 else ""),
            "run": f"python -m mtl_lib.classroom test {e.name}",
            "input": "", "output": "", "comparison": "included",
            "timeout": 15 if i == 0 else 5,  # minutes; the first one installs the course
            "points": e.points,
        })
    return {"tests": tests}


def _given_box(number: int) -> str:
    assignment = get_assignment(number)
    return (f"> **Assignment {number}: {assignment.title}** is not part of this release: its reference "
            "solutions are in place.")


def make_release(source: Path, out: Path, assignment: int | None = None, repo: str | None = None,
                 ref: str | None = None, keep_later: bool = False) -> dict:
    """Write the student copy of ``source`` into ``out`` (new or empty).

    Returns ``{"files": n, "stubbed": {path: blocks}, "exercises": [names stubbed]}``. Raises ClassroomError
    for bad markers (naming file and line), bad arguments, or an unusable ``out``.
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
    if repo is not None and not REPO_PATTERN.match(repo):
        raise ClassroomError(f"--repo {repo!r}: give the students' repository as OWNER/NAME, e.g. my-org/minbert-2025.")
    if ref is not None and (repo is None or not REF_PATTERN.match(ref)):
        raise ClassroomError(f"--ref {ref!r}: give a branch or tag name (letters, digits, . _ / -) "
                             "together with --repo.")
    exercises = stubbed_exercises(assignment, keep_later)
    names = {e.name for e in exercises}
    numbers = {e.assignment for e in exercises}
    old_repo = github_target(source)[0] if repo else None

    def stub_library_block(rel: str) -> callable:
        return lambda block: (exercise_at(rel, block.function) is None
                              or exercise_at(rel, block.function).name in names)

    def stub_notebook_block(rel: str) -> callable:
        owner = notebook_assignment(Path(rel).stem)
        return lambda block: owner is None or owner.number in numbers

    stubbed, files = {}, [f for f in course_files(source) if not f.startswith(INSTRUCTOR_ONLY)]
    for rel in files:
        src, dst = source / rel, out / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        count = 0
        if rel.endswith(".ipynb"):
            notebook, count = stub_notebook(json.loads(src.read_text(encoding="utf-8")), rel,
                                            stub_block=stub_notebook_block(rel))
            owner = notebook_assignment(Path(rel).stem)
            for cell in notebook.get("cells", []):
                if cell.get("id") == "assignment-box" and owner is not None:
                    cell["source"] = (assignment_box(owner) if owner.number in numbers
                                      else _given_box(owner.number))
            text = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
        elif rel.endswith(".py") and BEGIN in (text := src.read_text(encoding="utf-8")):
            text, blocks = stub_text(text, rel, library_message(rel), stub_block=stub_library_block(rel))
            count = len(blocks)
        elif rel == "README.md":
            text = drop_instructor_section(src.read_text(encoding="utf-8"))
        elif rel == ".ci/run":
            text = drop_classroom_check(src.read_text(encoding="utf-8"))
        elif repo and rel.endswith(TEXT_SUFFIXES):
            text = src.read_text(encoding="utf-8")
        else:
            shutil.copy2(src, dst)
            continue
        if repo and rel.endswith(TEXT_SUFFIXES):
            text = retarget(text, old_repo, repo, ref)
            if rel == "mtl_lib/setup.py":
                text = re.sub(r"^(GITHUB_REF\s*(?::\s*str\s*)?=\s*)[\"'][^\"']*[\"']", rf'\1"{ref or "main"}"',
                              re.sub(r"^(GITHUB_REPO\s*(?::\s*str\s*)?=\s*)[\"'][^\"']*[\"']", rf'\1"{repo}"',
                                     text, flags=re.M), flags=re.M)
        dst.write_text(text, encoding="utf-8")
        shutil.copymode(src, dst)
        if count:
            stubbed[rel] = count
    config = out / ".github" / "classroom" / "autograding.json"
    config.parent.mkdir(parents=True, exist_ok=True)
    due = [e for e in exercises if assignment is None or e.assignment == assignment]
    config.write_text(json.dumps(autograding(due), indent=2) + "\n", encoding="utf-8")
    return {"files": len(files) + 1, "stubbed": stubbed, "exercises": [e.name for e in exercises]}
