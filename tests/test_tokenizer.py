"""Our tokenizers-based WordPiece against Hugging Face BertTokenizerFast."""

import pytest
import torch

from mtl_lib.data import load_task
from mtl_lib.tokenizer import BertTokenizer, load_tokenizer


@pytest.fixture(scope="module")
def reference(embedded_dir):
    from transformers import BertTokenizerFast

    return BertTokenizerFast(str(embedded_dir / "vocab.txt"), do_lower_case=True)


def _assert_same(ours, ref):
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        assert torch.equal(ours[key], ref[key]), key


def test_every_sst_dev_sentence(tokenizer, reference, data_dir):
    sentences = load_task("sst", "dev", data_dir=data_dir).sentence.tolist()
    assert len(sentences) == 1101
    for start in range(0, len(sentences), 64):  # padded batches, as in training
        chunk = sentences[start:start + 64]
        _assert_same(tokenizer(chunk, max_length=512),
                     reference(chunk, padding=True, truncation=True, max_length=512, return_tensors="pt"))


def test_sentence_pairs_and_truncation(tokenizer, reference, data_dir):
    sts = load_task("sts", "dev", data_dir=data_dir, limit=200)
    a, b = sts.sentence1.tolist(), sts.sentence2.tolist()
    for max_length in (512, 16):
        _assert_same(tokenizer(a, pairs=b, max_length=max_length),
                     reference(a, b, padding=True, truncation="longest_first",
                               max_length=max_length, return_tensors="pt"))
    batch = tokenizer(a[:4], pairs=b[:4], max_length=16)
    assert batch["input_ids"].shape[1] <= 16
    assert batch["token_type_ids"].max() == 1


def test_word_pieces_and_padding(tokenizer):
    assert tokenizer.tokenize("Unbelievably GOOD") == ["un", "##bel", "##ie", "##va", "##bly", "good"]
    assert tokenizer.tokenize("tokenization")[1].startswith("##")
    batch = tokenizer(["one", "one two three"])
    assert batch["input_ids"].shape == (2, 5)  # [CLS] one two three [SEP]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert tokenizer.decode(batch["input_ids"][1]) == "one two three"


def test_bad_inputs(tokenizer, tmp_path):
    with pytest.raises(ValueError, match="match one to one"):
        tokenizer(["a", "b"], pairs=["c"])
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("hello\nworld\n")
    with pytest.raises(ValueError, match="special tokens"):
        BertTokenizer(vocab)
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_tokenizer(tmp_path)
