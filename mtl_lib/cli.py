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

import sys

import matplotlib

if "ipykernel" not in sys.modules and "matplotlib.pyplot" not in sys.modules:
    matplotlib.use("Agg")  # the command line writes figures to files; it never opens a window

import argparse  # noqa: E402 - after choosing the figure backend, before anything imports pyplot
import dataclasses  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from . import __version__, bench, distributed, reproduce, sweep  # noqa: E402
from .analysis import SST_CLASSES  # noqa: E402
from .bert import BertModel  # noqa: E402
from .pretrained import resolve_checkpoint  # noqa: E402
from .data import load_task, resolve_data_dir  # noqa: E402
from .experiment import UserError, evaluate_run, own_words, train_from_options  # noqa: E402
from .options import (RECIPES, SCALES, SWEEP_RECIPE_KEYS, HelpFormatter, add_common,  # noqa: E402
                      add_run_options, add_train_options, apply_recipe, budgets, for_cli, get_scale, resolve)
from .parity import compare_with_reference, load_reference, time_forward  # noqa: E402
from .plots import plot_confusion, plot_sweep_heatmaps  # noqa: E402
from .sweep import load_grid  # noqa: E402
from .precision import autocast_dtype, name as precision_name, native_bf16_cpu  # noqa: E402
from .report import print_metrics, print_written, save_figure, wide_history  # noqa: E402, F401 - wide_history: its old home
from .setup import get_device  # noqa: E402
from .tokenizer import load_tokenizer  # noqa: E402

__all__ = ["main", "build_parser", "RECIPES", "apply_recipe", "for_cli", "HelpFormatter", "UserError"]


class TopHelpFormatter(argparse.RawDescriptionHelpFormatter, HelpFormatter):
    """The top-level help: its examples keep their lines."""


# --- commands ----------------------------------------------------------------------------------
def cmd_info(args) -> int:
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


def cmd_train(args) -> int:
    train_from_options(args)
    return 0


def cmd_sweep(args) -> int:
    grid = load_grid(args.config, {key: getattr(args, key) for key in sweep.DEFAULT_GRID})
    scale = get_scale(args.scale)
    budget = sweep.SWEEP_BUDGETS.get(scale.name, {}) if args.budget == "sweep" else {}
    # the budget's rows go on the scale; its batch and epochs are train options, so that each run stays
    # describable by a train command (options.train_words): the scale's own sizes stay in its record
    scale = dataclasses.replace(scale, **{k: v for k, v in budget.items() if k in ("max_examples", "dev_examples")})
    shared = argparse.Namespace(**{k: v for k, v in vars(args).items() if k not in sweep.DEFAULT_GRID})
    for key in ("batch_size", "epochs"):
        if getattr(shared, key, None) is None:
            setattr(shared, key, budget.get(key))
    scale, head, cfg = resolve(shared, scale)
    out = Path(args.out)
    table = sweep.run_sweep(out, grid, args.method, scale, head, cfg, data_dir=args.data_dir,
                            device=get_device(args.device, verbose=False), retry_failed=args.retry_failed,
                            keep_checkpoints=args.keep_checkpoints)
    save_figure(plot_sweep_heatmaps(table), out / "heatmaps.png")
    print(table.to_string(index=False))
    print(f"wrote {out / 'results.csv'} (and results.md, the same as a Markdown table) and "
          f"{out / 'heatmaps.png'} (dev overall per lr, SMART lambda and dropout)")
    return 0


def cmd_evaluate(args) -> int:
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
    seeds = args.seeds or reproduce.BUDGETS[args.scale]["seeds"]
    extra = [flag for flag, value in (("--data-dir", args.data_dir), ("--device", args.device)) if value
             for flag in (flag, value)]
    written = reproduce.reproduce(args.table, args.scale, seeds, Path(args.out), extra, train=not args.tables_only,
                                  from_shipped=args.from_shipped)
    for name, text in written.items():
        print(text)
    print(f"wrote {', '.join(str(Path(args.out) / f'{name}.md') for name in written)} "
          "(and the per-seed numbers as .json beside each)")
    return 0


def cmd_bench(args) -> int:
    return bench.run_args(args)


# --- the parser --------------------------------------------------------------------------------
def build_parser(prog: str = "python -m mtl_lib") -> argparse.ArgumentParser:
    """Every command's options: train's from ``options`` (the dataclasses' fields), the others here."""
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
    info.add_argument("--scale", choices=list(SCALES), help="the scale to describe (default: $MTL_SCALE, else laptop)")
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
    add_run_options(train)
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

    speed = command("bench", help="speed: minBERT vs transformers and sentence-transformers (minutes)",
                    description="The same as python -m mtl_lib.bench: training step, inference, FLOP/s, "
                    "multi-task steps and the frozen baseline, side by side on the same batches.")
    bench.add_arguments(speed)
    speed.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="on an error, show the traceback")
    speed.set_defaults(func=cmd_bench)
    return parser


def add_sweep_parser(command) -> None:
    laptop, full = sweep.SWEEP_BUDGETS["laptop"], sweep.SWEEP_BUDGETS["full"]
    parser = command(
        "sweep", help="a grid of training runs: DIR/results.csv, results.md and heatmaps.png",
        description="Train every combination of --lr x --smart-lambda x --dropout (default: the paper's "
        "grid, 3 x 4 x 3 = 36 runs), each in DIR/lr1e-04_lam5_drop0.1/ and so on, and collect their dev "
        "scores in DIR/results.csv (rewritten after every run) and DIR/results.md; at the end, heat-maps "
        "of dev overall in DIR/heatmaps.png. Run it again to resume: finished and failed runs are skipped, "
        "an interrupted run continues from its last epoch checkpoint. The other train options apply to "
        "every run. Per-run budget (--budget sweep): at laptop scale "
        f"{laptop['max_examples']} training rows and {laptop['dev_examples']} dev rows per task, batches of "
        f"{laptop['batch_size']} rows per task, {laptop['epochs']} epoch (the 36-run grid in about 45 minutes "
        "on a 2-core CPU, two sweeps over halves of the grid into the same DIR at once); at full scale "
        f"{full['max_examples']} training and {full['dev_examples']} dev rows per task, 1 epoch. "
        "--max-examples, --dev-examples, --batch-size and --epochs override the budget.")
    parser.add_argument("--out", required=True, help="sweep folder (run again to resume)")
    for flag, key in (("--lr", "lr"), ("--smart-lambda", "smart_lambda"), ("--dropout", "dropout")):
        parser.add_argument(flag, type=sweep.grid_values(flag), help="comma-separated values; overrides --config "
                           f"(default: {','.join(f'{v:g}' for v in sweep.DEFAULT_GRID[key])})")
    parser.add_argument("--config", help="a JSON or TOML file with lists lr, smart_lambda, dropout")
    parser.add_argument("--budget", choices=["sweep", "scale"], default="sweep",
                       help="sweep: the shorter per-run budget described above; scale: the scale's sizes")
    parser.add_argument("--retry-failed", action="store_true", help="run failed and non-finite runs again")
    parser.add_argument("--keep-checkpoints", action="store_true",
                       help="keep each finished run's checkpoint (~270 MB for MiniLM; deleted by default)")
    add_train_options(parser, skip=tuple(sweep.DEFAULT_GRID))
    add_common(parser)
    parser.set_defaults(func=cmd_sweep)


def add_reproduce_parser(command) -> None:
    laptop = reproduce.BUDGETS["laptop"]
    parser = command(
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
    parser.add_argument("table", choices=reproduce.TABLE_NAMES, help="which table")
    parser.add_argument("--scale", choices=list(reproduce.BUDGETS), default="laptop", help="the budget of every run")
    parser.add_argument("--seeds", type=int, help="seeds per row (default: the scale's: "
                           + ", ".join(f"{k} {v['seeds']}" for k, v in reproduce.BUDGETS.items()) + ")")
    parser.add_argument("--out", required=True, help="folder of the runs and tables (run again to resume)")
    parser.add_argument("--tables-only", action="store_true",
                           help="train nothing: write the tables from the runs in --out (missing seeds are marked)")
    parser.add_argument("--from-shipped", action="store_true",
                           help="start from the per-seed scores shipped in mtl_lib/results/ (train only the "
                           "seeds they lack: a shipped table extended by more seeds)")
    add_common(parser)
    parser.set_defaults(func=cmd_reproduce)


def main(argv=None) -> int:
    """Run one command; 0 on success, 1 on an error (one line; --debug: the traceback), 2 on wrong arguments."""
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
