"""The multi-task model and its training machinery, on tiny slices of the real data."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from mtl_lib import train as train_module
from mtl_lib.data import load_task
from mtl_lib.evaluate import metric, overall_score, write_predictions
from mtl_lib.features import train_frozen_heads
from mtl_lib.model import HeadConfig, MultitaskBert, pair_features, task_loss
from mtl_lib.plots import plot_training_curves
from mtl_lib.train import NonFiniteLossError, Trainer, TrainConfig, task_batch_sizes

TASKS = ("sst", "para", "sts")


@pytest.fixture(scope="module")
def frames(data_dir):
    train = {t: load_task(t, "train", data_dir, limit=12) for t in TASKS}
    dev = {t: load_task(t, "dev", data_dir, limit=12) for t in TASKS}
    return train, dev


def tiny_cfg(**kw):
    return TrainConfig(**{"epochs": 2, "batch_size": 4, "max_length": 32, "train_eval_examples": 8,
                          "sampling": "equal", "lr": 5e-5, "log_every": 1, **kw})


def test_heads_shapes_and_cosine_head(tokenizer):
    model = MultitaskBert.from_pretrained(HeadConfig(sts_head="cosine", pair_features="rich")).eval()
    single = tokenizer(["a fine film", "dull"])
    pair = tokenizer(["a man plays", "a dog runs", "a man plays", "a cat sleeps"])  # (a1, a2, b1, b2)
    assert model("sst", single).shape == (2, 5)
    assert model("para", pair).shape == (2,)
    sts = model("sts", pair)
    assert sts.shape == (2,) and sts[0].item() == pytest.approx(5.0, abs=1e-4)  # identical sentences
    assert "sts" not in model.heads  # the cosine head has no parameters
    u, v = torch.ones(2, 3), torch.zeros(2, 3)
    assert pair_features(u, v, "concat").shape == (2, 6) and pair_features(u, v, "rich").shape == (2, 12)
    with pytest.raises(ValueError, match="sts_head"):
        HeadConfig(sts_head="dot")


def test_losses_and_metrics():
    assert task_loss("sst", torch.tensor([[10.0, 0, 0, 0, 0]]), torch.tensor([0])).item() < 1e-3
    assert task_loss("para", torch.tensor([0.0]), torch.tensor([1.0])).item() == pytest.approx(math.log(2))
    assert task_loss("sts", torch.tensor([3.0]), torch.tensor([1.0])).item() == pytest.approx(4.0)
    assert metric("sts", np.array([1.0, 2, 3]), np.array([2.0, 4, 6])) == pytest.approx(1.0)
    assert metric("sts", np.array([1.0, 1, 1]), np.array([2.0, 4, 6])) == 0.0  # constant: no NaN
    assert overall_score(0.481, 0.741, 0.409) == pytest.approx(0.642, abs=5e-4)  # the paper's numbers


def test_sampling_sizes():
    sizes = {"sst": 8000, "para": 16000, "sts": 4000}
    cfg = TrainConfig(batch_size=32, epochs=3, sampling="annealed")
    assert task_batch_sizes(sizes, TrainConfig(sampling="equal"), 0) == {t: 32 for t in sizes}
    prop = task_batch_sizes(sizes, TrainConfig(sampling="proportional", batch_size=32), 0)
    assert prop == {"sst": 27, "para": 55, "sts": 14}
    first, last = task_batch_sizes(sizes, cfg, 0), task_batch_sizes(sizes, cfg, 2)
    assert first == prop and last["sts"] > first["sts"] and last["para"] < first["para"]


def test_summed_training_learns_and_resume_is_exact(frames, tokenizer, tmp_path):
    train, dev = frames
    torch.manual_seed(0)
    full = Trainer(MultitaskBert.from_pretrained(), tokenizer, train, dev, tiny_cfg(),
                   run_dir=tmp_path / "full", progress=False)
    history = full.fit()
    assert list(history.epoch) == [1, 2]
    assert history.train_loss_sts.iloc[-1] < history.train_loss_sts.iloc[0]

    torch.manual_seed(0)
    interrupted = Trainer(MultitaskBert.from_pretrained(), tokenizer, train, dev, tiny_cfg(),
                          run_dir=tmp_path / "cut", progress=False)
    real_run_epoch = interrupted.run_epoch

    def stop_in_second_epoch(epoch):
        if epoch == 1:
            raise KeyboardInterrupt  # the laptop lid closes
        real_run_epoch(epoch)

    interrupted.run_epoch = stop_in_second_epoch
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit()
    assert json.loads((tmp_path / "cut/checkpoint/state.json").read_text())["epoch"] == 1

    torch.manual_seed(123)  # a fresh process: the global RNG state is not the same
    resumed = Trainer(MultitaskBert.from_pretrained(), tokenizer, train, dev, tiny_cfg(),
                      run_dir=tmp_path / "cut", progress=False)
    resumed_history = resumed.fit(resume=True)
    cols = [c for c in history if c.startswith(("dev_", "train_"))]
    pd.testing.assert_frame_equal(history[cols], resumed_history[cols])
    a = load_file(tmp_path / "full/checkpoint/model.safetensors")
    b = load_file(tmp_path / "cut/checkpoint/model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_sequential_scores_after_each_phase(frames, tokenizer):
    train, dev = frames
    cfg = tiny_cfg(method="sequential", order=("sts", "sst", "para"), epochs=1)
    history = Trainer(MultitaskBert.from_pretrained(), tokenizer, train, dev, cfg, progress=False).fit()
    assert list(history.phase) == ["sts", "sst", "para"]
    assert {"dev_sst_acc", "dev_para_acc", "dev_sts_corr", "dev_overall"} <= set(history)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(frames, tokenizer, tmp_path, monkeypatch):
    train, dev = frames
    trainer = Trainer(MultitaskBert.from_pretrained(), tokenizer, train, dev, tiny_cfg(epochs=3),
                      run_dir=tmp_path, progress=False)
    real_loss = train_module.task_loss

    def poisoned(task, output, labels):
        loss = real_loss(task, output, labels)
        return loss * float("nan") if task == "para" and trainer.step >= 4 else loss

    monkeypatch.setattr(train_module, "task_loss", poisoned)
    with pytest.raises(NonFiniteLossError, match=r"task para by step \d+.*lower learning rate"):
        trainer.fit()
    state = json.loads((tmp_path / "checkpoint/state.json").read_text())
    assert state["epoch"] == 1
    weights = load_file(tmp_path / "checkpoint/model.safetensors")
    assert all(torch.isfinite(w).all() for w in weights.values())


def test_frozen_baseline_caches_features(frames, tokenizer, tmp_path):
    train, dev = frames
    model = MultitaskBert.from_pretrained()
    metrics, history = train_frozen_heads(model, tokenizer, train, dev, epochs=3, cache_dir=tmp_path,
                                          progress=False)
    assert {"sst_acc", "para_acc", "sts_corr", "overall"} <= set(metrics)
    assert len(history) == 9 and len(list(tmp_path.glob("*.pt"))) == 10  # (1 + 2 + 2 columns) x (train, dev)
    assert not any(p.requires_grad for p in model.encoder.parameters())
    before = {p.stat().st_mtime_ns for p in tmp_path.glob("*.pt")}
    metrics2, _ = train_frozen_heads(MultitaskBert.from_pretrained(), tokenizer, train, dev, epochs=3,
                                     cache_dir=tmp_path, progress=False)
    assert {p.stat().st_mtime_ns for p in tmp_path.glob("*.pt")} == before  # read, not re-encoded
    assert metrics2["encode_seconds"] < metrics["encode_seconds"]


def test_prediction_files_format(tmp_path):
    frames = {"sst": pd.DataFrame({"id": ["a", "b"]}), "sts": pd.DataFrame({"id": ["c"]})}
    write_predictions(tmp_path, "dev", frames, {"sst": np.array([3.0, 1.0]), "sts": np.array([2.5])})
    assert (tmp_path / "sst-dev-output.csv").read_text() == "id \t Predicted_Sentiment \na , 3 \nb , 1 \n"
    assert (tmp_path / "sts-dev-output.csv").read_text() == "id \t Predicted_Similiary \nc , 2.5 \n"


def test_pcgrad_and_smart_in_the_training_loop(frames, tokenizer, tmp_path):
    train, dev = frames
    cfg = tiny_cfg(epochs=1, pcgrad=True, smart_lambda=1.0, smart_sigma=1e-3)
    trainer = Trainer(MultitaskBert.from_pretrained(), tokenizer, train, dev, cfg, progress=False)
    history = trainer.fit()
    assert len(trainer.conflicts) == trainer.step == 3  # 12 examples / batch 4
    assert all(-1 <= c <= 1 for step in trainer.conflicts for c in step[:3])
    assert 0 <= history["pcgrad_projected"].iloc[0] <= 1
    assert {"pcgrad_cos_sst-para", "pcgrad_cos_sst-sts", "pcgrad_cos_para-sts"} <= set(history)
    with pytest.raises(ValueError, match="pcgrad needs method='summed'"):
        TrainConfig(method="sequential", pcgrad=True)


def test_pcgrad_update_equals_summed_gradient_without_conflicts(frames, tokenizer):
    """With one task there is nothing to project: PCGrad's gradient is the plain one."""
    train, dev = frames
    one = {"sst": train["sst"]}
    grads = []
    for pcgrad in (False, True):
        torch.manual_seed(0)
        trainer = Trainer(MultitaskBert.from_pretrained(), tokenizer, one, dev, tiny_cfg(), progress=False)
        trainer.cfg.pcgrad = pcgrad
        batch = next(iter(trainer.loaders(0, {"sst": 4})["sst"]))
        trainer.model.eval()
        losses = trainer.losses({"sst": batch})
        trainer.optimizer.zero_grad()
        if pcgrad:
            trainer.pcgrad_backward({**losses})
        else:
            sum(losses.values()).backward()
        grads.append(trainer.model.encoder.layers[2].ffn_in.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1])


class Interrupted(Exception):
    """The Colab runtime is recycled in the middle of an epoch."""


def stop_at_step(trainer, step):
    """Make ``trainer`` raise Interrupted just after optimizer step ``step``."""
    real_update = trainer.update

    def update(losses):
        real_update(losses)
        if trainer.step == step:
            raise Interrupted

    trainer.update = update


@pytest.mark.parametrize("options", [
    {"method": "summed", "pcgrad": True, "smart_lambda": 1.0},  # the RNG-hungry paths: PCGrad orders, SMART noise
    {"method": "sequential", "order": ("para", "sts", "sst")},
    {"method": "summed", "loss_weighting": "uncertainty", "layer_decay": 0.8, "contrastive": 1.0},  # notebook 09
])
def test_mid_epoch_checkpoint_resumes_exactly(frames, tokenizer, tmp_path, options):
    train, dev = frames
    cfg = tiny_cfg(checkpoint_every=2, history_every=2, eval_every=3, **options)
    torch.manual_seed(0)
    full = Trainer(MultitaskBert.from_pretrained(), tokenizer, train, dev, cfg, run_dir=tmp_path / "full",
                   progress=False)
    history = full.fit()
    spe = full.step // cfg.epochs  # steps per epoch (summed: 3; sequential: 3 phases of 3)
    saved = [s for s in range(spe + 1, 2 * spe - 1) if s % cfg.checkpoint_every == 0][-1]  # late in epoch 2
    stop = saved + 1  # interrupted one step after that mid-epoch checkpoint

    torch.manual_seed(0)
    cut = Trainer(MultitaskBert.from_pretrained(), tokenizer, train, dev, cfg, run_dir=tmp_path / "cut",
                  progress=False)
    stop_at_step(cut, stop)
    with pytest.raises(Interrupted):
        cut.fit()
    state = json.loads((tmp_path / "cut/checkpoint/state.json").read_text())
    assert state["epoch"] == 1 and state["step"] == saved and state["position"]["pos"] > 0

    torch.manual_seed(123)  # a fresh process: another global RNG state, another head initialisation
    resumed = Trainer(MultitaskBert.from_pretrained(), tokenizer, train, dev,
                      TrainConfig(**{**cfg.__dict__, "checkpoint_every": 5}),  # bookkeeping may change
                      run_dir=tmp_path / "cut", progress=False)
    resumed_history = resumed.fit(resume=True)
    cols = [c for c in history if c.startswith(("dev_", "train_")) or c in ("epoch", "phase", "step")]
    pd.testing.assert_frame_equal(history[cols], resumed_history[cols])
    assert resumed.loss_history == full.loss_history
    a = load_file(tmp_path / "full/checkpoint/model.safetensors")
    b = load_file(tmp_path / "cut/checkpoint/model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert "position" not in json.loads((tmp_path / "cut/checkpoint/state.json").read_text())


def test_history_every_and_eval_every_make_curves(frames, tokenizer):
    train, dev = frames
    trainer = Trainer(MultitaskBert.from_pretrained(), tokenizer, train, dev,
                      tiny_cfg(epochs=1, batch_size=2, history_every=2, eval_every=2), progress=False)
    history = trainer.fit()  # 6 steps in the epoch: scored at steps 2, 4 and at the end (6)
    assert list(history.step) == [2, 4, 6] and list(history.epoch) == [1, 1, 1]
    assert history["dev_overall"].notna().all() and history["train_loss_sst"].notna().all()
    losses = pd.DataFrame(trainer.loss_history)
    assert list(losses.step) == [2, 4, 6]
    # each row is the mean of its own 2 steps; their mean is the epoch's mean loss
    assert losses.train_loss_sts.mean() == pytest.approx(history.train_loss_sts.iloc[-1], rel=1e-5)
    default = Trainer(MultitaskBert.from_pretrained(), tokenizer, train, dev, tiny_cfg(epochs=1, batch_size=2),
                      progress=False).fit()
    assert list(default.step) == [6]  # eval_every=0: one row per epoch, as before

    fig = plot_training_curves(history, losses=trainer.loss_history)
    *score_axes, loss_axis = fig.axes
    assert len(score_axes) == 4 and all(ax.get_xlabel() == "step" for ax in fig.axes)
    assert list(score_axes[0].lines[1].get_xdata()) == [2, 4, 6]  # dev sentiment accuracy against steps
    assert [line.get_label() for line in loss_axis.lines] == ["sst", "para", "sts"]
    assert fig.axes[0].lines[1].get_xdata().tolist() == history.step.tolist()
    old = plot_training_curves(default)  # one row per epoch, no losses: epochs on the x axis, as before
    assert old.axes[0].get_xlabel() == "epoch"


def test_bookkeeping_options_are_checked():
    with pytest.raises(ValueError, match="checkpoint_every=-1"):
        TrainConfig(checkpoint_every=-1)
    with pytest.raises(ValueError, match="log_every=0"):
        TrainConfig(log_every=0)
