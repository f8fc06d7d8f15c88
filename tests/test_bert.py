"""minBERT against Hugging Face transformers.BertModel on the same real weights."""

import pytest
import torch

from mtl_lib.attention import MultiHeadSelfAttention, scaled_dot_product_attention
from mtl_lib.bert import BertConfig, BertModel
from mtl_lib.data import load_task

TOL = 1e-5


@pytest.fixture(scope="module")
def sentence_batches(data_dir, tokenizer):
    """Padded batches of real sentences: SST singles and STS pairs, very different lengths."""
    sst = load_task("sst", "dev", data_dir=data_dir, limit=24)
    sts = load_task("sts", "dev", data_dir=data_dir, limit=16)
    sst_sorted = sst.sentence.tolist()
    return [
        tokenizer(sst_sorted[:12], max_length=128),
        tokenizer(sst_sorted[12:], max_length=128),
        tokenizer(sts.sentence1.tolist(), pairs=sts.sentence2.tolist(), max_length=128),
    ]


@pytest.mark.parametrize("implementation", ["eager", "sdpa"])
def test_matches_transformers(implementation, sentence_batches, reference_bert):
    model = BertModel.from_pretrained("all-MiniLM-L6-v2", attn_implementation=implementation)
    for batch in sentence_batches:
        assert (batch["attention_mask"] == 0).any(), "each batch must contain padding"
        with torch.inference_mode():
            ours = model(**batch)
            ref = reference_bert(**batch)
        real = batch["attention_mask"].bool()
        diff = (ours["last_hidden_state"] - ref.last_hidden_state)[real].abs().max().item()
        assert diff < TOL, f"{implementation}: last_hidden_state differs by {diff:.2e}"
        diff = (ours["pooler_output"] - ref.pooler_output).abs().max().item()
        assert diff < TOL, f"{implementation}: pooler_output differs by {diff:.2e}"


def test_attention_probabilities_match_transformers(sentence_batches, reference_bert):
    model = BertModel.from_pretrained("all-MiniLM-L6-v2")
    batch = sentence_batches[0]
    with torch.inference_mode():
        ours = model(**batch, output_attentions=True)["attentions"]
        ref = reference_bert(**batch, output_attentions=True).attentions
    assert len(ours) == model.config.num_hidden_layers == len(ref)
    B, T = batch["input_ids"].shape
    for layer, (a, b) in enumerate(zip(ours, ref)):
        assert a.shape == (B, model.config.num_attention_heads, T, T)
        assert torch.allclose(a, b, atol=TOL), f"layer {layer} attention differs"
        # padding keys get (numerically) zero weight; every row sums to one
        assert a.masked_select(~batch["attention_mask"].bool()[:, None, None, :]).abs().max() < 1e-6
        torch.testing.assert_close(a.sum(-1), torch.ones(B, a.size(1), T))


def test_attention_paths_agree_with_torch_sdpa():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 4) for _ in range(3))
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]).bool()[:, None, None, :]
    out, probs = scaled_dot_product_attention(q, k, v, mask)
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(out, ref)
    assert probs[0, :, :, 3:].abs().max() == 0
    mha = MultiHeadSelfAttention(12, 3, dropout=0.0).eval()
    x = torch.randn(2, 5, 12)
    fast, none = mha(x, mask)
    slow, p = mha(x, mask, output_attentions=True)
    assert none is None and p.shape == (2, 3, 5, 5)
    torch.testing.assert_close(fast, slow)


def test_gradients_flow_and_dropout_is_active_in_training(tokenizer):
    model = BertModel.from_pretrained("all-MiniLM-L6-v2").train()
    batch = tokenizer(["a short one", "a somewhat longer sentence here"])
    a = model(**batch)["pooler_output"]
    b = model(**batch)["pooler_output"]
    assert not torch.allclose(a, b), "dropout should make two training passes differ"
    a.sum().backward()
    assert model.embeddings.word.weight.grad is not None
    assert all(p.grad is not None for p in model.layers[0].parameters())


def test_word_embeds_replace_lookup_without_double_counting(tokenizer):
    """Feeding the word embeddings back in gives the same output (SMART relies on this)."""
    model = BertModel.from_pretrained("all-MiniLM-L6-v2")
    batch = tokenizer(["the same sentence", "and another"])
    with torch.inference_mode():
        plain = model(**batch)["last_hidden_state"]
        fed = model(**batch, word_embeds=model.embeddings.word(batch["input_ids"]))["last_hidden_state"]
    torch.testing.assert_close(plain, fed)


def test_config_rejects_what_minbert_does_not_implement():
    with pytest.raises(ValueError, match="hidden_act"):
        BertConfig.from_dict({"hidden_act": "relu"}, source="x/config.json")
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadSelfAttention(10, 3)
    with pytest.raises(ValueError, match="positions"):
        small = BertModel(BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=16, max_position_embeddings=4))
        small(torch.ones(1, 6, dtype=torch.long))
