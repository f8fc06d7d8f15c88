"""Run configuration in one place: scales, recipes, budgets, the train options and their resolution.

A training run is described three ways that must never disagree: the dataclasses ``HeadConfig``
(``mtl_lib.model``) and ``TrainConfig`` (``mtl_lib.train``), the command line's ``train`` options, and
the configuration record a run writes into its metrics.json. This module derives the second and
the third from the first:

* ``SCALES`` / ``get_scale`` - how big a run is (smoke, laptop, colab, full);
* ``RECIPES`` - presets of the model and training choices; ``course`` is what ``HeadConfig()`` and
  ``TrainConfig()`` default to, so Python and the command line train the same thing;
* ``BUDGETS`` - per scale, the sizes of every kind of run: a notebook's live runs (colab), the
  tables (``reproduce``), the sweep and the SMART-mode runs of notebook 08;
* ``add_train_options`` - one command-line option per user-settable field of the two dataclasses,
  its flag, default and choices read from the field and the constants the dataclasses validate
  against (only the help text is written here);
* ``resolve`` / ``resolved_config`` - parsed options -> (scale, head, training config), and the
  record a run of them writes, without training.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from dataclasses import MISSING, asdict, dataclass, field, fields, replace

from .data import TASKS
from .encode import POOLINGS
from .model import PAIR_FEATURES, STS_HEADS, HeadConfig
from .precision import PRECISIONS
from .train import LOSS_WEIGHTINGS, SAMPLINGS, SCHEDULES, SMART_DROPOUT, SMART_STEPS, TrainConfig


# --- scales ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scale:
    """How big a run is: the checkpoint, the rows per task, the batch, the sequence length, the epochs."""

    name: str
    checkpoint: str  # a known checkpoint name or a folder
    max_examples: int | None  # training rows kept per task (None: all)
    dev_examples: int | None  # dev rows kept per task (None: all)
    batch_size: int
    max_length: int  # tokens per sentence after truncation
    epochs: int
    notes: str = field(default="", compare=False)


SCALES: dict[str, Scale] = {
    "smoke": Scale("smoke", "all-MiniLM-L6-v2", 64, 64, 16, 64, 1,
                   "seconds per notebook: CI and nbval"),
    "laptop": Scale("laptop", "all-MiniLM-L6-v2", 2000, None, 32, 128, 2,
                    "the embedded MiniLM on a laptop's CPU, a few minutes a notebook"),
    "colab": Scale("colab", "bert-base-uncased", 2000, 1000, 32, 128, 1,
                   "bert-base-uncased on one T4 (fp16), each notebook within 15 minutes"),
    "full": Scale("full", "bert-base-uncased", None, None, 32, 128, 10,
                  "bert-base-uncased, all the data, the paper's settings, on a GPU"),
}


def get_scale(scale: str | Scale | None = None) -> Scale:
    """Return the ``Scale`` named by the argument, else ``$MTL_SCALE``, else ``laptop``."""
    if isinstance(scale, Scale):
        return scale
    name = scale or os.environ.get("MTL_SCALE", "laptop")
    if name not in SCALES:
        raise ValueError(
            f"Unknown scale {name!r} (from {'the argument' if scale else 'MTL_SCALE'}); "
            f"choose one of {', '.join(SCALES)}."
        )
    return SCALES[name]


# --- recipes -----------------------------------------------------------------------------------
#: Presets of the model and training choices; ``course`` is the default everywhere (the dataclasses'
#: defaults and the command line's). ``course``: the recipe notebooks 03-05 arrived at, measured best in
#: the README's results (summed loss, cosine STS head, [u; v; |u-v|; u*v] pair features, a batch of every
#: task per step, lr 1e-4 as chosen by notebook 08's sweep). ``paper``: the paper's starting point (its
#: Table 1 summed model): [u; v] pair features, a linear STS head, the pooled [CLS] vector, equal batches
#: of the three tasks; lr 1e-4 and dropout 0.1 are the values its sweep chose (Table 6). Its final model
#: adds --sts-head cosine --method pcgrad --smart-lambda 5.
RECIPES = {
    "course": {"sts_head": "cosine", "pair_features": "rich", "sampling": "equal", "pooling": "mean",
               "lr": 1e-4, "dropout": 0.1},
    "paper": {"sts_head": "linear", "pair_features": "concat", "sampling": "equal", "pooling": "pooler",
              "lr": 1e-4, "dropout": 0.1},
}
#: What a sweep takes from a recipe (it sweeps lr and dropout itself).
SWEEP_RECIPE_KEYS = ("sts_head", "pair_features", "sampling", "pooling")
#: What a run is, as the command line and ``experiment.run_experiment`` name it: the frozen baseline, or
#: one of the Trainer's loops (``train.LOOPS``), or the summed loss with PCGrad.
METHODS = ("baseline", "sequential", "summed", "pcgrad")


def loop_options(method: str) -> dict:
    """The TrainConfig fields a run of ``method`` sets: pcgrad is the summed loop with ``pcgrad=True``; the
    frozen baseline records the summed loop's config (it trains its heads on cached features)."""
    if method not in METHODS:
        raise ValueError(f"method={method!r}; choose one of {', '.join(METHODS)}.")
    if method == "pcgrad":
        return {"method": "summed", "pcgrad": True}
    return {"method": "sequential" if method == "sequential" else "summed"}


def trainer_config(method: str, cfg: TrainConfig) -> TrainConfig:
    """``cfg`` for a run of ``method`` (``loop_options``)."""
    return replace(cfg, **loop_options(method))


# --- budgets -----------------------------------------------------------------------------------
#: Per scale, the sizes of every kind of run that is not the scale's own (scales not listed for a kind keep
#: their own sizes):
#:
#: * ``course`` - every live training run of notebooks 04-09 (the course recipe at one size per scale, so that
#:   one recipe scores one number wherever a student meets it); the laptop tables use the same sizes;
#: * ``small_data`` - notebook 07's over-fitting regime (a few hundred rows, several epochs), where SMART is
#:   meant to help;
#: * ``final`` - notebook 08's final model, the most a scale affords;
#: * ``notebooks`` - colab only: the Scale fields ``setup(notebook=...)`` hands each notebook, sized so that
#:   each notebook's work (``mtl_lib.budgets.NOTEBOOK_WORK``) fits 15 minutes on a T4 by the derived step cost;
#: * ``tables`` - every run of ``reproduce``'s tables, and the seeds per row. Laptop: 512 training rows per
#:   task in steps of 8 rows of every task, one epoch (64 summed steps), 600 dev rows: the 69 runs of ``all`` at
#:   3 seeds took 48 minutes on the 2-core CPU, one job at a time. Fine-tuning draws level with the frozen
#:   encoder with the same heads here and leads from about 2,000 rows (``shipped.fine_tuning_by_rows``), a
#:   budget at which a run trains about three times as long (a summed run: 31 s at 512 rows, 89-98 s at 2,000);
#: * ``sweep`` - every run of ``sweep --budget sweep``. Laptop: the tables' budget, at which the paraphrase head
#:   leaves the majority class (7 steps, the sweep's earlier budget, left it there in 34 of 36 runs); about 2 min
#:   a run on one thread (76 min for the 36). Colab: 36 runs of 8 steps (notebook 08 in ~12 min on a T4, derived).
#:   Full (bert-base on a GPU): 63 steps a run and 1000 dev rows per task, an afternoon's Colab session rather than days;
#: * ``modes`` - colab only: the train flags of notebook 08's SMART-mode runs.
_COURSE = {"smoke": {"max_examples": 48, "dev_examples": 48, "batch_size": 16, "epochs": 1, "lr": 1e-4},
           "laptop": {"max_examples": 512, "dev_examples": 600, "batch_size": 8, "epochs": 1, "lr": 1e-4},
           "colab": {"max_examples": 1024, "dev_examples": 500, "batch_size": 32, "epochs": 1, "lr": 1e-4},
           "full": {"max_examples": 10000, "dev_examples": None, "batch_size": 32, "epochs": 1, "lr": 1e-4}}


def _tables(course: dict) -> dict:
    """The sizes a table's or the sweep's runs take from the course budget (their lr is their recipe's)."""
    return {k: v for k, v in course.items() if k != "lr"}


BUDGETS: dict[str, dict] = {
    "smoke": {"course": _COURSE["smoke"],
              "small_data": {"max_examples": 16, "dev_examples": 32, "batch_size": 8, "epochs": 2, "lr": 1e-4},
              "final": {**_COURSE["smoke"], "max_examples": 64},
              "tables": {**_tables(_COURSE["smoke"]), "seeds": 2}},
    "laptop": {"course": _COURSE["laptop"],
               "small_data": {"max_examples": 192, "dev_examples": 200, "batch_size": 16, "epochs": 3, "lr": 1e-4},
               "final": {"max_examples": 10000, "dev_examples": None, "batch_size": 32, "epochs": 1, "lr": 1e-4},
               "tables": {**_tables(_COURSE["laptop"]), "seeds": 3},
               "sweep": _tables(_COURSE["laptop"])},
    "colab": {"course": _COURSE["colab"],
              "small_data": {"max_examples": 256, "dev_examples": 500, "batch_size": 32, "epochs": 3, "lr": 1e-4},
              "final": {"max_examples": 2000, "dev_examples": 1000, "batch_size": 32, "epochs": 1, "lr": 1e-4},
              # each notebook's Scale at colab: the course budget's rows (07: its small-data regime's)
              "notebooks": {nb: {"max_examples": 256 if nb == "07" else 1024, "dev_examples": 500}
                            for nb in ("04", "05", "06", "07", "09")},
              "tables": {"max_examples": 10000, "dev_examples": None, "batch_size": 32, "epochs": 1, "seeds": 5},
              "sweep": {"max_examples": 256, "dev_examples": 200, "epochs": 1},
              "modes": ["--max-examples", "512", "--dev-examples", "500", "--epochs", "1", "--no-test-predictions"]},
    "full": {"course": _COURSE["full"],
             "small_data": {"max_examples": 256, "dev_examples": 1000, "batch_size": 32, "epochs": 3, "lr": 1e-4},
             "final": {"max_examples": None, "dev_examples": None, "batch_size": 32, "epochs": 10, "lr": 1e-4},
             "tables": {"max_examples": 10000, "dev_examples": None, "batch_size": 32, "epochs": 1, "seeds": 5},
             "sweep": {"max_examples": 2000, "dev_examples": 1000, "epochs": 1}},
}


def budgets(kind: str) -> dict:
    """Scale -> its budget of one kind of run (``BUDGETS``), for the scales that have one."""
    return {scale: kinds[kind] for scale, kinds in BUDGETS.items() if kind in kinds}


def budget(scale: str | Scale | None = None, kind: str = "course") -> dict:
    """The sizes of a ``kind`` of run at ``scale`` (a name, a Scale, or None: ``$MTL_SCALE``): training and dev
    rows per task, rows per task per step, epochs and the encoder's learning rate."""
    name = get_scale(scale).name
    if kind not in BUDGETS[name]:
        raise ValueError(f"no {kind!r} budget at scale {name!r}; kinds: {', '.join(BUDGETS[name])}")
    return dict(BUDGETS[name][kind])


def budget_words(scale: str | Scale | None = None, kind: str = "course") -> list[str]:
    """``budget`` as train-command words: --scale, --max-examples, --dev-examples, --batch-size, --epochs, --lr
    (a size of None, "all rows", is left to the scale)."""
    words = ["--scale", get_scale(scale).name]
    for key, value in budget(scale, kind).items():
        if key != "seeds" and value is not None:
            words += ["--" + key.replace("_", "-"), f"{value:g}" if isinstance(value, float) else str(value)]
    return words


def budget_scale(scale: str | Scale | None = None, kind: str = "course") -> Scale:
    """The scale with the training and dev rows of ``budget`` (what ``data.load_frames`` cuts)."""
    sizes = budget(scale, kind)
    return replace(get_scale(scale), max_examples=sizes["max_examples"], dev_examples=sizes["dev_examples"])


# --- the train options -------------------------------------------------------------------------
def _order(text: str) -> tuple[str, ...]:
    parts = tuple(text.split(","))
    if sorted(parts) != sorted(TASKS):
        raise argparse.ArgumentTypeError(f"{text!r} is not an order of the three tasks, e.g. sst,para,sts")
    return parts


def _task_weights(text: str) -> dict[str, float]:
    weights = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        task, _, value = (x.strip() for x in part.partition("="))
        try:
            weights[task] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r}: write TASK=WEIGHT, e.g. sts=0.04 or sst=2,sts=0.04") from None
        if task not in TASKS or not weights[task] > 0:
            raise argparse.ArgumentTypeError(f"{part!r}: the task must be sst, para or sts and the weight positive")
    return weights


def _tasks(text: str) -> tuple[str, ...]:
    parts = tuple(t for t in TASKS if t in text.split(","))
    if not parts or len(parts) != len(text.split(",")):
        raise argparse.ArgumentTypeError(f"{text!r}: give tasks among sst, para, sts, comma-separated")
    return parts


def _pair_tasks(text: str) -> tuple[str, ...]:
    if not set(text.split(",")) <= {"para", "sts"}:
        raise argparse.ArgumentTypeError(f"{text!r}: only the pair tasks can be cross-encoded: para, sts or para,sts")
    return _tasks(text)


#: The help of each option of a dataclass field (its flag is --field-name; default and choices come from
#: the field). Every field needs one, unless ``NOT_OPTIONS`` says why it is no option (tests/test_options.py).
HELP = {
    # the model (HeadConfig)
    "checkpoint": "all-MiniLM-L6-v2, bert-base-uncased or a folder",
    "pooling": "sentence embedding: [CLS], BERT's pooler, or the mean",
    "pair_features": "pair heads' input: [u; v], or [u; v; |u-v|; u*v]",
    "sts_head": "similarity head: an MLP, or 5 x the cosine of the embeddings",
    "dropout": "dropout of heads and encoder",
    "head_hidden": "width of the task heads' hidden layers",
    "cross_encode": "pair tasks read as one sequence [CLS] a [SEP] b [SEP], e.g. para or para,sts "
                    "(default: none; a cross-encoded sts needs --sts-head linear)",
    # training (TrainConfig)
    "method": "baseline: frozen encoder, heads only; sequential: one task after another; "
              "summed: one loss of all three tasks; pcgrad: the summed loss with gradient surgery",
    "order": "task order of --method sequential",
    "sampling": "examples of each task per summed step",
    "epochs": "passes over the data (baseline: 10)",
    "lr": "encoder learning rate",
    "head_lr": "task heads' learning rate",
    "weight_decay": "AdamW weight decay of the weight matrices (not of biases and LayerNorm)",
    "batch_size": "examples per task per step, in total over all torchrun processes",
    "max_length": "tokens per sentence after truncation",
    "warmup": "warm-up fraction of each schedule stretch",
    "schedule": "learning rate: linear warm-up and decay over the run, restarted in every task "
                "phase (per-phase), or constant (default: per-phase for sequential, else linear)",
    "clip": "max gradient norm (0: off)",
    "seed": "seed of data order, dropout and heads",
    "steps_per_epoch": "summed loss: steps per epoch (default: enough to show the largest task once)",
    "train_eval_examples": "training rows per task scored with dev after each epoch, for the train vs dev "
                           "curves (0: none, which saves time when only the final dev scores matter)",
    "log_every": "steps between progress-bar updates (each one waits for the device)",
    "history_every": "steps per row of the loss history: the mean training loss of each task (0: off)",
    "eval_every": "steps between rows of train and dev scores in the history (0: only at epoch or phase ends)",
    "checkpoint_every": "steps between checkpoints inside an epoch (0: off; one process only)",
    "checkpoint_minutes": "minutes between checkpoints inside an epoch (0: off)",
    "precision": "matrix products in bf16 under autocast (weights, losses and SMART's passes stay "
                 "fp32), or fp32; auto: bf16 on a CPU with native bf16 and on Ampere+ GPUs, fp16 on "
                 "older GPUs, fp32 elsewhere",
    "group_by_length": "training batches of rows of similar length (little padding), in a random order",
    "smart_lambda": "SMART weight (0: off)",
    "smart_sigma": "SMART perturbation std",
    "smart_steps": "0: one random perturbation (the paper); 1: one ascent step",
    "smart_step_size": "ascent step: its size",
    "smart_epsilon": "ascent step: project delta onto ||delta||_inf <= epsilon",
    "smart_dropout": "same: the clean and perturbed passes share dropout masks, so SMART measures the "
                     "perturbation alone; independent: fresh masks, which makes the regularizer a "
                     "dropout-consistency (R-Drop-like) penalty",
    "task_weights": "a constant factor on each task's whole objective: its loss plus its SMART and "
                    "--contrastive terms, e.g. sts=0.04 (the STS squared error on the 0..1 scale instead of "
                    "0..5: 1/5^2, which also cuts STS's SMART and contrastive terms 25x) (default: 1 each)",
    "loss_weighting": "summed loss: plain sum, or task weights learned from each task's uncertainty "
                      "(Kendall et al. 2018)",
    "weighting_lr": "learning rate of those weights",
    "layer_decay": "layer-wise learning-rate decay: each encoder layer learns at this factor times "
                   "the rate of the layer above it (1: off)",
    "contrastive": "weight of the in-batch negatives loss on Quora duplicates and STS pairs scored >= 4 (0: off)",
}
#: Fields that are no option of their own, and why.
NOT_OPTIONS = {"pcgrad": "set by --method pcgrad"}
#: Fields whose default is the scale's (the option's default is None: "the scale's").
FROM_SCALE = ("checkpoint", "epochs", "batch_size", "max_length")
#: Choices of the fields that have a fixed set of values: the constants the dataclasses validate against.
CHOICES = {"method": METHODS, "pooling": POOLINGS, "pair_features": PAIR_FEATURES, "sts_head": STS_HEADS,
           "sampling": SAMPLINGS, "schedule": SCHEDULES, "smart_steps": SMART_STEPS,
           "smart_dropout": SMART_DROPOUT, "loss_weighting": LOSS_WEIGHTINGS, "precision": PRECISIONS}
#: Fields read from text by a parser of their own.
TYPES = {"order": _order, "task_weights": _task_weights, "cross_encode": _pair_tasks, "steps_per_epoch": int}
#: The option groups of ``--help`` (other fields go in the main list).
GROUPS = {"beyond the paper (notebook 09)": ("loss_weighting", "task_weights", "weighting_lr", "layer_decay",
                                             "contrastive", "cross_encode"),
          "speed (the same computation, faster; docs/benchmarks.md)": ("precision", "group_by_length"),
          "bookkeeping (when a run reports and saves, never what it computes)": (
              "log_every", "eval_every", "checkpoint_every", "checkpoint_minutes")}


def shown(value) -> str:
    """A default as help shows it: 0.0001 -> 1e-04, 'cosine' -> cosine."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def recipe_help(key: str, text: str) -> str:
    """``text`` with the option's default under each recipe: 'head (default: cosine; --recipe paper: linear)'."""
    others = "".join(f"; --recipe {name}: {shown(r[key])}" for name, r in RECIPES.items() if name != "course")
    return f"{text} (default: {shown(RECIPES['course'][key])}{others})"


def config_fields() -> list:
    """The fields of HeadConfig and TrainConfig that are command-line options, in that order."""
    return [f for cls in (HeadConfig, TrainConfig) for f in fields(cls) if f.name not in NOT_OPTIONS]


def field_default(f):
    """A dataclass field's default value (its factory's, for a dict or list)."""
    return f.default_factory() if f.default is MISSING else f.default


def add_field_option(parser, f) -> None:
    """The option of dataclass field ``f``: flag --field-name, its default, choices and type from the field."""
    flag, default = "--" + f.name.replace("_", "-"), field_default(f)
    kwargs = {"help": HELP[f.name]}
    if f.name in RECIPES["course"]:
        kwargs.update(default=None, help=recipe_help(f.name, HELP[f.name]))  # apply_recipe fills it in
    elif f.name in FROM_SCALE:
        kwargs.update(default=None, help=HELP[f.name] + " (default: the scale's)")
    elif f.name == "order":
        kwargs["default"] = ",".join(default)
    else:
        kwargs["default"] = default
    if isinstance(default, bool):
        kwargs["action"] = argparse.BooleanOptionalAction
    else:
        kwargs["type"] = TYPES.get(f.name) or (type(default) if default is not None else str)
    if f.name in CHOICES:
        kwargs["choices"] = CHOICES[f.name]
    parser.add_argument(flag, **kwargs)


def add_train_options(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """Every option that shapes one training run: one per field of HeadConfig and TrainConfig (but ``skip``:
    the sweep's grid axes), ``--recipe``, ``--scale`` and the scale's sizes."""
    parser.add_argument("--recipe", choices=list(RECIPES), default="course",
                        help="preset for --sts-head, --pair-features, --sampling, --pooling (and, for train, "
                        "--lr and --dropout): course = the course's measured best recipe, paper = the paper's "
                        "starting configuration; options given explicitly override it")
    parser.add_argument("--scale", choices=list(SCALES), help="how big a run is (default: $MTL_SCALE, else laptop)")
    groups = {name: parser.add_argument_group(name) for name in GROUPS}
    group_of = {key: groups[name] for name, keys in GROUPS.items() for key in keys}
    for f in config_fields():
        if f.name not in skip:
            add_field_option(group_of.get(f.name, parser), f)
    parser.add_argument("--max-examples", type=int, help="training rows per task (default: the scale's)")
    parser.add_argument("--dev-examples", type=int, help="dev rows per task (default: the scale's)")


def add_common(parser, data: bool = True, device: bool = True) -> None:
    """--data-dir, --device and --debug, which every command that reads data or runs a model takes."""
    if data:
        parser.add_argument("--data-dir", help="folder of the CS224N data files (default: $MTL_DATA_DIR, "
                            "else data/, where missing files are downloaded)")
    if device:
        parser.add_argument("--device", help="cpu, cuda, cuda:1 or mps (default: CUDA, then MPS, then CPU)")
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="on an error, show the traceback")


def add_run_options(train: argparse.ArgumentParser) -> None:
    """The train command's options: where the run goes and what it keeps, then every training option."""
    train.add_argument("--out", required=True, help="run folder")
    add_train_options(train)
    train.add_argument("--tasks", type=_tasks, help="train and score only these tasks, e.g. sst or "
                       "para,sts (one task: fine-tuning it alone, the yardstick of multi-task rows; "
                       "default: all three)")
    again = train.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue the run saved in --out from its last epoch (a finished one: score it again)")
    again.add_argument("--force", action="store_true",
                       help="train from scratch even if --out holds a run (deleting it)")
    train.add_argument("--test-predictions", action=argparse.BooleanOptionalAction, default=True,
                       help="write test-set prediction files after training (--no-test-predictions: dev only)")
    train.add_argument("--weights", choices=("all", "final", "none"), default="all",
                       help="what the run keeps of the model: all (checkpoints while training, so it can resume; "
                       "the weights at the end), final (the finished weights only, no checkpoints), none "
                       "(scores, history and predictions only) (default: all)")
    train.add_argument("--keep-optimizer", action="store_true",
                       help="keep the optimizer state once the run has finished (about twice the weights' size; "
                       "only resuming needs it)")
    add_common(train)


class HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless it has none (None, a flag's False) or says it."""

    def _get_help_string(self, action):
        text = action.help or ""
        no_default = action.default is None or action.default is False or action.default is argparse.SUPPRESS
        if "%(default)" not in text and "default:" not in text and action.option_strings and not no_default:
            text += " (default: %(default)s)"
        return text


def train_parser(prog: str = "python -m mtl_lib train") -> argparse.ArgumentParser:
    """The parser of ``python -m mtl_lib train`` (its arguments, without the word ``train``)."""
    parser = argparse.ArgumentParser(prog=prog, formatter_class=HelpFormatter)
    add_run_options(parser)
    return parser


# --- options -> configuration ------------------------------------------------------------------
def apply_recipe(args, keys) -> None:
    """Options not given on the command line (None) take the value of ``--recipe``."""
    for key in keys:
        if getattr(args, key, None) is None:
            setattr(args, key, RECIPES[args.recipe][key])


def resolve(args: argparse.Namespace, scale: Scale | None = None) -> tuple[Scale, HeadConfig, TrainConfig]:
    """Parsed train options -> the scale (with --max-examples / --dev-examples), HeadConfig and TrainConfig
    they describe: the recipe fills what was not given, the scale what is the scale's, and the method
    sets the loop (``trainer_config``). Options a parser lacks (a sweep's grid axes) keep the field default."""
    apply_recipe(args, [k for k in RECIPES[args.recipe] if k in vars(args)])
    scale = scale or get_scale(args.scale)
    sizes = {k: getattr(args, k) for k in ("max_examples", "dev_examples") if getattr(args, k, None)}
    scale = replace(scale, **sizes)
    given = {k: v for k, v in vars(args).items() if v is not None}
    for name in FROM_SCALE:
        given.setdefault(name, getattr(scale, name))
    head = HeadConfig(**{f.name: given[f.name] for f in fields(HeadConfig) if f.name in given})
    cfg = TrainConfig(**{f.name: given[f.name] for f in fields(TrainConfig)
                         if f.name in given and f.name not in ("method", *NOT_OPTIONS)}, **loop_options(args.method))
    return scale, head, cfg


def resolved_config(args: list[str]) -> dict:
    """What ``python -m mtl_lib train ...`` (``args``, starting with ``train``) records as its configuration
    in metrics.json (``records.CONFIG_KEYS``), every option it leaves out at its current default. Trains nothing."""
    if not args or args[0] != "train":
        raise ValueError(f"{' '.join(args)!r} is not a train command: only `python -m mtl_lib train ...` "
                         "records a configuration to compare.")
    parsed = train_parser().parse_args([*args[1:], "--out", "-"])  # where it goes does not change what it computes
    scale, head, cfg = resolve(parsed)
    record = {"method": parsed.method, "tasks": [t for t in TASKS if t in (parsed.tasks or TASKS)],
              "scale_config": asdict(scale), "head_config": head.to_dict(), "train_config": asdict(cfg)}
    return json.loads(json.dumps(record, default=str))  # as metrics.json reads back (tuples become lists)


def option_value(value) -> list[str]:
    """A field's value as the words of its option after the flag ('' for a flag: see ``train_words``)."""
    if isinstance(value, dict):  # task_weights
        return [",".join(f"{task}={weight:g}" for task, weight in value.items())] if value else []
    if isinstance(value, (tuple, list)):  # order, cross_encode
        return [",".join(value)] if value else []
    return [repr(value) if isinstance(value, float) else str(value)]


def train_words(method: str, scale: Scale, head: HeadConfig, cfg: TrainConfig) -> list[str]:
    """The words of ``python -m mtl_lib train`` (after ``train``, without ``--out``) that ``resolve`` turns
    back into exactly this run: every field written out, so no recipe or later default can change it.
    ``scale`` must be a named scale, with at most its training and dev rows changed."""
    named = SCALES.get(scale.name)
    if named is None or replace(named, max_examples=scale.max_examples, dev_examples=scale.dev_examples) != scale:
        raise ValueError(f"scale {scale.name!r} is not one of {', '.join(SCALES)} with at most its max_examples "
                         "and dev_examples changed, so no train command describes it; pass the scale's name "
                         "and set the other sizes on HeadConfig/TrainConfig.")
    words = ["--method", method, "--scale", scale.name]
    for name in ("max_examples", "dev_examples"):
        if getattr(scale, name) is not None:
            words += ["--" + name.replace("_", "-"), str(getattr(scale, name))]
    for f in config_fields():
        if f.name == "method":
            continue
        value = getattr(head if f in fields(HeadConfig) else cfg, f.name)
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            words.append(flag if value else "--no-" + f.name.replace("_", "-"))
        elif value is not None and option_value(value):
            words += [flag, *option_value(value)]
    return words


# --- messages ----------------------------------------------------------------------------------
def option_names(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Python argument name -> command-line flag, over every command: {'data_dir': '--data-dir', ...}."""
    names = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                names.update(option_names(sub))
        elif action.option_strings:
            names[action.dest] = action.option_strings[-1]
    return names


def for_cli(message: str, parser: argparse.ArgumentParser | None = None) -> str:
    """A library message phrased for the command line: ``data_dir=`` -> ``--data-dir``,
    ``lr=0.0`` -> ``--lr 0.0`` (names that are not options stay as they are). ``parser``: whose
    options (default: the train command's)."""
    flags = option_names(parser or train_parser())

    def flag(match: re.Match) -> str:
        name, value = match[1], match[2]
        return match[0] if name not in flags else flags[name] + (f" {value}" if value else "")
    return re.sub(r"(?<![\w.-])([a-z][a-z_]*)=([^\s;,)]*)", flag, message)
