"""The hidden grading tests: plumbing and independent references.

Each file ``test_<exercise>.py`` grades one exercise of
``mtl_lib.classroom.EXERCISES`` against an implementation that does not come
from the course (PyTorch, Hugging Face ``transformers``, or numbers worked
out by hand). In the ordinary ``pytest`` run they check the reference
solutions; ``python -m mtl_lib.classroom grade PATH`` runs them on a
student's copy, setting two variables:

* ``MTL_GRADE_EXPECT`` - the student's folder: refuse to grade any other
  ``mtl_lib`` (e.g. the instructor's, if the import path were wrong);
* ``MTL_GRADE_REPORT`` - a file that receives one JSON line per test phase.

Tests of one exercise must not depend on another exercise, or a student who
solved one part would lose its points for a part they did not: the fixtures
below stand in for the other exercises with reference code.
"""

import json
import math
import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import mtl_lib  # only the package: a broken module must fail its own tests, not the whole run


def pytest_sessionstart(session):
    expected = os.environ.get("MTL_GRADE_EXPECT")
    graded = Path(mtl_lib.__file__).resolve()
    if expected and not graded.is_relative_to(Path(expected).resolve()):
        pytest.exit(f"grading imported {graded}, not the mtl_lib in {expected}: check PYTHONPATH.", returncode=4)


def _record(test: str, phase: str, outcome: str, report) -> None:
    path = os.environ.get("MTL_GRADE_REPORT")
    if not path:
        return
    message = ""
    if outcome != "passed":
        crash = getattr(report.longrepr, "reprcrash", None)
        lines = str(report.longrepr).strip().splitlines()
        message = crash.message if crash is not None else (lines[-1] if lines else "")
    with open(path, "a") as f:
        f.write(json.dumps({"test": test, "phase": phase, "outcome": outcome, "message": message}) + "\n")


def pytest_runtest_logreport(report):
    _record(report.nodeid, report.when, report.outcome, report)


def pytest_collectreport(report):
    if report.failed:  # e.g. the student's module does not import: every test of the file fails
        _record(report.nodeid, "collect", "failed", report)


def reference_attention(q, k, v, mask=None, dropout=None):
    """Equation 1 with einsum, independent of the course's code; returns (output, weights)."""
    scores = torch.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return torch.einsum("bhqk,bhkd->bhqd", dropout(weights) if dropout is not None else weights, v), weights


def reference_self_attention(module, x, mask=None, output_attentions=False):
    """Multi-head self-attention of ``module``'s weights, head by head, no reshapes shared with the course."""
    B, T, H = x.shape
    nh = module.num_heads
    hs = H // nh
    contexts, weights = [], []
    for h in range(nh):
        part = slice(h * hs, (h + 1) * hs)
        q, k, v = (F.linear(x, lin.weight[part], lin.bias[part]).unsqueeze(1)
                   for lin in (module.query, module.key, module.value))
        context, w = reference_attention(q, k, v, mask)
        contexts.append(context[:, 0])
        weights.append(w[:, 0])
    return torch.cat(contexts, dim=-1), (torch.stack(weights, dim=1) if output_attentions else None)


@pytest.fixture
def reference_sdpa(monkeypatch):
    """Replace the course's scaled_dot_product_attention (another exercise) by the reference."""
    import mtl_lib.attention

    monkeypatch.setattr(mtl_lib.attention, "scaled_dot_product_attention", reference_attention)


@pytest.fixture
def reference_mhsa(monkeypatch):
    """Replace MultiHeadSelfAttention.forward (another exercise) by the reference."""
    import mtl_lib.attention

    monkeypatch.setattr(mtl_lib.attention.MultiHeadSelfAttention, "forward", reference_self_attention)


@pytest.fixture
def self_attention_by_hand():
    """``reference_self_attention`` for tests that compare against it."""
    return reference_self_attention


@pytest.fixture(scope="session")
def padded_batch(tokenizer):
    """Three sentences of different lengths: the shorter ones padded."""
    return tokenizer(["the movie was a delight from start to finish .", "dull .",
                      "how do i learn to play the guitar quickly ?"])


@pytest.fixture(scope="session")
def reference_outputs(reference_bert, padded_batch):
    """transformers.BertModel on the padded batch: hidden states per layer, attentions, pooler."""
    with torch.no_grad():
        return reference_bert(**padded_batch, output_hidden_states=True, output_attentions=True)


@pytest.fixture(scope="session")
def minbert():
    """The course's minBERT with the embedded weights (loading is not an exercise)."""
    from mtl_lib.bert import BertModel

    return BertModel.from_pretrained("all-MiniLM-L6-v2").eval()
