"""Colab: the colab scale chosen on a (simulated) T4, each notebook's budget within its time bound,
the pinned install and badge in every notebook, and the packaging Colab's pip relies on."""

import ast
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
from mtl_lib.setup import (COLAB_BUDGETS, GIT_REF, GITHUB_REPO, SCALES, colab_badge, install_line, setup,
                           setup_cell)
from mtl_lib.train import amp_dtype

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture
def fake_colab_t4(monkeypatch):
    """A Colab runtime with a T4: a google.colab module, and torch.cuda answering for a capability-7.5 GPU."""
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
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
    assert budgets.NOTEBOOK_WORK["04"].steps == 7 * steps["04"]  # 6 orders (3 one-task phases each) + summed
    assert budgets.NOTEBOOK_WORK["05"].steps == 2 * steps["05"]
    assert budgets.NOTEBOOK_WORK["06"].steps >= 2 * steps["06"]
    assert budgets.NOTEBOOK_WORK["07"].steps >= 5 * 3 * steps["07"]


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
    assert "measured" in budgets.expected_time("07", "laptop", "cpu")  # its Time line is measured (980 s)
    monkeypatch.setattr(budgets, "LAPTOP_ESTIMATED", {"07"})  # a notebook whose line is still an estimate
    assert "estimated" in budgets.expected_time("07", "laptop", "cpu")
    assert "hours" in budgets.expected_time("04", "colab", "cpu")
    assert budgets.expected_time(None, "laptop", "cpu") == ""
    assert "runs are on disk" in budgets.expected_time("06", "laptop", "cpu")
    assert "runs are on disk" not in budgets.expected_time("05", "laptop", "cpu")  # 05 keeps no runs


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
    nb = nbformat.read(path, as_version=4)
    first_md = next(c for c in nb.cells if c.cell_type == "markdown")
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert colab_badge(path.name) in first_md.source, "run python -m mtl_lib.setup --sync-notebooks"
    assert first_code.source == setup_cell(path.name), "run python -m mtl_lib.setup --sync-notebooks"
    assert nb.metadata.get("accelerator") == "GPU"
    assert "enable_custom_widget_manager" not in first_code.source  # it loads code from a CDN
    text = path.read_text()
    assert text.count("colab.research.google.com/github/") == 1
    assert "git+https://github.com" not in text.replace(install_line().replace('"', '\\"'), "")


def test_pins_are_one_constant_each():
    assert re.fullmatch(r"[\w.-]+/[\w.-]+", GITHUB_REPO) and GIT_REF not in ("main", "master", "")
    assert f"@{GIT_REF}" in install_line() and f"/blob/{GIT_REF}/" in colab_badge("x.ipynb")


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
