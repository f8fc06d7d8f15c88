"""Exercise smart_regularizer: the perturbation and the divergence, on a model simple enough to work out by hand.

The stand-in model sums the word embeddings of each sentence, so its output
moves by exactly the sum of the perturbation. The symmetric KL is another
exercise, so it is replaced by a reference here.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import mtl_lib.smart
from mtl_lib.smart import smart_regularizer

B, T, H = 256, 4, 8


def _reference_symmetric_kl(p, q):
    p_log, q_log = p.float().log_softmax(-1), q.float().log_softmax(-1)
    return (F.kl_div(q_log, p_log, log_target=True, reduction="none").sum(-1)
            + F.kl_div(p_log, q_log, log_target=True, reduction="none").sum(-1)).mean()


@pytest.fixture(autouse=True)
def reference_kl(monkeypatch):
    monkeypatch.setattr(mtl_lib.smart, "symmetric_kl", _reference_symmetric_kl)


class SumModel(nn.Module):
    """``model(task, batch, word_embeds)`` like MultitaskBert; sts: the sum of all embedding entries."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Module()
        self.encoder.embeddings = nn.Module()
        self.encoder.embeddings.word = nn.Embedding(50, H)
        self.sst = nn.Linear(H, 5)
        self.calls = []

    def forward(self, task, batch, word_embeds=None):
        if word_embeds is None:
            word_embeds = self.encoder.embeddings.word(batch["input_ids"])
        self.calls.append(word_embeds.detach())
        pooled = word_embeds.sum(1)  # (B, H)
        return self.sst(pooled) if task == "sst" else pooled.sum(-1)


@pytest.fixture
def setup():
    torch.manual_seed(0)
    model = SumModel()
    batch = {"input_ids": torch.randint(0, 50, (B, T)), "attention_mask": torch.ones(B, T, dtype=torch.long)}
    return model, batch


@pytest.mark.parametrize("task", ["sts", "sst"])
def test_no_perturbation_gives_zero(setup, task):
    model, batch = setup
    assert smart_regularizer(model, task, batch, model(task, batch), sigma=0.0).item() == pytest.approx(0, abs=1e-10)


def test_squared_error_of_a_gaussian_perturbation(setup):
    """Output moves by the sum of T*H entries of N(0, sigma^2): expected squared error T*H*sigma^2."""
    model, batch = setup
    sigma = 1e-2
    reg = smart_regularizer(model, "sts", batch, model("sts", batch), sigma=sigma)
    assert 0.75 < reg.item() / (T * H * sigma ** 2) < 1.25
    delta = model.calls[-1] - model.encoder.embeddings.word(batch["input_ids"]).detach()
    assert delta.shape == (B, T, H) and 0.9 * sigma < delta.std().item() < 1.1 * sigma  # on the WORD embeddings


def test_clean_output_is_a_fixed_target_and_parameters_get_gradients(setup):
    model, batch = setup
    clean = model("sts", batch).detach().requires_grad_(True)
    smart_regularizer(model, "sts", batch, clean, sigma=1e-2).backward()
    assert clean.grad is None
    assert model.encoder.embeddings.word.weight.grad is not None


def test_one_ascent_step_moves_every_coordinate_by_the_step_size(setup):
    """The gradient w.r.t. delta is the same for every entry of a sentence, so the per-token
    max-normalised step moves each of the T*H entries by step_size, away from the clean output:
    the output error grows from |s| to |s| + T*H*step_size, s ~ N(0, T*H*sigma^2)."""
    model, batch = setup
    sigma, step = 1e-5, 1e-3
    reg = smart_regularizer(model, "sts", batch, model("sts", batch), sigma=sigma, steps=1, step_size=step,
                            epsilon=1.0)  # a ball too large to matter
    low, high = (T * H * step) ** 2, (T * H * step + 4 * (T * H) ** 0.5 * sigma) ** 2
    assert low * 0.999 < reg.item() < high * 1.001


def test_the_ascent_step_is_projected_onto_the_epsilon_ball(setup):
    """With epsilon between sigma and the step, every entry of delta ends at +-epsilon (on the side
    away from the clean output), so the output error is exactly T*H*epsilon."""
    model, batch = setup
    sigma, step, eps = 1e-5, 1e-3, 1e-4
    reg = smart_regularizer(model, "sts", batch, model("sts", batch), sigma=sigma, steps=1, step_size=step,
                            epsilon=eps)
    delta = model.calls[-1] - model.encoder.embeddings.word(batch["input_ids"]).detach()
    assert delta.abs().max().item() <= eps * 1.01
    assert reg.item() == pytest.approx((T * H * eps) ** 2, rel=0.02)


def test_every_pass_replays_the_given_dropout_state(setup):
    """Given ``dropout_state``, each perturbed pass starts from it: a model whose output depends on
    the random stream (like dropout) then matches the clean pass exactly at sigma = 0."""
    model, batch = setup
    noisy = lambda task, batch, word_embeds=None: model(task, batch, word_embeds) + torch.rand(B)  # noqa: E731
    noisy.encoder = model.encoder
    state = mtl_lib.smart.rng_state("cpu")
    clean = noisy("sts", batch)
    assert smart_regularizer(noisy, "sts", batch, clean, sigma=0.0, dropout_state=state).item() == 0.0
    assert smart_regularizer(noisy, "sts", batch, clean, sigma=0.0).item() > 0


def test_classifier_divergence_is_positive_and_finite(setup):
    model, batch = setup
    reg = smart_regularizer(model, "sst", batch, model("sst", batch), sigma=1e-2)
    assert reg.ndim == 0 and 0 < reg.item() < 1 and torch.isfinite(reg)
