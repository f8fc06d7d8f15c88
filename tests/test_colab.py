"""Colab: the colab scale chosen on a (simulated) T4, each notebook's budget within its time bound,
the pinned install and badge in every notebook, and the packaging Colab's pip relies on."""

import ast
import os
import re
import sys
import tomllib
import types
from pathlib import Path

import nbformat
import pytest
import torch

from mtl_lib import budgets
from mtl_lib import setup as mtl_setup
from mtl_lib.setup import (COLAB_BUDGETS, GIT_REF, GITHUB_REPO, SCALES, STUDENT_COPY, colab_badge, install_spec,
                           setup, setup_cell)
from mtl_lib.train import amp_dtype

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture
def fake_colab_t4(monkeypatch, tmp_path):
    """A Colab runtime with a T4: a google.colab module, and torch.cuda answering for a capability-7.5 GPU
    (MTL_RUNS_DIR set, so that setup() does not ask where to keep runs)."""
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setenv("MTL_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.delenv("MTL_SCALE", raising=False)
    monkeypatch.delenv("MTL_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    props = types.SimpleNamespace(major=7, minor=5, name="Tesla T4", total_memory=15 * 2**30)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device=None: props)
    monkeypatch.setattr(torch.version, "hip", None)


@pytest.mark.parametrize("notebook", [p.name for p in NOTEBOOKS])
def test_colab_t4_picks_colab_scale_fp16_and_a_budget_that_fits(fake_colab_t4, notebook, capsys):
    ctx = setup(notebook=notebook)
    assert ctx.device.type == "cuda" and ctx.scale.name == "colab"
    assert ctx.scale.checkpoint == "bert-base-uncased"
    assert ctx.train_dtype == torch.float16  # a T4 has no native bf16
    key = notebook[:2]
    for field, value in COLAB_BUDGETS.get(key, {}).items():
        assert getattr(ctx.scale, field) == value
    out = capsys.readouterr().out
    assert "scale=colab" in out and re.search(r"expected time: about \d+ min on a T4", out)
    work = budgets.NOTEBOOK_WORK[key]
    assert work.steps <= budgets.step_bound(key)  # the step count its 15-minute estimate rests on
    assert budgets.derived_minutes(key) <= budgets.COLAB_LIMIT_MINUTES


def test_colab_budgets_match_the_step_counts_they_are_priced_at():
    """The work table counts steps from the budgets: 32 rows per task per summed step."""
    steps = {k: -(-b["max_examples"] // SCALES["colab"].batch_size) for k, b in COLAB_BUDGETS.items()}
    assert budgets.NOTEBOOK_WORK["04"].steps >= steps["04"] + 2 * steps["04"] // 3  # summed + two one-task phases
    assert budgets.NOTEBOOK_WORK["05"].steps == 2 * steps["05"]
    assert budgets.NOTEBOOK_WORK["06"].steps >= 2 * steps["06"]
    assert budgets.NOTEBOOK_WORK["07"].steps >= 2 * 3 * steps["07"]  # plain + SMART, 3 epochs each


def test_bf16_stays_for_ampere_and_a_cpu_without_native_bf16_trains_in_fp32(monkeypatch):
    props = types.SimpleNamespace(major=8, minor=0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device=None: props)
    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr("mtl_lib.precision.native_bf16_cpu", lambda: False)
    assert amp_dtype(torch.device("cuda"), True) == torch.bfloat16
    assert amp_dtype(torch.device("cpu"), True) is None


def test_without_colab_the_default_is_not_colab(monkeypatch):
    monkeypatch.delenv("MTL_SCALE", raising=False)
    monkeypatch.delenv("MTL_DEVICE", raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert setup(verbose=False).scale.name == "laptop"


def test_expected_time_lines(monkeypatch):
    assert "measured" in budgets.expected_time("05", "laptop", "cpu")
    assert "measured" in budgets.expected_time("07", "laptop", "cpu")
    monkeypatch.setattr(budgets, "LAPTOP_ESTIMATED", {"07"})  # a notebook whose line is still an estimate
    assert "estimated" in budgets.expected_time("07", "laptop", "cpu")
    assert "hours" in budgets.expected_time("04", "colab", "cpu")
    assert budgets.expected_time(None, "laptop", "cpu") == ""
    assert "runs are on disk" in budgets.expected_time("06", "laptop", "cpu")
    assert "runs are on disk" in budgets.expected_time("05", "laptop", "cpu")
    assert "runs are on disk" not in budgets.expected_time("07", "laptop", "cpu")  # 07 trains in memory


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_setup_output_states_the_current_expected_time(path):
    """The setup cell's committed output (laptop scale, CPU) says what ``budgets`` says now: a re-timed
    notebook whose setup cell was not re-run would show readers a stale estimate."""
    nb = nbformat.read(path, as_version=4)
    setup_cell = next(c for c in nb.cells if c.cell_type == "code" and "setup(notebook=" in c.source)
    printed = "".join(o.get("text", "") for o in setup_cell.outputs)
    assert budgets.expected_time(path.name[:2], "laptop", "cpu") in printed, (
        f"{path.name}: re-run its setup cell at laptop scale (its output: {printed.strip()!r})")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_has_the_pinned_badge_install_line_and_gpu_metadata(path):
    """The badge and setup cell are the generated ones. The public course installs the package at its tag and
    nothing else; a student copy (a release) installs no package at all, only the student's own copy."""
    nb = nbformat.read(path, as_version=4)
    first_md = next(c for c in nb.cells if c.cell_type == "markdown")
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    badge = colab_badge(path.name)
    assert badge in first_md.source, "run python -m mtl_lib.setup --sync-notebooks"
    assert first_code.source == setup_cell(path.name), "run python -m mtl_lib.setup --sync-notebooks"
    assert nb.metadata.get("accelerator") == "GPU"
    assert "enable_custom_widget_manager" not in first_code.source  # it loads code from a CDN
    text = path.read_text()
    assert text.count("colab.research.google.com/github/") == (1 if badge else 0)
    if STUDENT_COPY:
        assert "git+" not in text and "use_own_copy(COURSE)" in first_code.source
    else:
        assert "git+https://github.com" not in text.replace(install_spec(), "")


def test_pins_are_one_constant_each():
    if STUDENT_COPY:  # a release: badges open its repository (if any) at a branch; nothing is installed from it
        assert GITHUB_REPO == "" or re.fullmatch(r"[\w.-]+/[\w.-]+", GITHUB_REPO)
        assert "git+" not in setup_cell("x.ipynb")
        return
    assert re.fullmatch(r"[\w.-]+/[\w.-]+", GITHUB_REPO) and GIT_REF not in ("main", "master", "")
    assert f"@{GIT_REF}" in install_spec() and f"/blob/{GIT_REF}/" in colab_badge("x.ipynb")
    assert install_spec() in setup_cell("x.ipynb")


def _run_colab_part(cell: str, monkeypatch, pip_result) -> tuple[dict, list]:
    """Execute a setup cell on a fake Colab, with ``subprocess.run`` answering every pip call with
    ``pip_result``; return the cell's namespace and the commands it ran. The cell's last two lines (import
    and call setup) are left out: they need the installed course, which is this one here."""
    import subprocess

    calls = []
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess, "run", lambda command, **kw: calls.append(command) or pip_result)
    namespace = {}
    exec(compile("\n".join(cell.splitlines()[:-2]), "setup cell", "exec"), namespace)
    return namespace, calls


def test_a_failing_install_on_colab_stops_with_one_message(monkeypatch):
    """When pip cannot install the pinned course (e.g. the tag does not exist yet), the setup cell stops
    with one message naming what failed and what to do, not pip's output and a ModuleNotFoundError."""
    failed = types.SimpleNamespace(returncode=1, stdout="", stderr=(
        "  Running command git checkout -q v0.1.0\n  error: pathspec 'v0.1.0' did not match any file(s) known to git\n"
        "ERROR: Failed to build installable wheels for some pyproject.toml based projects (mtl-minbert)"))
    cell = setup_cell("04_sequential_vs_summed.ipynb", "mtl-minbert/mtl-minbert", "v0.1.0", student=False)
    with pytest.raises(SystemExit) as stop:
        _run_colab_part(cell, monkeypatch, failed)
    message = str(stop.value)
    assert message.startswith("Could not install the course (mtl-minbert @ git+https://github.com/mtl-minbert/"
                              "mtl-minbert@v0.1.0): ERROR: Failed to build installable wheels")
    assert "https://github.com/mtl-minbert/mtl-minbert/tree/v0.1.0 opens" in message
    assert "run this cell again" in message and "If the install fails" in message

    worked = types.SimpleNamespace(returncode=0, stdout="", stderr="")
    _, calls = _run_colab_part(cell, monkeypatch, worked)
    assert calls == [[sys.executable, "-m", "pip", "install", "-q", install_spec("mtl-minbert/mtl-minbert", "v0.1.0")]]


def test_colab_offers_to_keep_runs_on_drive(monkeypatch, tmp_path):
    """On Colab, a notebook that keeps runs asks once whether to put them on Drive; yes mounts it and points
    MTL_RUNS_DIR there (runs.runs_dir follows); no, or a notebook without runs, changes nothing."""
    from mtl_lib import colab
    from mtl_lib.runs import runs_dir

    mounted = []
    drive = types.SimpleNamespace(mount=lambda path: mounted.append(path))
    monkeypatch.setitem(sys.modules, "google.colab", types.SimpleNamespace(drive=drive))
    monkeypatch.setattr(colab, "DRIVE", tmp_path / "drive")
    monkeypatch.setenv("MTL_RUNS_DIR", "")  # recorded, so that teardown removes what offer_drive_runs sets
    monkeypatch.delenv("MTL_RUNS_DIR")
    assert colab.offer_drive_runs("02", ask=lambda q: pytest.fail("02 keeps no runs: nothing to ask")) is None
    assert colab.offer_drive_runs("06", ask=lambda q: "n") is None and "MTL_RUNS_DIR" not in os.environ
    assert colab.offer_drive_runs("06", ask=lambda q: "y") == tmp_path / "drive" / colab.DRIVE_RUNS
    assert mounted == [str(tmp_path / "drive")] and runs_dir("06-summed") == tmp_path / "drive" / colab.DRIVE_RUNS / "06-summed"
    assert colab.offer_drive_runs("07", ask=lambda q: pytest.fail("asked again")) is None  # already set


def test_publishing_points_the_course_at_a_repository_and_tag(tmp_path):
    """``python -m mtl_lib.setup --sync-notebooks --repo OWNER/NAME --ref TAG`` rewrites the constants, the
    README's badges and every notebook; a branch as --ref is refused (it moves)."""
    from mtl_lib.setup import main, publish

    root = tmp_path / "course"
    for rel in ["mtl_lib/setup.py", *(f"notebooks/{p.name}" for p in NOTEBOOKS[:2])]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes((ROOT / rel).read_bytes())
    old_badge = colab_badge("00_setup_and_data.ipynb", "mtl-minbert/mtl-minbert", "v0.1.0")
    (root / "README.md").write_text(f"| [00](notebooks/00_setup_and_data.ipynb) {old_badge} | the data |\n")
    changed = publish("uni/minbert", "v2.0", root)
    assert changed == ["mtl_lib/setup.py", "README.md", *(p.name for p in NOTEBOOKS[:2])]
    text = (root / "mtl_lib/setup.py").read_text()
    assert 'GITHUB_REPO = "uni/minbert"' in text and 'GIT_REF = "v2.0"' in text
    readme = (root / "README.md").read_text()
    assert "colab.research.google.com/github/uni/minbert/blob/v2.0/notebooks/00_setup_and_data.ipynb" in readme
    assert "mtl-minbert/mtl-minbert" not in readme
    nb = nbformat.read(root / "notebooks" / NOTEBOOKS[0].name, as_version=4)
    assert colab_badge(NOTEBOOKS[0].name, "uni/minbert", "v2.0") in nb.cells[0].source
    assert install_spec("uni/minbert", "v2.0") in next(c for c in nb.cells if c.cell_type == "code").source
    assert publish("uni/minbert", "v2.0", root) == []  # idempotent
    with pytest.raises(ValueError, match="--ref 'main'.*a branch moves"):
        publish("uni/minbert", "main", root)
    with pytest.raises(SystemExit):
        main(["--sync-notebooks", "--repo", "uni/minbert"])  # --ref missing


def test_packaging_metadata():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert {"Homepage", "Repository", "Issues"} <= set(project["urls"])
    assert any(c.startswith("Programming Language :: Python :: 3.1") for c in project["classifiers"])
    deps = {re.split(r"[<>=\[ ]", d)[0]: d for d in project["dependencies"]}
    assert deps["ipywidgets"].startswith("ipywidgets>=7.6")
    cff = (ROOT / "CITATION.cff").read_text()
    assert "cff-version: 1.2.0" in cff and "Multi-task Learning with minBERT" in cff
    assert re.search(r"^version: " + re.escape(project["version"]) + "$", cff, re.M)


# APIs the package calls, with the torch release that introduced each: the dependency floor must cover them.
TORCH_APIS = {
    "torch.amp.GradScaler": (2, 3),  # torch.amp.GradScaler("cuda"); before 2.3 only torch.cuda.amp.GradScaler
    "torch.nn.functional.scaled_dot_product_attention": (2, 0),
    "torch.load(weights_only)": (1, 13),
    "torch.autocast": (1, 10),
}


def used_torch_apis() -> set[str]:
    """Which of TORCH_APIS the package's source calls (by a parse, not a text search of comments)."""
    found = set()
    for path in (ROOT / "mtl_lib").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                dotted = ast.unparse(node)
                for api in TORCH_APIS:
                    if dotted == api or dotted == api.replace("torch.nn.functional", "F"):
                        found.add(api)
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "torch.load" and any(
                    k.arg == "weights_only" for k in node.keywords):
                found.add("torch.load(weights_only)")
    return found


def test_torch_floor_covers_the_apis_used():
    used = used_torch_apis()
    assert "torch.amp.GradScaler" in used  # the API that sets today's floor (mtl_lib.train)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    spec = next(d for d in project["dependencies"] if d.startswith("torch"))
    floor = tuple(int(x) for x in re.search(r">=\s*(\d+)\.(\d+)", spec).groups())
    needed = max(TORCH_APIS[api] for api in used)
    assert floor >= needed, f"pyproject says {spec}, but the code uses APIs from torch {needed}"
    assert hasattr(mtl_setup, "GIT_REF")


def test_bert_base_is_downloaded_at_its_pinned_revision(monkeypatch, tmp_path):
    import huggingface_hub

    from mtl_lib import checkpoints

    calls = []

    def fake_snapshot_download(repo_id, revision=None, allow_patterns=None):
        calls.append((repo_id, revision))
        for name in ("config.json", "vocab.txt", "model.safetensors"):
            (tmp_path / name).write_text("{}")
        return str(tmp_path)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    assert checkpoints.resolve_checkpoint("bert-base-uncased") == tmp_path
    assert calls == [("google-bert/bert-base-uncased", "86b5e0934494bd15c9632b12f734a8a67f723594")]


def test_colab_benchmark_section_counts_the_bert_base_step(data_dir):
    """`bench --only colab` (smoke size): a bert-base-shaped step and the laptop model's on the same batches,
    with the FLOP count the T4 figures rest on (times are printed, not asserted)."""
    from mtl_lib import bench

    c = bench.colab_step(batch_size=2, repeats=1, data_dir=data_dir)
    base = "bert-base (random)"
    assert c["matmul_params"][base] == 12 * (4 * 768**2 + 2 * 768 * 3072) + 768**2  # layers + pooler
    assert c["step_matmul_flops"][base] == 6 * c["matmul_params"][base] * c["padded_tokens"]
    assert all(s > 0 for s in c["seconds"].values()) and c["padded_tokens_at_32"] > c["padded_tokens"]
    assert c["t4_step_seconds_at_32_derived"] == pytest.approx(budgets.step_seconds())
    assert "colab" not in bench.DEFAULT_SECTIONS and "colab" in bench.SECTIONS


def test_notebooks_write_runs_under_runs_dir_and_keep_weights_only_where_counted():
    """Every notebook puts its runs under runs.runs_dir() (MTL_RUNS_DIR: on Colab a Drive folder survives a
    recycled runtime); only the notebooks the disk count says keep weights ask for them."""
    keep = set()
    for path in NOTEBOOKS:
        code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        assert 'Path("runs")' not in code, f"{path.name}: use mtl_lib.runs.runs_dir()"
        if re.search(r"train_or_load\(|load_or_train\(", code):
            assert "runs_dir(" in code, path.name
        if 'weights="final"' in code or 'weights="all"' in code:
            keep.add(path.name[:2])
    assert keep == {n for n, (_, kept) in budgets.COLAB_RUNS.items() if kept} == {"08"}


def test_a_colab_pass_fits_in_two_gigabytes(tmp_path, monkeypatch):
    """Counted from the budgets: the downloads, the runs and the weights that notebooks 06 and 08 keep, and the
    largest file written and deleted on the way, including what one run of 08's sweep writes (probed)."""
    from mtl_lib import sweep
    from mtl_lib.model import HeadConfig
    from mtl_lib.train import TrainConfig

    asked = []
    monkeypatch.setattr(sweep, "run_logged", lambda argv, log: asked.extend(argv))
    sweep.train_one(tmp_path, {"lr": 1e-4, "smart_lambda": 1.0, "dropout": 0.1}, "summed", SCALES["colab"],
                    HeadConfig(pair_features="concat", sts_head="linear"), TrainConfig(sampling="annealed", lr=5e-5), None, "cpu")
    sweep_checkpoint = 0 if asked[asked.index("--weights") + 1] == "none" else 3 * budgets.BERT_BASE_BYTES
    disk = budgets.colab_disk_bytes(sweep_checkpoint)
    assert disk["runs"] == 48 and disk["runs_with_weights"] == 1
    assert disk["peak"] <= 2e9, f"{disk['peak'] / 1e9:.2f} GB"


def test_push_to_github_hands_work_in(tmp_path):
    """From a student's copy (a clone), push_to_github commits the edit and pushes it to origin; the token
    asked for is never written into the clone."""
    import subprocess

    from mtl_lib.colab import push_to_github

    git = ["git", "-c", "user.name=T", "-c", "user.email=t@example.org"]
    origin, copy = tmp_path / "origin.git", tmp_path / "copy"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    subprocess.run(["git", "clone", "-q", str(origin), str(copy)], check=True, capture_output=True)
    (copy / "mtl_lib").mkdir()
    (copy / "mtl_lib" / "encode.py").write_text("def pool():\n    return 1\n")
    commit = push_to_github("pooling written", copy, ask=lambda prompt: "s3cret")
    log = subprocess.run(["git", "--git-dir", str(origin), "log", "--format=%h %s", "-1"], capture_output=True,
                         text=True).stdout.strip()
    assert log == f"{commit} pooling written"
    assert "s3cret" not in (copy / ".git" / "config").read_text()
    (copy / "mtl_lib" / "encode.py").write_text("def pool():\n    return 2\n")
    subprocess.run([*git, "-C", str(copy), "remote", "set-url", "origin", str(tmp_path / "missing.git")], check=True)
    with pytest.raises(SystemExit, match="(?s)Could not push .*Check the token"):
        push_to_github("again", copy, ask=lambda prompt: "s3cret")
