"""How sure is a difference? Standard errors, seeds and paired intervals for the course's tables.

A dev score is measured on a sample of dev rows by a model trained with one seed, so it wobbles
for two reasons: which rows were scored (``standard_errors``: the binomial error of an accuracy,
Fisher's approximation for Pearson r) and which seed trained the model (the spread over seeds).
Comparing two configurations is sharper when they are *paired*: trained with the same seeds and
scored on the same rows, so that what they share cancels in the difference.

* ``mean_sd``            - mean and standard deviation over seeds;
* ``paired_interval``    - the mean of per-seed differences with a 95 % t interval (seeds >= 2);
* ``bootstrap_interval`` - with one seed: resample the dev rows, score both models' predictions on
  the same resample, and take the 2.5 and 97.5 percentiles of the difference.

An interval that excludes 0 is a difference the data can carry; one that includes 0 is not
(yet) evidence either way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy.stats import t as student_t

METRICS = ("sst_acc", "para_acc", "sts_corr", "overall")


def overall_score(sst_acc: float, para_acc: float, sts_corr: float) -> float:
    """The course's overall score: the mean of SST accuracy, Quora accuracy and (1 + STS r) / 2."""
    return (sst_acc + para_acc + (1 + sts_corr) / 2) / 3


def standard_errors(row: dict, n: int | dict) -> dict:
    """Standard errors of a row of dev scores from the dev sample alone (not from the seed).

    ``n``: dev rows scored (one number, or per task: {'sst': 1101, 'para': 1000, 'sts': 863}).
    Accuracy: sqrt(p (1 - p) / n); Pearson r: (1 - r^2) / sqrt(n - 3); overall: the three
    combined as independent, STS weighted 1/2 as in the overall score.
    """
    count = n if isinstance(n, dict) else {"sst": n, "para": n, "sts": n}
    se = {"sst_acc": math.sqrt(row["sst_acc"] * (1 - row["sst_acc"]) / count["sst"]),
          "para_acc": math.sqrt(row["para_acc"] * (1 - row["para_acc"]) / count["para"]),
          "sts_corr": (1 - row["sts_corr"] ** 2) / math.sqrt(count["sts"] - 3)}
    se["overall"] = math.sqrt(se["sst_acc"] ** 2 + (se["sts_corr"] / 2) ** 2 + se["para_acc"] ** 2) / 3
    return se


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; 0.0 for a single value)."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise ValueError("mean_sd needs at least one value.")
    return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0


def t_quantile(level: float, dof: int) -> float:
    """The two-sided Student-t quantile (e.g. 4.303 for 95 % and 2 degrees of freedom)."""
    return float(student_t.ppf(0.5 + level / 2, dof))


def paired_interval(new: Sequence[float], old: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean of the per-seed differences new - old, and its ``level`` t interval: (mean, low, high).

    ``new[i]`` and ``old[i]`` must come from the same seed (and the same dev rows).
    """
    diff = np.asarray(new, dtype=float) - np.asarray(old, dtype=float)
    if diff.size < 2:
        raise ValueError(f"paired_interval needs two or more seeds (got {diff.size}); with one seed use "
                         "bootstrap_interval over dev examples.")
    half = t_quantile(level, diff.size - 1) * diff.std(ddof=1) / math.sqrt(diff.size)
    return float(diff.mean()), float(diff.mean() - half), float(diff.mean() + half)


def bootstrap_interval(score: Callable[[dict], float], sizes: dict[str, int], samples: int = 1000,
                       level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """A paired bootstrap over dev rows: (difference on all rows, low, high).

    ``sizes``: dev rows per task, {'sst': 1000, 'sts': 863}. ``score(rows)`` gets, per task, an
    index array of dev rows (drawn with replacement, each task from its own rows) and returns
    new - old scored on those rows, so that both models are always scored on the same resample.
    """
    rng = np.random.default_rng(seed)
    full = score({task: np.arange(n) for task, n in sizes.items()})
    draws = np.array([score({task: rng.integers(0, n, n) for task, n in sizes.items()}) for _ in range(samples)])
    low, high = np.percentile(draws, [50 * (1 - level), 50 * (1 + level)])
    return float(full), float(low), float(high)


def significant(low: float, high: float) -> bool:
    """Whether an interval excludes zero."""
    return low > 0 or high < 0


def missing(value) -> bool:
    """None or NaN: a cell with nothing to show."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt_cell(record: dict, key: str) -> str:
    """A summary row's ``key`` as 'mean ± sd' ('' when it has none)."""
    if key not in record or missing(record.get(key)):
        return ""
    return f"{record[key]:.3f} ± {record[f'{key}_sd']:.3f}"


def fmt_diff(record: dict, key: str) -> str:
    """A summary row's paired difference in ``key`` as '+0.012 [-0.003, +0.027]', with ' *' when the
    interval excludes 0 ('' when it has none)."""
    if f"d_{key}" not in record or missing(record.get(f"d_{key}")):
        return ""
    mean, low, high = record[f"d_{key}"], record[f"d_{key}_low"], record[f"d_{key}_high"]
    mark = " *" if significant(low, high) else ""
    return f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]{mark}"
