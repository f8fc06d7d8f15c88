"""PCGrad and SMART on hand-worked cases and against slow references."""

import pytest
import torch

from mtl_lib.model import MultitaskBert
from mtl_lib.pcgrad import pcgrad_sum, project_conflicting, reference_project_conflicting
from mtl_lib.smart import binary_logits, divergence, smart_regularizer, symmetric_kl


def test_two_conflicting_gradients_by_hand():
    g1, g2 = torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0])  # g1 . g2 = -1
    p1, p2 = project_conflicting([g1, g2])
    # g1 - (-1 / |g2|^2) g2 = (1, 0) + 0.5 (-1, 1);  g2 - (-1 / |g1|^2) g1 = (-1, 1) + (1, 0)
    torch.testing.assert_close(p1, torch.tensor([0.5, 0.5]))
    torch.testing.assert_close(p2, torch.tensor([0.0, 1.0]))
    assert p1 @ g2 == pytest.approx(0.0) and p2 @ g1 == pytest.approx(0.0)
    update, stats = pcgrad_sum([g1, g2])
    torch.testing.assert_close(update, torch.tensor([0.5, 1.5]))
    assert stats["projected"].item() == 1.0
    assert stats["cosine"][0, 1].item() == pytest.approx(-1 / 2 ** 0.5)


def test_agreeing_gradients_are_left_alone():
    g1, g2 = torch.tensor([1.0, 0.2]), torch.tensor([0.5, 1.0])
    p1, p2 = project_conflicting([g1, g2])
    assert torch.equal(p1, g1) and torch.equal(p2, g2)
    assert pcgrad_sum([g1, g2])[1]["projected"].item() == 0.0


def test_three_tasks_by_hand():
    g1, g2, g3 = torch.tensor([1.0, 0, 0]), torch.tensor([0.0, 1, 0]), torch.tensor([-1.0, 0, 1])
    p1, p2, p3 = project_conflicting([g1, g2, g3])  # only g1 and g3 conflict
    torch.testing.assert_close(p1, torch.tensor([0.5, 0.0, 0.5]))
    torch.testing.assert_close(p2, g2)
    torch.testing.assert_close(p3, torch.tensor([0.0, 0.0, 1.0]))


@pytest.mark.parametrize("seed", range(5))
def test_matches_slow_reference_on_random_vectors(seed):
    torch.manual_seed(seed)
    grads = [torch.randn(1000, dtype=torch.float64) - 0.3 * i for i in range(3)]
    grads[2] = -grads[0] + 0.1 * torch.randn(1000, dtype=torch.float64)  # a strong conflict
    fast = project_conflicting(grads, generator=torch.Generator().manual_seed(seed))
    replay = torch.Generator().manual_seed(seed)  # the same random visiting orders
    orders = [torch.randperm(3, generator=replay).tolist() for _ in range(3)]
    slow = reference_project_conflicting(grads, orders)
    for a, b in zip(fast, slow):
        torch.testing.assert_close(a, b)
    update, _ = pcgrad_sum(grads, generator=torch.Generator().manual_seed(seed))
    torch.testing.assert_close(update, sum(slow))


def test_projection_uses_original_gradients():
    """Order matters only through the ORIGINAL gradients: g1 is projected on g2 and g3 as given."""
    g1, g2, g3 = torch.tensor([1.0, 1.0]), torch.tensor([-1.0, 0.0]), torch.tensor([0.0, -1.0])
    p1 = project_conflicting([g1, g2, g3], generator=torch.Generator().manual_seed(0))[0]
    # after removing the g2 part, (0, 1) still conflicts with g3 -> (0, 0); either order ends at 0
    torch.testing.assert_close(p1, torch.zeros(2))


def test_symmetric_kl_hand_cases():
    p = torch.tensor([[2.0, 0.0, -1.0]])
    assert symmetric_kl(p, p).item() == pytest.approx(0.0, abs=1e-7)
    q = torch.tensor([[0.0, 1.0, 0.5]])
    assert symmetric_kl(p, q).item() == pytest.approx(symmetric_kl(q, p).item())
    # two classes by hand: P = (0.5, 0.5), Q = sigmoid(log 3) = (0.25, 0.75)
    expected = 0.5 * torch.log(torch.tensor(0.5 / 0.25)) + 0.5 * torch.log(torch.tensor(0.5 / 0.75)) \
        + 0.25 * torch.log(torch.tensor(0.25 / 0.5)) + 0.75 * torch.log(torch.tensor(0.75 / 0.5))
    got = divergence("para", torch.tensor([0.0]), torch.tensor([torch.log(torch.tensor(3.0)).item()]))
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)
    assert torch.allclose(binary_logits(torch.tensor([0.3])).softmax(-1)[0, 1], torch.sigmoid(torch.tensor(0.3)))
    assert divergence("sts", torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0])).item() == pytest.approx(2.0)


@pytest.fixture(scope="module")
def model_and_batches(tokenizer):
    model = MultitaskBert.from_pretrained().eval()  # eval: no dropout, so only delta changes the output
    single = tokenizer(["a fine , moving film", "dull and long"])
    pair = tokenizer(["a man plays guitar", "how do I learn?", "a man is playing", "how to learn fast?"])
    return model, {"sst": single, "para": pair, "sts": pair}


@pytest.mark.parametrize("task", ["sst", "para", "sts"])
def test_zero_perturbation_gives_zero_and_gradients_flow(task, model_and_batches):
    model, batches = model_and_batches
    batch = batches[task]
    clean = model(task, batch)
    assert smart_regularizer(model, task, batch, clean, sigma=0.0).item() == pytest.approx(0.0, abs=1e-9)
    model.zero_grad()
    reg = smart_regularizer(model, task, batch, clean, sigma=1e-2)
    assert reg.item() > 0
    reg.backward()
    assert model.encoder.layers[0].ffn_in.weight.grad.abs().sum() > 0


def test_ascent_step_increases_the_divergence(model_and_batches):
    model, batches = model_and_batches
    batch = batches["sst"]
    clean = model("sst", batch)
    torch.manual_seed(0)
    random = smart_regularizer(model, "sst", batch, clean, sigma=1e-3).item()
    torch.manual_seed(0)
    ascent = smart_regularizer(model, "sst", batch, clean, sigma=1e-3, steps=1, step_size=1e-2,
                                epsilon=1e-2).item()  # a ball large enough for the step
    assert ascent > random


def test_benchmark_produces_its_table(tmp_path, data_dir):
    """The benchmark runs every section and reports every figure (timings are not asserted:
    they are measured by `python -m mtl_lib.bench` and reported in the closing notes)."""
    import json

    from mtl_lib import bench

    out = tmp_path / "bench.json"
    assert bench.main(["--size", "smoke", "--data-dir", str(data_dir), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    figures = [r["figure"] for r in result["rows"]]
    fast = 2 + 2 * len(bench.CONTENDERS) + 3  # GEMM rates, a time and a token line per contender, 3 shares
    assert len(figures) == fast + 10 and figures[0].startswith("large GEMM") and figures[fast].startswith("training step")
    assert sum("inference" in f for f in figures) == 2 and figures[-2].startswith("frozen baseline")
    assert [s["step"] for s in result["multitask_steps"]] == list(bench.VARIANTS)
    assert all(r["ours"] > 0 for r in result["rows"])
    assert all(r["met"] in (True, False) for r in result["rows"] if r["goal"] not in (None, "reported"))


def test_benchmark_rejects_an_unknown_section(capsys):
    from mtl_lib import bench

    with pytest.raises(SystemExit):
        bench.main(["--only", "train_step,warp_drive"])
    assert "warp_drive" in capsys.readouterr().err


def test_matmul_flops_of_one_layer_by_hand():
    from mtl_lib.bench import matmul_flops
    from mtl_lib.bert import BertConfig

    c = BertConfig(hidden_size=4, intermediate_size=8, num_hidden_layers=1, num_attention_heads=2)
    # B=1, T=2: projections 2*2*4*(12+4+16) = 512, attention 2*2*1*2*2*4 = 64, pooler 2*1*4*4 = 32
    assert matmul_flops(c, 1, 2) == 512 + 64 + 32
