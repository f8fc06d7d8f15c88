"""Run configuration has one home: the command line's options come from the dataclasses, the dataclasses'
defaults are the course recipe, and the library never calls its own command line."""

import ast
import dataclasses
from pathlib import Path

import pytest

from mtl_lib import cli, experiment, options
from mtl_lib.model import HeadConfig
from mtl_lib.train import TrainConfig

PACKAGE = Path(options.__file__).parent


def train_actions() -> dict:
    """dest -> argparse action of the train command, as the command line builds it."""
    sub = next(a for a in cli.build_parser()._actions if a.dest == "command")
    return {a.dest: a for a in sub.choices["train"]._actions}


def test_every_field_is_an_option_with_the_fields_default_and_choices():
    actions = train_actions()
    parsed = vars(cli.build_parser().parse_args(["train", "--out", "x"]))  # defaults as the command reads them
    for f in dataclasses.fields(HeadConfig) + dataclasses.fields(TrainConfig):
        if f.name in options.NOT_OPTIONS:
            assert f.name not in actions
            continue
        action = actions[f.name]
        assert action.option_strings[-1] in ("--" + f.name.replace("_", "-"), "--no-" + f.name.replace("_", "-"))
        default = options.field_default(f)
        if f.name in options.RECIPES["course"] or f.name in options.FROM_SCALE:
            assert parsed[f.name] is None  # filled in by the recipe or the scale
        else:
            assert parsed[f.name] == default, f.name
        expected = options.METHODS if f.name == "method" else options.CHOICES.get(f.name)
        assert tuple(action.choices or ()) == tuple(expected or ()), f.name
    # the kept flags of the precision and batching fields
    assert actions["precision"].choices == ("auto", "fp32", "bf16")
    assert set(actions["group_by_length"].option_strings) == {"--group-by-length", "--no-group-by-length"}


def test_an_option_left_out_resolves_to_the_dataclass_default():
    _, head, cfg = options.resolve(options.train_parser().parse_args(["--out", "x", "--scale", "smoke"]))
    scale = options.get_scale("smoke")
    assert head == HeadConfig(checkpoint=scale.checkpoint)
    assert cfg == TrainConfig(epochs=scale.epochs, batch_size=scale.batch_size, max_length=scale.max_length)
    _, _, cfg = options.resolve(options.train_parser().parse_args(
        ["--out", "x", "--weight-decay", "0", "--eval-every", "5", "--smart-step-size", "0.01", "--method", "pcgrad"]))
    assert (cfg.weight_decay, cfg.eval_every, cfg.smart_step_size, cfg.method, cfg.pcgrad) == (0, 5, 0.01, "summed", True)


def test_the_dataclasses_default_to_the_course_recipe():
    head, cfg = HeadConfig(), TrainConfig()
    for key, value in options.RECIPES["course"].items():
        assert getattr(head if hasattr(head, key) else cfg, key) == value, key


def test_no_library_module_imports_the_command_line():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name in ("cli.py", "__main__.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module or ''}.{a.name}".lstrip(".") for a in node.names]
                if any(n in ("cli", "mtl_lib.cli") or n.endswith(".cli") for n in names) or \
                        (node.level and node.module == "cli"):
                    offenders.append(str(path.relative_to(PACKAGE)))
            elif isinstance(node, ast.Import) and any(a.name == "mtl_lib.cli" for a in node.names):
                offenders.append(str(path.relative_to(PACKAGE)))
    assert offenders == []


class Broken(Exception):
    pass


def test_a_failing_run_in_train_or_load_raises_its_own_exception(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise Broken("the real reason")

    monkeypatch.setattr(experiment, "run_experiment", fail)
    with pytest.raises(Broken, match="the real reason"):
        experiment.train_or_load(["train", "--scale", "smoke"], tmp_path / "run")
    with pytest.raises(ValueError, match="not a train command"):
        experiment.run_command(["sweep", "--out", str(tmp_path)])


@pytest.mark.parametrize("method", ["summed", "pcgrad", "sequential"])
def test_train_words_resolve_back_to_the_same_run(method):
    """The sweep launches its runs as train commands: the words written for a run resolve to exactly it,
    every field included (a non-default value of each kind: float, bool, tuple, dict, choice)."""
    scale = dataclasses.replace(options.get_scale("smoke"), max_examples=40)
    head = HeadConfig(checkpoint=scale.checkpoint, dropout=0.25, sts_head="linear", pair_features="concat")
    cfg = options.trainer_config(method, TrainConfig(lr=3.5e-5, epochs=2, batch_size=8, max_length=32,
                                                     smart_lambda=0.0, group_by_length=False,
                                                     order=("sts", "sst", "para"), task_weights={"sts": 0.04},
                                                     steps_per_epoch=7))
    words = options.train_words(method, scale, head, cfg)
    parsed = options.train_parser().parse_args([*words, "--out", "-"])
    assert options.resolve(parsed) == (scale, head, cfg)
    with pytest.raises(ValueError, match="no train command describes it"):
        options.train_words(method, dataclasses.replace(scale, batch_size=3), head, cfg)
