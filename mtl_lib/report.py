"""What a command prints and draws about a run: its scores, the files it wrote, its training curves.

Used by the train command (``experiment.train_from_options``) and ``evaluate``, so that a notebook's
run (``experiment.train_or_load``) and the command line report the same way.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from .data import TASKS
from .evaluate import METRIC_NAMES


def save_figure(fig, path: Path) -> Path:
    """Write a figure to ``path`` and close it (so that a notebook calling the command does not show it too)."""
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def wide_history(history: pd.DataFrame) -> pd.DataFrame:
    """The frozen baseline's history (a row per task and epoch: train_metric, dev_metric) in the
    Trainer's shape (a row per epoch: train_sst_acc, dev_sst_acc, ...), so that one plot draws both."""
    if "task" not in history or "dev_metric" not in history:
        return history
    rows = {}
    for record in history.to_dict(orient="records"):
        row = rows.setdefault(record["epoch"], {"epoch": record["epoch"], "phase": "all"})
        name = METRIC_NAMES[record["task"]]
        row[f"train_{name}"], row[f"dev_{name}"] = record["train_metric"], record["dev_metric"]
    return pd.DataFrame(list(rows.values()))


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
    for task in metrics.get("missing_test_files", {}):  # each a FileNotFoundError (experiment.load_test_frames)
        print(f"no {task} test predictions: {TASKS[task].filename('test')} is neither in the data folder nor "
              "downloadable from here; give --data-dir (or MTL_DATA_DIR) a folder that holds it (metrics.json's "
              "missing_test_files says more)")


