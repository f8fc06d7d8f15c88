"""Command line: ``python -m mtl_lib COMMAND`` (installed also as ``mtl-minbert COMMAND``).

Commands: ``info`` (the environment), ``parity`` (minBERT vs transformers.BertModel), ``train``
(one run: metrics.json, curves.png, a checkpoint and prediction files in ``--out``), ``evaluate``
(re-score a run), ``sweep`` (a grid of runs, one results table and heat-maps) and ``bench``
(speed, the same as ``python -m mtl_lib.bench``).

The defaults of ``train`` and ``sweep`` are the course's measured best recipe (``--recipe
course``); ``--recipe paper`` is the paper's starting configuration; flags given explicitly win
over either. Errors print one line (``--debug``: with the traceback) and exit with 1; wrong
arguments exit with 2 (argparse's usage errors). ``train`` runs data-parallel under ``torchrun
--nproc_per_node N -m mtl_lib train ...`` (see ``mtl_lib.distributed``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import re
import shutil
import sys
import traceback
import warnings
from pathlib import Path

import torch

#: Presets for the options below; ``course`` is the default. ``course``: the recipe notebooks 03-05
#: arrived at, measured best in the README's results (summed loss, cosine STS head, [u; v; |u-v|; u*v]
#: pair features, a batch of every task per step, lr 1e-4 as chosen by notebook 08's sweep).
#: ``paper``: the paper's starting point (its Table 1 summed model): [u; v] pair features, a linear
#: STS head, the pooled [CLS] vector, equal batches of the three tasks; lr 1e-4 and dropout 0.1
#: are the values its sweep chose (Table 6). Its final model adds --sts-head cosine --method pcgrad
#: --smart-lambda 5.
RECIPES = {
    "course": {"sts_head": "cosine", "pair_features": "rich", "sampling": "equal", "pooling": "mean",
               "lr": 1e-4, "dropout": 0.1},
    "paper": {"sts_head": "linear", "pair_features": "concat", "sampling": "equal", "pooling": "pooler",
              "lr": 1e-4, "dropout": 0.1},
}
#: What a sweep takes from a recipe (it sweeps lr and dropout itself).
SWEEP_RECIPE_KEYS = ("sts_head", "pair_features", "sampling", "pooling")
#: What train and evaluate write into a run folder, removed by --force before it trains again.
RUN_FILES = ("metrics.json", "checkpoint", ".checkpoint-old", ".checkpoint-damaged", "heads.pt", "predictions",
             "curves.png", "confusion-sst.png", "eval-*")
SCALES = ["smoke", "laptop", "colab", "full"]


class HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless it has none (None, a flag's False) or says it."""

    def _get_help_string(self, action):
        text = action.help or ""
        no_default = action.default is None or action.default is False or action.default is argparse.SUPPRESS
        if "%(default)" not in text and "default:" not in text and action.option_strings and not no_default:
            text += " (default: %(default)s)"
        return text


class TopHelpFormatter(argparse.RawDescriptionHelpFormatter, HelpFormatter):
    """The top-level help: its examples keep their lines."""


class UserError(Exception):
    """A run the command refuses, with what to do instead (exit 1, no traceback)."""


def apply_recipe(args, keys) -> None:
    """Options not given on the command line (None) take the value of ``--recipe``."""
    for key in keys:
        if getattr(args, key, None) is None:
            setattr(args, key, RECIPES[args.recipe][key])


def recipe_help(key: str, text: str) -> str:
    """``text`` with the option's default under each recipe: 'head (default: cosine; --recipe paper: linear)'."""
    shown = lambda value: f"{value:g}" if isinstance(value, float) else str(value)  # noqa: E731
    others = "".join(f"; --recipe {name}: {shown(r[key])}" for name, r in RECIPES.items() if name != "course")
    return f"{text} (default: {shown(RECIPES['course'][key])}{others})"


@contextlib.contextmanager
def own_words():
    """Inside: no warning about missing test files (``print_written`` says it, naming --data-dir)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No test predictions")
        yield


def save_figure(fig, path: Path) -> Path:
    """Write a figure to ``path`` and close it (so that a notebook calling the CLI does not show it too)."""
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


# --- commands ----------------------------------------------------------------------------------
def cmd_info(args) -> int:
    from . import __version__
    from .checkpoints import resolve_checkpoint
    from .data import resolve_data_dir
    from .precision import autocast_dtype, name as precision_name, native_bf16_cpu
    from .setup import get_device, get_scale

    scale = get_scale(args.scale)
    print(f"mtl_lib {__version__} | torch {torch.__version__} | threads {torch.get_num_threads()}")
    device = get_device(args.device)
    print(f"device: {device}")
    print(f"precision (auto): {precision_name(autocast_dtype(device, 'auto'))}"
          + (f"; this CPU {'has' if native_bf16_cpu() else 'lacks'} native bf16" if device.type == "cpu" else ""))
    print(f"scale: {scale.name} ({scale.notes})")
    print(f"checkpoint {scale.checkpoint}: {resolve_checkpoint(scale.checkpoint)}")
    print(f"data folder: {resolve_data_dir(args.data_dir)}")
    return 0


def cmd_parity(args) -> int:
    from .bert import BertModel
    from .data import load_task
    from .parity import compare_with_reference, load_reference, time_forward
    from .tokenizer import load_tokenizer

    torch.manual_seed(0)
    tok = load_tokenizer(args.checkpoint)
    sst = load_task("sst", "dev", data_dir=args.data_dir, limit=args.batch_size)
    batch = tok(sst.sentence.tolist(), max_length=128)
    print(f"batch: {tuple(batch['input_ids'].shape)} SST dev sentences, "
          f"{(batch['attention_mask'] == 0).float().mean():.0%} padding")
    reference = load_reference(args.checkpoint)
    models = {}
    for impl in ("eager", "sdpa"):
        model = BertModel.from_pretrained(args.checkpoint, attn_implementation=impl)
        print(f"\nminBERT ({impl} attention) vs transformers.BertModel:")
        print(compare_with_reference(model, reference, batch).to_string(index=False))
        models[f"minBERT ({impl})"] = model
    models["transformers (eager)"] = reference
    models["transformers (sdpa)"] = load_reference(args.checkpoint, "sdpa")
    print(f"\nforward pass, median of {args.repeats}, {torch.get_num_threads()} threads:")
    print(time_forward(models, batch, repeats=args.repeats).to_string(index=False))
    return 0


def run_setup(args, scale, lr: float = 5e-5, smart_lambda: float = 0.0, dropout: float = 0.1):
    """The scale, HeadConfig and TrainConfig that the train options describe."""
    from .model import HeadConfig
    from .train import TrainConfig

    if args.max_examples or args.dev_examples:
        scale = dataclasses.replace(scale, max_examples=args.max_examples or scale.max_examples,
                                    dev_examples=args.dev_examples or scale.dev_examples)
    head = HeadConfig(checkpoint=args.checkpoint or scale.checkpoint, pooling=args.pooling,
                      pair_features=args.pair_features, sts_head=args.sts_head, dropout=dropout,
                      cross_encode=args.cross_encode)
    cfg = TrainConfig(method="sequential" if args.method == "sequential" else "summed",
                      order=tuple(args.order.split(",")), sampling=args.sampling,
                      epochs=args.epochs or scale.epochs, lr=lr, head_lr=args.head_lr,
                      batch_size=args.batch_size or scale.batch_size, max_length=scale.max_length,
                      warmup=args.warmup, schedule=args.schedule, clip=args.clip, seed=args.seed,
                      smart_lambda=smart_lambda, smart_sigma=args.smart_sigma,
                      smart_steps=args.smart_steps, smart_epsilon=args.smart_epsilon,
                      smart_dropout=args.smart_dropout, train_eval_examples=args.train_eval_examples,
                      loss_weighting=args.loss_weighting, weighting_lr=args.weighting_lr,
                      layer_decay=args.layer_decay, contrastive=args.contrastive,
                      history_every=args.history_every, task_weights=args.task_weights,
                      precision=args.precision, group_by_length=args.group_by_length)
    return scale, head, cfg


def check_out_folder(out: Path, force: bool, resume: bool) -> None:
    """Refuse to train over a run in ``out`` unless told what to do with it (--force or --resume)."""
    from .runs import has_checkpoint, read_state

    if resume or force:
        return
    if (out / "metrics.json").exists():
        overall = json.loads((out / "metrics.json").read_text()).get("overall")
        scores = f" (dev overall {overall:.4f})" if isinstance(overall, float) else ""
        raise UserError(f"{out} already holds a finished run{scores}. To train it again from scratch add "
                        "--force (it deletes that run), --resume to score it again, or choose another --out.")
    if has_checkpoint(out):
        state = read_state(out)
        raise UserError(f"{out} holds an interrupted run (saved after epoch {state['epoch']} of "
                        f"{state['train_config']['epochs']}). Add --resume to continue it, or --force to "
                        "start again from scratch.")


def cmd_train(args) -> int:
    import pandas as pd

    from . import distributed
    from .experiment import run_experiment
    from .plots import plot_training_curves
    from .runs import drop_optimizer_state
    from .setup import get_device, get_scale

    apply_recipe(args, RECIPES[args.recipe])
    out = Path(args.out)
    check_out_folder(out, args.force, args.resume)
    scale, head, cfg = run_setup(args, get_scale(args.scale), args.lr, args.smart_lambda, args.dropout)
    device = distributed.init(get_device(args.device, verbose=False))  # torchrun: join the group
    try:
        if args.force and distributed.is_main():
            for path in (p for name in RUN_FILES for p in out.glob(name)):
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        with own_words():
            metrics = run_experiment(out, args.method, scale, head, cfg, data_dir=args.data_dir,
                                     device=device, resume=args.resume, baseline_epochs=args.epochs or 10,
                                     test_predictions=args.test_predictions, tasks=args.tasks,
                                     weights=args.weights)
        if distributed.is_main():
            if not args.keep_optimizer:
                drop_optimizer_state(out)
            history = wide_history(pd.DataFrame(metrics.get("history", [])))
            if any(c.startswith("dev_") for c in history):
                save_figure(plot_training_curves(history, title=f"{out.name}: train vs dev", losses=metrics.get("loss_history")), out / "curves.png")
            print_metrics(metrics)
            print_written(out, metrics, ["metrics.json", "curves.png", "heads.pt"], args.keep_optimizer)
    finally:
        distributed.close()
    return 0


def wide_history(history):
    """The frozen baseline's history (a row per task and epoch: train_metric, dev_metric) in the
    Trainer's shape (a row per epoch: train_sst_acc, dev_sst_acc, ...), so that one plot draws both."""
    import pandas as pd

    from .evaluate import METRIC_NAMES

    if "task" not in history or "dev_metric" not in history:
        return history
    rows = {}
    for record in history.to_dict(orient="records"):
        row = rows.setdefault(record["epoch"], {"epoch": record["epoch"], "phase": "all"})
        name = METRIC_NAMES[record["task"]]
        row[f"train_{name}"], row[f"dev_{name}"] = record["train_metric"], record["dev_metric"]
    return pd.DataFrame(list(rows.values()))


def cmd_sweep(args) -> int:
    from .plots import plot_sweep_heatmaps
    from .setup import get_device, get_scale
    from .sweep import SWEEP_BUDGETS, load_grid, run_sweep

    apply_recipe(args, SWEEP_RECIPE_KEYS)
    grid = load_grid(args.config, {"lr": args.lr, "smart_lambda": args.smart_lambda, "dropout": args.dropout})
    scale = get_scale(args.scale)
    budget = SWEEP_BUDGETS.get(scale.name, {}) if args.budget == "sweep" else {}
    scale = dataclasses.replace(scale, **{k: v for k, v in budget.items() if k != "epochs"})
    if not args.epochs and "epochs" in budget:
        args.epochs = budget["epochs"]
    scale, head, cfg = run_setup(args, scale)
    out = Path(args.out)
    table = run_sweep(out, grid, args.method, scale, head, cfg, data_dir=args.data_dir,
                      device=get_device(args.device, verbose=False), retry_failed=args.retry_failed,
                      keep_checkpoints=args.keep_checkpoints)
    save_figure(plot_sweep_heatmaps(table), out / "heatmaps.png")
    print(table.to_string(index=False))
    print(f"wrote {out / 'results.csv'} (and results.md, the same as a Markdown table) and "
          f"{out / 'heatmaps.png'} (dev overall per lr, SMART lambda and dropout)")
    return 0


def cmd_evaluate(args) -> int:
    from .analysis import SST_CLASSES
    from .experiment import evaluate_run
    from .plots import plot_confusion
    from .setup import get_device

    run = Path(args.run)
    with own_words():
        metrics, out = evaluate_run(run, args.data_dir, get_device(args.device, verbose=False), progress=True)
    if "sst_confusion" in metrics:
        save_figure(plot_confusion(metrics["sst_confusion"], SST_CLASSES, title="SST dev: gold vs predicted"),
                    out / "confusion-sst.png")
    print_metrics(metrics)
    if out == run:
        print(f"scored {run} on the data it was trained on ({metrics['data_dir']}); its metrics.json is "
              "unchanged (the training run's scores)")
    else:
        print(f"scored {run} on other data ({metrics['data_dir']}); the run's own files are unchanged")
    print_written(out, metrics, ["confusion-sst.png"] + ([] if out == run else ["metrics.json"]))
    return 0


def cmd_reproduce(args) -> int:
    from .reproduce import BUDGETS, reproduce

    seeds = args.seeds or BUDGETS[args.scale]["seeds"]
    extra = [flag for flag, value in (("--data-dir", args.data_dir), ("--device", args.device)) if value
             for flag in (flag, value)]
    written = reproduce(args.table, args.scale, seeds, Path(args.out), extra, train=not args.tables_only,
                        from_shipped=args.from_shipped)
    for name, text in written.items():
        print(text)
    print(f"wrote {', '.join(str(Path(args.out) / f'{name}.md') for name in written)} "
          "(and the per-seed numbers as .json beside each)")
    return 0


def cmd_bench(args) -> int:
    from . import bench

    return bench.run_args(args)


def print_metrics(metrics: dict) -> None:
    keys = ["sst_acc", "para_acc", "sts_corr", "overall", "train_seconds"]
    conflicts = metrics.get("pcgrad_steps")
    if conflicts:
        values = conflicts["values"]
        print(f"PCGrad: {len(values)} steps, pairs projected "
              f"{sum(v[-1] for v in values) / len(values):.1%} of the time")
    print(" | ".join(f"{k} {metrics[k]:.4f}" for k in keys if k in metrics))


def print_written(out: Path, metrics: dict, names: list[str], optimizer_kept: bool | None = None) -> None:
    """Say what a command wrote: those of ``names`` that exist in ``out``, the checkpoint (``optimizer_kept``
    not None: training), and where the dev and test prediction files went (or why some are missing)."""
    files = [name for name in names if (out / name).exists()]
    if files:
        print(f"wrote {out}/: {', '.join(files)}")
    if optimizer_kept is not None and (out / "checkpoint").is_dir():
        kept = ("and the optimizer state" if optimizer_kept
                else "only; the optimizer state was dropped (--keep-optimizer keeps it)")
        print(f"checkpoint: {out / 'checkpoint'}/ (the weights {kept})")
    predictions = out / "predictions"
    for split in ("dev", "test"):
        names = sorted(p.name for p in predictions.glob(f"*-{split}-output.csv"))
        if names:
            first = f" (the first {metrics['test_rows']} rows of each test file: smoke scale)" if (
                split == "test" and "test_rows" in metrics) else ""
            print(f"{split} predictions: {predictions}/ {', '.join(names)}{first}")
    for task, reason in metrics.get("missing_test_files", {}).items():
        print(f"no {task} test predictions: {for_cli(reason)}")


# --- the parser --------------------------------------------------------------------------------
def _order(text: str) -> str:
    parts = text.split(",")
    if sorted(parts) != ["para", "sst", "sts"]:
        raise argparse.ArgumentTypeError(f"{text!r} is not an order of the three tasks, e.g. sst,para,sts")
    return text


def _task_weights(text: str) -> dict[str, float]:
    weights = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        task, _, value = (x.strip() for x in part.partition("="))
        try:
            weights[task] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r}: write TASK=WEIGHT, e.g. sts=0.04 or sst=2,sts=0.04") from None
        if task not in ("sst", "para", "sts") or not weights[task] > 0:
            raise argparse.ArgumentTypeError(f"{part!r}: the task must be sst, para or sts and the weight positive")
    return weights


def _pair_tasks(text: str) -> tuple[str, ...]:
    if not set(text.split(",")) <= {"para", "sts"}:
        raise argparse.ArgumentTypeError(f"{text!r}: only the pair tasks can be cross-encoded: para, sts or para,sts")
    return _tasks(text)


def _tasks(text: str) -> tuple[str, ...]:
    parts = tuple(t for t in ("sst", "para", "sts") if t in text.split(","))
    if not parts or len(parts) != len(text.split(",")):
        raise argparse.ArgumentTypeError(f"{text!r}: give tasks among sst, para, sts, comma-separated")
    return parts


def add_common(parser, data: bool = True, device: bool = True) -> None:
    if data:
        parser.add_argument("--data-dir", help="folder of the CS224N data files (default: $MTL_DATA_DIR, "
                            "else data/, where missing files are downloaded)")
    if device:
        parser.add_argument("--device", help="cpu, cuda, cuda:1 or mps (default: CUDA, then MPS, then CPU)")
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="on an error, show the traceback")


def add_train_options(parser: argparse.ArgumentParser) -> None:
    """The options that shape one training run (shared by train and sweep; not lr, dropout, lambda)."""
    parser.add_argument("--recipe", choices=list(RECIPES), default="course",
                        help="preset for --sts-head, --pair-features, --sampling, --pooling (and, for train, "
                        "--lr and --dropout): course = the course's measured best recipe, paper = the paper's "
                        "starting configuration; options given explicitly override it")
    parser.add_argument("--scale", choices=SCALES, help="how big a run is (default: $MTL_SCALE, else laptop)")
    parser.add_argument("--method", choices=["baseline", "sequential", "summed", "pcgrad"], default="summed",
                        help="baseline: frozen encoder, heads only; sequential: one task after another; "
                        "summed: one loss of all three tasks; pcgrad: the summed loss with gradient surgery")
    parser.add_argument("--order", type=_order, default="sst,para,sts", help="task order of --method sequential")
    parser.add_argument("--sampling", choices=["equal", "proportional", "annealed"],
                        help=recipe_help("sampling", "examples of each task per summed step"))
    parser.add_argument("--sts-head", choices=["linear", "cosine"],
                        help=recipe_help("sts_head", "similarity head: an MLP, or 5 x the cosine of the embeddings"))
    parser.add_argument("--pooling", choices=["cls", "pooler", "mean"],
                        help=recipe_help("pooling", "sentence embedding: [CLS], BERT's pooler, or the mean"))
    parser.add_argument("--pair-features", choices=["concat", "rich"],
                        help=recipe_help("pair_features", "pair heads' input: [u; v], or [u; v; |u-v|; u*v]"))
    parser.add_argument("--head-lr", type=float, default=1e-3, help="task heads' learning rate")
    parser.add_argument("--epochs", type=int, help="passes over the data (default: the scale's; baseline: 10)")
    parser.add_argument("--batch-size", type=int, help="examples per task per step, in total over all torchrun "
                        "processes (default: the scale's)")
    parser.add_argument("--warmup", type=float, default=0.1, help="warm-up fraction of each schedule stretch")
    parser.add_argument("--schedule", choices=["linear", "per-phase", "constant"],
                        help="learning rate: linear warm-up and decay over the run, restarted in every task "
                        "phase (per-phase), or constant (default: per-phase for sequential, else linear)")
    parser.add_argument("--clip", type=float, default=1.0, help="max gradient norm (0: off)")
    parser.add_argument("--seed", type=int, default=0, help="seed of data order, dropout and heads")
    parser.add_argument("--smart-sigma", type=float, default=1e-5, help="SMART perturbation std")
    parser.add_argument("--smart-steps", type=int, choices=[0, 1], default=0,
                        help="0: one random perturbation (the paper); 1: one ascent step")
    parser.add_argument("--smart-epsilon", type=float, default=1e-5,
                        help="ascent step: project delta onto ||delta||_inf <= epsilon")
    parser.add_argument("--smart-dropout", choices=["same", "independent"], default="same",
                        help="same: the clean and perturbed passes share dropout masks, so SMART measures the "
                        "perturbation alone; independent: fresh masks, which makes the regularizer a "
                        "dropout-consistency (R-Drop-like) penalty")
    beyond = parser.add_argument_group("beyond the paper (notebook 09)")
    beyond.add_argument("--loss-weighting", choices=["sum", "uncertainty"], default="sum",
                        help="summed loss: plain sum, or task weights learned from each task's uncertainty "
                        "(Kendall et al. 2018)")
    beyond.add_argument("--task-weights", type=_task_weights, default={},
                        help="a constant factor on each task's whole objective: its loss plus its SMART and "
                        "--contrastive terms, e.g. sts=0.04 (the STS squared error on the 0..1 scale instead of "
                        "0..5: 1/5^2, which also cuts STS's SMART and contrastive terms 25x) (default: 1 each)")
    beyond.add_argument("--weighting-lr", type=float, default=0.02, help="learning rate of those weights")
    beyond.add_argument("--layer-decay", type=float, default=1.0,
                        help="layer-wise learning-rate decay: each encoder layer learns at this factor times "
                        "the rate of the layer above it (1: off)")
    beyond.add_argument("--contrastive", type=float, default=0.0,
                        help="weight of the in-batch negatives loss on Quora duplicates and STS pairs scored "
                        ">= 4 (0: off)")
    beyond.add_argument("--cross-encode", type=_pair_tasks, default=(),
                        help="pair tasks read as one sequence [CLS] a [SEP] b [SEP], e.g. para or para,sts "
                        "(default: none; a cross-encoded sts needs --sts-head linear)")
    speed = parser.add_argument_group("speed (the same computation, faster; docs/benchmarks.md)")
    speed.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                       help="matrix products in bf16 under autocast (weights, losses and SMART's passes stay "
                       "fp32), or fp32; auto: bf16 on a CPU with native bf16 and on Ampere+ GPUs, fp16 on "
                       "older GPUs, fp32 elsewhere")
    speed.add_argument("--group-by-length", action=argparse.BooleanOptionalAction, default=True,
                       help="training batches of rows of similar length (little padding), in a random order")
    parser.add_argument("--history-every", type=int, default=10,
                        help="steps per row of the loss history: the mean training loss of each task (0: off)")
    parser.add_argument("--train-eval-examples", type=int, default=500,
                        help="training rows per task scored with dev after each epoch, for the train vs dev "
                        "curves (0: none, which saves time when only the final dev scores matter)")
    parser.add_argument("--max-examples", type=int, help="training rows per task (default: the scale's)")
    parser.add_argument("--dev-examples", type=int, help="dev rows per task (default: the scale's)")
    parser.add_argument("--checkpoint", help="all-MiniLM-L6-v2, bert-base-uncased or a folder (default: the scale's)")
    add_common(parser)


def build_parser(prog: str = "python -m mtl_lib") -> argparse.ArgumentParser:
    from . import __version__
    from .bench import add_arguments as add_bench_arguments

    parser = argparse.ArgumentParser(
        prog=prog, formatter_class=TopHelpFormatter,
        description="Multi-task minBERT: train, score and time one BERT on SST-5, Quora and STS at once.",
        epilog=f"examples:\n  {prog} train --scale laptop --out runs/recipe\n  {prog} evaluate --run runs/recipe\n"
        f"  {prog} COMMAND --help   (the options of one command)")
    parser.add_argument("--version", action="version", version=f"mtl-minbert {__version__}")
    parser.add_argument("--debug", action="store_true", help="on an error, show the traceback")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    command = lambda name, **kw: sub.add_parser(name, formatter_class=HelpFormatter, **kw)  # noqa: E731

    info = command("info", help="versions, device, scale, checkpoint and data folder")
    info.add_argument("--scale", choices=SCALES, help="the scale to describe (default: $MTL_SCALE, else laptop)")
    add_common(info)
    info.set_defaults(func=cmd_info)

    parity = command("parity", help="minBERT vs transformers.BertModel: differences and speed")
    parity.add_argument("--checkpoint", default="all-MiniLM-L6-v2", help="checkpoint name or folder")
    parity.add_argument("--batch-size", type=int, default=32, help="SST dev sentences in the batch")
    parity.add_argument("--repeats", type=int, default=10, help="timed forward passes (the median is shown)")
    add_common(parity, device=False)
    parity.set_defaults(func=cmd_parity)

    train = command("train", help="train one configuration into --out DIR (metrics.json, curves.png, "
                    "checkpoint, predictions)",
                    description="Train one configuration and score it on dev. Writes DIR/metrics.json, "
                    "DIR/curves.png (train vs dev), the weights (DIR/checkpoint/) and CS224N prediction files "
                    "(DIR/predictions/). Also runs data-parallel: torchrun --nproc_per_node N -m mtl_lib "
                    "train ... (NCCL on GPUs, gloo on CPU).")
    train.add_argument("--out", required=True, help="run folder")
    add_train_options(train)
    train.add_argument("--lr", type=float, help=recipe_help("lr", "encoder learning rate"))
    train.add_argument("--dropout", type=float, help=recipe_help("dropout", "dropout of heads and encoder"))
    train.add_argument("--smart-lambda", type=float, default=0.0, help="SMART weight (0: off)")
    again = train.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue the run saved in --out from its last epoch (a finished one: score it again)")
    again.add_argument("--force", action="store_true",
                       help="train from scratch even if --out holds a run (deleting it)")
    train.add_argument("--tasks", type=_tasks, help="train and score only these tasks, e.g. sst or "
                       "para,sts (one task: fine-tuning it alone, the yardstick of multi-task rows; "
                       "default: all three)")
    train.add_argument("--test-predictions", action=argparse.BooleanOptionalAction, default=True,
                       help="write test-set prediction files after training (--no-test-predictions: dev only)")
    train.add_argument("--weights", choices=("all", "final", "none"), default="all",
                       help="what the run keeps of the model: all (checkpoints while training, so it can resume; "
                       "the weights at the end), final (the finished weights only, no checkpoints), none "
                       "(scores, history and predictions only) (default: all)")
    train.add_argument("--keep-optimizer", action="store_true",
                       help="keep the optimizer state once the run has finished (about twice the weights' size; "
                       "only resuming needs it)")
    train.set_defaults(func=cmd_train)

    evaluate = command("evaluate", help="score a finished run on dev again; predict test",
                       description="Score a finished run on dev (the rows its scale scores) and write dev and "
                       "test predictions and the SST confusion matrix (confusion-sst.png). On the run's own data "
                       "they go into the run folder and metrics.json is left as training wrote it; on other data "
                       "(--data-dir elsewhere) everything goes to RUN/eval-<data folder name>/.")
    evaluate.add_argument("--run", required=True, help="a run folder written by train")
    add_common(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)

    add_sweep_parser(command)
    add_reproduce_parser(command)

    bench = command("bench", help="speed: minBERT vs transformers and sentence-transformers (minutes)",
                    description="The same as python -m mtl_lib.bench: training step, inference, FLOP/s, "
                    "multi-task steps and the frozen baseline, side by side on the same batches.")
    add_bench_arguments(bench)
    bench.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="on an error, show the traceback")
    bench.set_defaults(func=cmd_bench)
    return parser


def add_sweep_parser(command) -> None:
    from .sweep import DEFAULT_GRID, SWEEP_BUDGETS, grid_values

    laptop, full = SWEEP_BUDGETS["laptop"], SWEEP_BUDGETS["full"]
    sweep = command(
        "sweep", help="a grid of training runs: DIR/results.csv, results.md and heatmaps.png",
        description="Train every combination of --lr x --smart-lambda x --dropout (default: the paper's "
        "grid, 3 x 4 x 3 = 36 runs), each in DIR/lr1e-04_lam5_drop0.1/ and so on, and collect their dev "
        "scores in DIR/results.csv (rewritten after every run) and DIR/results.md; at the end, heat-maps "
        "of dev overall in DIR/heatmaps.png. Run it again to resume: finished and failed runs are skipped, "
        "an interrupted run continues from its last epoch checkpoint. The other train options apply to "
        "every run. Per-run budget (--budget sweep): at laptop scale "
        f"{laptop['max_examples']} training rows and {laptop['dev_examples']} dev rows per task, batches of "
        f"{laptop['batch_size']} rows per task, {laptop['epochs']} epoch (the 36-run grid in about 1.5 hours "
        "on a 2-core CPU, two sweeps over halves of the grid into the same DIR at once); at full scale "
        f"{full['max_examples']} training and {full['dev_examples']} dev rows per task, 1 epoch. "
        "--max-examples, --dev-examples, --batch-size and --epochs override the budget.")
    sweep.add_argument("--out", required=True, help="sweep folder (run again to resume)")
    for flag, key in (("--lr", "lr"), ("--smart-lambda", "smart_lambda"), ("--dropout", "dropout")):
        sweep.add_argument(flag, type=grid_values(flag), help="comma-separated values; overrides --config "
                           f"(default: {','.join(f'{v:g}' for v in DEFAULT_GRID[key])})")
    sweep.add_argument("--config", help="a JSON or TOML file with lists lr, smart_lambda, dropout")
    sweep.add_argument("--budget", choices=["sweep", "scale"], default="sweep",
                       help="sweep: the shorter per-run budget described above; scale: the scale's sizes")
    sweep.add_argument("--retry-failed", action="store_true", help="run failed and non-finite runs again")
    sweep.add_argument("--keep-checkpoints", action="store_true",
                       help="keep each finished run's checkpoint (~270 MB for MiniLM; deleted by default)")
    add_train_options(sweep)
    sweep.set_defaults(func=cmd_sweep)


def add_reproduce_parser(command) -> None:
    from .reproduce import BUDGETS, TABLE_NAMES

    laptop = BUDGETS["laptop"]
    reproduce = command(
        "reproduce", help="the course's tables over seeds, with paired 95 %% intervals: DIR/TABLE.md",
        description="Train every run a table needs, for seeds 0..N-1, each an ordinary train run in "
        "DIR/runs/CONFIG/seedK/, and write DIR/TABLE.md: mean ± sd over seeds per metric and each row's "
        "paired difference to the row it extends with a 95 % interval. Tables: single (each task alone), "
        "table1 (frozen, 6 sequential orders, summed), table2 (linear vs cosine STS head), table3 (± PCGrad), "
        "table4 (± SMART, both dropout modes), ladder (one thing added per rung), all. Run it again to "
        "resume; two processes on one DIR share the work. A finished run in DIR that recorded another "
        "configuration or budget (another scale's, say) is reported with what differs, never counted or "
        "overwritten. Budget at laptop scale: "
        f"{laptop['max_examples']} training rows per task, batches of {laptop['batch_size']}, "
        f"{laptop['epochs']} epoch, {laptop['dev_examples']} dev rows per task, {laptop['seeds']} seeds.")
    reproduce.add_argument("table", choices=TABLE_NAMES, help="which table")
    reproduce.add_argument("--scale", choices=list(BUDGETS), default="laptop", help="the budget of every run")
    reproduce.add_argument("--seeds", type=int, help="seeds per row (default: the scale's: "
                           + ", ".join(f"{k} {v['seeds']}" for k, v in BUDGETS.items()) + ")")
    reproduce.add_argument("--out", required=True, help="folder of the runs and tables (run again to resume)")
    reproduce.add_argument("--tables-only", action="store_true",
                           help="train nothing: write the tables from the runs in --out (missing seeds are marked)")
    reproduce.add_argument("--from-shipped", action="store_true",
                           help="start from the per-seed scores shipped in mtl_lib/results/ (train only the "
                           "seeds they lack: a shipped table extended by more seeds)")
    add_common(reproduce)
    reproduce.set_defaults(func=cmd_reproduce)


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
    ``lr=0.0`` -> ``--lr 0.0`` (names that are not options stay as they are)."""
    flags = option_names(parser or build_parser())

    def flag(match: re.Match) -> str:
        name, value = match[1], match[2]
        return match[0] if name not in flags else flags[name] + (f" {value}" if value else "")
    return re.sub(r"(?<![\w.-])([a-z][a-z_]*)=([^\s;,)]*)", flag, message)


def main(argv=None) -> int:
    """Run one command; 0 on success, 1 on an error (one line; --debug: the traceback), 2 on wrong arguments."""
    import matplotlib

    if "ipykernel" not in sys.modules and "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")  # the command line writes figures to files; it never opens a window
    prog = "mtl-minbert" if Path(sys.argv[0]).name == "mtl-minbert" else "python -m mtl_lib"
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted" + (" (--resume continues from the last epoch checkpoint)"
                               if args.command == "train" else ""), file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - one readable line; --debug for the traceback
        if getattr(args, "debug", False):
            traceback.print_exc()
        known = isinstance(err, (UserError, FileNotFoundError, ValueError, ImportError, RuntimeError))
        text = str(err) if known else f"{type(err).__name__}: {err}"
        hint = "" if getattr(args, "debug", False) else " (--debug shows the traceback)"
        print(f"error: {for_cli(text, parser)}" + (hint if not known else ""), file=sys.stderr)
        return 1
