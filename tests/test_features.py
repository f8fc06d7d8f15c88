"""The feature cache's key: it must change whenever the embeddings could (weights, tokenizer, inputs)."""

import torch

from mtl_lib.bert import BertConfig, BertModel
from mtl_lib.features import feature_key
from mtl_lib.model import HeadConfig, MultitaskBert
from mtl_lib.tokenizer import SPECIAL, BertTokenizer

SENTENCES = ["a first sentence", "and a second one"]


def tiny_model() -> MultitaskBert:
    """A random 2-layer minBERT: the same tensors per layer as MiniLM, built in milliseconds."""
    torch.manual_seed(0)
    config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=64)
    return MultitaskBert(BertModel(config), HeadConfig(checkpoint="tiny-random", pair_features="concat", sts_head="linear"))


def test_every_encoder_tensor_changes_the_key(tmp_path):
    """Any change to any tensor, at its first or its last element, gives another key; undone, the same key."""
    model = tiny_model()
    (tmp_path / "vocab.txt").write_text("\n".join([*SPECIAL, "a", "first", "sentence"]) + "\n")
    tokenizer = BertTokenizer(tmp_path / "vocab.txt")  # small: the key is computed ~150 times
    key = feature_key(model, tokenizer, SENTENCES, 64)
    assert feature_key(model, tokenizer, list(SENTENCES), 64) == key  # same inputs, same key
    tensors = model.encoder.state_dict()  # parameters and buffers; shares storage with the model
    assert len(tensors) >= 16 * 2  # every tensor of both layers, not a sample
    for name, tensor in tensors.items():
        flat = tensor.view(-1)
        for i in (0, flat.numel() - 1):
            old = flat[i].clone()
            flat[i] = old + 1e-3 if tensor.is_floating_point() else old + 1
            assert feature_key(model, tokenizer, SENTENCES, 64) != key, f"{name}[{i}] is not in the key"
            flat[i] = old
    assert feature_key(model, tokenizer, SENTENCES, 64) == key


def test_tokenizer_and_inputs_change_the_key(tokenizer, embedded_dir, tmp_path):
    model = tiny_model()
    key = feature_key(model, tokenizer, SENTENCES, 64)
    vocab = embedded_dir / "vocab.txt"
    assert feature_key(model, BertTokenizer(vocab, lowercase=True), SENTENCES, 64) == key  # a fresh copy
    assert feature_key(model, BertTokenizer(vocab, lowercase=False), SENTENCES, 64) != key
    other = tmp_path / "vocab.txt"  # one word piece renamed
    other.write_text(vocab.read_text(encoding="utf-8").replace("\nsentence\n", "\nsentences\n", 1), encoding="utf-8")
    assert other.read_text(encoding="utf-8") != vocab.read_text(encoding="utf-8")
    assert feature_key(model, BertTokenizer(other), SENTENCES, 64) != key
    assert feature_key(model, tokenizer, SENTENCES, 32) != key
    assert feature_key(model, tokenizer, SENTENCES[:1], 64) != key
