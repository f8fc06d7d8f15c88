"""Exercise cosine_sts_head: the STS score 5 * cos(u, v), checked against F.cosine_similarity and by hand."""

import pytest
import torch
import torch.nn.functional as F

from mtl_lib.bert import BertConfig, BertModel
from mtl_lib.model import HeadConfig, MultitaskBert


@pytest.fixture(scope="module")
def model():
    tiny = BertModel(BertConfig(vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=16, max_position_embeddings=16))
    return MultitaskBert(tiny, HeadConfig(sts_head="cosine", head_hidden=4, pair_features="concat")).eval()


def test_matches_cosine_similarity(model):
    torch.manual_seed(0)
    u, v = torch.randn(6, 8), torch.randn(6, 8)
    score = model.head("sts", u, v)
    assert score.shape == (6,)
    torch.testing.assert_close(score, 5 * F.cosine_similarity(u, v, dim=-1))


def test_hand_worked_pairs(model):
    u = torch.tensor([[1.0, 0.0], [1.0, 1.0], [3.0, 4.0], [1.0, 0.0]])
    v = torch.tensor([[1.0, 0.0], [-1.0, -1.0], [4.0, 3.0], [0.0, 2.0]])
    # same direction 5; opposite -5; cos = 24 / 25; orthogonal 0
    torch.testing.assert_close(model.head("sts", u, v), torch.tensor([5.0, -5.0, 5 * 24 / 25, 0.0]))


def test_has_no_parameters_of_its_own(model):
    assert "sts" not in model.heads
    u = torch.randn(3, 8)
    torch.testing.assert_close(model.head("sts", u, 7 * u), torch.full((3,), 5.0))  # scale does not matter
