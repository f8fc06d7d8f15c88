"""Error analysis of a trained model, measured over a whole dev set (the paper's section 6).

* ``confusion_matrix`` / ``most_wrong`` - which sentiment classes are confused,
  and the sentences where the model is most confidently wrong;
* ``occlusion`` / ``word_importance`` / ``reliance`` - how much a sentiment
  prediction rests on single words: remove each word in turn and measure the
  drop in the probability of the class the model predicted,

      importance(w | x) = p(c | x) - p(c | x without w),   c = argmax p(. | x),

  then average it per word over the dev set;
* ``lexical_overlap`` / ``error_by_overlap`` - whether a pair model's error
  grows with the words the two sentences share (does it over-score pairs
  that look alike?).

Words are the space-separated tokens of the data files (SST is pre-tokenized:
``"It 's a lovely film ."``).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import torch
from .progress import bar as progress_bar

from .evaluate import model_outputs

SST_CLASSES = ["very negative", "negative", "neutral", "positive", "very positive"]


# --- sentiment: which classes, which sentences -----------------------------------------------
def confusion_matrix(gold, predicted, n_classes: int = 5) -> np.ndarray:
    """(n_classes, n_classes) counts: row = gold class, column = predicted class."""
    gold, predicted = np.asarray(gold, dtype=int), np.asarray(predicted, dtype=int)
    if gold.shape != predicted.shape:
        raise ValueError(f"gold has {gold.shape} labels but predicted has {predicted.shape}.")
    for name, values in (("gold", gold), ("predicted", predicted)):
        if values.size and (values.min() < 0 or values.max() >= n_classes):
            raise ValueError(f"{name} holds classes outside 0..{n_classes - 1}: {sorted(set(values.tolist()))}.")
    matrix = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(matrix, (gold, predicted), 1)
    return matrix


def sst_probabilities(model, tokenizer, df: pd.DataFrame, **kwargs) -> np.ndarray:
    """(N, 5) class probabilities for the ``sentence`` column of ``df``, in row order."""
    return torch.softmax(model_outputs(model, tokenizer, "sst", df, **kwargs), dim=-1).numpy()


def most_wrong(df: pd.DataFrame, probs: np.ndarray, k: int = 10) -> pd.DataFrame:
    """The ``k`` worst SST predictions: furthest from the gold class, then least probability on it.

    Returns columns sentence, gold, predicted, distance (|predicted - gold| in classes)
    and p_gold (the probability the model gave the right class).
    """
    predicted = probs.argmax(1)
    gold = df["label"].to_numpy()
    table = pd.DataFrame({"sentence": df["sentence"].str.strip().to_numpy(), "gold": gold,
                          "predicted": predicted, "distance": np.abs(predicted - gold),
                          "p_gold": probs[np.arange(len(df)), gold]})
    return table.sort_values(["distance", "p_gold"], ascending=[False, True]).head(k).reset_index(drop=True)


# --- sentiment: occlusion ----------------------------------------------------------------------
def occlusion(model, tokenizer, df: pd.DataFrame, batch_size: int = 128, max_length: int = 128,
              device=None, progress: bool = True) -> pd.DataFrame:
    """Remove each word of each sentence in turn; one row per (sentence, word).

    Columns: ``row`` (position in ``df``), ``position`` (word index), ``word``
    (lower-cased), ``importance`` (drop in the probability of the predicted
    class; > 0: the word supported the prediction) and ``flipped`` (the
    predicted class changes without the word). Costs one forward pass per word.
    """
    words = [str(s).split() for s in df["sentence"]]
    variants = [(row, i, " ".join(w[:i] + w[i + 1:])) for row, w in enumerate(words) for i in range(len(w))]
    if not variants:
        return pd.DataFrame(columns=["row", "position", "word", "importance", "flipped"])
    kwargs = dict(batch_size=batch_size, max_length=max_length, device=device)
    full = sst_probabilities(model, tokenizer, df, **kwargs)  # (N, 5)
    occluded = pd.DataFrame(variants, columns=["row", "position", "sentence"])
    chunks, size = [], 4096  # several chunks, so that the progress bar moves
    for start in progress_bar(range(0, len(occluded), size), progress, desc="occlusion", unit="chunk"):
        chunks.append(sst_probabilities(model, tokenizer, occluded.iloc[start:start + size], **kwargs))
    probs = np.concatenate(chunks)  # (V, 5)
    rows = occluded["row"].to_numpy()
    predicted = full.argmax(1)[rows]  # (V,) the class predicted for the whole sentence
    return pd.DataFrame({
        "row": rows, "position": occluded["position"].to_numpy(),
        "word": [words[r][i].lower() for r, i in zip(rows, occluded["position"])],
        "importance": full[rows, predicted] - probs[np.arange(len(rows)), predicted],
        "flipped": probs.argmax(1) != predicted,
    })


def word_importance(occluded: pd.DataFrame, min_count: int = 5) -> pd.DataFrame:
    """Per word, over the dev set: count, mean importance, flip rate; most important first.

    Words seen fewer than ``min_count`` times are left out (one lucky sentence is no pattern).
    """
    table = occluded.groupby("word").agg(count=("importance", "size"), importance=("importance", "mean"),
                                         flip_rate=("flipped", "mean"))
    table = table[table["count"] >= min_count]
    return table.sort_values("importance", ascending=False)


def reliance(occluded: pd.DataFrame) -> dict:
    """How much predictions rest on one word, as fractions over the sentences analysed.

    ``one_word_flips``: sentences whose predicted class changes when some single word goes;
    ``top_word_share``: the mean share of a sentence's total positive importance carried by
    its most important word (1.0 = all of it on one word);
    ``mean_words``: words per sentence, for scale (a uniform spread would give 1 / mean_words).
    """
    by_sentence = occluded.groupby("row")
    positive = occluded.assign(importance=occluded["importance"].clip(lower=0)).groupby("row")["importance"]
    total, top = positive.sum(), positive.max()
    share = (top[total > 0] / total[total > 0])
    return {"sentences": int(by_sentence.ngroups), "one_word_flips": float(by_sentence["flipped"].any().mean()),
            "top_word_share": float(share.mean()) if len(share) else 0.0,
            "mean_words": float(by_sentence.size().mean())}


def concentration(occluded: pd.DataFrame, k: int = 50, min_count: int = 5) -> dict:
    """Do a few word types carry the predictions? The ``k`` types with the highest mean importance
    (seen at least ``min_count`` times, as in :func:`word_importance`): their share of all positive
    importance (``importance_share``) against their share of the word tokens (``token_share``).

    Ranking by mean, not total, importance matters: by total, the commas and articles that
    fill every sentence come first just by being frequent.
    """
    top = word_importance(occluded, min_count).head(k).index
    positive = occluded["importance"].clip(lower=0)
    is_top = occluded["word"].isin(top)
    return {"k": len(top), "types": int(occluded["word"].nunique()),
            "importance_share": float(positive[is_top].sum() / positive.sum()) if positive.sum() > 0 else 0.0,
            "token_share": float(is_top.mean()) if len(occluded) else 0.0}


# --- pairs: error against lexical overlap ------------------------------------------------------
def words_of(sentence: str) -> set[str]:
    """Lower-cased alphanumeric words: 'It's a film.' -> {'it', 's', 'a', 'film'}."""
    return set(re.findall(r"[a-z0-9]+", str(sentence).lower()))


def lexical_overlap(first: str, second: str) -> float:
    """Jaccard overlap of the two word sets, in [0, 1] (two empty sentences: 0)."""
    a, b = words_of(first), words_of(second)
    return len(a & b) / len(a | b) if a | b else 0.0


def error_by_overlap(df: pd.DataFrame, predicted, bins: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Signed error (predicted - gold) of a pair task against the two sentences' word overlap.

    Returns ``(per_pair, per_bin)``: per_pair has overlap, gold, predicted, error;
    per_bin groups the pairs into ``bins`` equal-count overlap bins with the mean
    overlap, gold, predicted, signed error and absolute error of each. For 0/1
    paraphrase labels the signed error is the false-positive minus the
    false-negative rate of the bin.
    """
    predicted = np.asarray(predicted, dtype=float)
    if len(predicted) != len(df):
        raise ValueError(f"{len(predicted)} predictions for {len(df)} pairs.")
    pairs = pd.DataFrame({
        "overlap": [lexical_overlap(a, b) for a, b in zip(df["sentence1"], df["sentence2"])],
        "gold": df["label"].to_numpy(dtype=float), "predicted": predicted})
    pairs["error"] = pairs["predicted"] - pairs["gold"]
    pairs["abs_error"] = pairs["error"].abs()
    groups = pd.qcut(pairs["overlap"].rank(method="first"), q=min(bins, len(pairs)), labels=False)
    per_bin = pairs.groupby(groups).agg(n=("overlap", "size"), overlap=("overlap", "mean"), gold=("gold", "mean"),
                                        predicted=("predicted", "mean"), error=("error", "mean"),
                                        abs_error=("abs_error", "mean"))
    per_bin.index.name = "bin"
    return pairs, per_bin


def overlap_slope(pairs: pd.DataFrame) -> dict:
    """Least-squares slopes of the signed error on overlap: alone, and with the gold score held fixed.

    Pairs that share words also tend to have high gold scores, and a model that shrinks
    its predictions toward the mean under-scores those; ``given_gold`` (the overlap
    coefficient of error ~ 1 + overlap + gold) separates the two effects.
    """
    ones = np.ones(len(pairs))
    alone = np.linalg.lstsq(np.column_stack([ones, pairs["overlap"]]), pairs["error"], rcond=None)[0]
    both = np.linalg.lstsq(np.column_stack([ones, pairs["overlap"], pairs["gold"]]), pairs["error"], rcond=None)[0]
    return {"slope": float(alone[1]), "given_gold": float(both[1]), "gold_coefficient": float(both[2])}
