"""The project's promises about itself: CI runs README's commands, nothing large is committed."""

import re
import subprocess
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent


def _commands_after(text: str, marker: str) -> str:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == marker:
            return lines[i + 1].strip()
    raise AssertionError(f".ci/run lacks the line {marker!r}")


def test_ci_runs_exactly_the_readme_commands():
    ci = (REPO / ".ci" / "run").read_text()
    readme = (REPO / "README.md").read_text()
    block = re.search(r"## Set up and test.*?```bash\n(.*?)```", readme, re.S).group(1).split("\n")
    install, test = [line.strip() for line in block if line.strip()][:2]
    assert _commands_after(ci, "# README: install") == install
    assert _commands_after(ci, "# README: test") == test
    instructors = re.search(r"## For instructors.*?```bash\n(.*?)```", readme, re.S)
    if instructors is None:  # a student release: no instructor section, and CI runs no classroom check
        assert "# README: classroom check" not in ci
        return
    check = [line.strip() for line in instructors.group(1).split("\n") if line.strip()][0]
    assert _commands_after(ci, "# README: classroom check") == check


def test_no_data_or_weights_are_tracked():
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout.split()
    if not files:  # not a git checkout (e.g. an sdist): nothing to check against
        files = [str(p.relative_to(REPO)) for p in REPO.rglob("*") if p.is_file() and ".venv" not in p.parts]
    banned = (".csv", ".safetensors", ".bin", ".pt", ".pth", ".ckpt")
    assert not [f for f in files if f.endswith(banned)]
    big = [f for f in files if (REPO / f).is_file() and (REPO / f).stat().st_size > 3_000_000]
    assert not big, f"large files tracked: {big}"


def test_no_placeholder_is_left_in_the_documents():
    """A fill-in token (``LAPTOP09``, ``TODO``) in a reader-facing document is a promise nobody kept; two
    of them once sat in README's notebook table."""
    placeholder = re.compile(r"\b[A-Z]{4,}[0-9]+\b|\b(?:TODO|TBD|FIXME|XXX)\b")
    documents = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "data" / "README.md"]
    left = {str(p.relative_to(REPO)): placeholder.findall(p.read_text()) for p in documents}
    assert not {name: found for name, found in left.items() if found}, left
    # the notebooks' Markdown, too
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown":
                assert not placeholder.findall(cell.source), (path.name, placeholder.findall(cell.source))
