"""Run folders on disk: damaged checkpoints are named, the last good copy is used, the optimizer state is dropped."""

import shutil
from pathlib import Path

import pytest
import torch

from mtl_lib import runs


def saved_run(run_dir, epoch: int = 1, epochs: int = 2):
    """A tiny model's checkpoint after ``epoch`` of ``epochs``; returns (model, optimizer, scheduler)."""
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    model(torch.ones(1, 4)).sum().backward()
    optimizer.step()
    runs.save_checkpoint(run_dir, model, optimizer, scheduler, {"epoch": epoch, "train_config": {"epochs": epochs}})
    return model, optimizer, scheduler


def truncate(path, keep: int = 100):
    path.write_bytes(path.read_bytes()[:keep])


def test_truncated_weights_name_the_file_and_what_to_do(tmp_path):
    saved_run(tmp_path)
    weights = tmp_path / "checkpoint" / "model.safetensors"
    truncate(weights)
    with pytest.raises(runs.DamagedCheckpointError) as err:
        runs.load_checkpoint(tmp_path, torch.nn.Linear(4, 2))
    message = str(err.value)
    assert message.startswith(f"{weights} is damaged or incomplete (SafetensorError")
    assert "Copy the run folder again" in message and "--force" in message


def test_truncated_optimizer_state_is_named_when_resuming(tmp_path):
    model, optimizer, scheduler = saved_run(tmp_path)
    truncate(tmp_path / "checkpoint" / "trainer.pt")
    with pytest.raises(runs.DamagedCheckpointError, match=r"checkpoint/trainer\.pt is damaged"):
        runs.load_checkpoint(tmp_path, model, optimizer, scheduler)


def test_damaged_checkpoint_falls_back_to_the_last_good_copy(tmp_path):
    run = tmp_path / "run"
    saved_run(run, epoch=1)
    shutil.copytree(run / "checkpoint", tmp_path / "epoch1")
    saved_run(run, epoch=2)  # the next epoch's save
    shutil.copytree(tmp_path / "epoch1", run / ".checkpoint-old")  # a save stopped before its clean-up leaves it
    truncate(run / "checkpoint" / "model.safetensors")
    with pytest.warns(UserWarning, match="is damaged; using the last good checkpoint"):
        state = runs.load_checkpoint(run, torch.nn.Linear(4, 2))
    assert state["epoch"] == 1  # the old copy's state goes with the old copy's weights
    assert (run / ".checkpoint-damaged" / "model.safetensors").exists() and not (run / ".checkpoint-old").exists()
    # A missing checkpoint/ (a crash between the save's two renames) is recovered as before.
    (run / "checkpoint").rename(run / ".checkpoint-old")
    assert runs.read_state(run)["epoch"] == 1 and (run / "checkpoint").exists()


def test_finished_run_without_optimizer_state_loads_its_weights(tmp_path):
    model, optimizer, scheduler = saved_run(tmp_path, epoch=2, epochs=2)
    runs.drop_optimizer_state(tmp_path)
    assert not (tmp_path / "checkpoint" / "trainer.pt").exists()
    fresh = torch.nn.Linear(4, 2)
    runs.load_checkpoint(tmp_path, fresh, torch.optim.AdamW(fresh.parameters()))  # nothing left to train
    assert torch.equal(fresh.weight, model.weight)
    # An unfinished run needs its optimizer state to resume: a missing one is an error naming the file.
    saved_run(tmp_path / "cut", epoch=1, epochs=2)
    runs.drop_optimizer_state(tmp_path / "cut")
    with pytest.raises(runs.DamagedCheckpointError, match="trainer.pt"):
        runs.load_checkpoint(tmp_path / "cut", fresh, torch.optim.AdamW(fresh.parameters()))


def test_runs_dir_follows_mtl_runs_dir(monkeypatch, tmp_path):
    from mtl_lib.runs import runs_dir

    monkeypatch.delenv("MTL_RUNS_DIR", raising=False)
    assert runs_dir() == Path("runs") and runs_dir("final-colab") == Path("runs/final-colab")
    monkeypatch.setenv("MTL_RUNS_DIR", str(tmp_path / "drive"))  # e.g. /content/drive/MyDrive/mtl-runs
    assert runs_dir("sweep") == tmp_path / "drive" / "sweep"
