"""The course's evidence: ``python -m mtl_lib reproduce TABLE --scale S --seeds N --out DIR``.

Each table is a list of rows; each row is one configuration trained with seeds 0..N-1, and
(except the first) names the row it *extends*, the one it differs from by one thing. Every run
is an ordinary ``train`` run in its own folder, ``DIR/runs/<configuration>/seed<k>/``, so that
tables sharing a configuration (the ladder's summed rung is also Table 1's summed row) share
its runs, and a table can be read, re-scored or extended run by run.

* ``single`` - each task fine-tuned alone at the same budget: the yardstick of every multi-task row;
* ``table1`` - frozen baseline, the six sequential orders (per-phase schedule), the summed loss;
* ``table2`` - linear vs cosine STS head;  ``table3`` - +/- PCGrad;  ``table4`` - +/- SMART,
  with the clean and perturbed passes sharing dropout masks (``same``) and not (``independent``);
* ``ladder`` - frozen baseline -> summed -> + cosine STS -> + rich pair features -> + PCGrad ->
  + SMART, one thing added per rung, with the single-task rows beside it;
* ``all``    - every table above, sharing runs.

The table (``DIR/TABLE.md``, and the per-seed numbers in ``DIR/TABLE.json``) gives the mean and
standard deviation over seeds of each metric and, for each row, its paired difference to the row
it extends with a 95 % interval: over seeds (Student t) with two or more seeds, a paired bootstrap
over dev rows with one. A run that is finished is read back, if it is this row's: a run whose
metrics.json records another configuration or budget (another scale's run in the same DIR, or one
made before ``CONFIGS`` or ``BUDGETS`` changed) is a *mismatch*, reported with what differs, never
counted and never overwritten, as in the sweep. A run that was interrupted resumes; two ``reproduce``
processes may share a folder (each takes the next run nobody holds: ``mtl_lib.locks``), which is
how two CPU cores or two GPUs work through a table in parallel. A table's header gives the
hardware, torch and date each run recorded when it trained (``mtl_lib.records``).

Budgets (``BUDGETS``): every row of a scale trains on the same rows for the same steps. The first
row's configuration is the paper's starting recipe except mean pooling, the pooling MiniLM was
trained with (``BASE``).
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import locks, records
from .evaluate import METRIC_NAMES, metric, overall_score, run_predictions
from .experiment import load_dev, run_logged
from .options import budgets
from .shipped import (README_BEGIN, README_END, SHIPPED, PAPER_ROWS, readme_block, shipped_summary,  # noqa: F401
                      shipped_table, show_shipped, side_by_side, table_lines)  # notebooks import them from here
from .stats import bootstrap_interval, fmt_cell, fmt_diff, mean_sd, paired_interval

#: Per scale: the budget every run of a table shares, and the seeds per row (``options.BUDGETS``, where
#: they are explained). The frozen baseline drops --epochs: its heads train for 10 epochs on cached features.
BUDGETS = budgets("tables")
#: The ladder's first rung: the paper's starting configuration ([u; v] pair features, a linear STS
#: head, equal batches of the three tasks, lr 1e-4, dropout 0.1) with mean pooling.
BASE = ["--recipe", "paper", "--pooling", "mean"]
COURSE = BASE + ["--sts-head", "cosine", "--pair-features", "rich"]
ORDERS = ["sst,para,sts", "sst,sts,para", "para,sst,sts", "para,sts,sst", "sts,sst,para", "sts,para,sst"]

#: configuration name -> the train flags that define it
CONFIGS = {
    "baseline": ["--method", "baseline", *BASE],
    # the fair yardstick of the course recipe: the frozen encoder with its heads (rich pair features, cosine STS)
    "frozen-course": ["--method", "baseline", *COURSE],
    "summed": ["--method", "summed", *BASE],
    "cosine": ["--method", "summed", *BASE, "--sts-head", "cosine"],
    "rich": ["--method", "summed", *COURSE],
    "pcgrad": ["--method", "pcgrad", *COURSE],
    "smart": ["--method", "pcgrad", *COURSE, "--smart-lambda", "5"],
    "smart-independent": ["--method", "pcgrad", *COURSE, "--smart-lambda", "5", "--smart-dropout", "independent"],
    # notebook 09's levers, each added to the course recipe alone
    "sts-unit": ["--method", "summed", *COURSE, "--task-weights", "sts=0.04"],
    "uncertainty": ["--method", "summed", *COURSE, "--loss-weighting", "uncertainty"],
    "layer-decay": ["--method", "summed", *COURSE, "--layer-decay", "0.9"],
    "contrastive": ["--method", "summed", *COURSE, "--contrastive", "1"],
    "rdrop": ["--method", "summed", *COURSE, "--smart-lambda", "1", "--smart-sigma", "0", "--smart-dropout", "independent"],
    "cross-para": ["--method", "summed", *COURSE, "--cross-encode", "para"],
    **{f"sequential-{o.replace(',', '-')}": ["--method", "sequential", *BASE, "--order", o] for o in ORDERS},
    **{f"single-{t}": ["--method", "summed", *COURSE, "--tasks", t] for t in ("sst", "para", "sts")},
}


@dataclass(frozen=True)
class Row:
    label: str  # what the table shows
    config: str  # a key of CONFIGS
    extends: str | None = None  # the label of the row it is compared with


SINGLE_ROWS = [Row("SST alone", "single-sst", "all three (same heads)"),
               Row("Quora alone", "single-para", "all three (same heads)"),
               Row("STS alone", "single-sts", "all three (same heads)")]
TABLES = {
    "single": [Row("all three (same heads)", "rich"), *SINGLE_ROWS],
    "table1": [Row("frozen baseline", "baseline"),
               Row("frozen baseline, course heads", "frozen-course", "frozen baseline"),
               *[Row(f"sequential {o.replace(',', '→')}", f"sequential-{o.replace(',', '-')}", "frozen baseline")
                 for o in ORDERS],
               Row("summed", "summed", "frozen baseline")],
    "table2": [Row("summed, MLP STS head", "summed"), Row("summed, cosine STS head", "cosine",
                                                              "summed, MLP STS head")],
    "table3": [Row("summed", "rich"), Row("+ PCGrad", "pcgrad", "summed")],
    "table4": [Row("PCGrad", "pcgrad"), Row("+ SMART, same dropout masks", "smart", "PCGrad"),
               Row("+ SMART, independent masks", "smart-independent", "PCGrad")],
    "ladder": [Row("frozen baseline", "baseline"), Row("summed", "summed", "frozen baseline"),
               Row("+ cosine STS head", "cosine", "summed"),
               Row("+ rich pair features", "rich", "+ cosine STS head"),
               Row("frozen baseline, course heads", "frozen-course", "+ rich pair features"),
               Row("+ PCGrad", "pcgrad", "+ rich pair features"), Row("+ SMART", "smart", "+ PCGrad"),
               Row("SST alone", "single-sst", "+ rich pair features"),
               Row("Quora alone", "single-para", "+ rich pair features"),
               Row("STS alone", "single-sts", "+ rich pair features")],
    "beyond": [Row("course recipe", "rich"),
               Row("+ STS loss on the 0..1 scale", "sts-unit", "course recipe"),
               Row("+ uncertainty weights", "uncertainty", "course recipe"),
               Row("+ layer-wise lr decay 0.9", "layer-decay", "course recipe"),
               Row("+ in-batch negatives", "contrastive", "course recipe"),
               Row("+ R-Drop", "rdrop", "course recipe"),
               Row("+ cross-encoded Quora", "cross-para", "course recipe")],
}
TABLE_NAMES = [*TABLES, "all"]
CAPTIONS = {
    "single": "each task fine-tuned alone vs the three together, with the same heads and budget",
    "table1": "the paper's Table 1: frozen baseline, six sequential orders, the summed loss",
    "table2": "the paper's Table 2: linear vs cosine STS head (summed loss)",
    "table3": "the paper's Table 3: summed loss +/- PCGrad",
    "table4": "the paper's Table 4: PCGrad +/- SMART (lambda 5), both dropout modes",
    "ladder": "one thing added per rung, and each task alone",
    "beyond": "notebook 09: each lever added alone to the course recipe (a comparison declared in advance)",
}


def lever_flags(label: str) -> list[str]:
    """The train flags a row of the ``beyond`` table adds to the course recipe (its first row)."""
    config = {row.label: row.config for row in TABLES["beyond"]}[label]
    base = CONFIGS[TABLES["beyond"][0].config]
    assert CONFIGS[config][:len(base)] == base, f"{config} does not extend the course recipe"
    return CONFIGS[config][len(base):]


def frozen(config: str) -> bool:
    """Whether a configuration is a frozen baseline (its heads train for 10 epochs on cached features)."""
    return CONFIGS[config][:2] == ["--method", "baseline"]


def run_flags(config: str, scale: str, seed: int) -> list[str]:
    """The train flags of one run: its configuration, the scale's budget, the seed."""
    budget = BUDGETS[scale]
    flags = [*CONFIGS[config], "--scale", scale,
             "--max-examples", str(budget["max_examples"] or 10**9), "--batch-size", str(budget["batch_size"]),
             "--seed", str(seed), "--no-test-predictions", "--train-eval-examples", "0"]
    if budget["dev_examples"]:
        flags += ["--dev-examples", str(budget["dev_examples"])]
    if not frozen(config):
        flags += ["--epochs", str(budget["epochs"])]
    return flags


def run_dir(out: Path, config: str, seed: int) -> Path:
    return out / "runs" / config / f"seed{seed}"


def budget_of(scale: str) -> dict:
    """The scale's budget as a run of it records it (without the default seed count, which is no part of a run)."""
    return {k: v for k, v in BUDGETS[scale].items() if k != "seeds"}


def expected_record(config: str, scale: str, seed: int) -> dict:
    """What a run of this row, scale and seed records in its metrics.json: the resolved configuration of
    its train flags (``records.resolved_config``) and, for a run restored from a shipped table, the budget."""
    return {**records.resolved_config(["train", *run_flags(config, scale, seed)]), "budget": budget_of(scale)}


def read_run(out: Path, config: str, scale: str, seed: int) -> tuple[dict | None, str]:
    """A run's metrics.json if it is finished and this row's (else None), and, for a finished run of
    another configuration or budget, what differs ('' otherwise)."""
    path = run_dir(out, config, seed) / "metrics.json"
    if not path.exists():
        return None, ""
    metrics = json.loads(path.read_text())
    differences = records.config_differences(metrics, expected_record(config, scale, seed))
    if differences:
        return None, f"{path} is another configuration's: {'; '.join(differences)}"
    return metrics, ""


def finished(out: Path, config: str, scale: str, seed: int) -> str:
    """'done' (a finished run of this row), 'mismatch' (a finished run of another configuration) or ''."""
    if not (run_dir(out, config, seed) / "metrics.json").exists():
        return ""
    return "mismatch" if read_run(out, config, scale, seed)[1] else "done"


def train_run(out: Path, config: str, scale: str, seed: int, extra: list[str]) -> str:
    """Train one run unless it is finished or held by another process: 'done', 'ran', 'held', 'failed',
    or 'mismatch' (a finished run of another configuration: neither used nor overwritten)."""
    folder = run_dir(out, config, seed)
    if status := finished(out, config, scale, seed):
        return status
    with locks.held(folder) as mine:
        if not mine:
            return "held"
        if status := finished(out, config, scale, seed):  # by another process, since the first look
            return status
        argv = ["train", *run_flags(config, scale, seed), *extra, "--out", str(folder), "--resume"]
        (folder / "command.json").write_text(json.dumps(argv))
        return "failed" if run_logged(argv, folder / "train.log") else "ran"


def configs_of(table: str) -> list[str]:
    names = TABLE_NAMES[:-1] if table == "all" else [table]
    seen = []
    for name in names:
        seen += [row.config for row in TABLES[name] if row.config not in seen]
    return seen


def restore_shipped(table: str, scale: str, out: Path) -> int:
    """Write the per-seed scores of the shipped tables into ``out`` as finished runs, so that
    ``reproduce`` trains only the seeds the package does not have (``--from-shipped``: a shipped
    table extended by more seeds without re-training the ones it has). A restored run's
    ``metrics.json`` holds the shipped scores, what the shipped table records of its configuration
    and machine, its budget and ``"restored_from"``; it has no predictions, so the one-seed bootstrap
    cannot use it. A shipped table measured with another budget than the scale's now is not restored.
    Runs already in ``out`` are left alone (as is a run two shipped tables share: the first one read).
    Returns how many runs were restored."""
    restored, wanted = 0, set(configs_of(table))
    for name in TABLE_NAMES[:-1]:  # any shipped table may hold a configuration this one needs
        path = SHIPPED / f"{name}-{scale}.json"
        if not path.exists():
            continue
        shipped = json.loads(path.read_text())
        budget = {k: v for k, v in shipped["budget"].items() if k != "seeds"}
        if budget != budget_of(scale):
            print(f"not restored: {path.name} was measured with the budget {budget}, the {scale} scale's is "
                  f"now {budget_of(scale)}", flush=True)
            continue
        configs = {row.label: row.config for row in TABLES[name]}
        for label, runs in shipped["rows"].items():
            if configs.get(label) not in wanted:
                continue  # a row the table no longer has, or one this table does not need
            for seed, record in enumerate(runs):
                target = run_dir(out, configs[label], seed) / "metrics.json"
                if record is None or target.exists():
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(json.dumps({**record, "budget": budget, "restored_from": f"mtl_lib/results/{path.name}"},
                                             indent=1))
                restored += 1
    return restored


def reproduce(table: str, scale: str, seeds: int, out: Path, extra: list[str] | None = None,
              train: bool = True, from_shipped: bool = False) -> dict[str, str]:
    """Train every run the table needs (seeds 0..seeds-1) and write its Markdown; return the tables' text.

    ``train=False`` only writes the tables from the runs that exist (missing seeds are marked);
    ``from_shipped`` first restores the shipped per-seed scores as finished runs (``restore_shipped``).
    """
    out.mkdir(parents=True, exist_ok=True)
    if from_shipped:
        print(f"restored {restore_shipped(table, scale, out)} finished runs from the shipped tables", flush=True)
    todo = [(c, s) for s in range(seeds) for c in configs_of(table)] if train else []
    start = time.time()
    for i, (config, seed) in enumerate(todo, 1):
        status = train_run(out, config, scale, seed, extra or [])
        print(f"[{i}/{len(todo)}] {config} seed {seed}: {status} ({(time.time() - start) / 60:.1f} min)", flush=True)
        if status == "failed":
            print(f"  see {run_dir(out, config, seed) / 'train.log'}", flush=True)
        if status == "mismatch":
            print(f"  {read_run(out, config, scale, seed)[1]}. Move or delete the folder to train this run.", flush=True)
    written = {}
    for name in (TABLE_NAMES[:-1] if table == "all" else [table]):
        written[name] = write_table(name, scale, seeds, out)
    return written


# --- reading runs back into a table -----------------------------------------------------------
def read_metrics(out: Path, config: str, scale: str, seeds: int) -> list[dict | None]:
    """Seed by seed, the row's finished runs (None: missing, or another configuration's: ``read_run``)."""
    return [read_run(out, config, scale, seed)[0] for seed in range(seeds)]


def mismatches(table: str, scale: str, seeds: int, out: Path) -> list[str]:
    """The finished runs in ``out`` that the table's rows cannot count, and what differs (``read_run``)."""
    return [why for row in TABLES[table] for seed in range(seeds) if (why := read_run(out, row.config, scale, seed)[1])]


def dev_gold(metrics: dict, data_dir=None) -> dict[str, pd.DataFrame]:
    """The dev rows a run scored (its scale's seeded cut), with their gold labels, by task."""
    return load_dev(metrics["scale_config"]["dev_examples"], data_dir or metrics.get("data_dir"),
                    metrics.get("tasks", ["sst", "para", "sts"]))


def paired_bootstrap(new_dir: Path, old_dir: Path, key: str) -> tuple[float, float, float]:
    """Two finished run folders that scored the same dev rows: new - old in ``key`` (a metric or
    ``overall``) and its 95 % interval from a paired bootstrap over those rows (their dev predictions)."""
    new_dir, old_dir = Path(new_dir), Path(old_dir)
    gold = dev_gold(json.loads((new_dir / "metrics.json").read_text()))
    tasks = [t for t in gold if key in ("overall", METRIC_NAMES[t])]
    labels = {t: gold[t]["label"].to_numpy(dtype=float) for t in tasks}
    preds = {d: {t: v.astype(float) for t, v in run_predictions(d).items()} for d in (new_dir, old_dir)}

    def value(folder: Path, rows: dict) -> float:
        s = {METRIC_NAMES[t]: metric(t, preds[folder][t][rows[t]], labels[t][rows[t]]) for t in tasks}
        return overall_score(s["sst_acc"], s["para_acc"], s["sts_corr"]) if key == "overall" else s[key]

    return bootstrap_interval(lambda rows: value(new_dir, rows) - value(old_dir, rows),
                              {t: len(labels[t]) for t in tasks})


def summarize(table: str, scale: str, seeds: int, out: Path) -> pd.DataFrame:
    """One line per row: mean and sd of each metric over seeds; the paired difference to its parent.
    Only the row's own runs count (``read_run``); ``mismatched`` counts those of another configuration."""
    rows = TABLES[table]
    by_label = {row.label: row for row in rows}
    lines = []
    for row in rows:
        reads = [read_run(out, row.config, scale, seed) for seed in range(seeds)]
        runs = [metrics for metrics, _ in reads]
        done = [m for m in runs if m is not None]
        record = {"row": row.label, "config": row.config, "seeds": len(done), "extends": row.extends or "",
                  "mismatched": sum(bool(why) for _, why in reads)}
        for key in ("sst_acc", "para_acc", "sts_corr", "overall"):
            values = [m[key] for m in done if key in m]
            if values:
                record[key], record[f"{key}_sd"] = mean_sd(values)
        record["minutes"] = float(np.mean([m["train_seconds"] for m in done])) / 60 if done else np.nan
        record["collapsed"] = sum(any(m.get("collapsed", {}).values()) for m in done)
        parent = by_label.get(row.extends)
        if parent is not None and done:
            base = read_metrics(out, parent.config, scale, seeds)
            pairs = [(seed, a, b) for seed, (a, b) in enumerate(zip(runs, base)) if a is not None and b is not None]
            shared = [k for k in ("overall", "sst_acc", "para_acc", "sts_corr")
                      if pairs and k in pairs[0][1] and k in pairs[0][2]]
            for key in shared:
                record[f"d_{key}_how"], (mean, low, high) = paired_difference(out, row, parent, pairs, key)
                record[f"d_{key}"], record[f"d_{key}_low"], record[f"d_{key}_high"] = mean, low, high
        lines.append(record)
    return pd.DataFrame(lines)


def paired_difference(out: Path, row: Row, parent: Row, pairs: list, key: str) -> tuple[str, tuple]:
    """How ``row`` - ``parent`` in ``key`` was measured, and (mean, low, high), from ``pairs``: the
    (seed, row's metrics, parent's metrics) of the seeds both have. Two or more: a t interval over
    seeds; one: a paired bootstrap over the dev rows of that seed's two runs, or no interval where a
    run has no dev predictions (a restored run keeps its scores only)."""
    if len(pairs) >= 2:
        return f"t over {len(pairs)} seeds", paired_interval([a[key] for _, a, _ in pairs], [b[key] for _, _, b in pairs])
    seed, new, old = pairs[0]
    new_dir, old_dir = run_dir(out, row.config, seed), run_dir(out, parent.config, seed)
    if (new_dir / "predictions").is_dir() and (old_dir / "predictions").is_dir():
        return "bootstrap over dev rows, 1 seed", paired_bootstrap(new_dir, old_dir, key)
    why = "a restored run has no predictions" if "restored_from" in new or "restored_from" in old else \
        "a run has no dev predictions"
    return f"1 seed, no interval ({why})", (new[key] - old[key], math.nan, math.nan)


def markdown(summary: pd.DataFrame, table: str, scale: str, seeds: int, machines: list[dict | None] = (),
             mismatched: list[str] = ()) -> str:
    """The table as Markdown, with a header saying how it was made: the budget as the runs were given it
    (every default resolved), and the hardware, torch and date the runs recorded (``machines``: one
    ``machine`` record per run counted, None for a run that recorded none). ``mismatched``: the runs of
    another configuration left out (``mismatches``), listed under the table."""
    run = expected_record(next(row.config for row in TABLES[table] if not frozen(row.config)), scale, 0)
    size, cfg = run["scale_config"], run["train_config"]
    lines = [f"# {table}: {CAPTIONS[table]}", "",
             f"Command: `python -m mtl_lib reproduce {table} --scale {scale} --seeds {seeds} --out DIR`  ",
             f"Scale {scale}: {size['max_examples']} training rows per task, batches of {cfg['batch_size']} "
             f"rows per task, {cfg['epochs']} epoch{'s' * (cfg['epochs'] > 1)}; dev rows per task: {size['dev_examples'] or 'all'}"
             + ("; the frozen baseline trains its heads for 10 epochs on cached features.  "
                if any(frozen(row.config) for row in TABLES[table]) else ".  "),
             f"Seeds: {seeds} (0..{seeds - 1}; the seed sets data order, dropout and head initialisation; the "
             f"training rows are the same for every seed).  ",
             f"Hardware of the runs: {records.describe_machines(list(machines))}.", "",
             "Scores: mean ± standard deviation over seeds. Δ: the paired difference to the row named in "
             "'vs', with its 95 % interval (Student t over seeds; with one seed a paired bootstrap over dev rows); "
             "* marks an interval that excludes 0. Single-task rows have only their task's score. min/run: minutes "
             "a run spent training (frozen rows: encoding and the heads) on the hardware named above.", "",
             "| row | SST acc | Quora acc | STS r | overall | vs | Δ overall | Δ SST | Δ Quora | Δ STS r | min/run | collapsed |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for record in summary.to_dict(orient="records"):
        other = record.get("mismatched", 0)
        seeds_note = "" if record["seeds"] == seeds else \
            f" ({record['seeds']}/{seeds} seeds{f'; {other} of another configuration not counted' if other else ''})"
        minutes = "" if pd.isna(record["minutes"]) else f"{record['minutes']:.1f}"
        lines.append(" | ".join([f"| {record['row']}{seeds_note}", *(fmt_cell(record, k) for k in
                                 ("sst_acc", "para_acc", "sts_corr", "overall")), record["extends"],
                                 *(fmt_diff(record, k) for k in ("overall", "sst_acc", "para_acc", "sts_corr")),
                                 minutes, str(record["collapsed"])]) + " |")
    if mismatched:
        lines += ["", f"Not counted: {len(mismatched)} finished run(s) of another configuration (move or delete "
                  "their folders to train these rows):", *(f"- {why}" for why in mismatched)]
    return "\n".join(lines) + "\n"


def write_table(table: str, scale: str, seeds: int, out: Path) -> str:
    """Write ``out/TABLE.md`` and ``out/TABLE.json`` (the summary, and per run its scores and what it
    recorded of its configuration and machine, so that ``restore_shipped`` can check them); return the Markdown."""
    summary = summarize(table, scale, seeds, out)
    per_seed = {row.label: read_metrics(out, row.config, scale, seeds) for row in TABLES[table]}
    machines = [m.get("machine") for runs in per_seed.values() for m in runs if m]
    text = markdown(summary, table, scale, seeds, machines, mismatches(table, scale, seeds, out))
    (out / f"{table}.md").write_text(text)
    keep = ("sst_acc", "para_acc", "sts_corr", "overall", "train_seconds", "collapsed", "machine", *records.CONFIG_KEYS)
    (out / f"{table}.json").write_text(json.dumps(
        {"table": table, "scale": scale, "seeds": seeds, "budget": BUDGETS[scale],
         "rows": {label: [{k: m[k] for k in keep if k in m} if m else None for m in runs]
                  for label, runs in per_seed.items()},
         "summary": summary.to_dict(orient="records")}, indent=1, default=float))
    return text
