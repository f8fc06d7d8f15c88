"""Shipped results: read instead of trained when no run of one's own exists, and said so."""

import json

import numpy as np
import pytest

from mtl_lib import cli, experiment, records, shipped

ARGS = ["train", "--scale", "colab", "--lr", "1e-4", "--max-examples", "512"]


@pytest.fixture
def results(tmp_path):
    run = tmp_path / "measured"
    run.mkdir()
    metrics = {**records.resolved_config(ARGS), "overall": 0.71, "history": [{"epoch": 1, "dev_overall": 0.71}]}
    (run / "metrics.json").write_text(json.dumps(metrics))  # what `train` records: scores and configuration
    folder = tmp_path / "results"
    shipped.ship_run(run, [*ARGS, "--out", "runs/x", "--device", "cuda"], "one T4, 2026-12-01", folder)
    return folder


@pytest.fixture
def trained(monkeypatch):
    calls = []

    def fake_train_or_load(args, out):
        calls.append((args, out))
        return {"overall": 0.5}

    monkeypatch.setattr(experiment, "train_or_load", fake_train_or_load)
    return calls


def test_the_key_ignores_where_a_run_goes():
    assert shipped.command_key([*ARGS, "--out", "a"]) == shipped.command_key([*ARGS, "--out=b", "--resume"])
    assert shipped.command_key(ARGS) != shipped.command_key([*ARGS, "--seed", "1"])


def test_a_shipped_run_is_read_and_said_so(results, trained, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MTL_USE_SHIPPED", raising=False)
    metrics = shipped.load_or_train(ARGS, tmp_path / "runs" / "x", results)
    assert metrics["overall"] == 0.71 and metrics["shipped"] == "one T4, 2026-12-01"
    assert metrics["history"][0]["dev_overall"] == 0.71  # tables and curves can be drawn from it
    assert trained == []
    line = capsys.readouterr().out
    assert line.startswith("read, not run:") and shipped.shipped_run_path(ARGS).name in line
    assert "MTL_USE_SHIPPED=0" in line and len(line) < 200


def test_no_shipped_result_or_opting_out_trains(results, trained, tmp_path, monkeypatch):
    assert shipped.load_or_train([*ARGS, "--seed", "3"], tmp_path / "y", results) == {"overall": 0.5}
    monkeypatch.setenv("MTL_USE_SHIPPED", "0")
    shipped.load_or_train(ARGS, tmp_path / "z", results)
    assert [out.name for _, out in trained] == ["y", "z"]


def test_a_shipped_run_is_found_by_its_configuration_not_its_spelling(results, trained, tmp_path):
    """The same run asked for with flags in another order, spelt --flag=value, or with defaults written out."""
    same = ["train", "--max-examples=512", "--lr", "0.0001", "--scale", "colab", "--recipe", "course", "--seed", "0"]
    assert shipped.load_or_train(same, tmp_path / "a", results)["overall"] == 0.71 and trained == []


def test_a_changed_default_is_not_served_the_old_result(results, trained, tmp_path, monkeypatch):
    monkeypatch.setitem(cli.RECIPES["course"], "dropout", 0.3)  # ARGS leave the dropout to the recipe
    assert shipped.read_shipped_run(ARGS, results) is None
    assert shipped.load_or_train(ARGS, tmp_path / "b", results) == {"overall": 0.5} and len(trained) == 1


def test_only_the_run_of_the_command_can_be_shipped(tmp_path):
    run = tmp_path / "measured"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({**records.resolved_config([*ARGS, "--seed", "1"]), "overall": 0.7}))
    with pytest.raises(ValueError, match="train_config.seed 1 .this row: 0."):
        shipped.ship_run(run, ARGS, "x", tmp_path / "results")
    (run / "metrics.json").write_text(json.dumps({"overall": 0.7}))
    with pytest.raises(ValueError, match="records no method"):
        shipped.ship_run(run, ARGS, "x", tmp_path / "results")


def test_every_shipped_run_is_found_by_the_command_that_made_it():
    for path in sorted((shipped.RESULTS / "runs").glob("*.json")):
        saved = json.loads(path.read_text())
        assert shipped.read_shipped_run(saved["command"]) == saved, path.name


def test_ones_own_finished_run_comes_first(results, trained, tmp_path):
    out = tmp_path / "own"
    out.mkdir()
    (out / "command.json").write_text(json.dumps([*ARGS, "--out", str(out)]))
    (out / "metrics.json").write_text("{}")
    shipped.load_or_train(ARGS, out, results)
    assert trained == [(ARGS, out)]  # train_or_load reads the finished run back


def test_bad_input_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="metrics.json not found"):
        shipped.ship_run(tmp_path, ARGS, "x", tmp_path / "results")
    path = shipped.shipped_run_path(ARGS, tmp_path / "results")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        shipped.read_shipped_run(ARGS, tmp_path / "results")
    assert shipped.read_table("no-such-table", tmp_path) is None
    assert "laptop sweep" in shipped.read_table("sweep-laptop")  # the table notebook 08 reads


def test_fine_tuning_by_rows_reads_the_shipped_runs_it_names():
    """Each budget's scores are the shipped runs of its commands (the course budget: the ladder's two rows),
    its difference the mean of the per-seed differences, and the rows grow in training rows."""
    table = shipped.fine_tuning_by_rows()
    ladder = shipped.shipped_summary("ladder")
    course = json.loads((shipped.SHIPPED / "ladder-laptop.json").read_text())["budget"]["max_examples"]
    assert list(table.index) == sorted(table.index) and course in table.index and table.index[-1] == 10000
    assert np.mean(table.loc[course, "tuned"]) == pytest.approx(ladder.loc["+ rich pair features", "overall"])
    assert np.mean(table.loc[course, "frozen"]) == pytest.approx(ladder.loc["frozen baseline, course heads", "overall"])
    for rows in shipped.CROSSING:
        assert rows in table.index, f"no shipped crossing runs at {rows} rows"
        first = shipped.read_shipped_run(shipped.crossing_command("summed", rows, 0))["metrics"]
        assert table.loc[rows, "tuned"][0] == first["overall"] and first["scale_config"]["max_examples"] == rows
        assert first["method"] == "summed"
        frozen = shipped.read_shipped_run(shipped.crossing_command("baseline", rows, 0))["metrics"]
        assert frozen["method"] == "baseline" and table.loc[rows, "frozen"][0] == frozen["overall"]
    for rows, row in table.iterrows():
        diff = float(row["fine-tuned − frozen"].split()[0])
        if len(row["tuned"]) == len(row["frozen"]):
            expected = np.mean(np.subtract(row["tuned"], row["frozen"]))
        else:
            expected = np.mean(row["tuned"]) - np.mean(row["frozen"])
        assert diff == pytest.approx(expected, abs=6e-4)
        assert ("[" in row["fine-tuned − frozen"]) == (min(len(row["tuned"]), len(row["frozen"])) >= 2)


def test_one_recipe_scores_one_number_in_every_shipped_table():
    """The course recipe is one row in four tables and PCGrad one in three: each table ships the same runs
    per seed (reproduce trains a configuration once), so a student meets one figure per recipe."""
    course = [shipped.shipped_seeds(table, label) for table, label in
              (("ladder", "+ rich pair features"), ("table3", "summed"), ("beyond", "course recipe"),
               ("single", "all three (same heads)"))]
    assert all(seeds == course[0] for seeds in course) and None not in course[0]
    pcgrad = [shipped.shipped_seeds(table, label) for table, label in
              (("ladder", "+ PCGrad"), ("table3", "+ PCGrad"), ("table4", "PCGrad"))]
    assert all(seeds == pcgrad[0] for seeds in pcgrad)
    with pytest.raises(KeyError, match="no row 'nonsense'"):
        shipped.shipped_seeds("ladder", "nonsense")
