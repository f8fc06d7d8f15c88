"""Exercise pooling: pool() on transformers.BertModel outputs, checked by hand."""

import pytest
import torch

from mtl_lib.encode import pool


@pytest.fixture(scope="module")
def outputs(reference_outputs):
    return {"last_hidden_state": reference_outputs.last_hidden_state,
            "pooler_output": reference_outputs.pooler_output}


def test_cls_is_the_first_token(outputs, padded_batch):
    got = pool(outputs, padded_batch["attention_mask"], "cls")
    assert torch.equal(got, outputs["last_hidden_state"][:, 0])


def test_pooler_is_the_pooler_output(outputs, padded_batch):
    assert torch.equal(pool(outputs, padded_batch["attention_mask"], "pooler"), outputs["pooler_output"])


def test_mean_averages_the_real_tokens_only(outputs, padded_batch):
    mask = padded_batch["attention_mask"]
    got = pool(outputs, mask, "mean")
    for b in range(mask.size(0)):
        length = int(mask[b].sum())
        torch.testing.assert_close(got[b], outputs["last_hidden_state"][b, :length].mean(0))
    assert mask.sum(1).unique().numel() > 1  # the batch really is padded


def test_mean_by_hand_on_small_numbers():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])  # the third token is padding
    got = pool({"last_hidden_state": hidden, "pooler_output": None}, torch.tensor([[1, 1, 0]]), "mean")
    torch.testing.assert_close(got, torch.tensor([[2.0, 3.0]]))


def test_unknown_pooling_is_an_error(outputs, padded_batch):
    with pytest.raises(ValueError):
        pool(outputs, padded_batch["attention_mask"], "max")
