"""``check``: proof that a student release is sound, as a pass/fail table.

For every exercise of ``EXERCISES``:

* it has a solution block where the table says, and grading tests;
* (a) the reference solution passes all of its grading tests;
* (b) in a freshly generated release, every one of its grading tests fails
  with ``NotImplementedError`` - so no stub is accidentally complete and no
  test passes without the student's code;
* (c) the stub keeps the solution's signature and docstring (compared with ``ast``).

Besides, every solution block in a course module must belong to an exercise,
and every grading test file to an exercise, and all stubbed files (notebooks
included) must keep every signature and docstring.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from . import EXERCISES, GRADING_DIR, exercise_at
from .grade import exercise_of, run_grading_tests
from .release import course_files, make_release
from .stubs import cell_text, find_blocks, signatures


def _changed_signatures(source: Path, release: Path, stubbed: dict) -> dict[str, list[str]]:
    """{stubbed file: [functions whose signature or docstring differ between source and release]}."""
    changed = {}
    for rel in stubbed:
        if rel.endswith(".ipynb"):
            cells = [json.loads((root / rel).read_text())["cells"] for root in (source, release)]
            pairs = [(cell_text(a), cell_text(b)) for a, b in zip(*cells) if a["cell_type"] == "code"]
        else:
            pairs = [((source / rel).read_text(), (release / rel).read_text())]
        before, after = {}, {}
        for i, (a, b) in enumerate(pairs):
            before.update({f"{i}:{k}": v for k, v in signatures(a).items()})
            after.update({f"{i}:{k}": v for k, v in signatures(b).items()})
        changed[rel] = sorted(k.split(":", 1)[1] for k in before.keys() | after.keys()
                              if before.get(k) != after.get(k))
    return changed


def run_check(source: Path) -> tuple[bool, str]:
    """Run every check on the course at ``source``: (all passed, the report as text)."""
    source = Path(source).resolve()
    blocks = {rel: find_blocks((source / rel).read_text(), rel) for rel in course_files(source)
              if rel.startswith("mtl_lib/") and rel.endswith(".py")}
    reference = run_grading_tests(source, source)
    with tempfile.TemporaryDirectory(prefix="mtl-release-") as tmp:
        release = Path(tmp) / "release"
        stubbed = make_release(source, release)["stubbed"]
        stubs = run_grading_tests(release, source)
        changed = _changed_signatures(source, release, stubbed)

    rows, ok = [], True
    header = f"{'exercise':30s} {'tests':>5s}  {'block':6s} {'(a) reference':14s} {'(b) stub fails':15s} (c) signature"
    for e in EXERCISES:
        tests = [t for t in reference if exercise_of(t) == e.name]
        has_block = any(b.function == e.function for b in blocks.get(e.file, []))
        a = bool(tests) and all(reference[t]["outcome"] == "passed" for t in tests)
        b = bool(tests) and all(stubs.get(t, {}).get("outcome") == "failed"
                                and "NotImplementedError" in stubs[t]["message"] for t in tests)
        c = has_block and e.function not in changed.get(e.file, [e.function])
        ok &= has_block and a and b and c
        mark = {True: "pass", False: "FAIL"}
        rows.append(f"{e.name:30s} {len(tests):5d}  {mark[has_block]:6s} {mark[a]:14s} {mark[b]:15s} {mark[c]}")
        for t in tests:
            if reference[t]["outcome"] != "passed":
                rows.append(f"    (a) {t}: {reference[t]['outcome']}: {reference[t]['message'][:150]}")
            if stubs.get(t, {}).get("outcome") != "failed" or "NotImplementedError" not in stubs[t]["message"]:
                got = stubs.get(t, {"outcome": "missing", "message": ""})
                rows.append(f"    (b) {t}: {got['outcome']} in the release: {got['message'][:150]}")

    problems = [f"{rel}:{b.start}: solution block in {b.function or 'top level'} belongs to no exercise "
                "(add it to EXERCISES in mtl_lib/classroom/__init__.py)"
                for rel, found in blocks.items() for b in found if not exercise_at(rel, b.function)]
    problems += [f"{t}: grading test of no exercise (name the file {GRADING_DIR}/test_<exercise>.py)"
                 for t in reference if exercise_of(t) not in {e.name for e in EXERCISES}]
    problems += [f"{rel}: stub changed the signature or docstring of {', '.join(names)}"
                 for rel, names in changed.items() if names]
    ok &= not problems
    summary = (f"release: {len(stubbed)} files stubbed "
               f"({', '.join(f'{rel} x{n}' for rel, n in sorted(stubbed.items()))})")
    verdict = "check passed" if ok else "check FAILED"
    return ok, "\n".join([header, *rows, "", summary, *(f"FAIL {p}" for p in problems), verdict])
