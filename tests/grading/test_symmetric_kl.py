"""Exercise symmetric_kl: KL(p||q) + KL(q||p), against F.kl_div and by hand."""

import math

import pytest
import torch
import torch.nn.functional as F

from mtl_lib.smart import symmetric_kl


def test_hand_worked_two_classes():
    p, q = torch.tensor([[0.0, 0.0]]), torch.tensor([[0.0, math.log(3.0)]])  # (1/2, 1/2) and (1/4, 3/4)
    expected = (0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
                + 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5))
    assert symmetric_kl(p, q).item() == pytest.approx(expected, rel=1e-5)


def test_matches_kl_div_and_is_a_batch_mean():
    torch.manual_seed(0)
    p, q = torch.randn(4, 5), torch.randn(4, 5)
    p_log, q_log = p.log_softmax(-1), q.log_softmax(-1)
    per_row = (F.kl_div(q_log, p_log, log_target=True, reduction="none").sum(-1)
               + F.kl_div(p_log, q_log, log_target=True, reduction="none").sum(-1))
    got = symmetric_kl(p, q)
    assert got.shape == ()
    torch.testing.assert_close(got, per_row.mean())


def test_zero_for_equal_and_symmetric_and_shift_invariant():
    p, q = torch.tensor([[2.0, -1.0, 0.5]]), torch.tensor([[0.0, 1.0, 0.0]])
    assert symmetric_kl(p, p).item() == pytest.approx(0.0, abs=1e-7)
    assert symmetric_kl(p, q).item() == pytest.approx(symmetric_kl(q, p).item(), rel=1e-6)
    assert symmetric_kl(p + 10, q).item() == pytest.approx(symmetric_kl(p, q).item(), rel=1e-5)


def test_half_precision_logits_give_a_float32_result():
    p, q = torch.tensor([[2.0, -1.0]], dtype=torch.bfloat16), torch.tensor([[0.0, 1.0]], dtype=torch.bfloat16)
    got = symmetric_kl(p, q)
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(symmetric_kl(p.float(), q.float()).item(), rel=1e-6)
