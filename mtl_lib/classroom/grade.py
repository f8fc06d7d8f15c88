"""The autograder: run the hidden grading tests on a student's copy and score them.

The tests come from the instructor's repository (``tests/grading``); the code
under test comes from the student's copy: pytest runs in a subprocess whose
working directory and first ``PYTHONPATH`` entry are the student's folder, so
``import mtl_lib`` finds their package. ``tests/grading/conftest.py`` refuses
to run if another ``mtl_lib`` was imported, and writes each test's outcome to
a JSON-lines file that is read back here.

Scoring: an exercise's points times the share of its tests that passed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from . import EXERCISES, GRADING_DIR, ClassroomError


def load_points(path: Path | None) -> dict[str, float]:
    """Points per exercise: the defaults of ``EXERCISES``, overridden by a JSON or TOML file
    mapping exercise names to points (``{"pooling": 3}`` / ``pooling = 3``)."""
    points = {e.name: float(e.points) for e in EXERCISES}
    if path is None:
        return points
    path = Path(path)
    if not path.is_file():
        raise ClassroomError(f"--points {path}: no such file.")
    try:
        if path.suffix == ".toml":
            import tomllib  # Python 3.11+
            given = tomllib.loads(path.read_text())
        else:
            given = json.loads(path.read_text())
    except (ValueError, ImportError) as error:
        raise ClassroomError(f"--points {path}: cannot read it ({error}); give a JSON or TOML "
                             "table of exercise name -> points.") from None
    unknown = sorted(set(given) - set(points))
    if unknown:
        raise ClassroomError(f"--points {path}: unknown exercise(s) {unknown}; known: {sorted(points)}.")
    bad = [k for k, v in given.items() if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0]
    if bad:
        raise ClassroomError(f"--points {path}: points must be numbers >= 0; check {bad}.")
    return {**points, **{k: float(v) for k, v in given.items()}}


def run_grading_tests(path: Path, source: Path, timeout: float = 900) -> dict[str, dict]:
    """Run ``source``'s grading tests on the ``mtl_lib`` in ``path``.

    Returns ``{test id: {"outcome": "passed" | "failed" | "skipped", "message": str}}``.
    """
    path, source = Path(path).resolve(), Path(source).resolve()
    if not path.is_dir():
        raise ClassroomError(f"{path}: no such folder; pass the root folder of a student's copy of the course.")
    if not (path / "mtl_lib" / "__init__.py").is_file():
        raise ClassroomError(f"{path}: no mtl_lib package here (expected {path / 'mtl_lib' / '__init__.py'}); "
                             "pass the root folder of a student's copy of the course.")
    if not (source / GRADING_DIR).is_dir():
        raise ClassroomError(f"{source / GRADING_DIR} not found: grading and checking need the instructor's "
                             "repository (a student release has no grading tests).")
    with tempfile.TemporaryDirectory(prefix="mtl-grade-") as tmp:
        report = Path(tmp) / "report.jsonl"
        env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}  # e.g. -x would stop early
        env |= {"MTL_GRADE_REPORT": str(report), "MTL_GRADE_EXPECT": str(path),
               "PYTHONPATH": os.pathsep.join([str(path), *filter(None, [os.environ.get("PYTHONPATH")])])}
        # importlib mode: pytest must not put the instructor's folders (which hold their mtl_lib)
        # on sys.path; keep going past a module that does not import (it fails its own tests)
        command = [sys.executable, "-m", "pytest", str(source / GRADING_DIR), "-q", "-p", "no:cacheprovider",
                   "--import-mode=importlib", "--continue-on-collection-errors",
                   "--rootdir", str(source), "-c", str(source / "pyproject.toml"), "-o", "addopts="]
        try:
            run = subprocess.run(command, cwd=path, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ClassroomError(f"grading {path} took more than {timeout:.0f} s; an endless loop in "
                                 "the student's code? (--timeout sets the limit)") from None
        lines = report.read_text().splitlines() if report.exists() else []
    if run.returncode not in (0, 1) or not lines:
        tail = "\n".join((run.stdout + run.stderr).strip().splitlines()[-25:])
        raise ClassroomError(f"the grading tests could not run on {path} (pytest exit code "
                             f"{run.returncode}):\n{tail}")
    results: dict[str, dict] = {}
    for line in lines:  # setup, call and teardown of one test: any failure fails it
        record = json.loads(line)
        result = results.setdefault(record["test"], {"outcome": "passed", "message": ""})
        if record["outcome"] == "failed" and result["outcome"] != "failed":
            result.update(outcome="failed", message=record["message"])
        elif record["outcome"] == "skipped" and result["outcome"] == "passed":
            result.update(outcome="skipped", message=record["message"])
    return results


def exercise_of(test_id: str) -> str:
    """``tests/grading/test_pooling.py::test_mean`` -> ``pooling`` (the naming convention)."""
    return Path(test_id.split("::")[0]).stem.removeprefix("test_")


def score(results: dict[str, dict], points: dict[str, float]) -> dict:
    """Per-exercise tests, passes, points and failure messages, and the totals."""
    table = {}
    for name, worth in points.items():
        tests = {t: r for t, r in results.items() if exercise_of(t) == name}
        passed = sum(r["outcome"] == "passed" for r in tests.values())
        got = round(worth * passed / len(tests), 2) if tests else 0.0
        table[name] = {"tests": len(tests), "passed": passed, "points": got, "max_points": worth,
                       "failures": {t: r["message"] for t, r in tests.items() if r["outcome"] != "passed"}}
    return {"exercises": table, "total": round(sum(e["points"] for e in table.values()), 2),
            "max_total": sum(points.values())}


def format_table(grades: dict) -> str:
    """The score table as text, one row per exercise, with the first line of each failure."""
    rows = [f"{'exercise':30s} {'tests':>5s} {'passed':>6s} {'points':>13s}"]
    for name, e in grades["exercises"].items():
        rows.append(f"{name:30s} {e['tests']:5d} {e['passed']:6d} {e['points']:6.2f} / {e['max_points']:<4g}")
        reasons: dict[str, list[str]] = {}  # one line per distinct reason, not per test
        for test, message in e["failures"].items():
            reasons.setdefault(message.splitlines()[0] if message else "(no message)", []).append(test)
        for reason, tests in reasons.items():
            who = tests[0].split("::")[-1] + (f" and {len(tests) - 1} more" if len(tests) > 1 else "")
            rows.append(f"    x {who}: {reason[:100]}")
    rows.append(f"{'total':43s} {grades['total']:6.2f} / {grades['max_total']:<4g}")
    return "\n".join(rows)


def grade(path: Path, source: Path, points_file: Path | None = None, timeout: float = 900) -> dict:
    """Grade the copy at ``path``: the score dict (also holding the path and the points used)."""
    points = load_points(points_file)
    grades = score(run_grading_tests(path, source, timeout), points)
    return {"path": str(Path(path).resolve()), **grades}
