"""mtl_lib.live: the curves a training loop draws while it runs, fed by a fake loop (no model is trained)."""

import base64

import numpy as np
import pytest

from mtl_lib import live as live_module
from mtl_lib.live import LiveLoss, LiveTrainer, running_mean
from mtl_lib.train import Trainer


def fake_run(curves: LiveLoss, steps: int = 24, eval_every: int = 8, tasks=("sst", "para", "sts")):
    """What LiveTrainer feeds a LiveLoss: a start score, each step's losses, scores every eval_every steps."""
    curves.score(0, {"dev_sst_acc": 0.2, "dev_overall": 0.5})
    for step in range(1, steps + 1):
        curves.step(step, {t: 2.0 / step + i for i, t in enumerate(tasks)})
        if step % eval_every == 0:
            curves.score(step, {"train_sst_acc": 0.2 + step / 100, "dev_sst_acc": 0.2 + step / 200,
                                "dev_overall": 0.5 + step / 200})
    curves.finish()


def test_outside_a_notebook_it_prints_one_short_line_per_refresh(capsys):
    curves = LiveLoss(every=8, total=24)
    assert curves.mode == "text"  # pytest is no Jupyter kernel
    fake_run(curves)
    lines = capsys.readouterr().out.splitlines()
    # the start, then steps 8, 16 and 24, each refreshed once when its scores arrive (finish adds nothing new)
    assert [line.split(" |")[0] for line in lines] == ["step 0/24", "step 8/24", "step 16/24", "step 24/24"]
    assert all(len(line) < 160 for line in lines)
    # the losses are the means of the last 8 steps; the dev scores the latest
    expected = np.mean([2.0 / s for s in range(1, 9)])
    assert f"loss SST {expected:.3f} Quora {expected + 1:.3f} STS {expected + 2:.3f}" in lines[1]
    assert lines[1].endswith("dev sst_acc 0.240 overall 0.540")
    assert lines[0] == "step 0/24 | dev sst_acc 0.200 overall 0.500"


def test_a_refresh_without_scores_still_comes_every_k_steps(capsys):
    curves = LiveLoss(every=4, mode="text")
    for step in range(1, 10):
        curves.step(step, {"sst": 1.0})
    curves.finish()
    steps = [line.split(" |")[0] for line in capsys.readouterr().out.splitlines()]
    assert steps == ["step 4", "step 8", "step 9"]  # due at 4 and 8, shown at the next step (no score came)


def test_the_figure_holds_the_data_it_was_given():
    curves = LiveLoss(every=8, mode="text")
    fake_run(curves)
    fig = curves.figure()
    loss_ax, score_ax = fig.axes
    raw_sst, mean_sst = loss_ax.lines[0], loss_ax.lines[1]  # per task: the raw losses, then the running mean
    np.testing.assert_allclose(raw_sst.get_xdata(), np.arange(1, 25))
    np.testing.assert_allclose(raw_sst.get_ydata(), [2.0 / s for s in range(1, 25)])
    np.testing.assert_allclose(mean_sst.get_ydata(), running_mean([2.0 / s for s in range(1, 25)], 8))
    assert [text.get_text() for text in loss_ax.get_legend().get_texts()] == ["SST", "Quora", "STS"]
    by_label = {(line.get_linestyle(), line.get_color()): line for line in score_ax.lines}
    dev_sst = by_label[("-", "C0")]
    np.testing.assert_allclose(dev_sst.get_xdata(), [0, 8, 16, 24])
    np.testing.assert_allclose(dev_sst.get_ydata(), [0.2, 0.24, 0.28, 0.32])
    train_sst = by_label[("--", "C0")]
    np.testing.assert_allclose(train_sst.get_xdata(), [8, 16, 24])  # no training-sample score at the start
    assert "step 24" in fig._suptitle.get_text()


def test_running_mean_skips_gaps():
    np.testing.assert_allclose(running_mean([1, 3, np.nan, 5], 2), [1, 2, np.nan, 5])
    np.testing.assert_allclose(running_mean([1, 3, 5, 7], 3), [1, 2, 3, 5])
    assert np.isnan(running_mean([np.nan, np.nan], 3)).all()


def test_phases_are_marked_and_untrained_tasks_leave_gaps():
    curves = LiveLoss(every=2, mode="text")
    curves.phase(0, "sts")
    for step in (1, 2):
        curves.step(step, {"sts": 1.0})
    curves.phase(2, "sst")
    for step in (3, 4):
        curves.step(step, {"sst": 1.5})
    assert curves.losses["sts"][:2] == [1.0, 1.0] and np.isnan(curves.losses["sts"][2:]).all()
    assert np.isnan(curves.losses["sst"][:2]).all() and curves.losses["sst"][2:] == [1.5, 1.5]
    loss_ax = curves.figure().axes[0]
    assert [line.get_xdata()[0] for line in loss_ax.lines if line.get_linestyle() == ":"] == [0, 2]
    assert [t.get_text() for t in loss_ax.texts] == ["STS phase", "SST phase"]


class FakeHandle:
    def __init__(self):
        self.updates = []

    def update(self, data, raw=False):
        self.updates.append(data)


def test_in_a_notebook_one_figure_is_drawn_and_then_updated_in_place(monkeypatch):
    import IPython.display

    shown = []

    def fake_display(data, raw=False, display_id=None):
        shown.append(data)
        return FakeHandle() if display_id else None

    monkeypatch.setattr(IPython.display, "display", fake_display)
    curves = LiveLoss(every=8, mode="figure")
    fake_run(curves)
    assert len(shown) == 1  # one display; every later refresh replaces it
    assert len(curves.handle.updates) == 3  # steps 8, 16 and 24
    last = curves.handle.updates[-1]
    assert base64.b64decode(last["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"
    assert last["text/plain"].startswith("step 24 | loss SST")


def test_modes_and_arguments_are_checked(monkeypatch):
    monkeypatch.setattr(live_module, "in_notebook", lambda: True)
    assert LiveLoss().mode == "figure"
    assert LiveLoss(mode="text").mode == "text"
    with pytest.raises(ValueError):
        LiveLoss(every=0)
    with pytest.raises(ValueError):
        LiveLoss(mode="video")


def test_live_trainer_forwards_losses_scores_and_phases(monkeypatch):
    """LiveTrainer's hooks around Trainer.update / record / run_steps, with the Trainer's own work faked."""
    import torch

    def fake_update(self, losses):
        self.step += 1

    def fake_record(self, epoch, phase, losses, mid=False):
        self.history.append({"epoch": epoch + 1, "phase": phase, "step": self.step, "seconds": 0.0, **losses,
                             "train_sst_acc": 0.3, "dev_sst_acc": 0.25, "dev_overall": 0.6})

    def fake_run_steps(self, tasks, iters, n_steps, desc, epoch=0, phase="all", index=0, start=None):
        for _ in range(n_steps):
            self.update({t: torch.tensor(0.5) for t in tasks})
        return {f"train_loss_{t}": 0.5 for t in tasks}

    monkeypatch.setattr(Trainer, "update", fake_update)
    monkeypatch.setattr(Trainer, "record", fake_record)
    monkeypatch.setattr(Trainer, "run_steps", fake_run_steps)
    trainer = LiveTrainer.__new__(LiveTrainer)  # no model: only the hooks are under test
    trainer.step, trainer.history, trainer.live = 0, [], LiveLoss(every=2, mode="text")
    trainer.run_steps(["sts"], None, 2, "phase", 0, "sts")
    trainer.record(0, "sts", {"train_loss_sts": 0.5})
    trainer.run_steps(["sst", "para", "sts"], None, 1, "summed")  # phase "all": no phase mark
    curves = trainer.live
    assert curves.phases == [(0, "sts")]
    assert curves.steps == [1, 2, 3] and curves.losses["sts"] == [0.5, 0.5, 0.5]
    assert np.isnan(curves.losses["sst"][:2]).all() and curves.losses["sst"][2] == 0.5
    assert curves.scores == [(2, {"train_sst_acc": 0.3, "dev_sst_acc": 0.25, "dev_overall": 0.6})]  # no losses
