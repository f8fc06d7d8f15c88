"""Command line: ``python -m mtl_lib COMMAND``.

Commands so far:

* ``info``   - the environment: versions, device, scale, checkpoint, data folder;
* ``parity`` - minBERT vs transformers.BertModel on real sentences: differences
  for both attention paths, and forward-pass time side by side.
"""

from __future__ import annotations

import argparse
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
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
