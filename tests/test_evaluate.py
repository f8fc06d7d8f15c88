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
    model = MultitaskBert(encoder, HeadConfig(checkpoint="tiny-random"))
    for task, bias in (("para", -1.0), ("sts", 2.5)):
        last = model.heads[task][-1]
        with torch.no_grad():
            last.weight.zero_()
            last.bias.fill_(bias)
    dev = {t: load_task(t, "dev", data_dir).head(6) for t in ("sst", "para", "sts")}
    metrics = finish_run(tmp_path, model, tokenizer, dev, TrainConfig(max_length=32), "cpu",
                         test_predictions=False)
    collapsed = metrics["collapsed"]
    assert collapsed["para"] == "every Quora dev prediction is class 0 (6 rows)"
    assert collapsed["sts"].startswith("every STS dev prediction is 2.5000") and metrics["sts_corr"] == 0
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    row = sweep.run_row(tmp_path)
    assert row["status"] == "collapsed" and "Quora" in row["reason"] and "STS" in row["reason"]
