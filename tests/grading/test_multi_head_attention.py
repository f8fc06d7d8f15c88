"""Exercise multi_head_attention: MultiHeadSelfAttention.forward on the embedded checkpoint.

References: a head-by-head computation with the checkpoint's weights, and the
attention weights of transformers.BertModel. Equation 1 itself is another
exercise, so the course's scaled_dot_product_attention is replaced by a
reference here (fixture ``reference_sdpa``).
"""

import pytest
import torch

pytestmark = pytest.mark.usefixtures("reference_sdpa")


def _first_layer(minbert, implementation):
    attention = minbert.layers[0].attention
    attention.implementation = implementation
    return attention


@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
def test_context_matches_head_by_head_computation(minbert, reference_outputs, padded_batch, implementation,
                                                  self_attention_by_hand):
    x = reference_outputs.hidden_states[0]  # the embeddings, (B, T, H)
    mask = padded_batch["attention_mask"].bool()[:, None, None, :]
    attention = _first_layer(minbert, implementation)
    with torch.no_grad():
        context, probs = attention(x, mask)
        expected, _ = self_attention_by_hand(attention, x, mask)
    assert context.shape == x.shape and probs is None
    torch.testing.assert_close(context, expected, atol=1e-5, rtol=1e-4)


def test_attention_weights_match_transformers(minbert, reference_outputs, padded_batch):
    x = reference_outputs.hidden_states[0]
    mask = padded_batch["attention_mask"].bool()[:, None, None, :]
    with torch.no_grad():
        _, probs = _first_layer(minbert, "sdpa")(x, mask, output_attentions=True)
    torch.testing.assert_close(probs, reference_outputs.attentions[0], atol=1e-5, rtol=1e-4)


def test_a_padded_sentence_reads_only_its_real_tokens(minbert, reference_outputs, padded_batch):
    x = reference_outputs.hidden_states[0][1:2]  # "dull ." in the padded batch
    length = int(padded_batch["attention_mask"][1].sum())
    mask = padded_batch["attention_mask"][1:2].bool()[:, None, None, :]
    attention = _first_layer(minbert, "sdpa")
    with torch.no_grad():
        padded, _ = attention(x, mask)
        alone, _ = attention(x[:, :length], None)
    torch.testing.assert_close(padded[:, :length], alone, atol=1e-5, rtol=1e-4)
