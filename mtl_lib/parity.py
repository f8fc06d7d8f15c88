"""Check minBERT against the reference: Hugging Face ``transformers.BertModel``.

Writing a model from scratch is only worth it if it computes the same
function as the reference on the same weights. ``compare_with_reference``
feeds identical padded batches to both and reports, per output, whether the
tensors are bit-for-bit equal, equal within a tolerance, and the largest
difference. ``time_forward`` measures both side by side on one batch.

``transformers`` is a development dependency (``pip install -e ".[dev]"``),
imported only here, never by the rest of the course.
"""

from __future__ import annotations

import statistics
import time

import pandas as pd
import torch

from .bert import BertModel
from .pretrained import resolve_checkpoint
from .timing import synchronize


def load_reference(name_or_path: str = "all-MiniLM-L6-v2", attn_implementation: str = "eager"):
    """transformers.BertModel on the same checkpoint folder, in eval mode."""
    try:
        import transformers
    except ImportError as err:
        raise ImportError("The parity check needs Hugging Face transformers as the reference: "
                          "`pip install -e \".[dev]\"` (or `pip install transformers`).") from err
    transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bars in notebooks and logs
    folder = resolve_checkpoint(name_or_path)
    return transformers.BertModel.from_pretrained(str(folder),
                                                  attn_implementation=attn_implementation).eval()


@torch.inference_mode()
def compare_with_reference(model: BertModel, reference, batch: dict, tol: float = 1e-5) -> pd.DataFrame:
    """One row per output: exact?, allclose(tol)?, max |difference| over real tokens."""
    ours = model(**batch)
    ref = reference(**batch)
    real = batch["attention_mask"].bool()  # padding positions are not compared
    pairs = {
        "last_hidden_state": (ours["last_hidden_state"][real], ref.last_hidden_state[real]),
        "pooler_output": (ours["pooler_output"], ref.pooler_output),
    }
    rows = []
    for name, (a, b) in pairs.items():
        rows.append({"output": name, "shape": tuple(a.shape), "exact": torch.equal(a, b),
                     f"allclose({tol:g})": torch.allclose(a, b, atol=tol, rtol=0),
                     "max |diff|": (a - b).abs().max().item()})
    return pd.DataFrame(rows)


@torch.inference_mode()
def time_forward(models: dict, batch: dict, repeats: int = 10, warmup: int = 2) -> pd.DataFrame:
    """Median seconds of one forward pass per model, measured interleaved on the same batch."""
    times = {name: [] for name in models}
    device = batch["input_ids"].device
    for i in range(warmup + repeats):
        for name, model in models.items():
            synchronize(device)
            start = time.perf_counter()
            model(**batch)
            synchronize(device)  # GPU kernels run asynchronously: wait before reading the clock
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    first = next(iter(models))
    medians = {name: statistics.median(t) for name, t in times.items()}
    return pd.DataFrame([{"model": name, "median seconds": s, f"ratio to {first}": s / medians[first]}
                         for name, s in medians.items()])
