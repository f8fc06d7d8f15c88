"""Exercise scaled_dot_product_attention: Equation 1 against PyTorch's fused kernel."""

import math

import torch
import torch.nn.functional as F
from torch import nn

from mtl_lib.attention import scaled_dot_product_attention


def _qkv(seed, shape=(2, 3, 5, 4)):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=g) for _ in range(3))


def test_output_matches_torch_without_mask():
    q, k, v = _qkv(0)
    out, weights = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), atol=1e-5, rtol=1e-5)
    assert weights.shape == (2, 3, 5, 5)


def test_weights_are_the_scaled_softmax():
    q, k, v = _qkv(1, (1, 2, 3, 16))
    _, weights = scaled_dot_product_attention(q, k, v)
    by_hand = torch.exp(q @ k.transpose(-1, -2) / math.sqrt(16))  # divided by sqrt(head size)
    torch.testing.assert_close(weights, by_hand / by_hand.sum(-1, keepdim=True))
    torch.testing.assert_close(weights.sum(-1), torch.ones(1, 2, 3))


def test_padding_mask_matches_torch_and_gives_zero_weight():
    q, k, v = _qkv(2)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]], dtype=torch.bool)[:, None, None, :]  # (B, 1, 1, T)
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=1e-5, rtol=1e-5)
    assert (weights[1, :, :, 2:] == 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, 5))


def test_full_query_key_mask_matches_torch():
    q, k, v = _qkv(3)
    mask = torch.rand(2, 1, 5, 5, generator=torch.Generator().manual_seed(3)) > 0.5
    mask |= torch.eye(5, dtype=torch.bool)  # every query keeps at least one key
    out, _ = scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=1e-5, rtol=1e-5)


class _Halve(nn.Module):
    def forward(self, x):
        return 0.5 * x


def test_dropout_acts_on_the_weights_not_on_the_returned_probabilities():
    q, k, v = _qkv(4)
    out, weights = scaled_dot_product_attention(q, k, v, dropout=_Halve())
    torch.testing.assert_close(out, 0.5 * F.scaled_dot_product_attention(q, k, v), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, 5))
