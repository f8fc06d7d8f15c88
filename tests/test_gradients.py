"""Per-task gradient norms on the shared encoder: the same numbers as a plain backward pass."""

import math

import torch

from mtl_lib.batches import train_loader
from mtl_lib.gradients import task_gradient_norms
from mtl_lib.model import HeadConfig, MultitaskBert, task_loss
from mtl_lib.tokenizer import load_tokenizer


def test_norms_and_cosines_match_a_plain_backward(data_dir):
    from mtl_lib.data import load_task

    frames = {t: load_task(t, "train", data_dir).head(8) for t in ("sst", "sts")}
    tok = load_tokenizer("all-MiniLM-L6-v2")
    torch.manual_seed(0)
    model = MultitaskBert.from_pretrained(HeadConfig(dropout=0.0, sts_head="cosine", pair_features="concat"))
    before = [p.detach().clone() for p in model.parameters()]
    table = task_gradient_norms(model, tok, frames, batch_size=4, batches=1, max_length=32)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # weights untouched
    expected = {}
    for i, (task, df) in enumerate(frames.items()):  # the same first batch, by hand
        batch, labels = next(iter(train_loader(task, df, tok, 4, 32, 0 + i)))
        model.zero_grad()
        task_loss(task, model(task, batch), labels).backward()
        expected[task] = torch.cat([p.grad.reshape(-1) for p in model.encoder.parameters() if p.grad is not None])
    for task in frames:
        assert math.isclose(table.loc[0, f"norm_{task}"], float(expected[task].norm()), rel_tol=1e-4)
    cosine = torch.nn.functional.cosine_similarity(expected["sst"], expected["sts"], dim=0)
    assert math.isclose(table.loc[0, "cos_sst_sts"], float(cosine), abs_tol=1e-4)
