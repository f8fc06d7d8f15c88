"""The evidence machinery: the paper's tables as data, intervals, and the reproduce command."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from mtl_lib import cli, experiment, paper, records, reproduce, shipped, stats


# --- the paper's figures ---------------------------------------------------------------------
def test_paper_rows_add_up_to_their_overall_score():
    """A typo in the copied figures breaks the overall score; the paper's own slips are listed."""
    own_slips = {(2, "cosine STS head"), (3, "without PCGrad")}  # the paper prints 0.638 where its parts give 0.635
    for number in range(1, 7):
        table = paper.paper_table(number)
        for label, row in table.iterrows():
            if math.isnan(row["overall"]):
                continue
            gap = stats.overall_score(row["sst_acc"], row["para_acc"], row["sts_corr"]) - row["overall"]
            if (number, label) in own_slips:
                assert abs(gap + 0.0033) < 0.0006
            else:
                assert abs(gap) < 0.0015, (number, label, gap)


def test_paper_tables_match_the_figures_the_course_quotes():
    t1 = paper.paper_table(1)
    assert t1.loc["baseline (frozen encoder)", "overall"] == 0.564
    assert t1.loc["summed", "overall"] == 0.635
    orders = t1.filter(like="sequential", axis=0)["overall"]
    assert len(orders) == 6 and orders.min() == 0.513 and orders.max() == 0.631
    assert list(paper.paper_table(4)["overall"]) == [0.644, 0.647]
    sweep = paper.paper_table(6)
    assert len(sweep) == 36 and sweep["overall"].isna().sum() == 9
    best = sweep.loc[sweep["overall"].idxmax()]
    assert (best.lr, best.smart_lambda, best.dropout, best.overall) == (1e-4, 5, 0.1, 0.620)
    assert "0.635" in paper.all_figures() and "0.620" in paper.all_figures()
    with pytest.raises(ValueError, match="Tables 1-6"):
        paper.paper_table(7)


def test_paper_sweep_reads_as_a_sweep_results_table():
    """Table 6 in the sweep's own shape: NaN rows non-finite, rows where a head scores its one-class share
    collapsed (the rule our sweep applies to its own runs), counted per rate."""
    from mtl_lib import sweep

    table = paper.sweep_results()
    assert {"run", "lr", "smart_lambda", "dropout", "overall", "status", "reason"} <= set(table.columns)
    assert table.run.is_unique and len(table) == 36
    assert (table.status == "nonfinite").sum() == 9 and table.loc[table.status == "nonfinite", "overall"].isna().all()
    collapsed = table[table.status == "collapsed"]
    assert (collapsed.para_acc == 0.632).all()  # every collapse the printed scores show is in paraphrase
    assert (table.para_acc == 0.632).sum() == 21 and (table.para_acc > 0.630).all()  # the floor, never undercut
    row = table.set_index(["lr", "smart_lambda", "dropout"]).loc[(1e-4, 1, 0.3)]  # SST 0.253, paraphrase 0.632
    assert row.status == "collapsed" and "SST 0.253: class 3" in row.reason and "paraphrase 0.632" in row.reason
    best = table.set_index(["lr", "smart_lambda", "dropout"]).loc[(1e-4, 5, 0.1)]
    assert best.status == "ok" and best.reason == ""
    by_lr = sweep.summary_by_lr(table)
    assert list(by_lr.index) == [1e-3, 1e-4, 1e-5]  # largest rate first
    # every run at 1e-3 is NaN (9) or one class (3); five at 1e-4 and four at 1e-5 answer one paraphrase class
    assert list(by_lr.nonfinite) == [9, 0, 0] and list(by_lr.collapsed) == [3, 5, 4] and by_lr.runs.sum() == 36
    assert by_lr.loc[1e-4, "best_overall"] == 0.620


def test_one_class_scores_are_the_sst_dev_class_shares():
    """The SST scores that read as one class are each class's share of the official SST dev file."""
    from mtl_lib.data import load_task

    shares = load_task("sst", "dev").label.value_counts(normalize=True).round(3)
    assert {round(s, 3): int(c) for c, s in shares.items()} == paper.ONE_CLASS_SCORES["sst_acc"]


# --- intervals -------------------------------------------------------------------------------
def test_paired_interval_is_the_t_interval_of_the_differences():
    new, old = [0.70, 0.72, 0.71], [0.68, 0.69, 0.70]
    diff = np.subtract(new, old)
    mean, low, high = stats.paired_interval(new, old)
    half = 4.302653 * diff.std(ddof=1) / math.sqrt(3)  # t(0.975, 2 degrees of freedom)
    assert mean == pytest.approx(diff.mean()) and low == pytest.approx(mean - half, abs=1e-6)
    assert high == pytest.approx(mean + half, abs=1e-6)
    assert not stats.significant(low, high)  # 0.02 +- 0.025 with 3 seeds
    assert stats.significant(*stats.paired_interval([0.8, 0.81, 0.8], [0.7, 0.7, 0.71])[1:])
    with pytest.raises(ValueError, match="bootstrap_interval"):
        stats.paired_interval([0.7], [0.6])


def test_bootstrap_interval_is_paired_over_the_same_rows():
    gold = np.array([0, 1] * 50)
    good, noisy = gold.copy(), gold.copy()
    noisy[:20] = 1 - noisy[:20]  # 20 of 100 rows wrong

    def accuracy_gain(rows):
        r = rows["sst"]
        return (good[r] == gold[r]).mean() - (noisy[r] == gold[r]).mean()

    full, low, high = stats.bootstrap_interval(accuracy_gain, {"sst": 100})
    assert full == pytest.approx(0.2) and 0.1 < low < 0.2 < high < 0.3
    same = stats.bootstrap_interval(lambda rows: 0.0, {"sst": 100})
    assert same == (0.0, 0.0, 0.0)


def test_standard_errors_per_task_sizes():
    se = stats.standard_errors({"sst_acc": 0.5, "para_acc": 0.8, "sts_corr": 0.8},
                               {"sst": 100, "para": 400, "sts": 103})
    assert se["sst_acc"] == pytest.approx(0.05) and se["para_acc"] == pytest.approx(0.02)
    assert se["sts_corr"] == pytest.approx(0.036)
    assert stats.mean_sd([1.0]) == (1.0, 0.0) and stats.mean_sd([1.0, 3.0]) == (2.0, pytest.approx(math.sqrt(2)))


# --- the reproduce command -------------------------------------------------------------------
def test_every_row_extends_a_row_of_its_table_and_configs_exist():
    for name, rows in reproduce.TABLES.items():
        labels = [row.label for row in rows]
        assert len(set(labels)) == len(labels), name
        for row in rows:
            assert row.config in reproduce.CONFIGS
            assert row.extends is None or row.extends in labels, (name, row)
    assert reproduce.configs_of("ladder")[:7] == ["baseline", "summed", "cosine", "rich", "frozen-course", "pcgrad",
                                                 "smart"]
    assert [reproduce.frozen(c) for c in ("baseline", "frozen-course", "rich")] == [True, True, False]
    assert len(reproduce.configs_of("all")) == len(reproduce.CONFIGS)


def test_run_flags_are_train_options_with_the_budget():
    flags = reproduce.run_flags("single-sst", "laptop", 2)
    args = cli.build_parser().parse_args(["train", *flags, "--out", "x"])
    budget = reproduce.BUDGETS["laptop"]
    assert args.tasks == ("sst",) and args.seed == 2 and args.max_examples == budget["max_examples"]
    assert args.batch_size == budget["batch_size"] and args.epochs == budget["epochs"]
    assert args.test_predictions is False and args.sts_head == "cosine" and args.pair_features == "rich"
    baseline = cli.build_parser().parse_args(["train", *reproduce.run_flags("baseline", "laptop", 0), "--out", "x"])
    assert baseline.method == "baseline" and baseline.epochs is None  # heads: 10 epochs on cached features


def test_a_run_held_by_another_process_is_skipped(tmp_path, monkeypatch):
    from mtl_lib import locks

    trained = []
    monkeypatch.setattr(experiment, "run_command", lambda argv: trained.append(argv))
    fd = locks.claim(reproduce.run_dir(tmp_path, "summed", 0))
    assert reproduce.train_run(tmp_path, "summed", "laptop", 0, []) == "held" and trained == []
    locks.release(fd)
    assert reproduce.train_run(tmp_path, "summed", "laptop", 0, []) == "ran" and len(trained) == 1


def write_run(out, config, seed, scores):
    folder = reproduce.run_dir(out, config, seed)
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({**scores, "train_seconds": 60.0, "collapsed": {}}))


def test_table_means_sds_and_paired_differences(tmp_path):
    for seed, (lin, cos) in enumerate([(0.60, 0.65), (0.62, 0.66), (0.61, 0.67)]):
        write_run(tmp_path, "summed", seed, {"sst_acc": 0.4, "para_acc": 0.7, "sts_corr": 0.2, "overall": lin})
        write_run(tmp_path, "cosine", seed, {"sst_acc": 0.4, "para_acc": 0.7, "sts_corr": 0.5, "overall": cos})
    summary = reproduce.summarize("table2", "laptop", 3, tmp_path).set_index("row")
    cosine = summary.loc["summed, cosine STS head"]
    assert cosine["overall"] == pytest.approx(0.66) and cosine["overall_sd"] == pytest.approx(0.01)
    assert cosine["d_overall"] == pytest.approx(0.05) and cosine["d_overall_low"] > 0
    text = reproduce.write_table("table2", "laptop", 3, tmp_path)
    assert "| summed, cosine STS head | 0.400 ± 0.000 | 0.700 ± 0.000 | 0.500 ± 0.000 | 0.660 ± 0.010 |" in text
    assert "+0.050 [" in text and "] *" in text and "Seeds: 3 (0..2" in text
    assert json.loads((tmp_path / "table2.json").read_text())["rows"]["summed, MLP STS head"][2]["overall"] == 0.61


def test_missing_seeds_are_shown_not_hidden(tmp_path):
    write_run(tmp_path, "summed", 0, {"sst_acc": 0.4, "para_acc": 0.7, "sts_corr": 0.2, "overall": 0.6})
    text = reproduce.write_table("table2", "laptop", 3, tmp_path)
    assert "summed, MLP STS head (1/3 seeds)" in text and "cosine STS head (0/3 seeds)" in text


def test_reproduce_trains_real_runs_and_bootstraps_one_seed(tmp_path, data_dir, monkeypatch, capsys):
    """End to end at a tiny budget: two train runs, then the one-seed bootstrap interval."""
    monkeypatch.setitem(reproduce.BUDGETS, "smoke", {"max_examples": 16, "dev_examples": 24, "batch_size": 8,
                                                      "epochs": 1, "seeds": 1})
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    written = reproduce.reproduce("table2", "smoke", 1, tmp_path, ["--data-dir", str(data_dir)])
    for config in ("summed", "cosine"):
        metrics = json.loads((reproduce.run_dir(tmp_path, config, 0) / "metrics.json").read_text())
        assert metrics["scale_config"]["max_examples"] == 16 and metrics["train_config"]["seed"] == 0
    row = reproduce.summarize("table2", "smoke", 1, tmp_path).set_index("row").loc["summed, cosine STS head"]
    assert row["d_overall_how"] == "bootstrap over dev rows, 1 seed"
    assert row["d_overall_low"] <= row["d_overall"] <= row["d_overall_high"]
    assert "summed, cosine STS head |" in written["table2"]
    # a second call (at the same budget) finds both runs finished and trains nothing
    capsys.readouterr()
    reproduce.reproduce("table2", "smoke", 1, tmp_path, ["--data-dir", str(data_dir)])
    again = capsys.readouterr().out
    assert "summed seed 0: done" in again and "cosine seed 0: done" in again
    # the command line's smoke budget is not this test's: there, the same runs are another configuration's
    other = subprocess.run([sys.executable, "-m", "mtl_lib", "reproduce", "table2", "--scale", "smoke", "--seeds", "1",
                            "--out", str(tmp_path), "--tables-only"], capture_output=True, text=True,
                           env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert other.returncode == 0, other.stderr
    assert "(0/1 seeds; 1 of another configuration not counted)" in other.stdout
    # each run recorded where and when it trained, and the table's header says so
    import torch

    machine = metrics["machine"]
    assert machine["torch"] == torch.__version__ and machine["hardware"] and machine["date"]
    assert f"Hardware of the runs: {machine['hardware']}; torch {torch.__version__}; " in written["table2"]

    # the same DIR asked for a laptop table: the smoke runs are another configuration's, never its rows
    trained = []
    monkeypatch.setattr(experiment, "run_command", lambda argv: trained.append(argv))
    laptop = reproduce.reproduce("table2", "laptop", 1, tmp_path)["table2"]
    assert trained == []  # neither used nor overwritten
    assert "| summed, MLP STS head (0/1 seeds; 1 of another configuration not counted) |  |  |  |  |  |" in laptop
    assert "scale_config.name 'smoke' (this row: 'laptop')" in laptop  # what differs, as the sweep says it
    assert "scale_config.max_examples 16 (this row: 512)" in laptop and "train_config.seed" not in laptop
    assert json.loads((tmp_path / "table2.json").read_text())["rows"]["summed, cosine STS head"] == [None]


def fake_run(out, config, scale, seed, scores, **record):
    """A finished run that records the configuration of ``config`` at ``scale`` (as ``train`` does), changed by ``record``."""
    metrics = reproduce.expected_record(config, scale, seed)
    del metrics["budget"]  # a trained run records its sizes in its configuration, not the budget's name
    for key, value in record.items():  # e.g. train_config={"lr": 2e-4}
        metrics[key] = {**metrics.get(key, {}), **value}
    folder = reproduce.run_dir(out, config, seed)
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({**metrics, **scores, "train_seconds": 60.0, "collapsed": {}}))
    return folder


def test_a_run_of_an_older_configuration_is_reported_not_counted(tmp_path, capsys, monkeypatch):
    scores = {"sst_acc": 0.4, "para_acc": 0.7, "sts_corr": 0.5, "overall": 0.65}
    for seed in range(3):
        fake_run(tmp_path, "summed", "laptop", seed, scores)
        fake_run(tmp_path, "cosine", "laptop", seed, scores, train_config={"lr": 2e-4} if seed == 2 else {})
    summary = reproduce.summarize("table2", "laptop", 3, tmp_path).set_index("row")
    assert summary.loc["summed, cosine STS head", "seeds"] == 2 and summary.loc["summed, cosine STS head", "mismatched"] == 1
    assert summary.loc["summed, cosine STS head", "d_overall_how"] == "t over 2 seeds"
    text = reproduce.write_table("table2", "laptop", 3, tmp_path)
    assert "cosine STS head (2/3 seeds; 1 of another configuration not counted)" in text
    assert "seed2/metrics.json is another configuration's: train_config.lr 0.0002 (this row: 0.0001)" in text
    trained = []
    monkeypatch.setattr(experiment, "run_command", lambda argv: trained.append(argv))
    reproduce.reproduce("table2", "laptop", 3, tmp_path)
    assert trained == [] and "cosine seed 2: mismatch" in capsys.readouterr().out


def test_headers_say_the_dev_rows_the_runs_score(tmp_path):
    """Colab's budget leaves the dev rows to the scale (1,000 per task); full scores them all."""
    colab = reproduce.markdown(reproduce.summarize("table2", "colab", 1, tmp_path), "table2", "colab", 1)
    assert "dev rows per task: 1000." in colab and "10000 training rows per task, batches of 32" in colab
    full = reproduce.markdown(reproduce.summarize("table2", "full", 1, tmp_path), "table2", "full", 1)
    assert "dev rows per task: all." in full


def test_headers_give_the_machines_the_runs_recorded(tmp_path):
    scores = {"sst_acc": 0.4, "para_acc": 0.7, "sts_corr": 0.5, "overall": 0.65}
    for seed, day in enumerate(["2020-01-03", "2020-01-01"]):
        machine = {"hardware": "Some GPU", "torch": "9.9", "mtl_lib": "0.0.1", "date": day}
        fake_run(tmp_path, "summed", "laptop", seed, scores, machine=machine)
        fake_run(tmp_path, "cosine", "laptop", seed, scores, machine={**machine, "hardware": "Other GPU"} if seed else machine)
    text = reproduce.write_table("table2", "laptop", 2, tmp_path)
    assert "Hardware of the runs: mixed: Other GPU, Some GPU; torch 9.9; mtl_lib 0.0.1; 2020-01-01 to 2020-01-03." in text
    assert reproduce.records.describe_machines([None, machine]) == \
        "Some GPU; torch 9.9; mtl_lib 0.0.1; 2020-01-01 (1 of 2 runs recorded none)"
    assert reproduce.records.describe_machines([None]).startswith("not recorded")


def test_one_seed_is_compared_on_the_seed_both_rows_have(tmp_path, monkeypatch):
    """The only pair is seed 1: its bootstrap reads seed 1's predictions; without predictions the
    difference has no interval, and only a restored run is said to be one."""
    scores = {"sst_acc": 0.4, "para_acc": 0.7, "sts_corr": 0.5, "overall": 0.65}
    fake_run(tmp_path, "summed", "laptop", 0, scores)
    new, old = (fake_run(tmp_path, config, "laptop", 1, scores) for config in ("cosine", "summed"))
    row = reproduce.summarize("table2", "laptop", 2, tmp_path).set_index("row").loc["summed, cosine STS head"]
    assert row["d_overall_how"] == "1 seed, no interval (a run has no dev predictions)"
    compared = []
    monkeypatch.setattr(reproduce, "paired_bootstrap", lambda a, b, key: compared.append((a, b)) or (0.0, -0.1, 0.1))
    (new / "predictions").mkdir()
    (old / "predictions").mkdir()
    row = reproduce.summarize("table2", "laptop", 2, tmp_path).set_index("row").loc["summed, cosine STS head"]
    assert row["d_overall_how"] == "bootstrap over dev rows, 1 seed" and compared[0] == (new, old)


def test_shipped_tables_say_how_to_make_a_missing_one():
    with pytest.raises(FileNotFoundError, match="reproduce ladder --scale nowhere"):
        reproduce.shipped_table("ladder", "nowhere")


def test_side_by_side_labels_ours_and_the_papers(tmp_path):
    for seed, (lin, cos) in enumerate([(0.60, 0.65), (0.62, 0.66), (0.61, 0.67)]):
        write_run(tmp_path, "summed", seed, {"sst_acc": 0.4, "para_acc": 0.7, "sts_corr": 0.2, "overall": lin})
        write_run(tmp_path, "cosine", seed, {"sst_acc": 0.4, "para_acc": 0.7, "sts_corr": 0.5, "overall": cos})
    table = reproduce.side_by_side("table2", summary=reproduce.summarize("table2", "laptop", 3, tmp_path))
    cosine = table.loc["summed, cosine STS head"]
    assert cosine["ours: overall"] == "0.660 ± 0.010" and cosine["ours: Δ overall [95 %]"].startswith("+0.050 [")
    assert cosine["paper: overall"] == "0.638" and cosine["paper: Δ overall (1 run)"] == "+0.002"
    assert table.loc["summed, MLP STS head", "paper: overall"] == "0.636"


def test_results_page_shows_the_shipped_tables():
    """docs/results.md's seed-averaged tables are the shipped ones, line for line (regenerate with
    reproduce.readme_block() after shipping new tables; the README itself shows one table, below)."""
    from pathlib import Path

    page = (Path(__file__).resolve().parent.parent / "docs" / "results.md").read_text(encoding="utf-8")
    assert reproduce.readme_block() in page


def test_readme_shows_its_results_table():
    """The README's one results table follows the shipped tables (paste readme_table() there after
    shipping new ones)."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert len(shipped.full_budget_runs()) == 3
    assert shipped.readme_table() in readme, "README.md's results table is not shipped.readme_table()'s: paste it again"


def test_restored_shipped_runs_give_back_the_shipped_table(tmp_path, monkeypatch):
    """--from-shipped: the shipped per-seed scores become finished runs, so the table they make is
    the shipped one and only the seeds it lacks would be trained."""
    shipped = json.loads((reproduce.SHIPPED / "table2-laptop.json").read_text())
    restored = reproduce.restore_shipped("table2", "laptop", tmp_path)
    assert restored == sum(record is not None for runs in shipped["rows"].values() for record in runs)
    assert reproduce.restore_shipped("table2", "laptop", tmp_path) == 0  # runs already there are left alone
    seeds = len(next(iter(shipped["rows"].values())))
    summary = reproduce.summarize("table2", "laptop", seeds, tmp_path).set_index("row")
    for label, runs in shipped["rows"].items():
        assert summary.loc[label, "overall"] == pytest.approx(np.mean([r["overall"] for r in runs]))
    trained = []
    monkeypatch.setattr(experiment, "run_command", lambda argv: trained.append(argv))
    reproduce.reproduce("table2", "laptop", seeds + 1, tmp_path, train=True)
    assert len(trained) == len(reproduce.configs_of("table2"))  # one new seed per row, nothing retrained
    assert all(args[args.index("--seed") + 1] == str(seeds) for args in trained)
    # the header names the machines the shipped runs recorded, not the machine writing the table
    machines = [record.get("machine") for runs in shipped["rows"].values() for record in runs if record]
    assert f"Hardware of the runs: {records.describe_machines(machines)}." in (tmp_path / "table2.md").read_text()


def test_shipped_runs_of_another_budget_are_not_restored_nor_counted(tmp_path, monkeypatch):
    assert reproduce.restore_shipped("table2", "laptop", tmp_path) > 0
    monkeypatch.setitem(reproduce.BUDGETS, "laptop", {**reproduce.BUDGETS["laptop"], "max_examples": 1024})
    assert reproduce.restore_shipped("table2", "laptop", tmp_path / "new") == 0
    summary = reproduce.summarize("table2", "laptop", 3, tmp_path).set_index("row")
    assert (summary["seeds"] == 0).all() and (summary["mismatched"] == 3).all()
    assert "budget.max_examples 512 (this row: 1024)" in reproduce.mismatches("table2", "laptop", 3, tmp_path)[0]


def test_paired_bootstrap_reads_the_prediction_files_runs_write(tmp_path, data_dir):
    """The one-seed interval reads dev predictions with evaluate.read_predictions: the starter's format
    (what runs write now) and the earlier one give the same difference."""
    from mtl_lib.evaluate import write_predictions
    from mtl_lib.experiment import load_dev

    dev = load_dev(40, data_dir, ["sst"])
    gold = dev["sst"]["label"].to_numpy()
    runs = {}
    for name, preds in (("new", gold), ("old", np.zeros_like(gold))):
        folder = runs[name] = tmp_path / name
        write_predictions(folder / "predictions", "dev", dev, {"sst": preds})
        (folder / "metrics.json").write_text(json.dumps({"scale_config": {"dev_examples": 40}, "tasks": ["sst"],
                                                         "data_dir": str(data_dir)}))
    earlier = runs["old"] / "predictions" / "sst-dev-output.csv"  # the course's earlier format
    earlier.write_text("id , Predicted_Sentiment\n" + "".join(f"{i} , 0\n" for i in dev["sst"]["id"]))
    mean, low, high = reproduce.paired_bootstrap(runs["new"], runs["old"], "sst_acc")
    assert mean == pytest.approx(1 - (gold == 0).mean()) and low <= mean <= high


def test_a_failing_run_is_reported_with_its_traceback_in_the_log(tmp_path, monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)

    def fail(argv):
        assert os.environ["TQDM_DISABLE"] == "1"  # no progress bars in a log
        print("started", argv[0])
        raise RuntimeError("out of memory, say")

    monkeypatch.setattr(experiment, "run_command", fail)
    assert reproduce.train_run(tmp_path, "summed", "laptop", 0, []) == "failed"
    log = (reproduce.run_dir(tmp_path, "summed", 0) / "train.log").read_text()
    assert "started train" in log and "RuntimeError: out of memory, say" in log and "Traceback" in log
    assert "TQDM_DISABLE" not in os.environ  # as it was before
