"""The frozen baseline: train only the heads, on cached sentence embeddings.

With the encoder frozen, its output for a sentence never changes, so
re-encoding every sentence every epoch is wasted work - and the encoder is
~99% of the cost. Encode each split ONCE, keep the (N, H) embeddings (in
memory, and on disk keyed by every encoder weight + the tokenizer + pooling +
max_length + the exact sentences), and train the small heads on them: 10
epochs of three heads take seconds instead of ten full encoding passes.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from .progress import bar as progress_bar

from .data import TASKS
from .encode import encode
from .evaluate import METRIC_NAMES, metric, overall_score
from .precision import autocast, autocast_dtype, name as precision_name
from .model import MultitaskBert, predictions, task_loss


def default_cache_dir() -> Path:
    return Path(os.environ.get("MTL_CACHE_DIR", Path.home() / ".cache" / "mtl-minbert" / "features"))


def tokenizer_fingerprint(tokenizer) -> str:
    """Everything that decides a ``BertTokenizer``'s token ids, as text: the vocabulary, lower-casing,
    the rest of the normaliser and the special tokens (its ``tokenizers`` JSON). Truncation and
    padding are left out: they are set per call, and ``max_length`` is keyed on its own."""
    config = json.loads(tokenizer.backend.to_str())
    config.pop("truncation", None)
    config.pop("padding", None)
    return json.dumps(config, sort_keys=True)


def feature_key(model: MultitaskBert, tokenizer, sentences: list[str], max_length: int,
                precision: str = "fp32") -> str:
    """A hash of what decides the embeddings: weights, tokenizer, pooling, truncation, the sentences,
    and the precision they were computed in (``"fp32"`` or ``"bf16"``, as resolved for the device).

    Every encoder tensor is hashed in full (name, dtype, shape, bytes; ~90 MB for MiniLM, well
    under a second): a fingerprint of a few tensors would serve a fine-tuned encoder, whose
    other tensors changed, the embeddings of the old one.
    """
    h = hashlib.sha256()
    h.update(f"{model.config.checkpoint}|{model.config.pooling}|{max_length}|".encode())
    if precision != "fp32":  # fp32 keys stay those of the caches written before precision was an option
        h.update(f"precision={precision}|".encode())
    for name, tensor in model.encoder.state_dict().items():  # parameters and buffers
        tensor = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        h.update(tensor.reshape(-1).view(torch.uint8).numpy())  # the raw bytes, any dtype
    h.update(tokenizer_fingerprint(tokenizer).encode())
    h.update("\x00".join(sentences).encode())
    return h.hexdigest()[:24]


def cached_embeddings(model: MultitaskBert, tokenizer, sentences: list[str], max_length: int = 128,
                      batch_size: int = 64, cache_dir: str | Path | None = None,
                      device=None, progress: bool = True, precision: str = "auto") -> torch.Tensor:
    """(N, H) embeddings of ``sentences``, read from the disk cache when present; computed under
    ``precision`` (``mtl_lib.precision``), which is part of the cache key."""
    device = torch.device(device or next(model.parameters()).device)
    dtype = autocast_dtype(device, precision)
    path = None
    if cache_dir is not False:
        folder = Path(cache_dir or default_cache_dir())
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{feature_key(model, tokenizer, sentences, max_length, precision_name(dtype))}.pt"
        if path.exists():
            return torch.load(path, weights_only=True)
    model.eval()
    with autocast(device, dtype):
        emb = encode(model.encoder, tokenizer, sentences, model.config.pooling, batch_size,
                     max_length, device, progress)
    if path is not None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(fd)
        torch.save(emb, tmp)
        os.replace(tmp, path)  # atomic: a crash never leaves a half-written cache file
    return emb


def task_features(model, tokenizer, task: str, df: pd.DataFrame, **kw) -> tuple:
    """(u,) for sst; (u, v) for the pair tasks; each (N, H)."""
    return tuple(cached_embeddings(model, tokenizer, df[col].tolist(), **kw)
                 for col in TASKS[task].sentence_cols)


def train_frozen_heads(model: MultitaskBert, tokenizer, train: dict, dev: dict, epochs: int = 10,
                       lr: float = 1e-3, batch_size: int = 64, max_length: int = 128, seed: int = 0,
                       cache_dir=None, device=None, progress: bool = True,
                       precision: str = "auto") -> tuple[dict, pd.DataFrame]:
    """Freeze the encoder, cache features, train each head on its task.

    Returns ``(dev metrics, history)``; the history has per-epoch train loss
    and train/dev metric per task, and the seconds spent encoding vs training.
    """
    device = torch.device(device or "cpu")
    model.to(device)
    for p in model.encoder.parameters():
        p.requires_grad_(False)
    t0 = time.perf_counter()
    kw = dict(max_length=max_length, cache_dir=cache_dir, device=device, progress=progress, precision=precision)
    feats = {split: {t: task_features(model, tokenizer, t, df, **kw) for t, df in frames.items()}
             for split, frames in (("train", train), ("dev", dev))}
    encode_seconds = time.perf_counter() - t0
    torch.manual_seed(seed)
    history, metrics = [], {}
    for task in train:
        head_params = [p for n, p in model.heads.named_parameters() if n.startswith(task + ".")]
        optimizer = torch.optim.AdamW(head_params, lr=lr) if head_params else None
        x_train = [f.to(device) for f in feats["train"][task]]
        y_train = torch.tensor(train[task]["label"].to_numpy()).to(device)
        for epoch in progress_bar(range(epochs), progress, desc=f"frozen {task} head", leave=False):
            model.heads.train()
            total = 0.0
            if optimizer is not None:  # the cosine STS head has nothing to train
                order = torch.randperm(len(y_train), device=device)
                for start in range(0, len(order), batch_size):
                    idx = order[start:start + batch_size]
                    loss = task_loss(task, model.head(task, *(x[idx] for x in x_train)), y_train[idx])
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    total += loss.detach() * len(idx)
            row = {"task": task, "epoch": epoch + 1, "train_loss": float(total) / len(y_train)}
            for split, frames in (("train", train), ("dev", dev)):
                row[f"{split}_metric"] = score_features(model, task, feats[split][task], frames[task], device)
            history.append(row)
        metrics[METRIC_NAMES[task]] = history[-1]["dev_metric"]
    if len(metrics) == 3:
        metrics["overall"] = overall_score(metrics["sst_acc"], metrics["para_acc"], metrics["sts_corr"])
    metrics["encode_seconds"] = encode_seconds
    metrics["train_seconds"] = time.perf_counter() - t0 - encode_seconds
    return metrics, pd.DataFrame(history)


@torch.inference_mode()
def score_features(model, task: str, features: tuple, df: pd.DataFrame, device) -> float:
    model.heads.eval()
    out = model.head(task, *(f.to(device) for f in features))
    return metric(task, predictions(task, out).double().cpu().numpy(), df["label"].to_numpy())
