"""The fast path: bf16 autocast where the hardware has it, and length-grouped training batches."""

import pytest
import torch

from mtl_lib import precision
from mtl_lib.batches import LengthGroupedBatches, train_loader
from mtl_lib.data import load_task
from mtl_lib.model import HeadConfig, MultitaskBert
from mtl_lib.smart import rng_state, smart_regularizer
from mtl_lib.batches import collate
from mtl_lib.train import Trainer, TrainConfig


# --- precision ---------------------------------------------------------------------------------
@pytest.mark.parametrize("native, expected", [(True, torch.bfloat16), (False, None)])
def test_auto_picks_bf16_only_on_a_cpu_with_native_bf16(monkeypatch, native, expected):
    monkeypatch.setattr(precision, "native_bf16_cpu", lambda: native)
    assert precision.autocast_dtype("cpu", "auto") == expected
    assert precision.autocast_dtype("cpu", "fp32") is None
    assert precision.autocast_dtype("cpu", "bf16") == torch.bfloat16  # asked for: even if emulated
    assert precision.autocast_dtype("mps", "auto") is None


def test_native_bf16_is_asked_of_torch(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert not precision.native_bf16_cpu()
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert precision.native_bf16_cpu()


def test_a_wrong_precision_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="auto, fp32, bf16"):
        TrainConfig(precision="fp16")
    with pytest.raises(ValueError, match="auto, fp32, bf16"):
        precision.autocast_dtype("cpu", "half")


def test_old_saved_configs_read_as_fp32_random_batches():
    cfg = TrainConfig.from_dict({"epochs": 1, "amp": True})
    assert (cfg.precision, cfg.group_by_length, cfg.epochs) == ("fp32", False, 1)


def test_bf16_matrix_products_keep_losses_and_the_residual_stream_fp32(tokenizer):
    model = MultitaskBert.from_pretrained(HeadConfig(pair_features="rich", sts_head="cosine")).eval()
    batch, _ = collate("sst", load_task("sst", "dev", limit=8), tokenizer, 64)
    with torch.no_grad():
        reference = model.encoder(**batch)["last_hidden_state"]
        with precision.autocast("cpu", torch.bfloat16):
            hidden = model.encoder(**batch)["last_hidden_state"]
    assert hidden.dtype == torch.float32  # the last LayerNorm's input mixes bf16 products into the fp32 stream
    relative = (hidden - reference).norm() / reference.norm()
    assert 1e-4 < relative < 0.03  # bf16 did run (not bit-equal), and stays close


def test_smart_passes_run_in_fp32_so_the_perturbation_survives(tokenizer):
    """At sigma = 1e-5, bf16 rounding inflates R_s by orders of magnitude (rounding flips, not the
    perturbation); the trainer therefore runs SMART's passes in fp32, giving fp32's exact losses."""
    model = MultitaskBert.from_pretrained(HeadConfig(pair_features="rich", sts_head="cosine")).train()
    batch, labels = collate("sst", load_task("sst", "dev", limit=16), tokenizer, 64)
    values = {}
    for dtype in (None, torch.bfloat16):
        torch.manual_seed(0)
        with precision.autocast("cpu", dtype):
            state = rng_state()
            values[dtype] = smart_regularizer(model, "sst", batch, model("sst", batch), 1e-5,
                                              dropout_state=state).item()
    assert 0 < values[None] < 1e-9 and values[torch.bfloat16] > 100 * values[None]

    losses = {}
    for name in ("fp32", "bf16"):
        torch.manual_seed(0)
        model = MultitaskBert.from_pretrained(HeadConfig(pair_features="rich", sts_head="cosine"))
        trainer = Trainer(model, tokenizer, {}, {}, TrainConfig(precision=name, smart_lambda=1e9, sampling="annealed", lr=5e-5), progress=False)
        trainer.model.train()
        losses[name] = trainer.losses({"sst": (batch, labels)})["sst"].item()
    assert losses["fp32"] == losses["bf16"]


# --- length-grouped batches ------------------------------------------------------------------
def rows_of(batches):
    return [row for batch in batches for row in batch]


def test_grouped_batches_cover_every_row_once_with_little_spread():
    lengths = [(i * 37) % 101 for i in range(1000)]
    sampler = LengthGroupedBatches(lengths, 32, torch.Generator().manual_seed(0), pool=10)
    batches = list(sampler)
    assert sorted(rows_of(batches)) == list(range(1000)) and len(batches) == len(sampler) == 32
    assert sum(len(b) < 32 for b in batches) == 1  # only one short batch, as with plain shuffling
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    assert spread < 15  # a random batch of 32 spans nearly the whole 0..100 range


def test_grouped_batches_repeat_for_a_seed_and_change_between_passes():
    lengths = list(range(300))
    first = list(LengthGroupedBatches(lengths, 8, torch.Generator().manual_seed(3)))
    again = LengthGroupedBatches(lengths, 8, torch.Generator().manual_seed(3))
    assert list(again) == first
    assert list(again) != first  # a second pass (a cycled small task) draws a new order
    assert list(LengthGroupedBatches(lengths, 8, torch.Generator().manual_seed(4))) != first


def test_grouping_cuts_padding_on_real_data(tokenizer):
    df = load_task("sts", "dev", limit=320)
    share = {}
    for grouped in (False, True):
        loader = train_loader("sts", df, tokenizer, 16, 128, seed=0, group_by_length=grouped)
        batches = [b for b, _ in loader]
        share[grouped] = sum(int(b["attention_mask"].sum()) for b in batches) / sum(b["input_ids"].numel()
                                                                                   for b in batches)
    assert share[False] < 0.6 and share[True] > 0.8


def test_grouped_batches_shard_across_processes(tokenizer):
    """torchrun: every rank draws the same global batches and keeps its share; the shares make the batch."""
    def sentences(batch):
        return [tuple(ids[mask == 1].tolist()) for ids, mask in zip(batch["input_ids"], batch["attention_mask"])]

    df = load_task("sst", "dev", limit=64)
    whole = [sentences(b) for b, _ in train_loader("sst", df, tokenizer, 8, 64, seed=1, group_by_length=True)]
    shares = [[sentences(b) for b, _ in train_loader("sst", df, tokenizer, 8, 64, seed=1, rank=r, world=2,
                                                     group_by_length=True)] for r in (0, 1)]
    assert len(shares[0]) == len(shares[1]) == len(whole) == 8
    for k, batch in enumerate(whole):
        assert sorted(shares[0][k] + shares[1][k]) == sorted(batch)


def test_benchmark_fast_path_section_compares_the_same_rows(data_dir):
    """`bench --only fastpath`: three contenders over the same rows; the table reports each one's speed-up
    over fp32 random batches and its real-token share, from figures it measured."""
    from mtl_lib import bench, speed

    fast = speed.fastpath(rows=4, batch_size=2, data_dir=data_dir)
    contenders = fast["contenders"]
    assert list(contenders) == list(speed.CONTENDERS) and fast["steps"] == 2
    assert len({c["real_tokens"] for c in contenders.values()}) == 1  # the same rows, however batched
    assert contenders[list(speed.CONTENDERS)[0]]["speedup"] == 1.0
    assert all(c["seconds"] > 0 and 0 < c["real_share"] <= 1 for c in contenders.values())
    shares = speed.real_token_shares(rows=32, batch_size=8, data_dir=data_dir)
    assert all(s["grouped"] >= s["random"] for s in shares.values())
    rows = bench.fastpath_rows(fast, shares)
    assert [r["goal"] for r in rows].count(">= 2.5x") == 1
