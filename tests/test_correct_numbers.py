"""What the training numbers mean: SMART's dropout modes and projection, the learning-rate
schedule of sequential training, exact and honest resumption, the mixed-precision dtype."""

import json
import shutil
import types

import pytest
import torch

from mtl_lib import train as train_module
from mtl_lib.data import load_task
from mtl_lib.model import HeadConfig, MultitaskBert
from mtl_lib.runs import has_checkpoint, read_state
from mtl_lib.smart import rng_state, smart_regularizer
from mtl_lib.train import Trainer, TrainConfig, amp_dtype
from test_training import frames, tiny_cfg  # noqa: F401 (frames is a fixture)

TASKS = ("sst", "para", "sts")


# --- SMART ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dropout_model(tokenizer):
    torch.manual_seed(0)
    model = MultitaskBert.from_pretrained(HeadConfig(dropout=0.1, pair_features="rich", sts_head="linear")).train()
    sentences = ["a gripping , funny film", "dull and far too long", "the cast is fine", "not bad at all"]
    pairs = ["a man plays guitar", "how do I learn?", "a man is playing", "how to learn fast?"]
    return model, {"sst": tokenizer(sentences), "para": tokenizer(pairs), "sts": tokenizer(pairs)}


@pytest.mark.parametrize("task", TASKS)
def test_same_dropout_isolates_the_perturbation(dropout_model, task):
    """In train mode, sigma = 0: with the clean pass's masks replayed R_s is exactly 0;
    with fresh masks it measures two dropout draws (what training did before the fix)."""
    model, batches = dropout_model
    batch = batches[task]
    state = rng_state("cpu")
    clean = model(task, batch)
    same = smart_regularizer(model, task, batch, clean, sigma=0.0, dropout_state=state)
    assert same.item() == 0.0
    independent = smart_regularizer(model, task, batch, clean, sigma=0.0)
    assert independent.item() > 1e-8


def test_trainer_uses_same_masks_unless_told_otherwise(frames, tokenizer, monkeypatch):
    """The training step passes the pre-clean-pass RNG state to the regularizer in 'same' mode only."""
    train, dev = frames
    seen = []
    real = train_module.smart_regularizer

    def spy(*args, **kw):
        reg = real(*args, **kw)
        seen.append((kw.get("dropout_state") is not None, reg.item()))
        return reg

    monkeypatch.setattr(train_module, "smart_regularizer", spy)
    for mode in ("same", "independent"):
        seen.clear()
        trainer = Trainer(MultitaskBert.from_pretrained(), tokenizer, train, dev,
                          tiny_cfg(smart_lambda=1.0, smart_sigma=0.0, smart_dropout=mode), progress=False)
        trainer.model.train()
        batches = {t: next(iter(loader)) for t, loader in trainer.loaders(0, {t: 4 for t in TASKS}).items()}
        trainer.losses(batches)
        assert [s for s, _ in seen] == [mode == "same"] * 3
        if mode == "same":
            assert all(r == 0.0 for _, r in seen)
        else:
            assert any(r > 0 for _, r in seen)
    with pytest.raises(ValueError, match="smart_dropout"):
        TrainConfig(smart_dropout="sometimes")


def test_ascent_step_is_projected_onto_the_epsilon_ball(dropout_model):
    model, batches = dropout_model
    model.eval()
    batch = batches["sts"]
    calls = []
    real_forward = model.forward

    def recording(task, batch, word_embeds=None):
        if word_embeds is not None:
            calls.append(word_embeds.detach())
        return real_forward(task, batch, word_embeds=word_embeds)

    model.forward = recording
    try:
        clean = model("sts", batch)
        words = model.encoder.embeddings.word(batch["input_ids"]).detach()
        for epsilon in (1e-5, 1e-3):
            calls.clear()
            smart_regularizer(model, "sts", batch, clean, sigma=1e-5, steps=1, step_size=1e-2, epsilon=epsilon)
            delta = calls[-1] - words
            assert delta.abs().max().item() <= epsilon * 1.05  # float32 rounding of (words + delta) - words
            assert delta.abs().max().item() >= 0.5 * epsilon  # the step reached the ball's edge
    finally:
        del model.forward
        model.train()


# --- the learning-rate schedule ---------------------------------------------------------
def phase_mean_rates(trainer: Trainer) -> list[float]:
    """The mean learning rate of every task phase, as a fraction of the peak, read from the optimizer
    while stepping the real scheduler; Trainer.phase_rates must say the same without stepping."""
    predicted = trainer.phase_rates()
    rates = []
    for _ in range(sum(trainer.phase_steps())):
        rates.append(trainer.optimizer.param_groups[0]["lr"] / trainer.cfg.lr)
        trainer.optimizer.step()
        trainer.scheduler.step()
    means, start = [], 0
    for n in trainer.phase_steps():
        means.append(sum(rates[start:start + n]) / n)
        start += n
    assert means == pytest.approx(predicted, abs=1e-9)
    return means


def test_every_sequential_phase_gets_the_same_mean_rate(data_dir, tokenizer):
    """Phases of 100, 200 and 400 steps: one schedule over the run puts the first phase in the warm-up
    and the last near zero; restarted per phase, all three have the same mean rate."""
    train = {t: load_task(t, "train", data_dir, limit=n) for t, n in (("sst", 400), ("para", 800), ("sts", 1600))}
    model = MultitaskBert.from_pretrained()
    cfg = dict(method="sequential", order=("sst", "para", "sts"), epochs=1, batch_size=4)
    one_schedule = phase_mean_rates(Trainer(model, tokenizer, train, {}, TrainConfig(**cfg, schedule="linear"),
                                            progress=False))
    per_phase = phase_mean_rates(Trainer(model, tokenizer, train, {}, TrainConfig(**cfg), progress=False))
    assert TrainConfig(**cfg).schedule == "per-phase" and TrainConfig().schedule == "linear"
    assert max(one_schedule) - min(one_schedule) > 0.3
    assert max(per_phase) - min(per_phase) < 0.01 and all(0.5 < m < 0.52 for m in per_phase)
    constant = phase_mean_rates(Trainer(model, tokenizer, train, {}, TrainConfig(**cfg, schedule="constant"),
                                        progress=False))
    assert constant == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="per-phase"):
        TrainConfig(schedule="per-phase")


# --- resuming ----------------------------------------------------------------------------
def interrupted_run(frames, tokenizer, run_dir, **kw):
    """A 2-epoch run stopped after its first epoch's checkpoint."""
    train, dev = frames
    trainer = Trainer(MultitaskBert.from_pretrained(), tokenizer, train, dev, tiny_cfg(**kw),
                      run_dir=run_dir, progress=False)
    real_run_epoch = trainer.run_epoch

    def stop_in_second_epoch(epoch):
        if epoch == 1:
            raise KeyboardInterrupt
        real_run_epoch(epoch)

    trainer.run_epoch = stop_in_second_epoch
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()


def test_resume_refuses_a_changed_configuration(frames, tokenizer, tmp_path):
    train, dev = frames
    interrupted_run(frames, tokenizer, tmp_path)
    changes = [(tiny_cfg(epochs=3), HeadConfig(), "epochs"),  # the run above: HeadConfig()'s course heads
               (tiny_cfg(), HeadConfig(dropout=0.3), "head.dropout"),
               (tiny_cfg(), HeadConfig(pair_features="concat"), "head.pair_features")]
    for cfg, head, what in changes:
        trainer = Trainer(MultitaskBert.from_pretrained(head), tokenizer, train, dev, cfg, run_dir=tmp_path,
                          progress=False)
        with pytest.raises(ValueError, match=rf"another configuration: {what} \(saved"):
            trainer.fit(resume=True)


def test_resume_recovers_the_last_good_checkpoint_and_counts_earlier_time(frames, tokenizer, tmp_path):
    """A crash between save_checkpoint's two renames leaves only .checkpoint-old: resume uses it."""
    train, dev = frames
    interrupted_run(frames, tokenizer, tmp_path)
    first = read_state(tmp_path)
    assert first["seconds"] > 0
    (tmp_path / "checkpoint").rename(tmp_path / ".checkpoint-old")  # the crash
    assert has_checkpoint(tmp_path)
    resumed = Trainer(MultitaskBert.from_pretrained(), tokenizer, train, dev, tiny_cfg(), run_dir=tmp_path,
                      progress=False)
    resumed.fit(resume=True)
    assert resumed.start_epoch == 1 and resumed.step == 6
    assert read_state(tmp_path)["seconds"] > first["seconds"]
    assert resumed.history[-1]["seconds"] > first["seconds"]


def test_grad_scaler_state_is_saved_and_restored(frames, tokenizer, tmp_path):
    train, dev = frames
    interrupted_run(frames, tokenizer, tmp_path)
    saved = torch.load(tmp_path / "checkpoint" / "trainer.pt", weights_only=True)
    assert "scaler" in saved
    trainer = Trainer(MultitaskBert.from_pretrained(), tokenizer, train, dev, tiny_cfg(), run_dir=tmp_path,
                      progress=False)
    loaded = []
    trainer.scaler.load_state_dict = lambda state: loaded.append(state)
    torch.save({**saved, "scaler": {"scale": 1024.0, "growth_factor": 2.0, "backoff_factor": 0.5,
                                    "growth_interval": 2000, "_growth_tracker": 7}},
               tmp_path / "checkpoint" / "trainer.pt")
    trainer.resume()
    assert loaded and loaded[0]["_growth_tracker"] == 7


# --- mixed precision ---------------------------------------------------------------------
@pytest.mark.parametrize("major, expected", [(7, torch.float16), (8, torch.bfloat16), (9, torch.bfloat16)])
def test_amp_dtype_is_fp16_on_gpus_without_native_bf16(monkeypatch, major, expected):
    """A T4 (compute capability 7.5) emulates bf16 and torch.cuda.is_bf16_supported() says True
    there; training must use fp16 instead."""
    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda device=None: types.SimpleNamespace(major=major, minor=5, name="fake"))
    monkeypatch.setattr(torch.cuda, "_check_bf16_tensor_supported", lambda device: True, raising=False)
    assert amp_dtype(torch.device("cuda"), True) == expected
    assert amp_dtype(torch.device("cuda"), False) is None and amp_dtype(torch.device("cpu"), False) is None
