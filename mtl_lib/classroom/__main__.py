"""``python -m mtl_lib.classroom release | grade | check`` (see docs/instructors.md)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import REPO, ClassroomError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtl_lib.classroom", description=__doc__)
    parser.add_argument("--source", type=Path, default=REPO,
                        help="the instructor's course repository (default: the one this mtl_lib is in)")
    commands = parser.add_subparsers(dest="command", required=True)
    release = commands.add_parser("release", help="write the student copy of the course")
    release.add_argument("--out", type=Path, required=True, help="a new (or empty) folder")
    grade = commands.add_parser("grade", help="run the grading tests on a student's copy")
    grade.add_argument("path", type=Path, help="root folder of the student's copy")
    grade.add_argument("--points", type=Path, help="JSON or TOML file: exercise -> points")
    grade.add_argument("--json", type=Path, help="where to write the scores (default PATH/grade.json)")
    grade.add_argument("--timeout", type=float, default=900, help="seconds before giving up (default 900)")
    commands.add_parser("check", help="prove the release is sound (reference passes, stubs fail)")
    args = parser.parse_args(argv)

    try:
        if args.command == "release":
            from .release import make_release
            done = make_release(args.source, args.out)
            print(f"wrote {done['files']} files to {args.out}; stubbed:")
            for rel, count in sorted(done["stubbed"].items()):
                print(f"  {rel}: {count} solution block(s)")
            return 0
        if args.command == "grade":
            from .grade import format_table, grade as run_grade
            grades = run_grade(args.path, args.source, args.points, args.timeout)
            print(format_table(grades))
            out = args.json or Path(args.path) / "grade.json"
            out.write_text(json.dumps(grades, indent=2) + "\n")
            print(f"scores written to {out}")
            return 0
        from .check import run_check
        start = time.perf_counter()
        ok, report = run_check(args.source)
        print(report)
        print(f"({time.perf_counter() - start:.0f} s)")
        return 0 if ok else 1
    except ClassroomError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
