"""Scores, prediction files and result tables.

    sentiment   accuracy of the 5-way argmax
    paraphrase  accuracy of logit > 0
    similarity  Pearson r between predicted and gold scores
    overall     (sst_acc + (1 + sts_corr) / 2 + para_acc) / 3

The Pearson r is mapped from [-1, 1] to [0, 1] so that all three terms of
the overall score share a range.

A head has *collapsed* when its predictions carry no information about the
input: every sentiment or paraphrase prediction is the same class, or every
similarity prediction the same score (its r is then 0, see ``metric``).
``collapse_reasons`` says which heads did; every run records it in metrics.json.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from .progress import bar as progress_bar

from .batches import eval_batches, to_device
from .model import TASK_NAMES, predictions
from .stats import overall_score  # noqa: F401  (re-exported: the metrics live here)

METRIC_NAMES = {"sst": "sst_acc", "para": "para_acc", "sts": "sts_corr"}
# The prediction files' header names, as the CS224N starter's evaluation.py writes them ("Similiary" sic:
# a leaderboard parser that checks headers expects exactly these).
PREDICTION_COLUMNS = {"sst": "Predicted_Sentiment", "para": "Predicted_Is_Paraphrase",
                      "sts": "Predicted_Similiary"}
COLLAPSE_NAMES = {"sst": "SST", "para": "Quora", "sts": "STS"}
#: STS predictions whose standard deviation is below this are constant: far above float32 rounding
#: noise on a 0..5 scale (~5e-7), far below the spread of any working head (about 1 on the dev sets).
STS_CONSTANT_STD = 1e-5


def metric(task: str, predicted: np.ndarray, gold: np.ndarray) -> float:
    if task == "sts":
        if np.std(predicted) == 0 or np.std(gold) == 0:
            return 0.0  # a constant prediction has no correlation (not NaN)
        return float(np.corrcoef(predicted, gold)[0, 1])
    return float((predicted == gold).mean())


def collapse_reasons(preds: dict[str, np.ndarray], split: str = "dev") -> dict[str, str]:
    """For each task of ``preds``, '' or why its head collapsed (one class; STS: std < ``STS_CONSTANT_STD``).

    ``{"sst": "", "para": "every Quora dev prediction is class 0 (200 rows)", "sts": ""}``.
    A single row is never called collapsed.
    """
    reasons = {}
    for task, values in preds.items():
        values, name, why = np.asarray(values, dtype=float), COLLAPSE_NAMES[task], ""
        if len(values) > 1 and task == "sts" and np.std(values) < STS_CONSTANT_STD:
            why = (f"every {name} {split} prediction is {values.mean():.4f} "
                   f"(std {np.std(values):.1g} < {STS_CONSTANT_STD:g}; {len(values)} rows)")
        elif len(values) > 1 and task != "sts" and np.all(values == values[0]):
            why = f"every {name} {split} prediction is class {values[0]:g} ({len(values)} rows)"
        reasons[task] = why
    return reasons


@torch.inference_mode()
def model_outputs(model, tokenizer, task: str, df: pd.DataFrame, batch_size: int = 64,
                  max_length: int = 128, device=None, amp_dtype=None, progress: bool = False) -> torch.Tensor:
    """The raw outputs for every row of ``df``, in row order, on the CPU, in float32:
    sst (N, 5) logits, para (N,) logits, sts (N,) scores. Batches are length-sorted inside."""
    device = torch.device(device) if device is not None else next(model.parameters()).device  # "cpu" works too
    was_training = model.training
    model.eval()
    out = None
    batches = eval_batches(task, df, tokenizer, batch_size, max_length)
    total = -(-len(df) // batch_size)
    for idx, batch, _ in progress_bar(batches, progress, total=total, desc=f"predict {task}", leave=False):
        batch, _ = to_device(batch, None, device)
        with torch.autocast(device.type, dtype=amp_dtype or torch.bfloat16, enabled=amp_dtype is not None):
            output = model(task, batch).float().cpu()
        if out is None:
            out = torch.zeros((len(df), *output.shape[1:]))
        out[torch.as_tensor(idx)] = output
    model.train(was_training)
    return out if out is not None else torch.zeros((0, 5) if task == "sst" else (0,))


def predict(model, tokenizer, task: str, df: pd.DataFrame, batch_size: int = 64,
            max_length: int = 128, device=None, amp_dtype=None, progress: bool = False) -> np.ndarray:
    """Predictions for every row of ``df``, in row order: what ``metric`` scores."""
    output = model_outputs(model, tokenizer, task, df, batch_size, max_length, device, amp_dtype, progress)
    return predictions(task, output).double().numpy()


def evaluate(model, tokenizer, frames: dict[str, pd.DataFrame], batch_size: int = 64,
             max_length: int = 128, device=None, amp_dtype=None, progress: bool = False) -> tuple[dict, dict]:
    """Score every task in ``frames`` (which must have labels); ``progress`` shows a bar per task.

    Returns ``(metrics, predictions)``: metrics has ``sst_acc``, ``para_acc``,
    ``sts_corr`` and, when all three are there, ``overall``.
    """
    metrics, preds = {}, {}
    for task in TASK_NAMES:
        if task not in frames:
            continue
        df = frames[task]
        preds[task] = predict(model, tokenizer, task, df, batch_size, max_length, device, amp_dtype, progress)
        metrics[METRIC_NAMES[task]] = metric(task, preds[task], df["label"].to_numpy())
    if len(metrics) == 3:
        metrics["overall"] = overall_score(metrics["sst_acc"], metrics["para_acc"], metrics["sts_corr"])
    return metrics, preds


def prediction_text(task: str, value: float) -> str:
    """One prediction as the CS224N starter's evaluation.py prints it (an f-string of a numpy value, which
    formats it as the Python number it converts to): an SST class as an integer (``3``), a paraphrase decision
    as the float its rounded sigmoid is (``1.0``), an STS score as the model's float32 output widened to a
    double (``4.07734489440918``)."""
    return str(int(value)) if task == "sst" else repr(float(np.float32(value)))


def write_predictions(out_dir: str | Path, split: str, frames: dict[str, pd.DataFrame],
                      preds: dict[str, np.ndarray]) -> list[Path]:
    """CS224N-format files, e.g. ``sst-dev-output.csv``, line for line as the starter's evaluation.py writes
    them: the header ``id \\t Predicted_Sentiment \\n`` (a tab and spaces), then ``{id} , {prediction} \\n``
    per row (``prediction_text``). ``read_predictions`` reads them back."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for task, values in preds.items():
        path = out_dir / f"{task}-{split}-output.csv"
        lines = [f"id \t {PREDICTION_COLUMNS[task]} \n"]
        lines += [f"{row_id} , {prediction_text(task, value)} \n" for row_id, value in zip(frames[task]["id"], values)]
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(lines))
        tmp.replace(path)  # atomic: never a half-written file
        paths.append(path)
    return paths


def read_predictions(path: str | Path) -> pd.DataFrame:
    """A prediction file as a frame with the columns ``id`` and ``prediction`` (float), in file order.

    Reads the starter's format (``write_predictions``) and this course's earlier one (header ``id , NAME``,
    no trailing spaces): a line is an id, a comma, a value. Anything else is an error naming the file and line."""
    path = Path(path)
    lines = path.read_text().splitlines()
    if not lines or lines[0].split()[:1] != ["id"]:
        raise ValueError(f"{path}: not a prediction file (its first line should be the header 'id ... "
                         "Predicted_...'); write it with mtl_lib.evaluate.write_predictions.")
    ids, values = [], []
    for number, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        row_id, comma, value = line.partition(",")
        try:
            values.append(float(value))
        except ValueError:
            raise ValueError(f"{path}:{number}: expected 'id , prediction', got {line!r}.") from None
        ids.append(row_id.strip())
    return pd.DataFrame({"id": ids, "prediction": values})


def run_predictions(run_dir: str | Path, split: str = "dev") -> dict[str, np.ndarray]:
    """The predictions a run wrote for ``split`` (``RUN/predictions/<task>-<split>-output.csv``, read by
    ``read_predictions``), task -> values in file order; tasks without a file are left out."""
    folder = Path(run_dir) / "predictions"
    return {task: read_predictions(path)["prediction"].to_numpy()
            for task in PREDICTION_COLUMNS if (path := folder / f"{task}-{split}-output.csv").exists()}


def results_table(rows: dict[str, dict]) -> pd.DataFrame:
    """Named metric dicts -> a DataFrame with one row per run and the metric columns."""
    columns = ["sst_acc", "para_acc", "sts_corr", "overall"]
    table = pd.DataFrame.from_dict(rows, orient="index")
    return table[[c for c in columns if c in table] + [c for c in table if c not in columns]]
