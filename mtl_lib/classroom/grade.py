"""The autograder: run the hidden grading tests on students' copies, score them, write feedback.

The tests come from the instructor's repository (``tests/grading``); the code
under test comes from the student's copy: pytest runs in a subprocess whose
working directory and first ``PYTHONPATH`` entry are the student's folder, so
``import mtl_lib`` finds their package. ``tests/grading/conftest.py`` refuses
to run if another ``mtl_lib`` was imported, and writes each collected test and
each test's outcome to a JSON-lines file that is read back here.

Each copy is graded in its own subprocess with a wall-clock time limit and,
where the platform has them (Linux, macOS), limits on memory and CPU time set
with ``resource.setrlimit`` in the child; each test also has a time limit of
its own (``MTL_GRADE_TEST_TIMEOUT``, enforced by the grading conftest), so an
endless loop fails the test it is in and the other tests still run. A folder of
submissions is graded one copy after another into a gradebook CSV and one
Markdown feedback file each.

Scoring: an exercise's points times the share of its tests that passed.

A grade is never silently zero. When the tests cannot give a fair score - the
run cannot start (the student's ``mtl_lib`` does not import, pytest refuses to
start), no test runs, or the run ends before every test has reported (killed,
out of time) - the copy is **not graded** (``NotGraded``): the gradebook says
"not graded" and why, the feedback says so, and ``grade`` exits non-zero, so
that the instructor looks at it instead of uploading a zero.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import EXERCISES, GRADING_DIR, ClassroomError

try:
    import resource
except ImportError:  # Windows: no per-process limits, only the time limit
    resource = None

TEST_TIMEOUT = 120  # seconds a single grading test may run (its fixtures of wider scope not counted)


class NotGraded(ClassroomError):
    """The grading tests could not score a copy fairly; the message says why (for the gradebook and feedback).

    ``output`` holds the last lines of the grading run's output, for the instructor and the feedback."""

    def __init__(self, reason: str, output: str = ""):
        super().__init__(reason)
        self.reason, self.output = reason, output


def _error_line(output: str) -> str:
    """The line of pytest's output that says best why a run could not start: its last error line."""
    lines = [line.strip() for line in str(output).splitlines() if line.strip()]
    errors = [line.removeprefix("E").strip() for line in lines
              if line.startswith(("E ", "ERROR", "Exit:")) or "Error" in line.split(":")[0]]
    return (errors or lines or ["(no output)"])[-1][:300]


def load_points(path: Path | None, exercises: list | None = None) -> dict[str, float]:
    """Points per exercise (of ``exercises``, default all): the table's, overridden by a JSON or TOML file
    mapping exercise names to points (``{"pooling": 3}`` / ``pooling = 3``)."""
    points = {e.name: float(e.points) for e in (exercises or EXERCISES)}
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


def _limits(memory_mb: float | None, cpu_seconds: float | None):
    """A ``preexec_fn`` that caps the child's address space and CPU time (None: no such limit)."""
    if resource is None or (memory_mb is None and cpu_seconds is None):
        return None

    def apply() -> None:
        if memory_mb is not None:
            size = int(memory_mb * 2 ** 20)
            resource.setrlimit(resource.RLIMIT_AS, (size, size))
        if cpu_seconds is not None:
            resource.setrlimit(resource.RLIMIT_CPU, (int(cpu_seconds), int(cpu_seconds) + 5))
    return apply


def run_grading_tests(path: Path, source: Path, timeout: float = 900, memory_mb: float | None = None,
                      exercises: list | None = None, extra_env: dict | None = None,
                      test_timeout: float = TEST_TIMEOUT) -> dict[str, dict]:
    """Run ``source``'s grading tests (of ``exercises``, default all) on the ``mtl_lib`` in ``path``.

    Returns ``{test id: {"outcome": "passed" | "failed" | "skipped", "message": str, "tail": str}}``.
    The child gets ``timeout`` seconds of wall-clock and of CPU time and at most ``memory_mb`` of
    address space; each test at most ``test_timeout`` seconds. Raises ``NotGraded`` when the results
    would not be a fair score: the run could not start, ran no test, or ended before every collected
    test reported; ClassroomError when ``path`` or ``source`` is not what it must be.
    """
    path, source = Path(path).resolve(), Path(source).resolve()
    if not path.is_dir():
        raise ClassroomError(f"{path}: no such folder; pass the root folder of a student's copy of the course.")
    if not (path / "mtl_lib" / "__init__.py").is_file():
        raise NotGraded(f"no mtl_lib package in {path.name}/ (expected {path.name}/mtl_lib/__init__.py): an empty "
                        "submission, or not the root folder of a copy of the course")
    if not (source / GRADING_DIR).is_dir():
        raise ClassroomError(f"{source / GRADING_DIR} not found: grading and checking need the instructor's "
                             "repository (a student release has no grading tests).")
    targets = [str(source / GRADING_DIR)] if exercises is None else [str(source / e.test_file) for e in exercises]
    with tempfile.TemporaryDirectory(prefix="mtl-grade-") as tmp:
        report = Path(tmp) / "report.jsonl"
        env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}  # e.g. -x would stop early
        env |= {"MTL_GRADE_REPORT": str(report), "MTL_GRADE_EXPECT": str(path),
                "MTL_GRADE_TEST_TIMEOUT": f"{test_timeout:g}",
                "PYTHONPATH": os.pathsep.join([str(path), *filter(None, [os.environ.get("PYTHONPATH")])]),
                **(extra_env or {})}
        # importlib mode: pytest must not put the instructor's folders (which hold their mtl_lib)
        # on sys.path; keep going past a module that does not import (it fails its own tests)
        command = [sys.executable, "-m", "pytest", *targets, "-q", "-p", "no:cacheprovider",
                   "--import-mode=importlib", "--continue-on-collection-errors",
                   "--rootdir", str(source), "-c", str(source / "pyproject.toml"), "-o", "addopts="]
        ended = None
        try:
            run = subprocess.run(command, cwd=path, env=env, capture_output=True, text=True, timeout=timeout,
                                 preexec_fn=_limits(memory_mb, timeout))
            output, code = run.stdout + run.stderr, run.returncode
            if code == -signal.SIGXCPU:
                # the CPU-time limit (RLIMIT_CPU) came before the wall clock: on an idle machine a busy
                # loop uses a whole core, so this is the usual way an endless loop ends
                ended = f"it was stopped at the time limit of {timeout:.0f} s of CPU time (an endless loop?)"
            elif code not in (0, 1):
                ended = f"the grading process ended with exit code {code}"
        except subprocess.TimeoutExpired as error:
            output, code = f"{error.stdout or ''}{error.stderr or ''}", None
            ended = f"it was stopped at the time limit of {timeout:.0f} s (an endless loop?)"
        lines = report.read_text().splitlines() if report.exists() else []
    output = "\n".join(str(output).strip().splitlines()[-25:])
    records = [json.loads(line) for line in lines]
    collected = {r["test"] for r in records if r["phase"] == "collected"}
    reported = {r["test"] for r in records if r["phase"] != "collected"}
    if not reported:
        if code is None or code == -signal.SIGXCPU:
            raise NotGraded(f"no grading test finished: {ended}, before the first test ended (an endless loop "
                            "in code that runs when mtl_lib is imported?)", output)
        if code == 5:
            raise NotGraded("no grading test ran (pytest collected none)", output)
        raise NotGraded(f"the grading tests could not start (pytest exit code {code}): {_error_line(output)}",
                        output)
    if collected - reported:
        raise NotGraded(f"{len(collected - reported)} of {len(collected)} grading tests never reported a result: "
                        f"{ended or 'the run ended early'}", output)
    results: dict[str, dict] = {}
    for record in records:  # collected, then setup, call and teardown of each test: any failure fails it
        result = results.setdefault(record["test"], {"outcome": "unreported", "message": "", "tail": ""})
        if record["phase"] == "collected":
            continue
        if record["outcome"] == "failed" and result["outcome"] != "failed":
            result.update(outcome="failed", message=record["message"], tail=record.get("tail", ""))
        elif record["outcome"] == "skipped" and result["outcome"] in ("unreported", "passed"):
            result.update(outcome="skipped", message=record["message"])
        elif record["phase"] == "call" and record["outcome"] == "passed" and result["outcome"] == "unreported":
            result["outcome"] = "passed"  # only a finished call passes; a setup alone does not
    for result in results.values():
        if result["outcome"] == "unreported":  # set up, never called (e.g. its setup was cut short)
            result.update(outcome="failed", message=f"did not run to the end: {ended or 'no result reported'}")
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
                       "failures": {t: r["message"] for t, r in tests.items() if r["outcome"] != "passed"},
                       "results": tests}
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


def grade(path: Path, source: Path, points_file: Path | None = None, timeout: float = 900,
          exercises: list | None = None, memory_mb: float | None = None,
          test_timeout: float = TEST_TIMEOUT) -> dict:
    """Grade the copy at ``path``: the score dict (also holding the path and the points used).
    Raises ``NotGraded`` when no fair score can be given (see ``run_grading_tests``)."""
    points = load_points(points_file, exercises)
    results = run_grading_tests(path, source, timeout, memory_mb, exercises, test_timeout=test_timeout)
    return {"path": str(Path(path).resolve()), **score(results, points)}


def is_copy(path: Path) -> bool:
    """Whether ``path`` is the root of one copy of the course (it holds ``mtl_lib/__init__.py``)."""
    return (Path(path) / "mtl_lib" / "__init__.py").is_file()


def not_graded_feedback(student: str, error: NotGraded) -> str:
    """The feedback of a copy that could not be graded: why, and the last lines of the grading run's output."""
    lines = [f"# Feedback for {student}", "", f"**Not graded:** {error.reason}.", "",
             "No score was given: the grading tests could not score this copy fairly. Your instructor sees "
             "this too; check the error below, fix it, and submit again (or ask your instructor).", ""]
    if error.output:
        lines += ["```", *error.output.splitlines()[-12:], "```", ""]
    return "\n".join(lines)


def feedback(student: str, grades: dict, note: str = "") -> str:
    """A student's feedback as Markdown: the total, then each exercise's tests, pass or fail, with the
    last lines of each failure's error (the error lines only, not the hidden test's code)."""
    lines = [f"# Feedback for {student}", "",
             f"**Total: {grades['total']:g} / {grades['max_total']:g} points**", ""]
    if note:
        lines += [f"Note: {note}", ""]
    for name, e in grades["exercises"].items():
        lines += [f"## {name}: {e['points']:g} / {e['max_points']:g} points "
                  f"({e['passed']} of {e['tests']} tests passed)", ""]
        for test, result in e["results"].items():
            label = test.split("::", 1)[-1]
            if result["outcome"] == "passed":
                lines.append(f"- pass `{label}`")
                continue
            lines.append(f"- **{result['outcome'].upper()}** `{label}`")
            error = (result.get("tail") or result["message"] or "(no message)").strip()
            lines += ["", "  ```", *[f"  {line}" for line in error.splitlines()[-12:]], "  ```", ""]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def grade_folder(submissions: Path, source: Path, out: Path, points_file: Path | None = None,
                 timeout: float = 900, memory_mb: float | None = 8192, exercises: list | None = None,
                 progress=print, test_timeout: float = TEST_TIMEOUT) -> dict:
    """Grade every copy in ``submissions`` (one sub-folder per student, named after the student).

    Writes ``out/gradebook.csv`` (student, one column per exercise, total, note), ``out/feedback/<student>.md``
    and ``out/grades.json``; returns ``{student: grades}``. A copy that cannot be graded fairly (no
    ``mtl_lib``, tests that cannot start or never report, see ``NotGraded``) gets no score: its row says
    "not graded" in the total and why in the note, its exercise columns stay empty, and its grades hold
    ``"graded": False`` and the ``reason``.
    """
    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    points = load_points(points_file, exercises)
    students = sorted(p for p in submissions.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
                      and p != out)
    if not students:
        raise ClassroomError(f"{submissions}: no student folders in it; put each student's copy of the course "
                             "in its own sub-folder, named after the student.")
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    everything = {}
    for student in students:
        start = time.perf_counter()
        try:
            results = run_grading_tests(student, source, timeout, memory_mb, exercises, test_timeout=test_timeout)
        except NotGraded as error:
            everything[student.name] = {"student": student.name, "graded": False, "reason": error.reason,
                                        "output": error.output, "max_total": sum(points.values())}
            text = not_graded_feedback(student.name, error)
            line = f"{student.name}: not graded: {error.reason}"
        else:
            grades = {"student": student.name, "graded": True, "note": "", **score(results, points)}
            everything[student.name] = grades
            text = feedback(student.name, grades)
            line = f"{student.name}: {grades['total']:g} / {grades['max_total']:g}"
        (out / "feedback" / f"{student.name}.md").write_text(text, encoding="utf-8")
        progress(f"{line} [{time.perf_counter() - start:.0f} s]")
    with open(out / "gradebook.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", *points, "total", "note"])
        for name, g in everything.items():
            if g["graded"]:
                writer.writerow([name, *(f"{g['exercises'][e]['points']:g}" for e in points), f"{g['total']:g}", ""])
            else:  # text, not 0: a spreadsheet or an upload cannot take it for a score
                writer.writerow([name, *("" for _ in points), "not graded", f"not graded: {g['reason']}"])
    (out / "grades.json").write_text(json.dumps(everything, indent=2) + "\n", encoding="utf-8")
    return everything


def summary(grades: dict) -> str:
    """The closing lines of a batch: how many copies were graded, and each one that was not, with why."""
    missed = {name: g["reason"] for name, g in grades.items() if not g["graded"]}
    lines = [f"graded {len(grades) - len(missed)} of {len(grades)} copies"]
    if missed:
        lines[0] += f"; NOT GRADED: {len(missed)} (no score given; look at these before uploading grades):"
        lines += [f"  {name}: {reason}" for name, reason in missed.items()]
    return "\n".join(lines)
