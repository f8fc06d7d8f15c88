"""The classroom tool: stubbing, the student release, and grading it.

The expensive parts (releases, notebook runs, a wheel, grading runs, one full
``check`` on a copy of the course with the old leaks put back) are shared
through module-scoped fixtures; ``python -m mtl_lib.classroom check`` (run by
CI) covers the per-exercise proofs on the course itself.
"""

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mtl_lib.classroom import ASSIGNMENTS, EXERCISES, ClassroomError, assignment_box, load_table
from mtl_lib.classroom.check import run_check
from mtl_lib.classroom.grade import NotGraded, _limits, grade, grade_folder, load_points
from mtl_lib.classroom.release import course_files, make_release, retarget
from mtl_lib.classroom.stubs import find_blocks, stub_notebook, stub_text

REPO = Path(__file__).resolve().parent.parent

SOURCE = '''def area(width, height):
    """The area of a rectangle."""
    check = width >= 0
    ### BEGIN SOLUTION
    ### HINT: multiply the two sides.
    result = width * height
    return result
    ### END SOLUTION


def kept():
    return 1
'''


def _message(block):
    return f"write {block.function}: {block.hint}"


def test_stub_replaces_the_block_and_keeps_the_rest():
    stubbed, blocks = stub_text(SOURCE, "shapes.py", _message)
    assert [(b.start, b.end, b.function, b.hint) for b in blocks] == [(4, 8, "area", "multiply the two sides.")]
    assert "width * height" not in stubbed and "BEGIN SOLUTION" not in stubbed
    assert '"""The area of a rectangle."""\n    check = width >= 0\n    # YOUR CODE HERE\n' in stubbed
    assert stubbed.endswith("def kept():\n    return 1\n")
    namespace = {}
    exec(compile(stubbed, "shapes.py", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="write area: multiply the two sides."):
        namespace["area"](2, 3)
    assert namespace["kept"]() == 1


def test_library_stub_names_the_exercise_and_the_notebook():
    text = (REPO / "mtl_lib" / "encode.py").read_text()
    from mtl_lib.classroom.stubs import library_message

    stubbed, _ = stub_text(text, "mtl_lib/encode.py", library_message("mtl_lib/encode.py"))
    namespace = {"__name__": "mtl_lib.encode", "__package__": "mtl_lib"}  # the module's relative imports
    exec(compile(stubbed, "encode.py", "exec"), namespace)
    with pytest.raises(NotImplementedError, match=r"Exercise 'pooling' \(mtl_lib/encode.py, pool\).*02_minbert"):
        namespace["pool"]({}, None)


def test_stub_notebook_clears_outputs_and_keeps_checked_ones():
    cell = {"cell_type": "code", "execution_count": 3, "metadata": {"execution": {"t": 1}},
            "source": SOURCE.splitlines(keepends=True), "outputs": [{"output_type": "stream", "text": "x"}]}
    checked = {"cell_type": "code", "execution_count": 4, "metadata": {}, "source": "# NBVAL_CHECK_OUTPUT\nprint(1)",
               "outputs": [{"output_type": "execute_result", "execution_count": 4, "data": {}, "metadata": {}}]}
    plain = {"cell_type": "code", "execution_count": 5, "metadata": {}, "source": "%time 1 + 1", "outputs": [{}]}
    notebook = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": "# Title"}, cell, checked, plain]}
    out, count = stub_notebook(notebook, "notebooks/99_shapes.ipynb")
    assert count == 1 and notebook["cells"][1]["execution_count"] == 3  # the input is not modified
    stubbed = "".join(out["cells"][1]["source"])
    assert "NotImplementedError" in stubbed and "99_shapes" in stubbed and "width * height" not in stubbed
    assert [c.get("execution_count") for c in out["cells"][1:]] == [None, 4, None]  # nbval needs the count
    assert out["cells"][1]["outputs"] == [] and out["cells"][3]["outputs"] == []
    assert out["cells"][1]["metadata"] == {}
    assert out["cells"][2]["outputs"] == checked["outputs"]  # nbval compares these outputs


@pytest.mark.parametrize("text, line, words", [
    ("x = 1\n### BEGIN SOLUTION\ny = 2\n", 2, "never closed"),
    ("x = 1\n### END SOLUTION\n", 2, "without a '### BEGIN SOLUTION'"),
    ("### BEGIN SOLUTION\nx = 1\n    ### BEGIN SOLUTION\n### END SOLUTION\n", 3, "inside the solution block opened at line 1"),
])
def test_unpaired_markers_name_file_and_line(text, line, words):
    with pytest.raises(ClassroomError, match=f"mtl_lib/broken.py:{line}: .*{words}"):
        find_blocks(text, "mtl_lib/broken.py")


def test_block_that_breaks_the_code_is_refused():
    text = "def f(x):\n    ### BEGIN SOLUTION\n    if x:\n    ### END SOLUTION\n        return 1\n"
    with pytest.raises(ClassroomError, match="f.py"):
        stub_text(text, "f.py", _message)


def test_file_walk_outside_git(tmp_path):
    for rel in ["mtl_lib/a.py", ".venv/lib/x.py", "mtl_lib/__pycache__/a.pyc", "data/README.md", "data/big.csv",
                "x.egg-info/PKG-INFO"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    assert course_files(tmp_path) == ["data/README.md", "mtl_lib/a.py"]


def test_release_refuses_bad_output_folders(tmp_path):
    with pytest.raises(ClassroomError, match="inside the course repository"):
        make_release(REPO, REPO / "release")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(ClassroomError, match="not an empty folder"):
        make_release(REPO, tmp_path / "full")


def test_grade_unknown_path_is_a_clear_error(tmp_path):
    with pytest.raises(ClassroomError, match="no such folder"):
        grade(tmp_path / "missing", REPO)
    with pytest.raises(NotGraded, match=f"no mtl_lib package in {tmp_path.name}/"):
        grade(tmp_path, REPO)
    result = subprocess.run([sys.executable, "-m", "mtl_lib.classroom", "grade", str(tmp_path / "missing")],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "error:" in result.stderr and "missing" in result.stderr


def test_points_file(tmp_path):
    good, bad = tmp_path / "points.json", tmp_path / "bad.json"
    good.write_text(json.dumps({"pooling": 5}))
    bad.write_text(json.dumps({"poolin": 5}))
    assert load_points(good)["pooling"] == 5 and load_points(None)["pooling"] == 1
    with pytest.raises(ClassroomError, match="unknown exercise.*poolin"):
        load_points(bad)


def _graders(release: Path) -> list[dict]:
    """The autograding-command-grader steps of a release's GitHub Classroom workflow."""
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load((release / ".github" / "workflows" / "classroom.yml").read_text())
    steps = workflow["jobs"]["run-autograding-tests"]["steps"]
    return [s for s in steps if s.get("uses", "").startswith("classroom-resources/autograding-command-grader@")]


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    out = tmp_path_factory.mktemp("classroom") / "release"
    make_release(REPO, out)
    return out


def test_release_contents(release):
    assert not (release / "tests" / "grading").exists() and not (release / "tests" / "test_classroom.py").exists()
    assert not (release / "docs" / "instructors.md").exists()
    readme = (release / "README.md").read_text()
    assert "## For instructors" in (REPO / "README.md").read_text() and "## For instructors" not in readme
    assert "(docs/instructors.md)" not in readme and "(#for-instructors)" not in readme
    assert "## Set up and test" in readme  # the rest of the README stays
    assert "python -m mtl_lib.classroom check" not in (release / ".ci" / "run").read_text()  # no grading tests there
    assert (release / "pyproject.toml").read_bytes() == (REPO / "pyproject.toml").read_bytes()
    assert [(step["with"]["command"], step["with"]["max-score"]) for step in _graders(release)] == [
        (f"python -m mtl_lib.classroom test {e.name}", e.points) for e in EXERCISES]
    assert not (release / ".github" / "classroom").exists()  # the old autograding.json format
    for e in EXERCISES:
        assert f"Exercise '{e.name}'" in (release / e.file).read_text()
    notebook = json.loads((release / "notebooks" / "01_attention.ipynb").read_text())
    kept = [i for i, c in enumerate(notebook["cells"]) if c["cell_type"] == "code" and c.get("execution_count")]
    checked = [i for i, c in enumerate(notebook["cells"]) if "NBVAL_CHECK_OUTPUT" in "".join(c["source"])]
    setup = next(i for i, c in enumerate(notebook["cells"]) if c["cell_type"] == "code")
    assert kept == sorted({setup, *checked})  # every other cell is cleared
    assert "colab.research.google.com" not in readme  # without --repo a badge would open the public course


def test_release_notebook_stops_at_the_first_exercise(release, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    monkeypatch.setenv("PYTHONPATH", str(release))  # the kernel imports the release's mtl_lib
    path = release / "notebooks" / "01_attention.ipynb"
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:  # counts left from the file are not runs
        cell.execution_count = None if cell.cell_type == "code" else cell.get("execution_count")
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    with pytest.raises(CellExecutionError) as error:
        client.execute()
    assert "NotImplementedError" in str(error.value) and "exercise 'attention' of notebook 01_attention" in str(error.value)
    ran = [i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and c.get("execution_count")]
    stub = next(i for i, c in enumerate(notebook.cells) if "raise NotImplementedError" in c.source)
    failed = ran[-1]
    assert stub < failed and "attention(" in notebook.cells[failed].source
    assert not any("raise NotImplementedError" in notebook.cells[i].source for i in range(stub + 1, failed))
    assert all(o.get("output_type") != "error" for i in ran[:-1] for o in notebook.cells[i].outputs)


def test_release_is_installable(release, tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(release)], check=True, capture_output=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob("mtl_minbert-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert "NotImplementedError" in archive.read("mtl_lib/attention.py").decode()
        assert "mtl_lib/classroom/grade.py" in archive.namelist()


def test_grade_gives_zero_to_stubs_and_full_points_to_the_reference(release, tmp_path):
    stubbed = subprocess.run([sys.executable, "-m", "mtl_lib.classroom", "grade", str(release)],
                             capture_output=True, text=True, cwd=tmp_path)
    assert stubbed.returncode == 0, stubbed.stderr
    scores = json.loads((release / "grade.json").read_text())  # the default place
    assert scores["total"] == 0 and set(scores["exercises"]) == {e.name for e in EXERCISES}
    assert all(e["tests"] > 0 and e["passed"] == 0 for e in scores["exercises"].values())
    assert "total" in stubbed.stdout and "NotImplementedError" in stubbed.stdout

    reference = grade(REPO, REPO)
    assert reference["total"] == reference["max_total"] == sum(e.points for e in EXERCISES)


# --- the assignment table ----------------------------------------------------------------------

def test_table_groups_every_exercise_once():
    assert [a.number for a in ASSIGNMENTS] == [1, 2, 3, 4]
    assert [e.name for a in ASSIGNMENTS for e in a.exercises] == [e.name for e in EXERCISES]
    assert sum(e.points for e in EXERCISES) == 13
    for e in EXERCISES:
        assert (REPO / e.file).is_file() and (REPO / "notebooks" / f"{e.notebook}.ipynb").is_file()
        assert (REPO / e.test_file).is_file()


@pytest.mark.parametrize("body, words", [
    ("[[assignment]]\nnumber = 2\n", "'number' must be 1"),
    ("[[assignment]]\nnumber = 1\n", "no \\[\\[assignment.exercise\\]\\]"),
    ('[[assignment]]\nnumber = 1\n[[assignment.exercise]]\nname = "a"\n', "needs exactly name, file"),
    ("[[assignment\n", "cannot read"),
])
def test_bad_table_is_a_clear_error(tmp_path, body, words):
    table = tmp_path / "assignments.toml"
    table.write_text(body)
    with pytest.raises(ClassroomError, match=f"assignments.toml.*{words}"):
        load_table(table)


def test_notebooks_open_with_their_assignment_box():
    """The box in each notebook with exercises is the one the table generates (and only those have one); it
    comes right after the setup cell (the header and the result come first)."""
    owners = {nb: a for a in ASSIGNMENTS for nb in a.notebooks}
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        boxes = [i for i, c in enumerate(cells) if c.get("id") == "assignment-box"]
        if path.stem in owners:
            setup = next(i for i, c in enumerate(cells) if "ctx = setup(" in "".join(c["source"]))
            assert boxes == [setup + 1], path.name
            assert "".join(cells[boxes[0]]["source"]) == assignment_box(owners[path.stem]), (
                f"{path.name}: the Assignment box differs from the table; regenerate it with assignment_box()")
        else:
            assert boxes == [], path.name


# --- releases: one assignment, students' repositories ---------------------------------------------

def test_release_of_one_assignment_stubs_it_and_the_later_ones(tmp_path):
    out = tmp_path / "a2"
    done = make_release(REPO, out, assignment=2)
    assert done["exercises"] == ["encoder_layer", "pooling", "cosine_sts_head", "pcgrad", "symmetric_kl",
                                 "smart_regularizer"]
    assert "NotImplementedError" not in (out / "mtl_lib/attention.py").read_text()  # assignment 1 is given
    assert "BEGIN SOLUTION" not in (out / "mtl_lib/attention.py").read_text()
    assert "Exercise 'encoder_layer'" in (out / "mtl_lib/bert.py").read_text()
    assert "Exercise 'smart_regularizer'" in (out / "mtl_lib/smart.py").read_text()  # later: not handed out
    nb01 = "".join("".join(c["source"]) for c in json.loads((out / "notebooks/01_attention.ipynb").read_text())["cells"])
    assert "not part of this release" in nb01 and "notebooks/01_attention.ipynb" not in done["stubbed"]
    nb02 = (out / "notebooks/02_minbert.ipynb").read_text()
    assert "exercise 'encoder_layer_by_hand'" in nb02 and "exercise 'mean_pool'" in nb02
    assert [step["with"]["max-score"] for step in _graders(out)] == [2, 1]  # only what is due now

    kept = make_release(REPO, tmp_path / "a2-keep", assignment=2, keep_later=True)
    assert kept["exercises"] == ["encoder_layer", "pooling"]
    assert "NotImplementedError" not in (tmp_path / "a2-keep/mtl_lib/smart.py").read_text()
    with pytest.raises(ClassroomError, match="--assignment 9: no such assignment"):
        make_release(REPO, tmp_path / "a9", assignment=9)


def test_retarget_badges_and_install_lines():
    old = "mtl-minbert/mtl-minbert"
    badge = f"https://colab.research.google.com/github/{old}/blob/main/notebooks/01_attention.ipynb"
    install = f'%pip install -q "mtl-minbert @ git+https://github.com/{old}"'
    pinned = f'%pip install -q "mtl-minbert @ git+https://github.com/{old}@v0.1.0"'
    assert retarget(badge, old, "uni/minbert-25", "week3") == (
        "https://colab.research.google.com/github/uni/minbert-25/blob/week3/notebooks/01_attention.ipynb")
    assert retarget(install, old, "uni/minbert-25", "week3") == (
        '%pip install -q "mtl-minbert @ git+https://github.com/uni/minbert-25@week3"')
    assert retarget(pinned, old, "uni/minbert-25", None) == (
        '%pip install -q "mtl-minbert @ git+https://github.com/uni/minbert-25"')
    assert retarget(f"see https://github.com/{old}.", old, "uni/x", None) == "see https://github.com/uni/x."
    assert retarget(f"github.com/{old}-fork", old, "uni/x", None) == f"github.com/{old}-fork"  # another repo


def test_release_for_a_students_repository(tmp_path):
    """Badges and links point at the release's repository; no notebook installs any package (the student
    copy's setup cell), and the release's setup.py says so, with GIT_REF (not another name) rewritten."""
    from mtl_lib.setup import GITHUB_REPO, setup_cell

    out = tmp_path / "students"
    make_release(REPO, out, assignment=3, repo="uni/minbert-25", ref="week3")
    for path in sorted((out / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        text = path.read_text()
        assert GITHUB_REPO not in text and "git+" not in text, path.name
        assert f"colab.research.google.com/github/uni/minbert-25/blob/week3/notebooks/{path.name}" in text
        cells = json.loads(text)["cells"]
        first_code = next(c for c in cells if c["cell_type"] == "code")
        assert "".join(first_code["source"]) == setup_cell(path.name, "uni/minbert-25", "week3", student=True)
        assert 'COURSE = "/content/drive/MyDrive/minbert-25"' in "".join(first_code["source"])
    constants = (out / "mtl_lib/setup.py").read_text()
    assert 'GITHUB_REPO = "uni/minbert-25"' in constants and 'GIT_REF = "week3"' in constants
    assert "\nSTUDENT_COPY = True\n" in constants
    assert "colab.research.google.com/github/uni/minbert-25/blob/week3/notebooks/" in (out / "README.md").read_text()
    with pytest.raises(ClassroomError, match="--repo 'not a repo'"):
        make_release(REPO, tmp_path / "bad", repo="not a repo")
    with pytest.raises(ClassroomError, match="--ref .*together with --repo"):
        make_release(REPO, tmp_path / "bad2", ref="main")


@pytest.fixture(scope="module")
def clean_clone(tmp_path_factory):
    """A clone of the committed course: what an instructor releases from."""
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True).returncode:
        pytest.skip("not a git checkout")
    clone = tmp_path_factory.mktemp("clone") / "course"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    return clone


def _execute(path: Path, env_path: Path):
    """Run a release notebook at smoke scale with ``env_path`` first on the import path; (notebook, error)."""
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:  # counts left from the file are not runs
        if cell.cell_type == "code":
            cell.execution_count = None
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except CellExecutionError as error:
        return notebook, error
    return notebook, None


def test_assignment_release_from_a_clean_clone_installs_and_runs(clean_clone, tmp_path, monkeypatch):
    """Assignment 4's release: installs with the README's command (into a folder of its own, the
    dependencies being there already); the notebooks of the other assignments (01, 02, 05, 06) run
    through at smoke scale; notebook 07 stops at its first unsolved exercise with a NotImplementedError
    that names it. (Notebooks need the exercises they use: in assignment 2's release, notebook 01's
    minBERT attention maps stop at the encoder layer's stub, which names notebook 02.)"""
    out = tmp_path / "release"
    subprocess.run([sys.executable, "-m", "mtl_lib.classroom", "--source", str(clean_clone), "release",
                    "--out", str(out), "--assignment", "4"], check=True, capture_output=True)
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), ".[dev]"], check=True, capture_output=True, cwd=out)
    assert "NotImplementedError" in (site / "mtl_lib" / "smart.py").read_text()
    assert "NotImplementedError" not in (site / "mtl_lib" / "bert.py").read_text()
    assert (site / "mtl_lib" / "classroom" / "assignments.toml").is_file()  # package data
    monkeypatch.setenv("PYTHONPATH", str(site))
    monkeypatch.setenv("MTL_SCALE", "smoke")
    for name in ("01_attention", "02_minbert", "05_cosine_sts", "06_pcgrad"):
        _, error = _execute(out / "notebooks" / f"{name}.ipynb", site)
        assert error is None, f"{name}: {str(error)[-2000:]}"
    notebook, error = _execute(out / "notebooks" / "07_smart.ipynb", site)
    assert error is not None and "NotImplementedError" in str(error)
    assert "exercise 'sym_kl' of notebook 07_smart" in str(error)
    ran = [c for c in notebook.cells if c.cell_type == "code" and c.get("execution_count")]
    assert "sym_kl(" in ran[-1].source and "def sym_kl" not in ran[-1].source  # stopped where it is called


# --- students' checks ---------------------------------------------------------------------------

def test_public_checks_pass_on_the_reference_and_say_todo_on_stubs(release):
    ok = subprocess.run([sys.executable, "-m", "mtl_lib.classroom", "test", "pooling", "pcgrad"],
                        capture_output=True, text=True, cwd=REPO)
    assert ok.returncode == 0 and "3/3 passed" in ok.stdout and "2/2 passed" in ok.stdout
    env = {**os.environ, "PYTHONPATH": str(release)}
    todo = subprocess.run([sys.executable, "-m", "mtl_lib.classroom", "test", "pooling"],
                          capture_output=True, text=True, cwd=release, env=env)
    assert todo.returncode == 1, todo.stderr
    assert "todo 'mean' averages" in todo.stdout and "0/3 passed" in todo.stdout
    unknown = subprocess.run([sys.executable, "-m", "mtl_lib.classroom", "test", "poolin"], capture_output=True,
                             text=True)
    assert unknown.returncode == 2 and "no exercise named 'poolin'" in unknown.stderr


def test_public_checks_wait_for_another_exercise(monkeypatch):
    import mtl_lib.attention
    from mtl_lib.classroom import check_exercise

    def stub(*args, **kwargs):
        raise NotImplementedError("Exercise 'scaled_dot_product_attention' (mtl_lib/attention.py) is not written yet.")

    monkeypatch.setattr(mtl_lib.attention, "scaled_dot_product_attention", stub)
    result = check_exercise("multi_head_attention", verbose=False)
    assert [status for _, status, _ in result.rows] == ["wait", "wait", "wait"]
    assert "needs exercise 'scaled_dot_product_attention' first" in str(result) and not result.passed


def test_public_checks_report_a_wrong_answer(monkeypatch, capsys):
    from mtl_lib import encode
    from mtl_lib.classroom import check_exercise

    monkeypatch.setattr(encode, "pool", lambda outputs, mask, how="mean": outputs["last_hidden_state"].sum(1))
    result = check_exercise("pooling")
    assert not result.passed
    assert [status for _, status, _ in result.rows] == ["FAIL", "FAIL", "FAIL"]
    assert "mean pooling: got" in capsys.readouterr().out


# --- leaks --------------------------------------------------------------------------------------

def _put_back_the_old_leaks(course: Path) -> None:
    """Undo the fixes of issue 16 in a copy: notebook 02's encoder_layer_by_hand holding its worked answer and
    mean_pool without solution markers, notebook 05's text printing the cosine head's line."""
    def edit(name, change):
        path = course / "notebooks" / name
        notebook = json.loads(path.read_text())
        for cell in notebook["cells"]:
            cell["source"] = change(cell.get("id"), "".join(cell["source"]))
        path.write_text(json.dumps(notebook))

    def unmark(cid, text):
        if cid == "32a9fce3":  # the Your-turn cell, now a stub: its worked answer pasted in
            answers = (REPO / "docs" / "answers" / "02.md").read_text()
            return answers.split("```python\n", 1)[1].split("```", 1)[0]
        if cid != "8302c919":
            return text
        return "".join(line for line in text.splitlines(keepends=True) if not line.strip().startswith("###"))

    edit("02_minbert.ipynb", unmark)
    edit("05_cosine_sts.ipynb", lambda cid, text: text.replace(
        "it is the cosine branch of `MultitaskBert.head`, this notebook's exercise.",
        "this is one line, `STS_MAX * F.cosine_similarity(u, v, dim=-1)`."))


def test_check_fails_when_the_old_leaks_are_put_back(tmp_path):
    course = tmp_path / "course"
    for rel in course_files(REPO):
        (course / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, course / rel)
    _put_back_the_old_leaks(course)
    ok, report = run_check(course)
    assert not ok and report.endswith("check FAILED")
    leaks = [line for line in report.splitlines() if line.startswith("FAIL LEAK")]
    assert any("02_minbert.ipynb: encoder_layer_by_hand passes" in line and "'encoder_layer'" in line
               for line in leaks), report
    assert any("02_minbert.ipynb: mean_pool passes" in line and "'pooling'" in line for line in leaks), report
    assert any("05_cosine_sts.ipynb: shows the solution of exercise 'cosine_sts_head'" in line
               for line in leaks), report
    rows = {line.split()[0]: line.split()[-1] for line in report.splitlines()[1:9]}
    assert rows["encoder_layer"] == rows["pooling"] == rows["cosine_sts_head"] == "FAIL"
    assert rows["pcgrad"] == "pass"


# --- batch grading ------------------------------------------------------------------------------

def test_limits_cap_the_memory_of_the_child():
    grab = [sys.executable, "-c", "bytearray(600 * 2 ** 20)"]
    assert subprocess.run(grab, capture_output=True).returncode == 0
    capped = subprocess.run(grab, capture_output=True, text=True, preexec_fn=_limits(256, 30))
    assert capped.returncode != 0 and "MemoryError" in capped.stderr


@pytest.fixture(scope="module")
def submissions(release, tmp_path_factory):
    """Three synthetic students (the reference, the stubs, half solved) and a folder that is no copy."""
    root = tmp_path_factory.mktemp("submissions")
    shutil.copytree(REPO / "mtl_lib", root / "ada" / "mtl_lib", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(release / "mtl_lib", root / "bob" / "mtl_lib")
    shutil.copytree(release / "mtl_lib", root / "cyd" / "mtl_lib")
    for solved in ("attention.py", "encode.py"):  # cyd solved assignment 1 and pooling: 5 of 13 points
        shutil.copy2(REPO / "mtl_lib" / solved, root / "cyd" / "mtl_lib" / solved)
    (root / "dee").mkdir()
    (root / "dee" / "notes.txt").write_text("I forgot to push")
    return root


def test_batch_grading_writes_the_gradebook_and_feedback(submissions, tmp_path):
    result = subprocess.run([sys.executable, "-m", "mtl_lib.classroom", "grade", str(submissions),
                             "--out", str(tmp_path / "grades")], capture_output=True, text=True)
    assert result.returncode == 1, result.stderr  # dee was not graded
    assert "graded 3 of 4 copies; NOT GRADED: 1" in result.stdout and "  dee: no mtl_lib package" in result.stdout
    with open(tmp_path / "grades" / "gradebook.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["student", *(e.name for e in EXERCISES), "total", "note"]
    table = {r["student"]: r for r in rows}
    assert [table[s]["total"] for s in ("ada", "bob", "cyd", "dee")] == ["13", "0", "5", "not graded"]
    assert [table["cyd"][e.name] for e in EXERCISES] == ["2", "2", "0", "1", "0", "0", "0", "0"]
    assert [table["dee"][e.name] for e in EXERCISES] == [""] * len(EXERCISES)
    assert table["dee"]["note"].startswith("not graded: no mtl_lib package in dee/") and table["ada"]["note"] == ""

    cyd = (tmp_path / "grades" / "feedback" / "cyd.md").read_text()
    assert cyd.startswith("# Feedback for cyd\n\n**Total: 5 / 13 points**")
    assert "## pooling: 1 / 1 points (5 of 5 tests passed)" in cyd
    assert "- pass `test_cls_is_the_first_token`" in cyd
    assert "- **FAILED** `test_hand_worked_pairs`" in cyd
    assert "NotImplementedError: Exercise 'cosine_sts_head'" in cyd  # the last lines of the error
    assert "torch.testing.assert_close(model.head" not in cyd  # not the hidden test's code
    assert "13 / 13 points" in (tmp_path / "grades" / "feedback" / "ada.md").read_text()


def test_a_loop_when_mtl_lib_is_imported_is_not_graded(release, tmp_path):
    """A loop at import time stops every test before it starts: the run ends at the time limit, and the copy
    is not graded (no score), rather than given zero."""
    student = tmp_path / "subs" / "eve"
    shutil.copytree(release / "mtl_lib", student / "mtl_lib")
    pcgrad = student / "mtl_lib" / "pcgrad.py"
    pcgrad.write_text(pcgrad.read_text() + "\nwhile True:  # runs on import\n    pass\n")
    pcgrad_only = [e for e in EXERCISES if e.name == "pcgrad"]
    grades = grade_folder(tmp_path / "subs", REPO, tmp_path / "out", timeout=20, exercises=pcgrad_only,
                          progress=lambda line: None)
    eve = grades["eve"]
    assert not eve["graded"] and "time limit of 20 s" in eve["reason"] and "no grading test finished" in eve["reason"]
    feedback = (tmp_path / "out" / "feedback" / "eve.md").read_text()
    assert "**Not graded:** no grading test finished" in feedback and "Total" not in feedback


def _five_submissions(release: Path, root: Path) -> None:
    """Assignment 2's release as five students hand it in: untouched, a syntax error in mtl_lib/__init__.py,
    nothing, an endless loop in ``pool``, and ``pool`` written (the reference)."""
    for student in ("untouched", "syntax", "loop", "pooled"):
        shutil.copytree(release / "mtl_lib", root / student / "mtl_lib")
    with open(root / "syntax" / "mtl_lib" / "__init__.py", "a") as f:
        f.write("\ndef broken(:\n    pass\n")
    (root / "empty").mkdir()
    encode = root / "loop" / "mtl_lib" / "encode.py"
    encode.write_text(encode.read_text().replace("    # YOUR CODE HERE\n", "    while True:\n        pass\n", 1))
    shutil.copy2(REPO / "mtl_lib" / "encode.py", root / "pooled" / "mtl_lib" / "encode.py")


def test_grading_five_submissions_without_data_files(tmp_path):
    """Without the data files (MTL_DATA_DIR empty, no network), each row is right or says "not graded" and
    why; the command ends with a summary and exit code 1. The endless loop fails its own tests (per-test
    limit) and the other tests still run."""
    release = tmp_path / "release"
    make_release(REPO, release, assignment=2)
    submissions = tmp_path / "subs"
    _five_submissions(release, submissions)
    (tmp_path / "no-data").mkdir()
    env = {**os.environ, "MTL_DATA_DIR": str(tmp_path / "no-data"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "mtl_lib.classroom", "grade", str(submissions),
                             "--assignment", "2", "--test-timeout", "3", "--out", str(tmp_path / "grades")],
                            capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "graded 3 of 5 copies; NOT GRADED: 2" in result.stdout
    with open(tmp_path / "grades" / "gradebook.csv") as f:
        table = {r["student"]: r for r in csv.DictReader(f)}
    got = {s: (r["encoder_layer"], r["pooling"], r["total"]) for s, r in table.items()}
    assert got == {"empty": ("", "", "not graded"), "loop": ("0", "0", "0"), "pooled": ("0", "1", "1"),
                   "syntax": ("", "", "not graded"), "untouched": ("0", "0", "0")}
    assert "no mtl_lib package in empty/" in table["empty"]["note"]
    assert table["syntax"]["note"].startswith("not graded: the grading tests could not start")
    assert "SyntaxError" in table["syntax"]["note"]
    loop = (tmp_path / "grades" / "feedback" / "loop.md").read_text()
    assert "## pooling: 0 / 1 points (0 of 5 tests passed)" in loop and "time limit of 3 s" in loop
    assert "**Not graded:**" in (tmp_path / "grades" / "feedback" / "syntax.md").read_text()
    assert "**Total: 1 / 3 points**" in (tmp_path / "grades" / "feedback" / "pooled.md").read_text()


# --- a release as students and GitHub Classroom use it --------------------------------------------------

def test_the_classroom_workflow_runs_on_a_release(release, tmp_path):
    """What GitHub Classroom runs, run here: the first step's setup command (pip stands in, recording what it
    is asked), then a step's command in the release: a stub earns nothing (exit 1), the written exercise its
    points (exit 0)."""
    graders = _graders(release)
    assert [s["id"] for s in graders] == [e.name for e in EXERCISES] and graders[0]["with"]["timeout"] == 15
    tools, log = tmp_path / "bin", tmp_path / "pip.log"
    tools.mkdir()
    (tools / "pip").write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    (tools / "pip").chmod(0o755)
    subprocess.run(["bash", "-c", graders[0]["with"]["setup-command"]], cwd=release, check=True,
                   env={**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}"})
    assert log.read_text().splitlines() == ["install -q torch --index-url https://download.pytorch.org/whl/cpu",
                                            "install -q -e ."]
    solved = tmp_path / "solved"
    shutil.copytree(release / "mtl_lib", solved / "mtl_lib")
    shutil.copy2(REPO / "mtl_lib" / "encode.py", solved / "mtl_lib" / "encode.py")
    command = next(s for s in graders if s["id"] == "pooling")["with"]["command"]
    for copy, code in ((release, 1), (solved, 0)):
        run = subprocess.run(["bash", "-c", command], cwd=copy, capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(copy)})
        assert run.returncode == code, run.stdout + run.stderr


def test_release_refuses_an_installed_package(tmp_path):
    """From a pip install the course's folder is site-packages: release refuses it and says to use a clone."""
    site = tmp_path / "lib" / "python3.11" / "site-packages"
    shutil.copytree(REPO / "mtl_lib" / "classroom", site / "mtl_lib" / "classroom",
                    ignore=shutil.ignore_patterns("__pycache__"))
    with pytest.raises(ClassroomError, match="is an installed package.*Run release from a clone of the course"):
        make_release(site, tmp_path / "out")
    cli = subprocess.run([sys.executable, "-m", "mtl_lib.classroom", "--source", str(site), "release", "--out",
                          str(tmp_path / "out")], capture_output=True, text=True)
    assert cli.returncode == 2 and "from a clone of the course" in cli.stderr and not (tmp_path / "out").exists()


def test_a_release_passes_its_own_colab_and_setup_tests(tmp_path):
    """The release's own tests/test_colab.py and tests/test_setup.py, and notebook 01 under nbval, pass in it;
    what reaches an unwritten exercise is skipped with a message naming it (it runs once it is written), and
    so are the notebook's cells after it."""
    out = tmp_path / "release"
    make_release(REPO, out, assignment=2, repo="uni/minbert-25")
    env = {**os.environ, "PYTHONPATH": str(out)}
    env.pop("PYTEST_ADDOPTS", None)
    run = subprocess.run([sys.executable, "-m", "pytest", "tests/test_colab.py", "tests/test_setup.py",
                          "notebooks/01_attention.ipynb", "-q", "-p", "no:cacheprovider",
                          "-o", "addopts=-ra --nbval-lax --nbval-current-env"], cwd=out, env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert not re.search(r"\d+ (failed|error)", run.stdout.splitlines()[-1])
    assert "needs exercise 'pooling', not written yet in this copy" in run.stdout
    assert "01_attention.ipynb:0: needs exercise 'encoder_layer'" in run.stdout  # its minBERT attention maps
    assert "an earlier cell of this notebook needs exercise 'encoder_layer'" in run.stdout


FAKE_COLAB = '''
"""A Colab runtime, faked: google.colab's drive.mount, an IPython shell, answers to the setup cell's prompts,
git as it is (GitHub redirected to a local folder by the environment), pip recorded instead of run."""
import builtins, getpass, json, os, subprocess, sys, types
from IPython.core.interactiveshell import InteractiveShell

drive = types.SimpleNamespace(mount=lambda path: os.makedirs(os.path.join(path, "MyDrive"), exist_ok=True))
sys.modules["google"] = types.ModuleType("google")
sys.modules["google.colab"] = types.SimpleNamespace(drive=drive)
builtins.input = lambda prompt="": "ada/minbert-25"  # the student's own repository
getpass.getpass = lambda prompt="": "s3cret"  # a token: the repository is private
real_run, pip_calls = subprocess.run, []


def run(command, *args, **kwargs):
    if list(command[1:4]) == ["-m", "pip", "install"]:
        pip_calls.append(list(command))
        return subprocess.CompletedProcess(command, 0, "", "")
    return real_run(command, *args, **kwargs)


subprocess.run = run
shell = InteractiveShell.instance()
for cell in json.loads(sys.stdin.read()):
    if cell.startswith("#edit "):  # the student edits a file of their copy (in Drive's editor, say)
        path, text = json.loads(cell[6:])
        with open(path, "w") as f:
            f.write(text)
        continue
    result = shell.run_cell(cell)
    error = result.error_in_exec or result.error_before_exec
    print("RESULT " + json.dumps({"error": type(error).__name__ if error else None, "value": repr(result.result)}))
print("PIP " + json.dumps(pip_calls))
'''


def test_a_students_edit_runs_on_colab_without_a_restart(tmp_path):
    """A release made with --repo, on a fake Colab: the setup cell mounts Drive, clones the student's own
    (private) repository there with a token, installs it editable (pip recorded), keeps no token in the
    clone; a stubbed function fails, the student edits mtl_lib/encode.py on Drive, and the same function
    object, called again in the same kernel, runs the edit (autoreload), with no restart."""
    from mtl_lib.setup import setup_cell

    template = tmp_path / "template"
    make_release(REPO, template, assignment=2, repo="uni/minbert-25")
    student_repo = tmp_path / "github" / "ada" / "minbert-25"  # what GitHub Classroom makes for one student
    shutil.copytree(template, student_repo)
    git = ["git", "-c", "user.name=Ada", "-c", "user.email=ada@example.org"]
    subprocess.run([*git, "init", "-q"], cwd=student_repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=student_repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "release"], cwd=student_repo, check=True)

    drive = tmp_path / "drive"
    course = drive / "MyDrive" / "minbert-25"
    cells = json.loads((template / "notebooks" / "02_minbert.ipynb").read_text())["cells"]
    setup = "".join(next(c for c in cells if c["cell_type"] == "code")["source"])  # the release's own cell
    assert setup == setup_cell("02_minbert.ipynb", "uni/minbert-25", "main", student=True)
    setup = setup.replace("/content/drive", str(drive))  # where the fake Drive is mounted
    call = ('import torch\nfrom mtl_lib.encode import pool\n'
            'pool({"last_hidden_state": torch.arange(6.0).reshape(1, 3, 2)}, torch.tensor([[1, 1, 0]]), "mean")')
    solved = (REPO / "mtl_lib" / "encode.py").read_text()
    cells = [setup, call, "#edit " + json.dumps([str(course / "mtl_lib" / "encode.py"), solved]),
             'pool({"last_hidden_state": torch.arange(6.0).reshape(1, 3, 2)}, torch.tensor([[1, 1, 0]]), "mean")',
             "import mtl_lib, os; (mtl_lib.__file__, os.environ['MTL_RUNS_DIR'])"]
    github = f"file://{tmp_path / 'github'}/"
    env = {**os.environ, "GIT_CONFIG_COUNT": "2",
           "GIT_CONFIG_KEY_0": f"url.{github}.insteadOf", "GIT_CONFIG_VALUE_0": "https://github.com/",
           "GIT_CONFIG_KEY_1": f"url.{github}.insteadOf",
           "GIT_CONFIG_VALUE_1": "https://x-access-token:s3cret@github.com/"}
    env.pop("MTL_RUNS_DIR", None)
    env.pop("PYTHONPATH", None)
    run = subprocess.run([sys.executable, "-c", FAKE_COLAB], input=json.dumps(cells), capture_output=True,
                         text=True, env=env, cwd=tmp_path, timeout=300)
    results = [json.loads(line[7:]) for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert len(results) == 4, run.stdout[-3000:] + run.stderr[-3000:]
    assert results[0]["error"] is None, run.stdout[-3000:]
    assert results[1]["error"] == "NotImplementedError"  # the stub, before the edit
    assert results[2] == {"error": None, "value": "tensor([[1., 2.]])"}  # the edit, same kernel, no restart
    module, runs = eval(results[3]["value"])
    assert Path(module).resolve() == (course / "mtl_lib" / "__init__.py").resolve()
    assert Path(runs) == course / "notebooks" / "runs"
    pip = json.loads(next(line[4:] for line in run.stdout.splitlines() if line.startswith("PIP ")))
    assert pip == [[sys.executable, "-m", "pip", "install", "-q", "-e", str(course)]]
    remote = subprocess.run(["git", "-C", str(course), "remote", "get-url", "origin"], capture_output=True,
                            text=True, env={**os.environ, "GIT_CONFIG_COUNT": "0"}).stdout.strip()
    assert remote == "https://github.com/ada/minbert-25" and "s3cret" not in (course / ".git" / "config").read_text()
    assert "your copy of the course: " in run.stdout
