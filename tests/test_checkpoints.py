"""Finding and reading checkpoints, and what happens when that fails."""

import shutil

import pytest
import torch
from safetensors.torch import load_file

from mtl_lib.bert import BertModel
from mtl_lib.checkpoints import EMBEDDED, read_config, resolve_checkpoint, to_minbert_names


def test_embedded_checkpoint_is_found_offline(embedded_dir):
    folder = resolve_checkpoint(EMBEDDED)
    assert folder == embedded_dir
    config = read_config(folder)
    assert (config["num_hidden_layers"], config["hidden_size"]) == (6, 384)


def test_every_parameter_is_loaded(embedded_dir):
    model = BertModel.from_pretrained(EMBEDDED)
    weights = to_minbert_names(load_file(embedded_dir / "model.safetensors"))
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, weights[name]), name


def test_pytorch_bin_with_prefixed_names(embedded_dir, tmp_path):
    """Old uploads: pytorch_model.bin with 'bert.' prefixes (read with weights_only=True)."""
    for f in ("config.json", "vocab.txt"):
        shutil.copy(embedded_dir / f, tmp_path / f)
    weights = load_file(embedded_dir / "model.safetensors")
    torch.save({"bert." + k: v for k, v in weights.items()}, tmp_path / "pytorch_model.bin")
    a = BertModel.from_pretrained(tmp_path)
    b = BertModel.from_pretrained(EMBEDDED)
    ids = torch.tensor([[101, 7592, 2088, 102]])
    torch.testing.assert_close(a(ids)["pooler_output"], b(ids)["pooler_output"])


def test_folder_missing_files(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="vocab.txt.*model.safetensors"):
        resolve_checkpoint(tmp_path)


def test_bad_config_json_names_the_line(embedded_dir, tmp_path):
    shutil.copytree(embedded_dir, tmp_path / "ckpt")
    (tmp_path / "ckpt" / "config.json").write_text('{\n  "hidden_size": 384,\n  oops\n}')
    with pytest.raises(ValueError, match="config.json line 3"):
        BertModel.from_pretrained(tmp_path / "ckpt")


def test_offline_download_says_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="Offline\\?.*all-MiniLM-L6-v2"):
        resolve_checkpoint("bert-base-uncased-not-cached-anywhere")


def test_not_a_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a folder"):
        resolve_checkpoint(tmp_path / "nope")
