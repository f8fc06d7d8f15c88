"""``python -m mtl_lib.classroom release | grade | check | test`` (see docs/instructors.md)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import EXERCISES, REPO, ClassroomError, get_assignment
from .grade import TEST_TIMEOUT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtl_lib.classroom", description=__doc__)
    parser.add_argument("--source", type=Path, default=REPO,
                        help="the instructor's course repository (default: the one this mtl_lib is in)")
    commands = parser.add_subparsers(dest="command", required=True)
    release = commands.add_parser("release", help="write the student copy of the course")
    release.add_argument("--out", type=Path, required=True, help="a new (or empty) folder")
    release.add_argument("--assignment", type=int, help="release assignment N: its exercises and the later "
                         "ones stubbed, earlier ones given (default: every exercise stubbed)")
    release.add_argument("--keep-later", action="store_true", help="with --assignment: keep the reference "
                         "code of later assignments too (gives their answers away)")
    release.add_argument("--repo", help="the students' GitHub repository OWNER/NAME: Colab badges and install "
                         "lines point there instead of the public course")
    release.add_argument("--ref", help="with --repo: the branch or tag the badges and install lines use")
    grade = commands.add_parser("grade", help="run the grading tests on a student's copy, or on every copy "
                                "in a folder of submissions (gradebook and feedback)")
    grade.add_argument("path", type=Path, help="root folder of a student's copy, or a folder with one "
                       "sub-folder per student")
    grade.add_argument("--assignment", type=int, help="grade only this assignment's exercises")
    grade.add_argument("--points", type=Path, help="JSON or TOML file: exercise -> points")
    grade.add_argument("--json", type=Path, help="one copy: where to write the scores (default PATH/grade.json)")
    grade.add_argument("--out", type=Path, help="a folder of submissions: where the gradebook and feedback go "
                       "(default PATH/_grades)")
    grade.add_argument("--timeout", type=float, default=900, help="seconds per student, wall clock and CPU "
                       "(default 900)")
    grade.add_argument("--test-timeout", type=float, default=TEST_TIMEOUT, help="seconds each grading test may "
                       f"run: an endless loop fails its test, the others still run (default {TEST_TIMEOUT})")
    grade.add_argument("--memory", type=float, default=8192, help="MiB of address space per student "
                       "(default 8192; 0: no limit)")
    check = commands.add_parser("check", help="prove the release is sound (reference passes, stubs fail, "
                                "nothing gives a solution away)")
    check.add_argument("--assignment", type=int, help="check the release of this assignment (default: all)")
    test = commands.add_parser("test", help="run the public sanity checks of exercises (students' side)")
    test.add_argument("exercise", nargs="*", help=f"exercise names (default: all): "
                      f"{', '.join(e.name for e in EXERCISES)}")
    test.add_argument("--assignment", type=int, help="the exercises of this assignment")
    args = parser.parse_args(argv)

    try:
        if args.command == "release":
            from .release import make_release
            if args.keep_later and args.assignment is None:
                raise ClassroomError("--keep-later needs --assignment N.")
            done = make_release(args.source, args.out, args.assignment, args.repo, args.ref, args.keep_later)
            print(f"wrote {done['files']} files to {args.out}; stubbed exercises: {', '.join(done['exercises'])}")
            for rel, count in sorted(done["stubbed"].items()):
                print(f"  {rel}: {count} solution block(s)")
            if args.keep_later:
                print("warning: --keep-later: the release holds the solutions of later assignments", file=sys.stderr)
            return 0
        if args.command == "grade":
            from .grade import NotGraded, format_table, grade as run_grade, grade_folder, is_copy, summary
            chosen = get_assignment(args.assignment)
            exercises = list(chosen.exercises) if chosen else None
            memory = args.memory or None
            if is_copy(args.path) or not args.path.is_dir():
                try:
                    grades = run_grade(args.path, args.source, args.points, args.timeout, exercises, memory,
                                       args.test_timeout)
                except NotGraded as error:
                    print(error.output, file=sys.stderr)
                    print(f"NOT GRADED: {error.reason}", file=sys.stderr)
                    return 1
                print(format_table(grades))
                out = args.json or Path(args.path) / "grade.json"
                out.write_text(json.dumps(grades, indent=2) + "\n")
                print(f"scores written to {out}")
                return 0
            out = args.out or args.path / "_grades"
            start = time.perf_counter()
            grades = grade_folder(args.path, args.source, out, args.points, args.timeout, memory, exercises,
                                  test_timeout=args.test_timeout)
            print(f"gradebook: {out / 'gradebook.csv'}; feedback: {out / 'feedback'}/ "
                  f"({time.perf_counter() - start:.0f} s)")
            print(summary(grades))
            return 0 if all(g["graded"] for g in grades.values()) else 1
        if args.command == "test":
            from .public import run_public_tests
            chosen = get_assignment(args.assignment)
            names = args.exercise or [e.name for e in (chosen.exercises if chosen else EXERCISES)]
            results = [run_public_tests(name) for name in names]
            return 0 if all(r.passed for r in results) else 1
        from .check import run_check
        start = time.perf_counter()
        ok, report = run_check(args.source, args.assignment)
        print(report)
        print(f"({time.perf_counter() - start:.0f} s)")
        return 0 if ok else 1
    except ClassroomError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
