"""Batches of real sentences with dynamic padding.

Padding every sentence to a fixed 128 tokens wastes compute: most SST
sentences are ~25 word pieces. Instead each batch is tokenized on the fly
and padded only to its own longest sentence. For evaluation, sentences are
also sorted by length first, so that a batch holds sentences of similar
length and almost nothing is padding.

A pair task's batch holds 2B rows - all first sentences, then all second
sentences - so the encoder embeds both sides in one call.
"""

from __future__ import annotations

from typing import Iterator

import pandas as pd
import torch
from torch.utils.data import DataLoader

from .data import TASKS
from .distributed import shard_rows


def sentences_of(task: str, df: pd.DataFrame) -> list[str]:
    """The texts to tokenize, in batch-row order (pairs: firsts, then seconds)."""
    cols = TASKS[task].sentence_cols
    return [s for col in cols for s in df[col].tolist()]


def collate(task: str, df: pd.DataFrame, tokenizer, max_length: int, pin: bool = False):
    """Rows of one task -> (tokenized batch, labels or None)."""
    batch = tokenizer(sentences_of(task, df), max_length=max_length)
    labels = None
    if "label" in df:
        dtype = torch.long if task == "sst" else torch.float32
        labels = torch.tensor(df["label"].to_numpy(), dtype=dtype)
    if pin:
        batch = {k: v.pin_memory() for k, v in batch.items()}
        labels = labels.pin_memory() if labels is not None else None
    return batch, labels


def to_device(batch: dict, labels, device):
    """Copy a batch to the device without waiting (pinned memory makes it asynchronous)."""
    batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
    return batch, (labels.to(device, non_blocking=True) if labels is not None else None)


def train_loader(task: str, df: pd.DataFrame, tokenizer, batch_size: int, max_length: int,
                 seed: int, pin: bool = False, rank: int = 0, world: int = 1) -> DataLoader:
    """Shuffled batches; the order depends only on ``seed`` (so a resumed run repeats it).

    On several processes (``world > 1``, see ``mtl_lib.distributed``) every rank
    draws the same global batches of ``batch_size`` rows and keeps its own share;
    the batch then carries ``loss_weight``, the factor for this rank's mean loss.
    """
    def collate_share(idx: list[int]):
        if world == 1:
            return collate(task, df.iloc[idx], tokenizer, max_length, pin)
        mine, weight = shard_rows(idx, rank, world)
        batch, labels = collate(task, df.iloc[mine], tokenizer, max_length, pin)
        return {**batch, "loss_weight": torch.tensor(weight)}, labels

    generator = torch.Generator().manual_seed(seed)
    return DataLoader(range(len(df)), batch_size=batch_size, shuffle=True, generator=generator,
                      collate_fn=collate_share)


def cycle(loader: DataLoader) -> Iterator:
    """Repeat a loader for ever (a small task keeps pace with a large one)."""
    while True:
        yield from loader


def eval_batches(task: str, df: pd.DataFrame, tokenizer, batch_size: int, max_length: int):
    """Length-sorted batches: yields (row positions, batch, labels)."""
    lengths = df[list(TASKS[task].sentence_cols)].apply(lambda col: col.str.len()).max(axis=1)
    order = lengths.to_numpy().argsort(kind="stable")
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        batch, labels = collate(task, df.iloc[idx], tokenizer, max_length)
        yield idx, batch, labels
