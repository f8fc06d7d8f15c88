"""Collapse detection: a head whose dev predictions carry no information is recorded, whichever head it is."""

import json

import numpy as np
import torch

from mtl_lib import sweep
from mtl_lib.bert import BertConfig, BertModel
from mtl_lib.data import load_task
from mtl_lib.evaluate import collapse_reasons
from mtl_lib.experiment import finish_run
from mtl_lib.model import HeadConfig, MultitaskBert
from mtl_lib.train import TrainConfig


def test_collapse_reasons_per_head():
    reasons = collapse_reasons({"sst": np.array([3.0, 3.0, 3.0]), "para": np.array([0.0, 1.0]),
                                "sts": np.full(4, 2.5)})
    assert reasons["sst"] == "every SST dev prediction is class 3 (3 rows)" and reasons["para"] == ""
    assert reasons["sts"].startswith("every STS dev prediction is 2.5000 (std 0 < 1e-05; 4 rows)")
    assert collapse_reasons({"sts": 2.5 + np.array([0.0, 1e-7, -1e-7])})["sts"]  # float noise is still constant
    assert collapse_reasons({"sts": np.array([2.5, 2.6]), "para": np.array([1.0])}) == {"sts": "", "para": ""}


def test_finish_run_records_collapsed_heads(tmp_path, data_dir, tokenizer):
    """Quora and STS heads that ignore their input (last layer zeroed): recorded in the metrics,
    and a sweep reading that metrics.json calls the run collapsed, naming both heads."""
    torch.manual_seed(0)
    encoder = BertModel(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                   intermediate_size=64, max_position_embeddings=64))
    model = MultitaskBert(encoder, HeadConfig(checkpoint="tiny-random", pair_features="concat", sts_head="linear"))
    for task, bias in (("para", -1.0), ("sts", 2.5)):
        last = model.heads[task][-1]
        with torch.no_grad():
            last.weight.zero_()
            last.bias.fill_(bias)
    dev = {t: load_task(t, "dev", data_dir).head(6) for t in ("sst", "para", "sts")}
    metrics = finish_run(tmp_path, model, tokenizer, dev, TrainConfig(max_length=32, sampling="annealed", lr=5e-5), "cpu",
                         test_predictions=False)
    collapsed = metrics["collapsed"]
    assert collapsed["para"] == "every Quora dev prediction is class 0 (6 rows)"
    assert collapsed["sts"].startswith("every STS dev prediction is 2.5000") and metrics["sts_corr"] == 0
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    row = sweep.run_row(tmp_path)
    assert row["status"] == "collapsed" and "Quora" in row["reason"] and "STS" in row["reason"]


def _as_the_starter_writes(path, column, ids, values):
    """The CS224N starter's evaluation.py, as its files come out: a header with a tab and trailing spaces,
    then one "id , value " line per row, each value printed as numpy gives it (an int64 class, a float32
    rounded sigmoid, a float32 score)."""
    with open(path, "w") as f:
        f.write(f"id \t {column} \n")
        for row_id, value in zip(ids, values):
            f.write(f"{row_id} , {value} \n")


def test_prediction_files_are_the_starters_line_for_line(tmp_path):
    """The same model outputs written by write_predictions and the starter's way: identical files, and
    read_predictions reads both back (and this course's earlier format too)."""
    from mtl_lib.evaluate import PREDICTION_COLUMNS, read_predictions, write_predictions
    from mtl_lib.model import predictions

    torch.manual_seed(0)
    outputs = {"sst": torch.randn(6, 5), "para": torch.tensor([2.3, -0.7, 0.0, 11.0, -4.2, 0.2]),
               "sts": torch.rand(6) * 5}  # STS inside 0..5 (the course clips its scores there)
    starter = {"sst": outputs["sst"].argmax(dim=-1).numpy(), "para": outputs["para"].sigmoid().round().numpy(),
               "sts": outputs["sts"].numpy()}
    frames = {t: __import__("pandas").DataFrame({"id": [f"{t}{i:02x}" for i in range(6)]}) for t in outputs}
    ours = {t: predictions(t, o).double().numpy() for t, o in outputs.items()}  # as evaluate.predict returns them
    write_predictions(tmp_path / "ours", "test", frames, ours)
    for task, values in starter.items():
        theirs = tmp_path / f"{task}-starter.csv"
        _as_the_starter_writes(theirs, PREDICTION_COLUMNS[task], frames[task]["id"], values)
        mine = tmp_path / "ours" / f"{task}-test-output.csv"
        assert mine.read_text().splitlines() == theirs.read_text().splitlines(), task
        back = read_predictions(mine)
        assert back["id"].tolist() == frames[task]["id"].tolist()
        np.testing.assert_allclose(back["prediction"], np.asarray(values, dtype=float), rtol=1e-6)
    assert (tmp_path / "ours" / "sts-test-output.csv").read_text().startswith("id \t Predicted_Similiary \n")
    assert (tmp_path / "ours" / "para-test-output.csv").read_text().splitlines()[1:4] == [
        "para00 , 1.0 ", "para01 , 0.0 ", "para02 , 0.0 "]  # a logit of 0: sigmoid 0.5 rounds to 0
    older = tmp_path / "older.csv"
    older.write_text("id , Predicted_Similarity\nc , 2.5000\n")
    assert read_predictions(older).to_dict("list") == {"id": ["c"], "prediction": [2.5]}
