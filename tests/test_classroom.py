"""The classroom tool: stubbing, the student release, and grading it.

The expensive part (one release, one notebook run, one wheel, two grading
runs) is shared through module-scoped fixtures; ``python -m mtl_lib.classroom
check`` (run by CI) covers the per-exercise proofs.
"""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mtl_lib.classroom import EXERCISES, ClassroomError
from mtl_lib.classroom.grade import grade, load_points
from mtl_lib.classroom.release import course_files, make_release
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
    namespace = {}
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
    assert [c.get("execution_count") for c in out["cells"][1:]] == [None, None, None]
    assert out["cells"][1]["outputs"] == [] and out["cells"][3]["outputs"] == []
    assert out["cells"][1]["metadata"] == {}
    assert out["cells"][2]["outputs"][0]["execution_count"] is None  # nbval compares these outputs


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
    with pytest.raises(ClassroomError, match="no mtl_lib package here"):
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


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    out = tmp_path_factory.mktemp("classroom") / "release"
    make_release(REPO, out)
    return out


def test_release_contents(release):
    assert not (release / "tests" / "grading").exists() and not (release / "tests" / "test_classroom.py").exists()
    assert (release / "README.md").read_bytes() == (REPO / "README.md").read_bytes()
    assert (release / "pyproject.toml").read_bytes() == (REPO / "pyproject.toml").read_bytes()
    for e in EXERCISES:
        assert f"Exercise '{e.name}'" in (release / e.file).read_text()
    notebook = json.loads((release / "notebooks" / "01_attention.ipynb").read_text())
    assert all(c.get("execution_count") is None for c in notebook["cells"] if c["cell_type"] == "code")


def test_release_notebook_stops_at_the_first_exercise(release, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    monkeypatch.setenv("PYTHONPATH", str(release))  # the kernel imports the release's mtl_lib
    path = release / "notebooks" / "01_attention.ipynb"
    notebook = nbformat.read(path, as_version=4)
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
