"""torchrun: 2 CPU processes (gloo) train like one process on the same global batch."""

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from mtl_lib import cli
from mtl_lib.distributed import shard_rows
from mtl_lib.model import HeadConfig, MultitaskBert

# 14 rows per task in global batches of 7: each step splits 4 + 3 rows, so the
# loss weighting of uneven shares is exercised. Dropout 0: no per-rank randomness.
ARGS = ["train", "--scale", "smoke", "--max-examples", "14", "--dev-examples", "16", "--batch-size", "7",
        "--epochs", "1", "--sampling", "equal", "--dropout", "0",
        "--precision", "fp32"]  # the distributed arithmetic is compared to float rounding: bf16 would hide it
# Parameters may differ by float rounding only (different padding and summation order), which
# Adam amplifies for gradients near zero. Measured after 2 steps: max |difference| 1.4e-5, in a
# head layer (lr 1e-3, so 2 steps move it up to 2e-3); the encoder differs by less.
PARAM_ATOL = 5e-5


def test_shard_rows():
    assert shard_rows([5, 6, 7], 0, 2) == ([5, 7], 2 * 2 / 3)
    assert shard_rows([5, 6, 7], 1, 2) == ([6], 2 * 1 / 3)
    assert shard_rows([5], 1, 2) == ([5], 0.0)  # no rows left: a dummy row that weighs nothing


@pytest.mark.parametrize("method", ["summed", "pcgrad"])
def test_torchrun_matches_one_process(method, tmp_path, data_dir, monkeypatch):
    one, two, data = tmp_path / "one", tmp_path / "two", tmp_path / "data"
    data.mkdir()  # train and dev files only: no minutes spent predicting the test splits
    for f in data_dir.glob("*.csv"):
        if "test" not in f.name:
            (data / f.name).symlink_to(f)
    monkeypatch.setenv("MTL_DATA_URL", (tmp_path / "nowhere").as_uri())  # and no download of them
    args = [*ARGS, "--method", method, "--data-dir", str(data)]
    assert cli.main([*args, "--out", str(one)]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "mtl_lib", *args, "--out", str(two)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count(f"wrote {two}/") == 1  # only rank 0 prints and writes
    a, b = (json.loads((run / "metrics.json").read_text()) for run in (one, two))
    losses = [k for k in a["history"][0] if k.startswith("train_loss_")]
    for k in losses:  # the global batch's mean loss, from the weighted per-rank losses
        assert b["history"][0][k] == pytest.approx(a["history"][0][k], rel=1e-5)
    for k in ("sst_acc", "para_acc", "sts_corr", "overall"):
        assert b[k] == pytest.approx(a[k], abs=1e-4)
    if method == "pcgrad":  # the surgery saw the same (averaged) task gradients
        torch.testing.assert_close(torch.tensor(b["pcgrad_steps"]["values"]),
                                   torch.tensor(a["pcgrad_steps"]["values"]), atol=1e-5, rtol=0)
    wa, wb = (load_file(run / "checkpoint/model.safetensors") for run in (one, two))
    diff = max((wa[k] - wb[k]).abs().max().item() for k in wa)
    torch.manual_seed(0)  # the heads' initialisation, as in the runs
    recipe = HeadConfig(dropout=0.0, pair_features="rich", sts_head="cosine")  # the command line's defaults
    start = MultitaskBert.from_pretrained(recipe).state_dict()
    moved = max((wa[k] - start[k]).abs().max().item() for k in wa)
    assert diff < PARAM_ATOL < moved / 20, f"parameters differ by {diff:.2e}; training moved them {moved:.2e}"
