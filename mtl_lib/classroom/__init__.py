"""Classroom assignments: one source, a generated student release, an autograder.

The course is its own answer key. The code students must write sits in the
``mtl_lib`` modules and in notebook cells between the comment lines
``### BEGIN SOLUTION`` and ``### END SOLUTION``; optional lines
``### HINT: ...`` right after BEGIN become the hint shown in the stub.

Commands (``python -m mtl_lib.classroom COMMAND``, see ``docs/instructors.md``):

* ``release --out DIR [--assignment N] [--repo OWNER/NAME]`` - a student copy:
  solution blocks replaced by stubs that raise ``NotImplementedError``, outputs
  cleared, the hidden grading tests and the instructor's notes left out (``release``);
* ``grade PATH`` - runs the hidden tests (``tests/grading``) on one student's copy,
  or on every copy in a folder of submissions: a gradebook and feedback; a copy the
  tests cannot score is "not graded", with why, never a silent zero (``grade``);
* ``check`` - proves the release is sound: the reference passes every grading test,
  every stub fails, nothing in the release gives a solution away (``check``);
* ``test EXERCISE`` - the students' side: public sanity checks of one exercise
  (``public``; in a notebook: ``check_exercise("pooling")``).

``assignments.toml`` beside this file is the one table that ties these together:
which exercises form which assignment, which function holds each exercise, the
notebook that teaches it, and its points. The grading tests of exercise ``NAME``
live in ``tests/grading/test_NAME.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # the course checkout this package belongs to
GRADING_DIR = "tests/grading"
TABLE = Path(__file__).with_name("assignments.toml")


class ClassroomError(Exception):
    """A problem the instructor must fix (bad markers, a wrong path): the message says what and where."""


@dataclass(frozen=True)
class Exercise:
    """One graded exercise: a solution block inside ``function`` of ``file``."""

    name: str  # also the grading test file: tests/grading/test_<name>.py
    file: str  # relative to the repository root
    function: str  # qualified name of the function holding the solution block
    notebook: str  # the notebook that teaches it (named in the stub's hint)
    points: float
    assignment: int = 0  # the number of its assignment

    @property
    def test_file(self) -> str:
        return f"{GRADING_DIR}/test_{self.name}.py"


@dataclass(frozen=True)
class Assignment:
    """A group of exercises released and graded together; its notebooks are its exercises' notebooks."""

    number: int
    title: str
    exercises: tuple[Exercise, ...]

    @property
    def notebooks(self) -> list[str]:
        return list(dict.fromkeys(e.notebook for e in self.exercises))

    @property
    def points(self) -> float:
        return sum(e.points for e in self.exercises)


def load_table(path: Path = TABLE) -> list[Assignment]:
    """Read and validate the assignment table; a mistake raises ClassroomError naming the file and the entry."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    path = Path(path)
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ClassroomError(f"{path}: cannot read the assignment table ({error}).") from None
    assignments, names = [], set()
    for i, entry in enumerate(table.get("assignment", []), 1):
        where = f"{path}: assignment #{i}"
        if not isinstance(entry.get("number"), int) or entry["number"] != i:
            raise ClassroomError(f"{where}: 'number' must be {i} (assignments are numbered 1, 2, ... in order).")
        exercises = []
        for e in entry.get("exercise", []):
            missing = [k for k in ("name", "file", "function", "notebook", "points") if k not in e]
            if missing or set(e) - {"name", "file", "function", "notebook", "points"}:
                raise ClassroomError(f"{where}: an exercise needs exactly name, file, function, notebook and "
                                     f"points; got {sorted(e)}.")
            if e["name"] in names:
                raise ClassroomError(f"{where}: exercise {e['name']!r} is listed twice; names must be unique.")
            if isinstance(e["points"], bool) or not isinstance(e["points"], (int, float)) or e["points"] < 0:
                raise ClassroomError(f"{where}: exercise {e['name']!r}: points must be a number >= 0.")
            names.add(e["name"])
            exercises.append(Exercise(e["name"], e["file"], e["function"], e["notebook"], float(e["points"]), i))
        if not exercises:
            raise ClassroomError(f"{where}: no [[assignment.exercise]] entries.")
        assignments.append(Assignment(i, str(entry.get("title", f"Assignment {i}")), tuple(exercises)))
    if not assignments:
        raise ClassroomError(f"{path}: no [[assignment]] entries.")
    return assignments


ASSIGNMENTS = load_table()
EXERCISES = [e for a in ASSIGNMENTS for e in a.exercises]


def exercise_at(file: str, function: str) -> Exercise | None:
    """The registered exercise whose solution block sits in ``function`` of ``file``, if any."""
    return next((e for e in EXERCISES if e.file == file and e.function == function), None)


def get_assignment(number: int | None) -> Assignment | None:
    """Assignment ``number`` (None: None, i.e. the whole course); a clear error for an unknown one."""
    if number is None:
        return None
    for a in ASSIGNMENTS:
        if a.number == number:
            return a
    raise ClassroomError(f"--assignment {number}: no such assignment; the table ({TABLE.name}) has "
                         f"{', '.join(str(a.number) for a in ASSIGNMENTS)}.")


def notebook_assignment(notebook: str) -> Assignment | None:
    """The assignment a notebook (name without .ipynb) belongs to, if any."""
    return next((a for a in ASSIGNMENTS if notebook in a.notebooks), None)


def assignment_box(assignment: Assignment) -> str:
    """The Markdown "Assignment" box that opens each notebook with exercises (generated from the table)."""
    rows = []
    for e in assignment.exercises:
        rows.append(f"| `{e.function}` in `{e.file}` | notebook {e.notebook[:2]} | "
                    f"`check_exercise(\"{e.name}\")` | {e.points:g} |")
    return "\n".join([
        f"> **Assignment {assignment.number}: {assignment.title}** ({assignment.points:g} points)",
        ">",
        "> Write the functions below: in your copy of the course each one raises `NotImplementedError`",
        "> until you replace the `# YOUR CODE HERE` lines. Cells of this notebook marked that way are",
        "> exercises too (checked in the notebook, not graded).",
        ">",
        "> | function to write | taught in | check it | points |",
        "> | --- | --- | --- | --- |",
        *[f"> {row}" for row in rows],
        ">",
        "> Check your work at any time with public sanity tests (shapes, small cases worked by hand),",
        "> in a cell: `from mtl_lib.classroom import check_exercise; check_exercise(\"NAME\")`, or in a",
        "> terminal: `python -m mtl_lib.classroom test NAME`. Passing them does not guarantee the points:",
        "> the grading tests are more thorough.",
    ])


def check_exercise(name: str, verbose: bool = True):
    """The notebook one-liner: run the public sanity checks of exercise ``name`` (see ``public``)."""
    from .public import run_public_tests

    return run_public_tests(name, verbose=verbose)
