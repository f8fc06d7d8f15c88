"""Command line: ``python -m mtl_lib COMMAND``.

Commands so far:

* ``info``   - the environment: versions, device, scale, checkpoint, data folder;
* ``parity`` - minBERT vs transformers.BertModel on real sentences: differences
  for both attention paths, and forward-pass time side by side;
* ``train``    - one training run (frozen baseline, sequential or summed) that
  writes ``metrics.json``, a checkpoint and prediction files to ``--out``;
* ``evaluate`` - re-score a saved run (``--run DIR``);
* ``sweep``    - a grid of training runs (learning rate x SMART lambda x dropout)
  with one results table, ``DIR/results.csv``; resumable.

``train`` also runs on several processes: ``torchrun --nproc_per_node N -m
mtl_lib train ...`` (see ``mtl_lib.distributed``).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import torch


def cmd_info(args) -> int:
    from . import __version__
    from .checkpoints import resolve_checkpoint
    from .data import resolve_data_dir
    from .setup import get_device, get_scale

    scale = get_scale(args.scale)
    print(f"mtl_lib {__version__} | torch {torch.__version__} | threads {torch.get_num_threads()}")
    print(f"device: {get_device(args.device)}")
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
                      pair_features=args.pair_features, sts_head=args.sts_head, dropout=dropout)
    cfg = TrainConfig(method="sequential" if args.method == "sequential" else "summed",
                      order=tuple(args.order.split(",")), sampling=args.sampling,
                      epochs=args.epochs or scale.epochs, lr=lr, head_lr=args.head_lr,
                      batch_size=args.batch_size or scale.batch_size, max_length=scale.max_length,
                      warmup=args.warmup, schedule=args.schedule, clip=args.clip, seed=args.seed,
                      smart_lambda=smart_lambda, smart_sigma=args.smart_sigma,
                      smart_steps=args.smart_steps, smart_epsilon=args.smart_epsilon,
                      smart_dropout=args.smart_dropout)
    return scale, head, cfg


def cmd_train(args) -> int:
    from . import distributed
    from .experiment import run_experiment
    from .setup import get_device, get_scale

    scale, head, cfg = run_setup(args, get_scale(args.scale), args.lr, args.smart_lambda, args.dropout)
    device = distributed.init(get_device(args.device, verbose=False))  # torchrun: join the group
    try:
        metrics = run_experiment(args.out, args.method, scale, head, cfg, data_dir=args.data_dir,
                                 device=device, resume=args.resume, baseline_epochs=args.epochs or 10)
        if distributed.is_main():
            print_metrics(metrics, args.out)
    finally:
        distributed.close()
    return 0


def cmd_sweep(args) -> int:
    from .setup import get_device, get_scale
    from .sweep import SWEEP_BUDGETS, load_grid, run_sweep

    grid = load_grid(args.config, {"lr": args.lr, "smart_lambda": args.smart_lambda, "dropout": args.dropout})
    scale = get_scale(args.scale)
    budget = SWEEP_BUDGETS.get(scale.name, {}) if args.budget == "sweep" else {}
    scale = dataclasses.replace(scale, **{k: v for k, v in budget.items() if k != "epochs"})
    if not args.epochs and "epochs" in budget:
        args.epochs = budget["epochs"]
    scale, head, cfg = run_setup(args, scale)
    table = run_sweep(args.out, grid, args.method, scale, head, cfg, data_dir=args.data_dir,
                      device=get_device(args.device, verbose=False), retry_failed=args.retry_failed,
                      keep_checkpoints=args.keep_checkpoints)
    print(table.to_string(index=False))
    print(f"written to {args.out}/results.csv (and results.md, the same as a Markdown table)")
    return 0


def cmd_evaluate(args) -> int:
    from .experiment import evaluate_run
    from .setup import get_device

    print_metrics(evaluate_run(args.run, args.data_dir, get_device(args.device, verbose=False)), args.run)
    return 0


def print_metrics(metrics: dict, out) -> None:
    keys = ["sst_acc", "para_acc", "sts_corr", "overall", "train_seconds"]
    conflicts = metrics.get("pcgrad_steps")
    if conflicts:
        values = conflicts["values"]
        print(f"PCGrad: {len(values)} steps, pairs projected "
              f"{sum(v[-1] for v in values) / len(values):.1%} of the time")
    print(" | ".join(f"{k} {metrics[k]:.4f}" for k in keys if k in metrics))
    print(f"written to {out}: metrics.json, predictions/")


def _order(text: str) -> str:
    parts = text.split(",")
    if sorted(parts) != ["para", "sst", "sts"]:
        raise argparse.ArgumentTypeError(f"{text!r} is not an order of the three tasks, e.g. sst,para,sts")
    return text


def add_train_options(parser: argparse.ArgumentParser) -> None:
    """The options that shape one training run (shared by train and sweep; not lr, dropout, lambda)."""
    parser.add_argument("--scale", choices=["smoke", "laptop", "full"])
    parser.add_argument("--method", choices=["baseline", "sequential", "summed", "pcgrad"],
                        default="summed", help="pcgrad: the summed loss with gradient surgery")
    parser.add_argument("--order", type=_order, default="sst,para,sts", help="sequential: task order")
    parser.add_argument("--sampling", choices=["equal", "proportional", "annealed"], default="annealed")
    parser.add_argument("--sts-head", choices=["linear", "cosine"], default="linear")
    parser.add_argument("--pooling", choices=["cls", "pooler", "mean"], default="mean")
    parser.add_argument("--pair-features", choices=["concat", "rich"], default="concat")
    parser.add_argument("--head-lr", type=float, default=1e-3, help="task heads' learning rate")
    parser.add_argument("--epochs", type=int, help="default: the scale's (baseline: 10)")
    parser.add_argument("--batch-size", type=int,
                        help="examples per task per step (under torchrun: in total over all processes)")
    parser.add_argument("--warmup", type=float, default=0.1,
                        help="warm-up fraction of each schedule stretch (default 0.1)")
    parser.add_argument("--schedule", choices=["linear", "per-phase", "constant"],
                        help="learning rate: linear warm-up and decay over the run (summed's default), "
                        "restarted in every task phase (per-phase, sequential's default), or constant")
    parser.add_argument("--clip", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smart-sigma", type=float, default=1e-5, help="SMART perturbation std")
    parser.add_argument("--smart-steps", type=int, choices=[0, 1], default=0,
                        help="0: one random perturbation (the paper); 1: one ascent step")
    parser.add_argument("--smart-epsilon", type=float, default=1e-5,
                        help="ascent step: project delta onto ||delta||_inf <= epsilon (default 1e-5)")
    parser.add_argument("--smart-dropout", choices=["same", "independent"], default="same",
                        help="same (default): the clean and perturbed passes share dropout masks, so "
                        "SMART measures the perturbation alone; independent: fresh masks, which makes "
                        "the regularizer a dropout-consistency (R-Drop-like) penalty")
    parser.add_argument("--max-examples", type=int, help="training rows per task (default: the scale's)")
    parser.add_argument("--dev-examples", type=int, help="dev rows per task (default: the scale's)")
    parser.add_argument("--checkpoint", help="all-MiniLM-L6-v2, bert-base-uncased or a folder")
    parser.add_argument("--data-dir")
    parser.add_argument("--device")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mtl_lib", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="show versions, device, scale, checkpoint and data folder")
    info.add_argument("--scale", choices=["smoke", "laptop", "full"])
    info.add_argument("--device")
    info.add_argument("--data-dir")
    info.set_defaults(func=cmd_info)
    parity = sub.add_parser("parity", help="compare minBERT with transformers.BertModel")
    parity.add_argument("--checkpoint", default="all-MiniLM-L6-v2")
    parity.add_argument("--batch-size", type=int, default=32)
    parity.add_argument("--repeats", type=int, default=10)
    parity.add_argument("--data-dir")
    parity.set_defaults(func=cmd_parity)

    train = sub.add_parser("train", help="train one configuration; writes DIR/metrics.json",
                           description="Train one configuration. Also runs data-parallel on several "
                           "processes: torchrun --nproc_per_node N -m mtl_lib train ... (NCCL on GPUs, "
                           "gloo on CPU; --batch-size is then the total over all processes).")
    train.add_argument("--out", required=True, help="run folder (created; reused with --resume)")
    add_train_options(train)
    train.add_argument("--lr", type=float, default=5e-5, help="encoder learning rate")
    train.add_argument("--dropout", type=float, default=0.1)
    train.add_argument("--smart-lambda", type=float, default=0.0, help="SMART weight (0: off)")
    train.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    train.set_defaults(func=cmd_train)

    from .sweep import DEFAULT_GRID, SWEEP_BUDGETS, grid_values

    laptop, full = SWEEP_BUDGETS["laptop"], SWEEP_BUDGETS["full"]
    sweep = sub.add_parser(
        "sweep", help="a grid of training runs; writes DIR/results.csv and DIR/results.md",
        description="Train every combination of --lr x --smart-lambda x --dropout (default: the paper's "
        "grid, 3 x 4 x 3 = 36 runs), each in DIR/lr1e-04_lam5_drop0.1/ and so on, and collect their dev "
        "scores in DIR/results.csv (rewritten after every run). Run it again to resume: finished and "
        "failed runs are skipped, an interrupted run continues from its last epoch checkpoint. The other "
        "train options apply to every run. Per-run budget (--budget sweep, the default): at laptop scale "
        f"{laptop['max_examples']} training rows and {laptop['dev_examples']} dev rows per task and "
        f"{laptop['epochs']} epoch (the 36-run grid in about an hour on a 2-core CPU); at full scale "
        f"{full['max_examples']} training and {full['dev_examples']} dev rows per task, 1 epoch. --max-examples, --dev-examples and --epochs override the budget.")
    sweep.add_argument("--out", required=True, help="sweep folder (created; run again to resume)")
    for flag, key in (("--lr", "lr"), ("--smart-lambda", "smart_lambda"), ("--dropout", "dropout")):
        sweep.add_argument(flag, type=grid_values(flag), help="comma-separated values (default "
                           f"{','.join(f'{v:g}' for v in DEFAULT_GRID[key])}); overrides --config")
    sweep.add_argument("--config", help="a JSON or TOML file with lists lr, smart_lambda, dropout")
    sweep.add_argument("--budget", choices=["sweep", "scale"], default="sweep",
                       help="sweep: the shorter per-run budget described above; scale: the scale's sizes")
    sweep.add_argument("--retry-failed", action="store_true", help="run failed and non-finite runs again")
    sweep.add_argument("--keep-checkpoints", action="store_true",
                       help="keep each finished run's checkpoint (~270 MB for MiniLM; deleted by default)")
    add_train_options(sweep)
    sweep.set_defaults(func=cmd_sweep)

    evaluate = sub.add_parser("evaluate", help="re-score a saved run on dev")
    evaluate.add_argument("--run", required=True)
    evaluate.add_argument("--data-dir")
    evaluate.add_argument("--device")
    evaluate.set_defaults(func=cmd_evaluate)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, ImportError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
