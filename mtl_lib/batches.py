"""Batches of real sentences with dynamic padding.

Padding every sentence to a fixed 128 tokens wastes compute: most SST
sentences are ~25 word pieces. Instead each batch is tokenized on the fly
and padded only to its own longest sentence. For evaluation, sentences are
also sorted by length first, so that a batch holds sentences of similar
length and almost nothing is padding.

A pair task's batch holds 2B rows - all first sentences, then all second
sentences - so the encoder embeds both sides in one call.

Training batches are shuffled, and by default grouped by length
(``LengthGroupedBatches``): a random batch pads every sentence to the longest
of its 2B, so on the course's data only 40-50 % of the tokens the encoder
processes are real; batches of rows of similar length are nearly all real
tokens, and attention's cost falls with the square of the length.
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


def token_lengths(task: str, df: pd.DataFrame, tokenizer, max_length: int) -> list[int]:
    """Tokens per row after truncation, special tokens included (pairs: the longer sentence, which
    is what the batch pads both sides to)."""
    lengths = [tokenizer(df[col].tolist(), max_length=max_length)["attention_mask"].sum(1)
               for col in TASKS[task].sentence_cols] if len(df) else [torch.zeros(0, dtype=torch.long)]
    return torch.stack(lengths).amax(0).tolist()


class LengthGroupedBatches:
    """Shuffled batches of rows of similar length: little padding, still a random order.

    Each pass: shuffle the rows, cut them into pools of ``pool`` batches, sort each pool by
    length, cut it into batches, then shuffle the batches. A batch holds rows from one stretch
    of lengths, and which stretch comes next is random. Every draw comes from ``generator``,
    so the order depends only on its seed (a resumed run repeats it), and a second pass (a
    small task cycled in the summed loss) draws a new order. Only the last batch of a pass
    can be short, as with plain shuffled batches: ``len`` is the same ceil(n / batch_size).
    """

    def __init__(self, lengths: list[int], batch_size: int, generator: torch.Generator, pool: int = 50):
        self.lengths, self.batch_size, self.generator, self.pool = lengths, batch_size, generator, pool

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)

    def __iter__(self):
        rows = torch.randperm(len(self.lengths), generator=self.generator).tolist()
        span = self.pool * self.batch_size
        batches = []
        for start in range(0, len(rows), span):
            pool = sorted(rows[start:start + span], key=self.lengths.__getitem__)  # stable: ties keep the shuffle
            batches += [pool[k:k + self.batch_size] for k in range(0, len(pool), self.batch_size)]
        for i in torch.randperm(len(batches), generator=self.generator).tolist():
            yield batches[i]


def train_loader(task: str, df: pd.DataFrame, tokenizer, batch_size: int, max_length: int,
                 seed: int, pin: bool = False, rank: int = 0, world: int = 1,
                 group_by_length: bool = False) -> DataLoader:
    """Shuffled batches (``group_by_length``: of rows of similar length, ``LengthGroupedBatches``);
    the order depends only on ``seed`` (so a resumed run repeats it).

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
    if group_by_length:
        batches = LengthGroupedBatches(token_lengths(task, df, tokenizer, max_length), batch_size, generator)
        return DataLoader(range(len(df)), batch_sampler=batches, collate_fn=collate_share)
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
