"""The schedule arithmetic (mtl_lib.schedule): the optimizer's parameter groups and the phases' steps."""

import pytest

from mtl_lib import schedule
from mtl_lib.train import TrainConfig
from test_features import tiny_model


@pytest.mark.parametrize("decay", [1.0, 0.5])
def test_parameter_groups_cover_every_trainable_parameter_once_and_decay_only_matrices(decay):
    model = tiny_model()
    model.encoder.embeddings.requires_grad_(False)  # frozen parameters are left out
    cfg = TrainConfig(lr=1e-4, head_lr=1e-3, weight_decay=0.01, layer_decay=decay)
    groups = schedule.parameter_groups(model, cfg)
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters() if p.requires_grad)
    assert all((g["weight_decay"] == 0.01) == all(p.ndim >= 2 for p in g["params"]) for g in groups if g["params"])
    heads = {id(p) for p in model.heads.parameters()}
    assert {g["lr"] for g in groups if any(id(p) in heads for p in g["params"])} == {1e-3}
    top = model.encoder.layers[-1].ffn_in.weight
    assert next(g["lr"] for g in groups if any(p is top for p in g["params"])) == 1e-4


def test_sequential_phases_follow_the_order_every_epoch():
    cfg = TrainConfig(method="sequential", order=("sts", "sst", "para"), epochs=2, batch_size=4)
    sizes = {"sst": 8, "para": 10, "sts": 4}
    assert schedule.phase_steps(sizes, cfg) == [1, 2, 3, 1, 2, 3]
    assert schedule.steps_per_epoch(sizes, cfg) == 6
    summed = TrainConfig(batch_size=4, sampling="equal")
    assert schedule.steps_per_epoch(sizes, summed) == 3  # the largest task shown once
