"""Training-step benchmark: ``python -m mtl_lib.bench``.

Measures, side by side in one process on the SAME batches of real data
(interleaved rounds, median of the repeats), one optimisation step of:

* the summed multi-task loss (a batch of every task);
* the same with PCGrad (per-task backward passes + surgery);
* the same with SMART (one random perturbation: one more forward per task);
* SMART with one ascent step (two more forwards and a backward per task);

and prints seconds per step, the ratio to the summed step, real (non-pad)
tokens per second, and peak memory; ``--json FILE`` writes the table too.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time

import torch

from .batches import collate
from .data import TASKS, load_task
from .model import MultitaskBert
from .tokenizer import load_tokenizer
from .train import Trainer, TrainConfig

VARIANTS = {
    "summed": {},
    "pcgrad": {"pcgrad": True},
    "smart (random)": {"smart_lambda": 1.0},
    "smart (1 ascent step)": {"smart_lambda": 1.0, "smart_steps": 1},
}


def fixed_batches(tok, batch_size: int, max_length: int, offset: int = 0, data_dir=None) -> dict:
    """One batch per task from the real training files (the same for every variant)."""
    out = {}
    for task in TASKS:
        df = load_task(task, "train", data_dir, limit=offset + batch_size).iloc[offset:]
        out[task] = collate(task, df, tok, max_length)
    return out


def bench_steps(batch_size: int = 32, max_length: int = 128, repeats: int = 5, device: str = "cpu",
                variants: dict = VARIANTS, data_dir=None, progress: bool = True) -> list[dict]:
    device = torch.device(device)
    tok = load_tokenizer()
    batches = [fixed_batches(tok, batch_size, max_length, r * batch_size, data_dir) for r in range(repeats + 1)]
    real_tokens = [sum(int(b[0]["attention_mask"].sum()) for b in round_.values()) for round_ in batches]
    trainers = {}
    for name, options in variants.items():
        torch.manual_seed(0)
        cfg = TrainConfig(batch_size=batch_size, max_length=max_length, **options)
        trainers[name] = Trainer(MultitaskBert.from_pretrained(), tok, {}, {}, cfg, device=device,
                                 progress=False)
        trainers[name].model.train()
    times = {name: [] for name in variants}
    for r, round_ in enumerate(batches):  # round 0 warms up
        for name, trainer in trainers.items():
            sync(device)
            start = time.perf_counter()
            trainer.update(trainer.losses(round_))
            sync(device)
            if r > 0:
                times[name].append(time.perf_counter() - start)
        if progress:
            print(f"round {r}/{repeats} done", file=sys.stderr)
    base = statistics.median(times["summed"])
    tokens = statistics.mean(real_tokens[1:])
    rows = []
    for name, t in times.items():
        s = statistics.median(t)
        rows.append({"step": name, "seconds": round(s, 4), "ratio_to_summed": round(s / base, 3),
                     "real_tokens_per_s": round(tokens / s, 1)})
    return rows


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def peak_memory_mb(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mtl_lib.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=32, help="examples per task per step")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-dir")
    parser.add_argument("--json", help="also write the table to this file")
    args = parser.parse_args(argv)
    rows = bench_steps(args.batch_size, args.max_length, args.repeats, args.device, data_dir=args.data_dir)
    print(f"{'step':24s} {'s/step':>8s} {'ratio':>7s} {'tokens/s':>9s}")
    for row in rows:
        print(f"{row['step']:24s} {row['seconds']:8.3f} {row['ratio_to_summed']:7.3f} {row['real_tokens_per_s']:9.1f}")
    peak = peak_memory_mb(torch.device(args.device))
    print(f"batch {args.batch_size} per task, {torch.get_num_threads()} threads, device {args.device}, "
          f"peak memory {peak:.0f} MiB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "batch_size": args.batch_size, "device": args.device,
                       "threads": torch.get_num_threads(), "peak_memory_mib": peak}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
