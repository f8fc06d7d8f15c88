"""The Trainer's bookkeeping rules (mtl_lib.bookkeeping): cadence, checkpoint clock, what a resume may change."""

import torch

from mtl_lib import bookkeeping


def test_every_counts_periods_and_zero_is_off():
    assert [d for d in range(1, 11) if bookkeeping.every(d, 3)] == [3, 6, 9]
    assert not any(bookkeeping.every(d, 0) for d in range(1, 11))


def test_checkpoint_clock_by_steps_by_minutes_and_only_with_a_folder(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(bookkeeping.time, "monotonic", lambda: now[0])
    by_steps = bookkeeping.CheckpointClock(steps=5, minutes=0, enabled=True)
    assert [s for s in range(1, 12) if by_steps.due(s)] == [5, 10]
    by_time = bookkeeping.CheckpointClock(steps=0, minutes=2, enabled=True)
    now[0] += 119
    assert not by_time.due(1)
    now[0] += 1
    assert by_time.due(2)
    by_time.saved()
    assert not by_time.due(3)
    assert not bookkeeping.CheckpointClock(steps=1, minutes=0, enabled=False).due(1)  # no run folder


def test_a_resume_may_change_bookkeeping_only():
    saved = {"lr": 1e-4, "log_every": 10, "checkpoint_minutes": 10.0, "head.dropout": 0.1, "order": ("sst", "para")}
    now = {**saved, "log_every": 1, "checkpoint_minutes": 0.0, "order": ["sst", "para"]}
    assert bookkeeping.config_changes(saved, now) == []  # tuples and lists read back alike
    assert bookkeeping.config_changes(saved, {**now, "lr": 1e-3, "head.dropout": 0.3}) == [
        "head.dropout (saved 0.1, now 0.3)", "lr (saved 0.0001, now 0.001)"]


def test_loss_rows_are_means_since_the_last_row_and_pcgrad_summaries_means_per_phase():
    row = bookkeeping.loss_row(0, "all", 20, ["sst", "sts"], [30.0, 12.0], 20, (10, [10.0, 2.0]), {"sst": 0.5})
    assert row == {"epoch": 1, "phase": "all", "step": 20, "train_loss_sst": 2.0, "train_loss_sts": 1.0,
                   "weight_sst": 0.5}
    steps = [[0.5, -0.5, 0.0, 1 / 3], [0.1, 0.1, 0.2, 0.0]]
    summary = bookkeeping.pcgrad_summary(["sst", "para", "sts"], steps)
    assert summary == {"pcgrad_cos_sst-para": 0.3, "pcgrad_cos_sst-sts": -0.2, "pcgrad_cos_para-sts": 0.1,
                       "pcgrad_projected": 1 / 6}


def test_rng_state_brings_back_the_same_draws():
    generator = torch.Generator().manual_seed(1)
    state = bookkeeping.rng_state(torch.device("cpu"), generator)
    first = torch.rand(3), torch.randperm(5, generator=generator)
    bookkeeping.set_rng_state(state, torch.device("cpu"), generator)
    again = torch.rand(3), torch.randperm(5, generator=generator)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
