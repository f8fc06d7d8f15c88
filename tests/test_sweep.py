"""The sweep runner: a grid of runs, one results table, resumable, failures recorded (smoke scale)."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from mtl_lib import cli, experiment, sweep
from mtl_lib.evaluate import write_predictions
from mtl_lib.options import train_words
from mtl_lib.train import Trainer, TrainConfig

TINY = ["--scale", "smoke", "--max-examples", "8", "--dev-examples", "8", "--batch-size", "4", "--epochs", "1"]


def test_grid_names_and_parsing(tmp_path):
    assert sweep.run_name({"lr": 1e-4, "smart_lambda": 5.0, "dropout": 0.1}) == "lr1e-04_lam5_drop0.1"
    assert len(sweep.grid_configs(sweep.DEFAULT_GRID)) == 36  # the paper's 3 x 4 x 3
    assert sweep.parse_values(" 1e-4, 1e-5 ") == [1e-4, 1e-5]
    toml = tmp_path / "grid.toml"
    toml.write_text("lr = [1e-4, 1e-5]\nsmart-lambda = 3\n")
    grid = sweep.load_grid(toml, {"dropout": [0.2], "lr": None})
    assert grid == {"lr": [1e-4, 1e-5], "smart_lambda": [3.0], "dropout": [0.2]}


@pytest.mark.parametrize("args, message", [
    (["--lr", "abc"], "argument --lr: 'abc' is not a number"),
    (["--smart-lambda", ""], "argument --smart-lambda: empty list"),
    (["--dropout", "0.1,1.5"], "argument --dropout: [1.5] out of range"),
])
def test_bad_grid_arguments_name_the_argument(args, message, tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["sweep", "--out", str(tmp_path), *args])
    assert message in capsys.readouterr().err


def test_bad_config_file_names_the_file_and_key(tmp_path, capsys):
    config = tmp_path / "grid.json"
    config.write_text(json.dumps({"lr": [1e-4], "beta": [1]}))
    assert cli.main(["sweep", "--out", str(tmp_path / "s"), "--config", str(config)]) == 1
    assert f"--config {config}: unknown key 'beta'" in capsys.readouterr().err
    config.write_text(json.dumps({"lr": []}))
    assert cli.main(["sweep", "--out", str(tmp_path / "s"), "--config", str(config)]) == 1
    assert "lr: empty list" in capsys.readouterr().err


def test_collapsed_run_is_flagged(tmp_path):
    """Collapse = every SST or Quora dev prediction the same class, or every STS prediction the same score;
    read from the prediction files when metrics.json has no "collapsed" record (runs written before it)."""
    (tmp_path / "metrics.json").write_text(json.dumps({"sst_acc": 0.3, "overall": 0.5}))
    dev = {"sst": pd.DataFrame({"id": ["a", "b", "c"]})}
    write_predictions(tmp_path / "predictions", "dev", dev, {"sst": np.array([3.0, 3.0, 3.0])})
    row = sweep.run_row(tmp_path)
    assert row["status"] == "collapsed" and "class 3 (3 rows)" in row["reason"]
    write_predictions(tmp_path / "predictions", "dev", dev, {"sst": np.array([3.0, 1.0, 3.0])})
    assert sweep.run_row(tmp_path)["status"] == "ok" and sweep.run_row(tmp_path)["reason"] == ""
    # A paraphrase head that says "not a duplicate" to every pair: collapsed too.
    write_predictions(tmp_path / "predictions", "dev", {"para": pd.DataFrame({"id": ["a", "b"]})},
                      {"para": np.array([0.0, 0.0])})
    row = sweep.run_row(tmp_path)
    assert row["status"] == "collapsed" and row["reason"] == "every Quora dev prediction is class 0 (2 rows)"
    write_predictions(tmp_path / "predictions", "dev", {"para": pd.DataFrame({"id": ["a", "b"]})},
                      {"para": np.array([0.0, 1.0])})
    write_predictions(tmp_path / "predictions", "dev", {"sts": pd.DataFrame({"id": ["a", "b", "c"]})},
                      {"sts": np.array([2.5, 2.5, 2.5])})  # a constant similarity: r = 0
    row = sweep.run_row(tmp_path)
    assert row["status"] == "collapsed" and row["reason"].startswith("every STS dev prediction is 2.5000")


def test_collapse_record_in_metrics_decides_the_status(tmp_path):
    """A run's own record (metrics.json "collapsed", written by finish_run) is used; every head counts."""
    record = {"sst": "", "para": "every Quora dev prediction is class 0 (8 rows)",
              "sts": "every STS dev prediction is 2.5000 (std 0 < 1e-05; 8 rows)"}
    (tmp_path / "metrics.json").write_text(json.dumps({"overall": 0.5, "collapsed": record}))
    row = sweep.run_row(tmp_path)
    assert row["status"] == "collapsed" and row["reason"] == f"{record['para']}; {record['sts']}"
    healthy = {"sst": "", "para": "", "sts": ""}
    (tmp_path / "metrics.json").write_text(json.dumps({"overall": 0.5, "collapsed": healthy}))
    assert sweep.run_row(tmp_path) | {"overall": 0.5} == {**dict.fromkeys(sweep.METRICS), "overall": 0.5,
                                                           "status": "ok", "reason": ""}


def test_run_names_are_distinct():
    """Every value gets its own folder (one digit used to put 1e-4, 1.2e-4 and 1.5e-4 in lr1e-04)."""
    lrs = [1e-4, 1.2e-4, 1.5e-4, 2.5e-5, 3e-5, 1.2345678e-4, 1.2345679e-4]
    names = [sweep.run_name({"lr": lr, "smart_lambda": 5.0, "dropout": 0.1}) for lr in lrs]
    assert len(set(names)) == len(names), names
    assert names[:5] == ["lr1e-04_lam5_drop0.1", "lr1.2e-04_lam5_drop0.1", "lr1.5e-04_lam5_drop0.1",
                         "lr2.5e-05_lam5_drop0.1", "lr3e-05_lam5_drop0.1"]
    values = [0.1, 0.1 + 1e-9, 0.15, 1 / 3, 0.3333333]
    assert len({sweep.run_name({"lr": 1e-4, "smart_lambda": v, "dropout": v}) for v in values}) == len(values)


def test_run_folder_of_another_configuration_is_not_reported(tmp_path):
    """A folder whose metrics.json records another lr (as old folder names allowed) is a mismatch:
    its scores are not this row's, and the sweep neither reports, retrains nor overwrites it."""
    from mtl_lib.model import HeadConfig
    from mtl_lib.setup import get_scale

    scale = get_scale("smoke")
    head, cfg = HeadConfig(checkpoint=scale.checkpoint), TrainConfig(epochs=1)
    config = {"lr": 1e-4, "smart_lambda": 1.0, "dropout": 0.1}
    folder = tmp_path / sweep.run_name(config)
    folder.mkdir(parents=True)
    other = {"lr": 1.2e-4, "smart_lambda": 1.0, "dropout": 0.1}
    train = dataclasses.asdict(dataclasses.replace(cfg, lr=other["lr"], smart_lambda=other["smart_lambda"]))
    saved = {"overall": 0.61, "method": "summed", "scale_config": dataclasses.asdict(scale),
             "head_config": dataclasses.asdict(head), "train_config": train}
    (folder / "metrics.json").write_text(json.dumps(saved))
    saved = json.loads((folder / "metrics.json").read_text())  # as written (tuples become lists)
    table = sweep.run_sweep(tmp_path, {k: [v] for k, v in config.items()}, "summed", scale, head, cfg,
                            progress=False)
    assert list(table.status) == ["mismatch"] and np.isnan(table.overall[0])
    assert "train_config.lr 0.00012 (this row: 0.0001)" in table.reason[0]
    assert json.loads((folder / "metrics.json").read_text()) == saved  # untouched
    # The same record under its own row is that row's result.
    expected = sweep.run_config(other, "summed", scale, head, cfg)
    assert sweep.run_row(folder, expected)["status"] == "ok"
    assert sweep.run_row(folder, expected)["overall"] == 0.61


def test_sweep_table_nonfinite_and_resume(tmp_path, monkeypatch, capsys):
    """Two runs, the first forced to NaN: recorded as nonfinite, the sweep goes on; a rerun skips both."""
    real_losses = Trainer.losses

    def poisoned(self, batches):  # lr = 1 stands for a learning rate that blows up
        losses = real_losses(self, batches)
        return {t: loss * float("nan") for t, loss in losses.items()} if self.cfg.lr == 1.0 else losses

    monkeypatch.setattr(Trainer, "losses", poisoned)
    calls = []
    real_run = experiment.run_experiment
    monkeypatch.setattr(experiment, "run_experiment", lambda out, *a, **k: calls.append(out) or real_run(out, *a, **k))
    out = tmp_path / "sweep"
    argv = ["sweep", *TINY, "--lr", "1,1e-4", "--smart-lambda", "1", "--dropout", "0.1", "--out", str(out),
            "--sts-head", "linear", "--pair-features", "concat", "--sampling", "annealed"]  # a Quora head that collapses
    assert cli.main(argv) == 0
    table = pd.read_csv(out / "results.csv")
    assert list(table.run) == ["lr1e+00_lam1_drop0.1", "lr1e-04_lam1_drop0.1"]
    # After 2 steps on 8 rows the Quora head answers one class: recorded by the run, so "collapsed".
    assert list(table.status) == ["nonfinite", "collapsed"]
    assert "Non-finite loss" in table.reason[0] and np.isnan(table.overall[0])
    assert 0 <= table.overall[1] <= 1 and table.train_seconds[1] > 0
    record = json.loads((out / "lr1e-04_lam1_drop0.1" / "metrics.json").read_text())["collapsed"]
    assert set(record) == {"sst", "para", "sts"} and table.reason[1] == record["para"]
    assert list(sweep.read_markdown_table(out / "results.md").status) == ["nonfinite", "collapsed"]  # for reading
    assert not (out / "lr1e-04_lam1_drop0.1" / "checkpoint").exists()  # finished: checkpoint deleted
    assert "lr1e-04_lam1_drop0.1" in capsys.readouterr().out  # the table is printed
    assert (out / "heatmaps.png").stat().st_size > 0
    finished = out / "lr1e-04_lam1_drop0.1" / "metrics.json"
    stamp = finished.stat().st_mtime_ns

    assert cli.main(argv) == 0  # rerun: nothing to do
    assert len(calls) == 2 and finished.stat().st_mtime_ns == stamp
    assert list(pd.read_csv(out / "results.csv").status) == ["nonfinite", "collapsed"]  # read back: no mismatch
    assert cli.main([*argv, "--retry-failed"]) == 0  # only the failed run again
    assert calls[2:] == [out / "lr1e+00_lam1_drop0.1"]

    assert cli.main([*argv, "--sts-head", "cosine"]) == 1  # other shared options: refused
    assert "other options (head.sts_head differ; see" in capsys.readouterr().err


def test_sweep_rejects_baseline(tmp_path):
    with pytest.raises(ValueError, match="baseline has no learning rate"):
        sweep.run_sweep(tmp_path, method="baseline", train_cfg=TrainConfig())


def test_markdown_results_table_round_trips(tmp_path):
    """The committed sweep measurements are Markdown (mtl_lib/results/); reading one back gives the table."""
    table = pd.DataFrame({"run": ["lr1e-03_lam1_drop0.1", "lr1e-04_lam1_drop0.1"], "lr": [1e-3, 1e-4],
                          "overall": [0.5769, np.nan], "status": ["collapsed", "nonfinite"],
                          "reason": ["every SST dev prediction is class 1 (200 rows)", "loss | nan at step 3"]})
    page = tmp_path / "sweep.md"
    page.write_text("# A measured sweep\n\nSome words.\n\n" + sweep.markdown_table(table) + "\nMore words.\n")
    back = sweep.read_markdown_table(page)
    expected = table.assign(reason=table.reason.str.replace("|", "/"))
    pd.testing.assert_frame_equal(back, expected)
    (tmp_path / "empty.md").write_text("no table here\n")
    with pytest.raises(ValueError, match="empty.md: no Markdown table"):
        sweep.read_markdown_table(tmp_path / "empty.md")


def test_laptop_budget_sets_rows_and_batch_and_flags_override_it(monkeypatch):
    """--scale laptop sweeps at reproduce's budget (64 steps of 8 rows per task); explicit flags win."""
    seen = {}

    def capture(out, grid, method, scale, head, cfg, **kwargs):
        seen.update(scale=scale, head=head, cfg=cfg)
        raise RuntimeError("captured")  # stop before any training

    monkeypatch.setattr(sweep, "run_sweep", capture)
    assert cli.main(["sweep", "--scale", "laptop", "--out", "unused"]) == 1
    budget = sweep.SWEEP_BUDGETS["laptop"]
    assert (seen["scale"].max_examples, seen["scale"].dev_examples) == (budget["max_examples"], budget["dev_examples"])
    assert seen["cfg"].batch_size == budget["batch_size"] == 8 and seen["cfg"].epochs == budget["epochs"] == 1
    assert budget["max_examples"] // budget["batch_size"] == 64  # the steps of one run
    # every run of it is a train command (each run folder records one; this raised once the batch sat on the scale)
    assert "--batch-size" in train_words("summed", seen["scale"], seen["head"], seen["cfg"])
    assert cli.main(["sweep", "--scale", "laptop", "--batch-size", "16", "--max-examples", "100", "--out", "x"]) == 1
    assert seen["cfg"].batch_size == 16 and seen["scale"].max_examples == 100


def test_two_halves_of_a_grid_in_one_folder_assemble_into_one_table(tmp_path, monkeypatch):
    """Two sweeps over disjoint parts of a grid may share a folder; the whole grid's command then reads both back."""
    calls = []
    real_run = experiment.run_experiment
    monkeypatch.setattr(experiment, "run_experiment", lambda out, *a, **k: calls.append(out.name) or real_run(out, *a, **k))
    out = tmp_path / "sweep"
    base = ["sweep", *TINY, "--lr", "1e-4", "--dropout", "0.1", "--out", str(out)]
    assert cli.main([*base, "--smart-lambda", "1"]) == 0
    assert cli.main([*base, "--smart-lambda", "3"]) == 0
    assert len(pd.read_csv(out / "results.csv")) == 1  # each half writes its own rows
    assert cli.main([*base, "--smart-lambda", "1,3"]) == 0  # nothing left to train
    table = pd.read_csv(out / "results.csv")
    assert calls == ["lr1e-04_lam1_drop0.1", "lr1e-04_lam3_drop0.1"]
    assert list(table.run) == calls and table.overall.notna().all()
