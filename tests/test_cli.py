"""The command line: defaults and presets, help, exit codes, messages, and what train and evaluate write."""

import argparse
import contextlib
import io
import json
import shutil
import tomllib
from pathlib import Path

import pytest

from mtl_lib import cli, experiment, options, report, setup

REPO = Path(__file__).resolve().parent.parent
TINY_SCALE = setup.Scale("smoke", "all-MiniLM-L6-v2", 12, 12, 4, 32, 1)  # 12 rows per task, 1 epoch


@pytest.fixture(scope="module")
def tiny_data(data_dir, tmp_path_factory) -> Path:
    """The data files with 10 rows per test file: predicting the full test sets takes a minute."""
    folder = tmp_path_factory.mktemp("data")
    for path in data_dir.glob("*.csv"):
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        (folder / path.name).write_text("".join(lines[:11] if "test" in path.name else lines), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory):
    """One tiny run trained with the command line's defaults: (run folder, what it printed)."""
    out = tmp_path_factory.mktemp("cli") / "run"
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(printed):
        mp.setitem(setup.SCALES, "smoke", TINY_SCALE)
        assert cli.main(["train", "--scale", "smoke", "--data-dir", str(tiny_data), "--out", str(out)]) == 0
    return out, printed.getvalue()


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


# --- options ---------------------------------------------------------------------------------
def subparsers(parser):
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def test_every_option_has_help_with_its_default():
    for name, sub in subparsers(cli.build_parser()).items():
        for action in sub._actions:
            if not action.option_strings or action.dest == "help":
                continue
            assert action.help, f"{name} {action.option_strings[0]} has no help"
            shown = cli.HelpFormatter(name)._get_help_string(action)
            has_default = not (action.default is None or action.default is False
                               or action.default is argparse.SUPPRESS)
            assert "default" in shown or not has_default, f"{name} {action.option_strings[0]}: {shown}"
    text = subparsers(cli.build_parser())["train"].format_help()
    assert "(default: cosine; --recipe paper: linear)" in " ".join(text.split())


def recipe(argv):
    args = cli.build_parser().parse_args(["train", "--out", "x", *argv])
    _, head, cfg = options.resolve(args, setup.get_scale("smoke"))
    return head.sts_head, head.pair_features, head.pooling, cfg.sampling, cfg.lr


def test_defaults_are_the_course_recipe_and_paper_is_one_preset_away():
    assert recipe([]) == ("cosine", "rich", "mean", "equal", 1e-4)
    assert recipe(["--recipe", "paper"]) == ("linear", "concat", "pooler", "equal", 1e-4)
    assert recipe(["--recipe", "paper", "--sts-head", "cosine", "--lr", "2e-4"])[::4] == ("cosine", 2e-4)
    assert recipe(["--sampling", "annealed"])[3] == "annealed"


def test_version_bench_subcommand_and_console_script(capsys, monkeypatch):
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == "mtl-minbert 0.1.0"
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"mtl-minbert": "mtl_lib.cli:main"}
    from mtl_lib import bench

    seen = []
    monkeypatch.setattr(bench, "run_args", lambda args: seen.append(args) or 0)
    assert cli.main(["bench", "--size", "smoke", "--only", "flops"]) == 0
    assert seen[0].size == "smoke" and seen[0].only == ["flops"]
    with pytest.raises(SystemExit) as done:
        cli.main(["bench", "--only", "warp_drive"])
    assert done.value.code == 2 and "warp_drive" in capsys.readouterr().err


# --- errors ----------------------------------------------------------------------------------
def test_messages_name_command_line_options():
    parser = cli.build_parser()
    assert cli.for_cli("lr=0.0 and head_lr=0.001 must be positive.", parser) == \
        "--lr 0.0 and --head-lr 0.001 must be positive."
    assert cli.for_cli("pass that folder with data_dir=; or", parser) == "pass that folder with --data-dir; or"
    untouched = "export MTL_DATA_DIR=/x (strict=True; chunk_size=2)"
    assert cli.for_cli(untouched, parser) == untouched


def test_exit_codes_debug_and_hints(tmp_path, capsys, monkeypatch):
    assert cli.main(["train", "--scale", "smoke", "--out", str(tmp_path / "r"), "--lr", "0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --lr 0.0 and --head-lr 0.001 must be positive") and "Traceback" not in err
    monkeypatch.setenv("MTL_DATA_URL", "http://127.0.0.1:1/")  # offline
    assert cli.main(["parity", "--data-dir", str(tmp_path / "empty")]) == 1
    err = capsys.readouterr().err
    assert "with --data-dir;" in err and "data_dir=" not in err and "download=" not in err
    assert cli.main(["evaluate", "--run", str(tmp_path / "nothing")]) == 1
    assert "metrics.json not found" in capsys.readouterr().err
    assert cli.main(["evaluate", "--run", str(tmp_path / "nothing"), "--debug"]) == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err
    monkeypatch.setattr(cli, "cmd_info", lambda args: {}["bug"])
    assert cli.main(["info"]) == 1
    assert capsys.readouterr().err == "error: KeyError: 'bug' (--debug shows the traceback)\n"
    with pytest.raises(SystemExit) as done:  # a usage error
        cli.main(["train", "--out", "x", "--order", "sst,sst,para"])
    assert done.value.code == 2 and "not an order" in capsys.readouterr().err
    with pytest.raises(SystemExit) as done:
        cli.main(["train", "--out", "x", "--resume", "--force"])
    assert done.value.code == 2


# --- train -----------------------------------------------------------------------------------
def test_train_writes_the_recipe_run_and_says_where(trained, tiny_data):
    out, printed = trained
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"sst_acc", "para_acc", "sts_corr", "overall", "train_seconds", "history"} <= set(metrics)
    head, cfg = metrics["head_config"], metrics["train_config"]
    assert (head["sts_head"], head["pair_features"], cfg["sampling"], cfg["lr"]) == ("cosine", "rich", "equal", 1e-4)
    assert len(metrics["sst_confusion"]) == 5 and sum(map(sum, metrics["sst_confusion"])) == 12
    assert printed.count("epoch 1/1 all: dev sst_acc") == 1  # one line of dev scores per epoch
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert f"wrote {out}/: metrics.json, curves.png" in printed
    assert f"test predictions: {out / 'predictions'}/ sst-test-output.csv, sts-test-output.csv" in printed
    # smoke scale predicts the first 64 rows of each test file (the tiny files have 10) and says so
    assert metrics["test_rows"] == 64 and "(the first 64 rows of each test file: smoke scale)" in printed
    assert len((out / "predictions" / "sst-test-output.csv").read_text().strip().splitlines()) == 1 + 10
    if not (tiny_data / "quora-test-student.csv").exists():  # the offline copy has none: said, not skipped
        assert "para" in metrics["missing_test_files"] and "no para test predictions:" in printed
        assert "give --data-dir (or MTL_DATA_DIR)" in printed and "data_dir=" not in printed  # the advice, short
        assert "urlopen" not in printed and "quora-test-student.csv is neither" in printed
    # A finished run keeps its weights, not the optimizer state: under 100 MB with MiniLM (weights ~91 MB).
    assert (out / "checkpoint" / "model.safetensors").exists() and not (out / "checkpoint" / "trainer.pt").exists()
    assert "(the weights only; the optimizer state was dropped (--keep-optimizer keeps it))" in printed
    assert folder_bytes(out) < 100e6


def fake_finished_run(folder: Path) -> Path:
    (folder / "checkpoint").mkdir(parents=True)
    (folder / "predictions").mkdir()
    (folder / "metrics.json").write_text(json.dumps({"overall": 0.5}))
    (folder / "checkpoint" / "state.json").write_text(json.dumps({"epoch": 1, "train_config": {"epochs": 1}}))
    return folder


def test_train_refuses_a_run_unless_force_or_resume(tmp_path, capsys, monkeypatch):
    run = fake_finished_run(tmp_path / "done")
    assert cli.main(["train", "--scale", "smoke", "--out", str(run)]) == 1
    err = capsys.readouterr().err
    assert f"{run} already holds a finished run (dev overall 0.5000)" in err and "--force" in err
    assert (run / "metrics.json").exists()  # untouched

    seen = {}

    def fake_run(out, *args, **kw):  # --force: the old run is gone before training starts
        seen.update(left=sorted(p.name for p in Path(out).iterdir()), resume=kw["resume"])
        return {"overall": 0.6, "history": []}

    monkeypatch.setattr(experiment, "run_experiment", fake_run)
    (run / "notes.txt").write_text("mine")
    (run / "eval-other").mkdir()  # evaluate's scores of the old run on other data
    assert cli.main(["train", "--scale", "smoke", "--out", str(run), "--force"]) == 0
    assert seen == {"left": ["notes.txt"], "resume": False}  # only what a run writes was deleted
    fake_finished_run(tmp_path / "again")
    assert cli.main(["train", "--scale", "smoke", "--out", str(tmp_path / "again"), "--resume"]) == 0
    assert seen["resume"] is True

    cut = tmp_path / "cut"
    (cut / "checkpoint").mkdir(parents=True)
    (cut / "checkpoint" / "state.json").write_text(json.dumps({"epoch": 1, "train_config": {"epochs": 3}}))
    assert cli.main(["train", "--scale", "smoke", "--out", str(cut)]) == 1
    assert "holds an interrupted run (saved after epoch 1 of 3). Add --resume" in capsys.readouterr().err
    # experiment.train_or_load's folder: command.json, then `train ... --resume`.
    (tmp_path / "nb").mkdir()
    (tmp_path / "nb" / "command.json").write_text("[]")
    experiment.check_out_folder(tmp_path / "nb", force=False, resume=False)


# --- evaluate --------------------------------------------------------------------------------
def test_evaluate_on_the_runs_own_data(trained, tiny_data, capsys, monkeypatch):
    out, _ = trained
    metrics_before = (out / "metrics.json").read_bytes()
    splits = []
    real_load_task = experiment.load_task
    monkeypatch.setattr(experiment, "load_task", lambda task, split, *a, **k: splits.append(split)
                        or real_load_task(task, split, *a, **k))
    assert cli.main(["evaluate", "--run", str(out), "--data-dir", str(tiny_data)]) == 0  # the folder it recorded
    printed, err = capsys.readouterr()
    assert "train" not in splits and set(splits) == {"dev", "test"}  # loads only what it scores
    assert "predict sst" in err  # a progress bar
    saved = json.loads(metrics_before)
    assert f"overall {saved['overall']:.4f}" in printed  # the same rows, the same scores
    assert "metrics.json is unchanged" in printed and (out / "metrics.json").read_bytes() == metrics_before
    assert f"wrote {out}/: confusion-sst.png\n" in printed and (out / "confusion-sst.png").exists()


def test_evaluate_on_other_data_writes_a_folder_of_its_own(trained, tiny_data, tmp_path, capsys):
    out, _ = trained
    other = shutil.copytree(tiny_data, tmp_path / "other")
    own = {p: p.read_bytes() for p in [out / "metrics.json", *(out / "predictions").iterdir()]}
    assert cli.main(["evaluate", "--run", str(out), "--data-dir", str(other)]) == 0
    printed = capsys.readouterr().out
    assert {p: p.read_bytes() for p in own} == own  # the run's own files are untouched
    folder = out / "eval-other"
    assert "on other data" in printed and f"wrote {folder}/: confusion-sst.png, metrics.json" in printed
    assert json.loads((folder / "metrics.json").read_text())["data_dir"] == str(other.resolve())
    assert (folder / "predictions" / "sst-dev-output.csv").exists()


def test_evaluate_a_damaged_checkpoint_names_the_file(trained, tmp_path, capsys):
    out, _ = trained
    broken = tmp_path / "broken"
    (broken / "checkpoint").mkdir(parents=True)
    shutil.copy(out / "metrics.json", broken / "metrics.json")
    shutil.copy(out / "checkpoint" / "state.json", broken / "checkpoint" / "state.json")
    with open(out / "checkpoint" / "model.safetensors", "rb") as f:  # cut short, as by a full disk
        (broken / "checkpoint" / "model.safetensors").write_bytes(f.read(1 << 20))
    assert cli.main(["evaluate", "--run", str(broken)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {broken / 'checkpoint' / 'model.safetensors'} is damaged or incomplete")
    assert "Copy the run folder again" in err and "Traceback" not in err


def test_frozen_baseline_draws_its_curves(tiny_data, tmp_path):
    """The baseline's history (a row per task and epoch) is drawn too; it used to end the run with an error."""
    out = tmp_path / "baseline"
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(io.StringIO()):
        mp.setitem(setup.SCALES, "smoke", TINY_SCALE)
        assert cli.main(["train", "--method", "baseline", "--epochs", "2", "--scale", "smoke", "--data-dir",
                         str(tiny_data), "--no-test-predictions", "--out", str(out)]) == 0
    assert (out / "curves.png").stat().st_size > 0
    wide = report.wide_history(__import__("pandas").DataFrame(json.loads((out / "metrics.json").read_text())["history"]))
    assert list(wide["epoch"]) == [1, 2] and {"train_sst_acc", "dev_sts_corr"} <= set(wide)


def test_notebook_runs_keep_no_weights_unless_asked(tiny_data, tmp_path, monkeypatch, capsys):
    """train_or_load (the notebooks' load-or-train): by default a run keeps scores, history and predictions
    but no weights and no checkpoint; weights="final" keeps the finished weights alone (no optimizer state),
    which load_run restores; asking for weights a finished run lacks trains it again."""
    monkeypatch.setitem(setup.SCALES, "smoke", TINY_SCALE)
    args = ["train", "--scale", "smoke", "--data-dir", str(tiny_data), "--no-test-predictions"]
    plain = experiment.train_or_load(args, tmp_path / "plain")
    assert plain["overall"] > 0 and plain["history"]
    assert sorted(p.name for p in (tmp_path / "plain").iterdir()) == ["command.json", "curves.png", "metrics.json",
                                                                       "predictions"]
    assert "--weights" not in json.loads((tmp_path / "plain" / "command.json").read_text())
    capsys.readouterr()
    assert experiment.train_or_load(args, tmp_path / "plain") == plain  # read back, not trained
    assert "read the finished run" in capsys.readouterr().out

    kept = experiment.train_or_load(args, tmp_path / "kept", weights="final")
    assert sorted(p.name for p in (tmp_path / "kept" / "checkpoint").iterdir()) == ["model.safetensors", "state.json"]
    model, _, saved = experiment.load_run(tmp_path / "kept")
    assert saved["overall"] == kept["overall"]
    assert experiment.train_or_load(args, tmp_path / "plain", weights="final")["overall"] == plain["overall"]
    assert (tmp_path / "plain" / "checkpoint" / "model.safetensors").is_file()  # trained again, same seed
