"""Notebook 09's levers: cross-encoding, in-batch negatives, uncertainty weights, layer-wise lr decay."""

import math

import pytest
import torch
import torch.nn.functional as F

from mtl_lib.contrastive import in_batch_negatives, positives
from mtl_lib.data import load_task
from mtl_lib.model import HeadConfig, MultitaskBert, join_pairs
from mtl_lib.train import Trainer, TrainConfig, layer_rates
from mtl_lib.weighting import UncertaintyWeights

A = ["a man is playing a guitar on the stage tonight", "hi", "the cat"]
B = ["someone plays guitar", "what is going on here, my friend?", "a cat sleeps on the sofa"]


def test_joined_pairs_are_what_the_tokenizer_gives_for_a_pair(tokenizer):
    bi = tokenizer(A + B)  # (2B, T): firsts, then seconds
    joint, _ = join_pairs(bi)
    reference = tokenizer(A, pairs=B)  # [CLS] a [SEP] b [SEP], token types 0 / 1
    for key in reference:
        assert torch.equal(joint[key], reference[key]), key
    embeds = torch.randn(*bi["input_ids"].shape, 4)
    _, moved = join_pairs(bi, embeds)
    b_first = int(bi["attention_mask"][0].sum())  # where pair 0's second sentence starts
    assert torch.equal(moved[0, :b_first], embeds[0, :b_first])  # a's tokens, [CLS] and [SEP] included
    assert torch.equal(moved[0, b_first], embeds[3, 1])  # b's first word piece, its [CLS] dropped


def test_cross_encoded_model_reads_one_joint_pass(tokenizer):
    model = MultitaskBert.from_pretrained(HeadConfig(sts_head="cosine", pair_features="rich",
                                                     cross_encode=("para",))).eval()
    H = model.encoder.config.hidden_size
    assert model.heads["para"][0].in_features == H  # the joint [CLS]..[SEP] vector, not [u; v; |u-v|; u*v]
    batch = tokenizer(A + B)
    out = model("para", batch)
    assert out.shape == (3,)
    joint = tokenizer(A, pairs=B)
    torch.testing.assert_close(out, model.heads["para"](model.embed(joint)).squeeze(-1))
    # SMART's path: the word embeddings of the 2B rows, moved with the tokens, give the same output
    embeds = model.encoder.embeddings.word(batch["input_ids"])
    torch.testing.assert_close(model("para", batch, word_embeds=embeds), out)
    assert model("sts", batch).shape == (3,)  # STS stays a bi-encoder with the cosine head
    with pytest.raises(ValueError, match="cross-encoded"):
        model.head("para", torch.zeros(3, H), torch.zeros(3, H))
    with pytest.raises(ValueError, match="sts_head='linear'"):
        HeadConfig(sts_head="cosine", cross_encode=("sts",))
    with pytest.raises(ValueError, match="only the pair tasks"):
        HeadConfig(cross_encode=("sst",))


def test_in_batch_negatives_is_the_cross_entropy_over_the_batch():
    torch.manual_seed(0)
    u, v = torch.randn(5, 8), torch.randn(5, 8)
    positive = torch.tensor([True, False, True, True, False])
    expected = []
    for i in range(5):  # one row at a time: u_i against every v_j, and v_i against every u_j
        if positive[i]:
            to_v = torch.stack([20 * F.cosine_similarity(u[i], v[j], dim=0) for j in range(5)])
            to_u = torch.stack([20 * F.cosine_similarity(v[i], u[j], dim=0) for j in range(5)])
            expected.append(-(to_v.log_softmax(0)[i] + to_u.log_softmax(0)[i]) / 2)
    torch.testing.assert_close(in_batch_negatives(u, v, positive), torch.stack(expected).mean())
    assert in_batch_negatives(u, v, torch.zeros(5, dtype=torch.bool)).item() == 0.0  # no positives: no loss
    aligned = in_batch_negatives(u, u.clone(), positive)  # each pair's partner is its own best match
    assert aligned < in_batch_negatives(u, v, positive)
    assert positives("sts", torch.tensor([4.0, 3.9, 5.0])).tolist() == [True, False, True]
    assert positives("para", torch.tensor([1.0, 0.0])).tolist() == [True, False]
    with pytest.raises(ValueError, match="pair task"):
        positives("sst", torch.tensor([1]))


def test_uncertainty_weights_gradient_and_balance():
    weights = UncertaintyWeights(["sst", "para", "sts"])
    with torch.no_grad():
        weights.log_vars.copy_(torch.tensor([0.3, -0.2, 1.0]))
    losses = {"sst": torch.tensor(1.6), "para": torch.tensor(0.7), "sts": torch.tensor(3.0)}
    weighted = weights.weigh(losses)
    s = weights.log_vars.detach().clone().requires_grad_()
    objective = sum(torch.exp(-s[i]) * losses[t] + s[i] for i, t in enumerate(weights.tasks))
    objective.backward()
    torch.testing.assert_close(weights.log_vars.grad, s.grad)
    assert weighted["sts"].item() == pytest.approx(math.exp(-1.0) * 3.0)
    optimizer = torch.optim.Adam(weights.parameters(), lr=0.05)
    for _ in range(600):  # constant losses: each weight settles at 1 / L_t
        weights.weigh(losses)
        optimizer.step()
    for task, w in weights.weights().items():
        assert w == pytest.approx(1 / losses[task].item(), rel=0.02), task


def test_layer_rates_decay_from_the_top_and_cover_the_encoder_once():
    model = MultitaskBert.from_pretrained()
    encoder = model.encoder
    rates = layer_rates(encoder, 1e-4, 0.5)
    ids = [id(p) for module, _ in rates for p in module.parameters()]
    assert sorted(ids) == sorted(id(p) for p in encoder.parameters())  # every parameter, once
    by_module = {id(module): lr for module, lr in rates}
    n = len(encoder.layers)
    assert by_module[id(encoder.layers[-1])] == pytest.approx(1e-4)
    assert by_module[id(encoder.layers[0])] == pytest.approx(1e-4 * 0.5 ** (n - 1))
    assert by_module[id(encoder.embeddings)] == pytest.approx(1e-4 * 0.5 ** n)
    assert layer_rates(encoder, 1e-4, 1.0) == [(encoder, 1e-4)]
    with pytest.raises(ValueError, match="layer_decay"):
        TrainConfig(layer_decay=1.5)
    with pytest.raises(ValueError, match="needs method='summed'"):
        TrainConfig(method="sequential", loss_weighting="uncertainty")


def test_the_levers_train_together(data_dir, tokenizer):
    """All four levers in one short run: the weights move, the cross-encoded head learns from the joint pass."""
    train = {t: load_task(t, "train", data_dir, limit=12) for t in ("sst", "para", "sts")}
    dev = {t: load_task(t, "dev", data_dir, limit=12) for t in ("sst", "para", "sts")}
    torch.manual_seed(0)
    model = MultitaskBert.from_pretrained(HeadConfig(sts_head="cosine", pair_features="rich", cross_encode=("para",)))
    cfg = TrainConfig(epochs=1, batch_size=4, max_length=32, train_eval_examples=0, sampling="equal",
                      loss_weighting="uncertainty", layer_decay=0.8, contrastive=1.0, history_every=1, lr=5e-5)
    trainer = Trainer(model, tokenizer, train, dev, cfg, progress=False)
    before = model.heads["para"][0].weight.detach().clone()
    history = trainer.fit()
    assert trainer.step == 3 and not torch.equal(before, model.heads["para"][0].weight)
    assert {"weight_sst", "weight_para", "weight_sts"} <= set(trainer.loss_history[-1])
    assert trainer.weighting.weights()["sst"] != 1.0
    assert 0 <= history["dev_para_acc"].iloc[-1] <= 1
    rates = sorted({g["initial_lr"] for g in trainer.optimizer.param_groups})  # before the schedule
    assert rates[0] == pytest.approx(cfg.lr * 0.8 ** 6)  # the embeddings; the heads and weights are above


def test_task_weights_scale_each_task_loss(data_dir, tokenizer):
    """--task-weights sts=0.04 is the STS squared error on the 0..1 scale: (5c - y)^2 / 25 = (c - y/5)^2."""
    from mtl_lib.cli import build_parser

    train = {"sts": load_task("sts", "train", data_dir, limit=8)}
    model = MultitaskBert.from_pretrained(HeadConfig(sts_head="cosine", pair_features="concat")).eval()
    plain = Trainer(model, tokenizer, train, {}, TrainConfig(batch_size=8, precision="fp32", sampling="annealed", lr=5e-5), progress=False)
    weighted = Trainer(model, tokenizer, train, {}, TrainConfig(batch_size=8, precision="fp32", task_weights={"sts": 0.04}, sampling="annealed", lr=5e-5),
                       progress=False)
    batch = next(iter(plain.loaders(0, {"sts": 8})["sts"]))
    with torch.no_grad():
        a, b = plain.losses({"sts": batch})["sts"], weighted.losses({"sts": batch})["sts"]
        cos = model("sts", batch[0]) / 5
    torch.testing.assert_close(b, 0.04 * a)
    torch.testing.assert_close(b, F.mse_loss(cos, batch[1] / 5))
    assert build_parser().parse_args(["train", "--task-weights", "sst=2,sts=0.04", "--out", "x"]).task_weights == \
        {"sst": 2.0, "sts": 0.04}
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--task-weights", "quora=2", "--out", "x"])
    with pytest.raises(ValueError, match="task_weights"):
        TrainConfig(task_weights={"sts": 0})


def test_task_weights_multiply_the_whole_objective_of_their_task(data_dir, tokenizer):
    """--task-weights para=W scales Quora's loss AND its SMART and contrastive terms: with them on, the
    weighted task's objective is exactly W times the unweighted one (and the help says so)."""
    from mtl_lib.cli import build_parser

    train = {"para": load_task("para", "train", data_dir, limit=8)}
    model = MultitaskBert.from_pretrained(HeadConfig(pair_features="rich", sts_head="linear")).eval()  # eval: no dropout
    terms = dict(batch_size=8, precision="fp32", contrastive=100.0, smart_lambda=1.0)  # a contrastive term to see
    plain, objective, weighted = (Trainer(model, tokenizer, train, {}, TrainConfig(**cfg), progress=False) for cfg in
                                  (dict(batch_size=8, precision="fp32"), terms, dict(terms, task_weights={"para": 0.25})))
    batch = next(iter(plain.loaders(0, {"para": 8})["para"]))
    losses = []
    for trainer in (plain, objective, weighted):
        torch.manual_seed(0)  # SMART's perturbation: the same draw for each
        with torch.no_grad():
            losses.append(trainer.losses({"para": batch})["para"])
    loss, whole, scaled = losses
    assert whole - loss > 1e-4  # the contrastive (and SMART) terms are part of the objective
    torch.testing.assert_close(scaled, 0.25 * whole)  # ... and are weighted with the loss
    assert abs(scaled - (0.25 * loss + (whole - loss))) > 1e-4  # not the head's loss alone
    help_text = next(a.help for a in build_parser()._subparsers._group_actions[0].choices["train"]._actions
                     if "--task-weights" in a.option_strings)
    assert "whole objective" in help_text and "SMART" in help_text and "contrastive" in help_text


def test_contrastive_adds_its_weighted_loss_to_the_pair_task(data_dir, tokenizer):
    """Trainer.losses with --contrastive W is the head's loss plus W x L_con of the same pass."""
    train = {"para": load_task("para", "train", data_dir, limit=8)}
    model = MultitaskBert.from_pretrained(HeadConfig(pair_features="rich", sts_head="linear")).eval()  # eval: no dropout
    plain = Trainer(model, tokenizer, train, {}, TrainConfig(batch_size=8, sampling="annealed", lr=5e-5), progress=False)
    contrast = Trainer(model, tokenizer, train, {}, TrainConfig(batch_size=8, contrastive=0.5, sampling="annealed", lr=5e-5), progress=False)
    batch = next(iter(plain.loaders(0, {"para": 8})["para"]))
    with torch.no_grad():
        a, b = plain.losses({"para": batch})["para"], contrast.losses({"para": batch})["para"]
        u, v = model.embed(batch[0]).chunk(2)
    expected = 0.5 * in_batch_negatives(u, v, positives("para", batch[1]))
    assert expected > 0
    torch.testing.assert_close(b - a, expected)


def test_beyond_rows_are_the_course_recipe_plus_their_flags():
    from mtl_lib import reproduce

    course = reproduce.CONFIGS["rich"]
    for row in reproduce.TABLES["beyond"][1:]:
        assert reproduce.CONFIGS[row.config] == course + reproduce.lever_flags(row.label)
        assert reproduce.lever_flags(row.label)  # each row adds something
    assert reproduce.lever_flags("+ layer-wise lr decay 0.9") == ["--layer-decay", "0.9"]


def test_uncertainty_weights_refuse_torchrun(data_dir, tokenizer, monkeypatch):
    from mtl_lib import distributed

    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    train = {"sst": load_task("sst", "train", data_dir, limit=4)}
    with pytest.raises(ValueError, match="one process"):
        Trainer(MultitaskBert.from_pretrained(), tokenizer, train, {}, TrainConfig(loss_weighting="uncertainty", sampling="annealed", lr=5e-5),
                progress=False)
