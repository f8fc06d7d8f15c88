"""``check``: proof that a student release is sound, as a pass/fail table.

For every exercise of the assignment table:

* it has a solution block where the table says, and grading tests;
* (a) the reference solution passes all of its grading tests;
* (b) in a freshly generated release, every one of its grading tests fails
  with ``NotImplementedError`` - so no stub is accidentally complete and no
  test passes without the student's code;
* (c) the stub keeps the solution's signature and docstring (compared with ``ast``);
* (d) nothing in the release gives the solution away: no function that the
  release's notebooks define, and that shares a parameter name with the
  exercise's function, passes any of its grading tests when it stands in
  for the exercise's function (called as it is, or wired in the way ``STAND_INS`` in ``tests/grading/conftest.py`` describes),
  and no computation of the solution (two or more calls or arithmetic steps) appears
  in the release's notebooks or Markdown files.

Besides, every solution block in a course module must belong to an exercise,
every grading test file to an exercise, every notebook with solution blocks to
an assignment, and all stubbed files (notebooks included) must keep every
signature and docstring.
"""

from __future__ import annotations

import ast
import json
import re
import tempfile
import textwrap
from pathlib import Path

from . import EXERCISES, GRADING_DIR, exercise_at, notebook_assignment
from .grade import exercise_of, run_grading_tests
from .release import course_files, make_release
from .stubs import _functions, _neutralize_magics, cell_text, find_blocks, signatures

STUB_ID = "__stub__"
MIN_SNIPPET = 25  # characters (without spaces) of a solution expression worth searching for


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


def _arity(node: ast.AST) -> tuple[int, float]:
    """(required, maximum) positional arguments of a function definition."""
    args = node.args.posonlyargs + node.args.args
    return len(args) - len(node.args.defaults), float("inf") if node.args.vararg else len(args)


def _parameters(node: ast.AST) -> set[str]:
    args = node.args
    return {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs} - {"self"}


def _target(source: Path, exercise) -> ast.AST:
    """The definition of the exercise's function in the course."""
    tree = ast.parse((source / exercise.file).read_text(encoding="utf-8"))
    return dict(_functions(tree))[exercise.function]


def notebook_candidates(release: Path, exercises: list, source: Path) -> dict:
    """The functions that ``release``'s notebooks define (not stubs), paired with the exercises and the
    ways they could stand in (see ``tests/grading/conftest.py``): the ``MTL_GRADE_CANDIDATES`` file."""
    stand_ins = _stand_in_arities(source / GRADING_DIR / "conftest.py")
    notebooks, candidates = {}, []
    for path in sorted((release / "notebooks").glob("*.ipynb")):
        imports, definitions, functions = [], [], []
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] != "code":
                continue
            text = _neutralize_magics(cell_text(cell))
            try:
                tree = ast.parse(text)
            except SyntaxError:
                continue
            for node in tree.body:
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    imports.append(ast.unparse(node))
                elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    definitions.append(ast.unparse(node))
                    functions += [(name, f) for name, f in _functions(ast.Module([node], []))
                                  if isinstance(f, ast.FunctionDef) and not f.name.startswith("__")]
        notebooks[path.stem] = {"imports": imports, "definitions": definitions}
        for name, node in functions:
            if "NotImplementedError" in ast.unparse(node):  # a stub: cannot pass anything
                continue
            required, most = _arity(node)
            for e in exercises:
                target = _target(source, e)
                if not _parameters(node) & _parameters(target):  # a stand-in shares a parameter name
                    continue
                (t_required, t_most), ways = _arity(target), {}
                if required <= t_most and most >= t_required:
                    ways["direct"] = most
                for way, count in stand_ins.get(e.name, {}).items():
                    if required <= count <= most:
                        ways[way] = count
                module = e.file.removesuffix(".py").replace("/", ".")
                for way, count in ways.items():
                    candidates.append({"id": f"{path.stem}:{name}:{way}", "notebook": path.stem, "qualname": name,
                                       "exercise": e.name, "adapter": way, "positional": count,
                                       "target": {"module": module, "qualname": e.function}})
    return {"notebooks": notebooks, "candidates": candidates}


def _stand_in_arities(conftest: Path) -> dict[str, dict[str, int]]:
    """``STAND_INS`` of the grading conftest, read with ``ast`` (importing it needs pytest's context):
    {exercise: {way: number of positional arguments the stand-in passes}}."""
    tree = ast.parse(Path(conftest).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "STAND_INS":
            table = ast.literal_eval(re.sub(r"\(_\w+, (\d+)\)", r"\1", ast.unparse(node.value)))
            return table
    return {}


def _solution_snippets(source: Path, exercises: list) -> dict[str, set[str]]:
    """{exercise: the expressions of its reference solution, without spaces, long enough to search for}."""
    snippets = {}
    for e in exercises:
        text = (source / e.file).read_text(encoding="utf-8")
        lines = text.splitlines()
        found = set()
        for block in find_blocks(text, e.file):
            if block.function != e.function:
                continue
            code = textwrap.dedent("\n".join(line for line in lines[block.start:block.end - 1]
                                             if not line.strip().startswith("###")))
            try:
                tree = ast.parse(code)
            except SyntaxError:  # e.g. a lone `return` is fine; anything else: the stub check says so
                tree = ast.parse(code.replace("return ", "_ = "))
            for node in ast.walk(tree):  # computations of two or more steps (calls, arithmetic), not one call
                if sum(isinstance(n, (ast.BinOp, ast.Call)) for n in ast.walk(node)) >= 2:
                    compact = re.sub(r"\s+", "", ast.unparse(node)).replace('"', "'")
                    if len(compact) >= MIN_SNIPPET:
                        found.add(compact)
        snippets[e.name] = found
    return snippets


def text_leaks(source: Path, release: Path, exercises: list) -> list[str]:
    """Solution expressions of ``exercises`` found in the release's notebooks and Markdown files (the
    library's own code shares idioms with the solutions; its functions are tried by ``check`` instead)."""
    snippets = _solution_snippets(source, exercises)
    leaks = []
    for rel in course_files(release):
        if not rel.endswith((".ipynb", ".md")):
            continue
        text = (release / rel).read_text(encoding="utf-8")
        if rel.endswith(".ipynb"):
            text = "\n".join(cell_text(c) for c in json.loads(text)["cells"])
        compact = re.sub(r"\s+", "", text).replace("`", "").replace('"', "'")
        for name, found in snippets.items():
            for snippet in sorted(found):
                if snippet in compact:
                    leaks.append(f"{rel}: shows the solution of exercise {name!r} ({snippet[:80]})")
    return leaks


def run_check(source: Path, assignment: int | None = None) -> tuple[bool, str]:
    """Run every check on the course at ``source`` (and its release of ``assignment``, default all):
    (all passed, the report as text)."""
    source = Path(source).resolve()
    blocks = {rel: find_blocks((source / rel).read_text(), rel) for rel in course_files(source)
              if rel.startswith("mtl_lib/") and rel.endswith(".py")}
    reference = run_grading_tests(source, source)
    with tempfile.TemporaryDirectory(prefix="mtl-release-") as tmp:
        release = Path(tmp) / "release"
        done = make_release(source, release, assignment)
        stubbed = done["stubbed"]
        graded = [e for e in EXERCISES if e.name in done["exercises"]]
        candidates = notebook_candidates(release, graded, source)
        (Path(tmp) / "candidates.json").write_text(json.dumps(candidates))
        runs = run_grading_tests(release, source, extra_env={"MTL_GRADE_CANDIDATES": str(Path(tmp) / "candidates.json")})
        changed = _changed_signatures(source, release, stubbed)
        leaks = text_leaks(source, release, graded)
        notebooks_with_blocks = [rel for rel in stubbed if rel.endswith(".ipynb")]

    stubs, passes = {}, {}
    for test, result in runs.items():
        if STUB_ID in test:
            stubs[re.sub(rf"\[{STUB_ID}\]|{STUB_ID}-|-{STUB_ID}", "", test)] = result
        elif result["outcome"] == "passed":
            cid = next(c["id"] for c in candidates["candidates"] if c["id"] in test)
            passes.setdefault((cid, exercise_of(test)), []).append(test)
    for (cid, name), tests in sorted(passes.items()):
        total = sum(exercise_of(t) == name and cid in t for t in runs)
        notebook, function, way = cid.split(":")
        leaks.append(f"notebooks/{notebook}.ipynb: {function} passes {len(tests)} of {total} grading tests of "
                     f"exercise {name!r} standing in for it ({way}); put it in a solution block")

    rows, ok = [], True
    header = (f"{'exercise':30s} {'tests':>5s}  {'block':6s} {'(a) reference':14s} {'(b) stub fails':15s} "
              f"{'(c) signature':14s} (d) no leak")
    mark = {True: "pass", False: "FAIL"}
    for e in EXERCISES:
        tests = [t for t in reference if exercise_of(t) == e.name]
        has_block = any(b.function == e.function for b in blocks.get(e.file, []))
        a = bool(tests) and all(reference[t]["outcome"] == "passed" for t in tests)
        if e not in graded:  # not stubbed in this release: (a) only
            ok &= has_block and a
            rows.append(f"{e.name:30s} {len(tests):5d}  {mark[has_block]:6s} {mark[a]:14s} (given in this release)")
            continue
        b = bool(tests) and all(stubs.get(t, {}).get("outcome") == "failed"
                                and "NotImplementedError" in stubs[t]["message"] for t in tests)
        c = has_block and e.function not in changed.get(e.file, [e.function])
        d = not any(f"exercise {e.name!r}" in leak for leak in leaks)
        ok &= has_block and a and b and c and d
        rows.append(f"{e.name:30s} {len(tests):5d}  {mark[has_block]:6s} {mark[a]:14s} {mark[b]:15s} "
                    f"{mark[c]:14s} {mark[d]}")
        for t in tests:
            if reference[t]["outcome"] != "passed":
                rows.append(f"    (a) {t}: {reference[t]['outcome']}: {reference[t]['message'][:150]}")
            if stubs.get(t, {}).get("outcome") != "failed" or "NotImplementedError" not in stubs[t]["message"]:
                got = stubs.get(t, {"outcome": "missing", "message": ""})
                rows.append(f"    (b) {t}: {got['outcome']} in the release: {got['message'][:150]}")

    problems = [f"{rel}:{b.start}: solution block in {b.function or 'top level'} belongs to no exercise "
                "(add it to mtl_lib/classroom/assignments.toml)"
                for rel, found in blocks.items() for b in found if not exercise_at(rel, b.function)]
    problems += [f"{t}: grading test of no exercise (name the file {GRADING_DIR}/test_<exercise>.py)"
                 for t in reference if exercise_of(t) not in {e.name for e in EXERCISES}]
    problems += [f"{rel}: stub changed the signature or docstring of {', '.join(names)}"
                 for rel, names in changed.items() if names]
    problems += [f"{rel}: has solution blocks but belongs to no assignment (name it as the notebook of an "
                 "exercise in mtl_lib/classroom/assignments.toml)"
                 for rel in notebooks_with_blocks if notebook_assignment(Path(rel).stem) is None]
    problems += [f"LEAK {leak}" for leak in leaks]
    ok &= not problems
    summary = (f"release{'' if assignment is None else f' of assignment {assignment}'}: {len(stubbed)} files "
               f"stubbed ({', '.join(f'{rel} x{n}' for rel, n in sorted(stubbed.items()))}); "
               f"{len(candidates['candidates'])} notebook functions tried as stand-ins")
    verdict = "check passed" if ok else "check FAILED"
    return ok, "\n".join([header, *rows, "", summary, *(f"FAIL {p}" for p in problems), verdict])
