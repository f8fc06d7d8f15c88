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

A release never installs the course package, which holds the answers: its
``mtl_lib/setup.py`` says ``STUDENT_COPY = True``, and every notebook's setup
cell is the student one (``setup.setup_cell``): it runs the student's own copy,
on Colab from their Google Drive (cloned there from their GitHub repository the
first time), installed editable, with autoreload on. ``repo="OWNER/NAME"`` (and
``ref``) is where the release is published (e.g. a GitHub Classroom template):
Colab badges and GitHub links point there; without it the notebooks have no
badge (it would open the public course). The release also gets GitHub
Classroom's autograding workflow, ``.github/workflows/classroom.yml``
(``classroom_workflow``). It must be made from a clone of the course, never
from an installed package (``check_source``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from .. import setup as course_setup
from . import EXERCISES, GRADING_DIR, ClassroomError, assignment_box, exercise_at, get_assignment, \
    notebook_assignment
from .stubs import BEGIN, Block, cell_text, library_message, stub_notebook, stub_text

INSTRUCTOR_ONLY = (GRADING_DIR + "/", "tests/test_classroom.py", "docs/instructors.md",
                   "docs/answers/")  # worked answers: self-learners open them; a class gets them from its instructor
SKIP_DIRS = {".git", ".venv", "venv", "__pycache__", ".pytest_cache", ".ipynb_checkpoints",
             "build", "dist", "runs", ".mypy_cache"}
# files whose links to the course's repository --repo retargets (code is not: its repository constants are
# set by student_constants, and tests compare against the public course's URLs on purpose)
TEXT_SUFFIXES = (".ipynb", ".md", ".toml", ".txt", ".yml", ".yaml", ".cfg", ".cff", ".json")
REPO_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
REF_PATTERN = re.compile(r"^[A-Za-z0-9_./-]+$")


WORKFLOW = ".github/workflows/classroom.yml"


def check_source(source: Path) -> None:
    """Refuse a ``source`` that is not a clone of the course, e.g. an installed package's site-packages
    (``--source`` defaults to the folder above the imported mtl_lib), naming what to do instead."""
    project = source / "pyproject.toml"
    if (source / "notebooks").is_dir() and project.is_file() and 'name = "mtl-minbert"' in project.read_text():
        return
    installed = any(part in ("site-packages", "dist-packages") for part in source.parts)
    where = "an installed package" if installed else "no clone of the course"
    raise ClassroomError(f"{source} is {where} (a release needs the course's notebooks, pyproject.toml and git "
                         "files). Run release from a clone of the course: git clone the course repository, "
                         "cd into it, pip install -e . there, and run the command again (or pass "
                         "--source PATH-OF-THE-CLONE).")


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


def classroom_workflow(exercises: list) -> str:
    """GitHub Classroom's autograding workflow (``.github/workflows/classroom.yml``), as Classroom writes it
    today: one ``autograding-command-grader`` step per exercise (a setup command, a command, a timeout in
    minutes, the exercise's points as its maximum score), then the ``autograding-grading-reporter``.

    Each step runs the exercise's public sanity checks (``python -m mtl_lib.classroom test NAME``, exit 0 =
    the points): the hidden grading tests never go to the students' repositories, so these points are
    feedback, and the grade comes from ``grade`` on the submissions. The first step installs the course
    (CPU torch first: the runner has no GPU)."""
    install = ("pip install -q torch --index-url https://download.pytorch.org/whl/cpu && pip install -q -e .")
    lines = ["name: Autograding Tests", "'on':", "- push", "- repository_dispatch", "permissions:",
             "  checks: write", "  actions: read", "  contents: read", "jobs:", "  run-autograding-tests:",
             "    runs-on: ubuntu-latest", "    if: github.actor != 'github-classroom[bot]'", "    steps:",
             "    - name: Checkout code", "      uses: actions/checkout@v4",
             "    - name: Set up Python", "      uses: actions/setup-python@v5", "      with:",
             "        python-version: '3.11'"]
    for i, e in enumerate(exercises):
        lines += [f"    - name: {e.name}", f"      id: {e.name}",
                  "      uses: classroom-resources/autograding-command-grader@v1", "      with:",
                  f"        test-name: {e.name}",
                  *([f"        setup-command: {json.dumps(install)}"] if i == 0 else []),
                  f"        command: {json.dumps(f'python -m mtl_lib.classroom test {e.name}')}",
                  f"        timeout: {15 if i == 0 else 5}",  # minutes; the first one installs the course
                  f"        max-score: {e.points:g}"]
    lines += ["    - name: Autograding Reporter", "      uses: classroom-resources/autograding-grading-reporter@v1",
              "      env:", *(f'        {e.name.upper()}_RESULTS: "${{{{steps.{e.name}.outputs.result}}}}"'
                              for e in exercises),
              "      with:", f"        runners: {','.join(e.name for e in exercises)}"]
    return "\n".join(lines) + "\n"


def student_setup(notebook: dict, original: dict, name: str, repo: str | None, ref: str | None) -> None:
    """Give a release notebook the student setup cell and badge (``setup.setup_cell``, ``colab_badge``); the
    setup cell keeps its output and execution count (the summary ``setup()`` prints; a test compares it)."""
    cells = notebook.get("cells", [])
    first_md = next(c for c in cells if c.get("cell_type") == "markdown")
    badge = course_setup.colab_badge(name, repo or "", ref or "main")
    text = re.sub(course_setup.BADGE_PATTERN if badge else r" ?" + course_setup.BADGE_PATTERN,
                  badge.replace("\\", "\\\\"), cell_text(first_md))
    first_md["source"] = text.splitlines(keepends=True)
    index = next(i for i, c in enumerate(cells) if c.get("cell_type") == "code")
    before = original["cells"][index]
    cells[index]["source"] = course_setup.setup_cell(name, repo or "", ref or "main", student=True) \
        .splitlines(keepends=True)
    cells[index]["outputs"], cells[index]["execution_count"] = before.get("outputs", []), before.get("execution_count")


def student_constants(text: str, repo: str | None, ref: str | None) -> str:
    """``mtl_lib/setup.py`` of a release: ``STUDENT_COPY = True``; ``GITHUB_REPO``/``GIT_REF`` the release's
    repository and ref ("" and "main" without one: the public course must not be what a release opens)."""
    for constant, value in (("GITHUB_REPO", repo or ""), ("GIT_REF", ref or "main"), ("STUDENT_COPY", True)):
        pattern = rf"^{constant} = .*$"
        if not re.search(pattern, text, flags=re.M):
            raise ClassroomError(f"mtl_lib/setup.py: no line '{constant} = ...' to set for the release.")
        literal = "True" if value is True else f'"{value}"'
        text = re.sub(pattern, f"{constant} = {literal}", text, count=1, flags=re.M)
    return text


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
    check_source(source)
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
            original = json.loads(src.read_text(encoding="utf-8"))
            notebook, count = stub_notebook(original, rel, stub_block=stub_notebook_block(rel))
            if re.fullmatch(r"notebooks/\d\d_.*\.ipynb", rel):
                student_setup(notebook, original, Path(rel).name, repo, ref)
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
            if not repo:  # its badges would open the public course, the answers
                text = re.sub(r" ?" + course_setup.BADGE_PATTERN, "", text)
        elif rel == ".ci/run":
            text = drop_classroom_check(src.read_text(encoding="utf-8"))
        elif rel == "mtl_lib/setup.py" or (repo and rel.endswith(TEXT_SUFFIXES)):
            text = src.read_text(encoding="utf-8")
        else:
            shutil.copy2(src, dst)
            continue
        if repo and rel.endswith(TEXT_SUFFIXES):
            text = retarget(text, course_setup.GITHUB_REPO, repo, ref)
        if rel == "mtl_lib/setup.py":
            text = student_constants(text, repo, ref)
        dst.write_text(text, encoding="utf-8")
        shutil.copymode(src, dst)
        if count:
            stubbed[rel] = count
    workflow = out / WORKFLOW
    workflow.parent.mkdir(parents=True, exist_ok=True)
    due = [e for e in exercises if assignment is None or e.assignment == assignment]
    workflow.write_text(classroom_workflow(due), encoding="utf-8")
    return {"files": len(files) + (WORKFLOW not in files), "stubbed": stubbed, "exercises": [e.name for e in exercises]}
