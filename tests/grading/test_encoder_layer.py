"""Exercise encoder_layer: BertLayer.forward against transformers.BertModel and by hand.

Multi-head attention is another exercise, so MultiHeadSelfAttention.forward
is replaced by a reference here (fixture ``reference_mhsa``).
"""

import pytest
import torch
import torch.nn.functional as F

from mtl_lib.bert import BertConfig, BertLayer

pytestmark = pytest.mark.usefixtures("reference_mhsa")


def test_every_layer_matches_transformers(minbert, reference_outputs, padded_batch):
    mask = padded_batch["attention_mask"].bool()[:, None, None, :]
    with torch.no_grad():
        for i, layer in enumerate(minbert.layers):
            out, probs = layer(reference_outputs.hidden_states[i], mask)
            assert probs is None
            torch.testing.assert_close(out, reference_outputs.hidden_states[i + 1], atol=1e-5, rtol=1e-4,
                                       msg=lambda m: f"layer {i}: {m}")


def test_whole_encoder_matches_transformers(minbert, reference_outputs, padded_batch):
    with torch.no_grad():
        out = minbert(**padded_batch, output_attentions=True)
    torch.testing.assert_close(out["last_hidden_state"], reference_outputs.last_hidden_state, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out["attentions"][-1], reference_outputs.attentions[-1], atol=1e-5, rtol=1e-4)


def test_post_norm_by_hand():
    torch.manual_seed(0)
    c = BertConfig(hidden_size=8, num_attention_heads=2, intermediate_size=16, num_hidden_layers=1,
                   hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    layer = BertLayer(c).eval()
    for p in layer.parameters():  # LayerNorm weights away from 1 and 0, so a mix-up shows
        torch.nn.init.normal_(p)
    x = torch.randn(2, 3, 8)
    with torch.no_grad():
        out, _ = layer(x, torch.ones(2, 1, 1, 3, dtype=torch.bool))
        context, _ = layer.attention(x)

        def norm(t, ln):
            return F.layer_norm(t, (8,), ln.weight, ln.bias, c.layer_norm_eps)

        a = norm(x + context @ layer.attention_output.weight.T + layer.attention_output.bias, layer.attention_norm)
        h = F.gelu(a @ layer.ffn_in.weight.T + layer.ffn_in.bias) @ layer.ffn_out.weight.T + layer.ffn_out.bias
        torch.testing.assert_close(out, norm(a + h, layer.ffn_norm), atol=1e-5, rtol=1e-4)


def test_dropout_is_active_in_training_only():
    torch.manual_seed(0)
    c = BertConfig(hidden_size=8, num_attention_heads=2, intermediate_size=16, num_hidden_layers=1,
                   hidden_dropout_prob=0.5, attention_probs_dropout_prob=0.0)
    layer, x, mask = BertLayer(c), torch.randn(2, 3, 8), torch.ones(2, 1, 1, 3, dtype=torch.bool)
    with torch.no_grad():
        train_out = layer.train()(x, mask)[0]
        first, second = layer.eval()(x, mask)[0], layer(x, mask)[0]
    assert torch.equal(first, second) and not torch.allclose(train_out, first)
