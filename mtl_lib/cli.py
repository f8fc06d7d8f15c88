"""Command line: ``python -m mtl_lib COMMAND``.

Commands so far:

* ``info``   - the environment: versions, device, scale, checkpoint, data folder;
* ``parity`` - minBERT vs transformers.BertModel on real sentences: differences
  for both attention paths, and forward-pass time side by side;
* ``train``    - one training run (frozen baseline, sequential or summed) that
  writes ``metrics.json``, a checkpoint and prediction files to ``--out``;
* ``evaluate`` - re-score a saved run (``--run DIR``).
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


def cmd_train(args) -> int:
    from .experiment import run_experiment
    from .model import HeadConfig
    from .setup import get_device, get_scale
    from .train import TrainConfig

    scale = get_scale(args.scale)
    if args.max_examples or args.dev_examples:
        scale = dataclasses.replace(scale, max_examples=args.max_examples or scale.max_examples,
                                    dev_examples=args.dev_examples or scale.dev_examples)
    head = HeadConfig(checkpoint=args.checkpoint or scale.checkpoint, pooling=args.pooling,
                      pair_features=args.pair_features, sts_head=args.sts_head, dropout=args.dropout)
    cfg = TrainConfig(method="sequential" if args.method == "sequential" else "summed",
                      order=tuple(args.order.split(",")), sampling=args.sampling,
                      epochs=args.epochs or scale.epochs, lr=args.lr, head_lr=args.head_lr,
                      batch_size=args.batch_size or scale.batch_size, max_length=scale.max_length,
                      warmup=args.warmup, clip=args.clip, seed=args.seed,
                      smart_lambda=args.smart_lambda, smart_sigma=args.smart_sigma,
                      smart_steps=args.smart_steps)
    metrics = run_experiment(args.out, args.method, scale, head, cfg, data_dir=args.data_dir,
                             device=get_device(args.device, verbose=False), resume=args.resume,
                             baseline_epochs=args.epochs or 10)
    print_metrics(metrics, args.out)
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

    train = sub.add_parser("train", help="train one configuration; writes DIR/metrics.json")
    train.add_argument("--out", required=True, help="run folder (created; reused with --resume)")
    train.add_argument("--scale", choices=["smoke", "laptop", "full"])
    train.add_argument("--method", choices=["baseline", "sequential", "summed", "pcgrad"],
                       default="summed", help="pcgrad: the summed loss with gradient surgery")
    train.add_argument("--order", type=_order, default="sst,para,sts", help="sequential: task order")
    train.add_argument("--sampling", choices=["equal", "proportional", "annealed"], default="annealed")
    train.add_argument("--sts-head", choices=["linear", "cosine"], default="linear")
    train.add_argument("--pooling", choices=["cls", "pooler", "mean"], default="mean")
    train.add_argument("--pair-features", choices=["concat", "rich"], default="concat")
    train.add_argument("--lr", type=float, default=5e-5, help="encoder learning rate")
    train.add_argument("--head-lr", type=float, default=1e-3, help="task heads' learning rate")
    train.add_argument("--dropout", type=float, default=0.1)
    train.add_argument("--epochs", type=int, help="default: the scale's (baseline: 10)")
    train.add_argument("--batch-size", type=int, help="examples per task per step")
    train.add_argument("--warmup", type=float, default=0.1)
    train.add_argument("--clip", type=float, default=1.0)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--smart-lambda", type=float, default=0.0, help="SMART weight (0: off)")
    train.add_argument("--smart-sigma", type=float, default=1e-5, help="SMART perturbation std")
    train.add_argument("--smart-steps", type=int, choices=[0, 1], default=0,
                       help="0: one random perturbation (the paper); 1: one ascent step")
    train.add_argument("--max-examples", type=int, help="training rows per task (default: the scale's)")
    train.add_argument("--dev-examples", type=int, help="dev rows per task (default: the scale's)")
    train.add_argument("--checkpoint", help="all-MiniLM-L6-v2, bert-base-uncased or a folder")
    train.add_argument("--data-dir")
    train.add_argument("--device")
    train.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    train.set_defaults(func=cmd_train)

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
