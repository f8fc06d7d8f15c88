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
over dev rows with one. A run that is finished is read back; one that was interrupted resumes;
two ``reproduce`` processes may share a folder (each takes the next run nobody holds), which is
how two CPU cores or two GPUs work through a table in parallel.

Budgets (``BUDGETS``): every row of a scale trains on the same rows for the same steps. The first
row's configuration is the paper's starting recipe except mean pooling, the pooling MiniLM was
trained with (``BASE``).
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from .evaluate import METRIC_NAMES, metric, overall_score
from .stats import bootstrap_interval, mean_sd, paired_interval, significant

#: Per scale: the flags every run of a table shares (the frozen baseline drops --epochs: its heads
#: train for 10 epochs on cached features). Laptop: 512 training rows per task in steps of 8 rows of
#: every task, one epoch (64 summed steps, about 2 min per run on one core of the 2-core CPU, so
#: that the ~100 runs of ``all`` at 3 seeds take about 2 hours on its two cores); 600 dev rows per task.
BUDGETS = {
    "smoke": {"max_examples": 48, "dev_examples": 48, "batch_size": 16, "epochs": 1, "seeds": 2},
    "laptop": {"max_examples": 512, "dev_examples": 600, "batch_size": 8, "epochs": 1, "seeds": 3},
    "colab": {"max_examples": 10000, "dev_examples": None, "batch_size": 32, "epochs": 1, "seeds": 5},
    "full": {"max_examples": 10000, "dev_examples": None, "batch_size": 32, "epochs": 1, "seeds": 5},
}
#: The ladder's first rung: the paper's starting configuration ([u; v] pair features, a linear STS
#: head, equal batches of the three tasks, lr 1e-4, dropout 0.1) with mean pooling.
BASE = ["--recipe", "paper", "--pooling", "mean"]
COURSE = BASE + ["--sts-head", "cosine", "--pair-features", "rich"]
ORDERS = ["sst,para,sts", "sst,sts,para", "para,sst,sts", "para,sts,sst", "sts,sst,para", "sts,para,sst"]

#: configuration name -> the train flags that define it
CONFIGS = {
    "baseline": ["--method", "baseline", *BASE],
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
               *[Row(f"sequential {o.replace(',', ' > ')}", f"sequential-{o.replace(',', '-')}", "frozen baseline")
                 for o in ORDERS],
               Row("summed", "summed", "frozen baseline")],
    "table2": [Row("summed, linear STS head", "summed"), Row("summed, cosine STS head", "cosine",
                                                              "summed, linear STS head")],
    "table3": [Row("summed", "rich"), Row("+ PCGrad", "pcgrad", "summed")],
    "table4": [Row("PCGrad", "pcgrad"), Row("+ SMART, same dropout masks", "smart", "PCGrad"),
               Row("+ SMART, independent masks", "smart-independent", "PCGrad")],
    "ladder": [Row("frozen baseline", "baseline"), Row("summed", "summed", "frozen baseline"),
               Row("+ cosine STS head", "cosine", "summed"),
               Row("+ rich pair features", "rich", "+ cosine STS head"),
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


def run_flags(config: str, scale: str, seed: int) -> list[str]:
    """The train flags of one run: its configuration, the scale's budget, the seed."""
    budget = BUDGETS[scale]
    flags = [*CONFIGS[config], "--scale", scale,
             "--max-examples", str(budget["max_examples"] or 10**9), "--batch-size", str(budget["batch_size"]),
             "--seed", str(seed), "--no-test-predictions", "--train-eval-examples", "0"]
    if budget["dev_examples"]:
        flags += ["--dev-examples", str(budget["dev_examples"])]
    if config != "baseline":
        flags += ["--epochs", str(budget["epochs"])]
    return flags


def run_dir(out: Path, config: str, seed: int) -> Path:
    return out / "runs" / config / f"seed{seed}"


def claim(folder: Path) -> bool:
    """Take a run for this process (a lock file); False if another live process holds it."""
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / "reproduce.lock"
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            pid = int(lock.read_text() or 0)
            os.kill(pid, 0)  # raises if that process is gone
            return False
        except (ValueError, ProcessLookupError, PermissionError):
            lock.unlink(missing_ok=True)  # a stale lock of a process that died
            return claim(folder)
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    return True


def train_run(out: Path, config: str, scale: str, seed: int, extra: list[str]) -> str:
    """Train one run unless it is finished or held by another process: 'done', 'ran', 'held' or 'failed'."""
    folder = run_dir(out, config, seed)
    if (folder / "metrics.json").exists():
        return "done"
    if not claim(folder):
        return "held"
    try:
        args = [sys.executable, "-m", "mtl_lib", "train", *run_flags(config, scale, seed), *extra,
                "--out", str(folder), "--resume"]
        (folder / "command.json").write_text(json.dumps(args[1:]))
        with open(folder / "train.log", "w") as log:
            code = subprocess.call(args, stdout=log, stderr=subprocess.STDOUT,
                                   env={**os.environ, "TQDM_DISABLE": "1"})
        return "ran" if code == 0 else "failed"
    finally:
        (folder / "reproduce.lock").unlink(missing_ok=True)


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
    ``metrics.json`` holds the shipped scores and ``"restored_from"``; it has no predictions, so
    the one-seed bootstrap cannot use it. Runs already in ``out`` are left alone (as is a run two
    shipped tables share: the first one read). Returns how many runs were restored."""
    restored, wanted = 0, set(configs_of(table))
    for name in TABLE_NAMES[:-1]:  # any shipped table may hold a configuration this one needs
        path = SHIPPED / f"{name}-{scale}.json"
        if not path.exists():
            continue
        shipped = json.loads(path.read_text())
        configs = {row.label: row.config for row in TABLES[name]}
        for label, runs in shipped["rows"].items():
            if configs.get(label) not in wanted:
                continue  # a row the table no longer has, or one this table does not need
            for seed, record in enumerate(runs):
                target = run_dir(out, configs[label], seed) / "metrics.json"
                if record is None or target.exists():
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(json.dumps({**record, "restored_from": f"mtl_lib/results/{path.name}"}, indent=1))
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
    written = {}
    for name in (TABLE_NAMES[:-1] if table == "all" else [table]):
        written[name] = write_table(name, scale, seeds, out)
    return written


# --- reading runs back into a table -----------------------------------------------------------
def read_metrics(out: Path, config: str, seeds: int) -> list[dict | None]:
    result = []
    for seed in range(seeds):
        path = run_dir(out, config, seed) / "metrics.json"
        result.append(json.loads(path.read_text()) if path.exists() else None)
    return result


def dev_gold(metrics: dict, data_dir=None) -> dict[str, pd.DataFrame]:
    """The dev rows a run scored (its scale's seeded cut), with their gold labels, by task."""
    from .experiment import load_dev

    return load_dev(metrics["scale_config"]["dev_examples"], data_dir or metrics.get("data_dir"),
                    metrics.get("tasks", ["sst", "para", "sts"]))


def dev_predictions(folder: Path, task: str) -> np.ndarray:
    path = folder / "predictions" / f"{task}-dev-output.csv"
    return pd.read_csv(path, skipinitialspace=True).iloc[:, 1].to_numpy(dtype=float)


def paired_bootstrap(new_dir: Path, old_dir: Path, key: str) -> tuple[float, float, float]:
    """Two finished run folders that scored the same dev rows: new - old in ``key`` (a metric or
    ``overall``) and its 95 % interval from a paired bootstrap over those rows (their dev predictions)."""
    new_dir, old_dir = Path(new_dir), Path(old_dir)
    gold = dev_gold(json.loads((new_dir / "metrics.json").read_text()))
    tasks = [t for t in gold if key in ("overall", METRIC_NAMES[t])]
    labels = {t: gold[t]["label"].to_numpy(dtype=float) for t in tasks}
    preds = {d: {t: dev_predictions(d, t) for t in tasks} for d in (new_dir, old_dir)}

    def value(folder: Path, rows: dict) -> float:
        s = {METRIC_NAMES[t]: metric(t, preds[folder][t][rows[t]], labels[t][rows[t]]) for t in tasks}
        return overall_score(s["sst_acc"], s["para_acc"], s["sts_corr"]) if key == "overall" else s[key]

    return bootstrap_interval(lambda rows: value(new_dir, rows) - value(old_dir, rows),
                              {t: len(labels[t]) for t in tasks})


def summarize(table: str, seeds: int, out: Path) -> pd.DataFrame:
    """One line per row: mean and sd of each metric over seeds; the paired difference to its parent."""
    rows = TABLES[table]
    by_label = {row.label: row for row in rows}
    records = []
    for row in rows:
        runs = read_metrics(out, row.config, seeds)
        done = [m for m in runs if m is not None]
        record = {"row": row.label, "config": row.config, "seeds": len(done), "extends": row.extends or ""}
        for key in ("sst_acc", "para_acc", "sts_corr", "overall"):
            values = [m[key] for m in done if key in m]
            if values:
                record[key], record[f"{key}_sd"] = mean_sd(values)
        record["minutes"] = float(np.mean([m["train_seconds"] for m in done])) / 60 if done else np.nan
        record["collapsed"] = sum(any(m.get("collapsed", {}).values()) for m in done)
        parent = by_label.get(row.extends)
        if parent is not None and done:
            base = read_metrics(out, parent.config, seeds)
            pairs = [(a, b) for a, b in zip(runs, base) if a is not None and b is not None]
            shared = [k for k in ("overall", "sst_acc", "para_acc", "sts_corr")
                      if pairs and k in pairs[0][0] and k in pairs[0][1]]
            for key in shared:
                if len(pairs) >= 2:
                    mean, low, high = paired_interval([a[key] for a, _ in pairs], [b[key] for _, b in pairs])
                    record[f"d_{key}_how"] = f"t over {len(pairs)} seeds"
                elif all((run_dir(out, c, 0) / "predictions").is_dir() for c in (row.config, parent.config)):
                    mean, low, high = paired_bootstrap(run_dir(out, row.config, 0),
                                                       run_dir(out, parent.config, 0), key)
                    record[f"d_{key}_how"] = "bootstrap over dev rows, 1 seed"
                else:  # a restored run (--from-shipped) keeps its scores, not its predictions
                    mean, low, high = pairs[0][0][key] - pairs[0][1][key], math.nan, math.nan
                    record[f"d_{key}_how"] = "1 seed, no interval (a restored run has no predictions)"
                record[f"d_{key}"], record[f"d_{key}_low"], record[f"d_{key}_high"] = mean, low, high
        records.append(record)
    return pd.DataFrame(records)


def fmt_cell(record: dict, key: str) -> str:
    if key not in record or pd.isna(record.get(key)):
        return ""
    return f"{record[key]:.3f} ± {record[f'{key}_sd']:.3f}"


def fmt_diff(record: dict, key: str) -> str:
    if f"d_{key}" not in record or pd.isna(record.get(f"d_{key}")):
        return ""
    mean, low, high = record[f"d_{key}"], record[f"d_{key}_low"], record[f"d_{key}_high"]
    mark = " *" if significant(low, high) else ""
    return f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]{mark}"


def markdown(summary: pd.DataFrame, table: str, scale: str, seeds: int) -> str:
    """The table as Markdown, with a header saying how it was made."""
    budget = BUDGETS[scale]
    import torch

    from . import __version__

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"{cpu_name()}, {os.cpu_count()} cores"
    lines = [f"# {table}: {CAPTIONS[table]}", "",
             f"Command: `python -m mtl_lib reproduce {table} --scale {scale} --seeds {seeds} --out DIR`  ",
             f"Scale {scale}: {budget['max_examples']} training rows per task, batches of {budget['batch_size']} "
             f"rows per task, {budget['epochs']} epoch{'s' * (budget['epochs'] > 1)}; dev rows per task: {budget['dev_examples'] or 'all'}"
             + ("; the frozen baseline trains its heads for 10 epochs on cached features.  "
                if any(row.config == "baseline" for row in TABLES[table]) else ".  "),
             f"Seeds: {seeds} (0..{seeds - 1}; the seed sets data order, dropout and head initialisation; the "
             f"training rows are the same for every seed).  ",
             f"Hardware: {device}; torch {torch.__version__}; mtl_lib {__version__}; {date.today().isoformat()}.", "",
             "Scores: mean ± standard deviation over seeds. Δ: the paired difference to the row named in "
             "'vs', with its 95 % interval (Student t over seeds; with one seed a paired bootstrap over dev rows); "
             "* marks an interval that excludes 0. Single-task rows have only their task's score. min/run: minutes "
             "of training per run, measured on a machine often shared with other jobs, so not a cost comparison.", "",
             "| row | SST acc | Quora acc | STS r | overall | vs | Δ overall | Δ SST | Δ Quora | Δ STS r | min/run | collapsed |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for record in summary.to_dict(orient="records"):
        seeds_note = "" if record["seeds"] == seeds else f" ({record['seeds']}/{seeds} seeds)"
        minutes = "" if pd.isna(record["minutes"]) else f"{record['minutes']:.1f}"
        lines.append(" | ".join([f"| {record['row']}{seeds_note}", *(fmt_cell(record, k) for k in
                                 ("sst_acc", "para_acc", "sts_corr", "overall")), record["extends"],
                                 *(fmt_diff(record, k) for k in ("overall", "sst_acc", "para_acc", "sts_corr")),
                                 minutes, str(record["collapsed"])]) + " |")
    return "\n".join(lines) + "\n"


def cpu_name() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "CPU"


def write_table(table: str, scale: str, seeds: int, out: Path) -> str:
    summary = summarize(table, seeds, out)
    text = markdown(summary, table, scale, seeds)
    (out / f"{table}.md").write_text(text)
    per_seed = {row.label: read_metrics(out, row.config, seeds) for row in TABLES[table]}
    keep = ("sst_acc", "para_acc", "sts_corr", "overall", "train_seconds", "collapsed")
    (out / f"{table}.json").write_text(json.dumps(
        {"table": table, "scale": scale, "seeds": seeds, "budget": BUDGETS[scale],
         "rows": {label: [{k: m[k] for k in keep if k in m} if m else None for m in runs]
                  for label, runs in per_seed.items()},
         "summary": summary.to_dict(orient="records")}, indent=1, default=float))
    return text


# --- what ships with the package --------------------------------------------------------------
SHIPPED = Path(__file__).parent / "results"


def shipped_table(table: str, scale: str = "laptop") -> str:
    """The Markdown of a table measured by the course and shipped in ``mtl_lib/results/``."""
    path = SHIPPED / f"{table}-{scale}.md"
    if not path.exists():
        have = ", ".join(sorted(p.stem for p in SHIPPED.glob("*.md"))) or "none"
        raise FileNotFoundError(f"No shipped table {path.name} (shipped: {have}). Make it with "
                                f"`python -m mtl_lib reproduce {table} --scale {scale} --out DIR`.")
    return path.read_text()


def shipped_summary(table: str, scale: str = "laptop") -> pd.DataFrame:
    """A shipped table's rows as a DataFrame (means, sds, paired differences and their intervals)."""
    path = SHIPPED / f"{table}-{scale}.json"
    if not path.exists():
        shipped_table(table, scale)  # the same helpful error
    return pd.DataFrame(json.loads(path.read_text())["summary"]).set_index("row")


#: Our row -> the paper's (table number, row label) that measured the same change.
PAPER_ROWS = {
    "table1": {"frozen baseline": (1, "baseline (frozen encoder)"),
               **{f"sequential {o.replace(',', ' > ')}": (1, f"sequential {o.replace(',', ' > ')}") for o in ORDERS},
               "summed": (1, "summed")},
    "table2": {"summed, linear STS head": (2, "linear STS head"), "summed, cosine STS head": (2, "cosine STS head")},
    "table3": {"summed": (3, "without PCGrad"), "+ PCGrad": (3, "with PCGrad")},
    "table4": {"PCGrad": (4, "without SMART"), "+ SMART, same dropout masks": (4, "with SMART"),
               "+ SMART, independent masks": (4, "with SMART")},
    "ladder": {"frozen baseline": (1, "baseline (frozen encoder)"), "summed": (1, "summed"),
               "+ cosine STS head": (2, "cosine STS head"), "+ PCGrad": (3, "with PCGrad"),
               "+ SMART": (4, "with SMART")},
}


def side_by_side(table: str, scale: str = "laptop", summary: pd.DataFrame | None = None) -> pd.DataFrame:
    """Our rows (mean ± sd over seeds, paired Δ with its 95 % interval) beside the paper's single runs.

    ``summary``: a ``summarize`` result; default: the table shipped for ``scale``. The paper's
    Δ is its row minus the row before it in its own table (one run each: no interval exists).
    """
    from .paper import paper_table

    summary = shipped_summary(table, scale) if summary is None else summary.set_index("row")
    rows = []
    for label, record in summary.iterrows():
        record = {"row": label, **record.to_dict()}
        out = {"row": label, "ours: overall": fmt_cell(record, "overall"), "ours: Δ overall [95 %]": fmt_diff(record, "overall")}
        number, paper_label = PAPER_ROWS.get(table, {}).get(label, (None, None))
        if number is not None:
            ptable = paper_table(number)
            position = list(ptable.index).index(paper_label)
            out["paper: overall"] = f"{ptable.loc[paper_label, 'overall']:.3f}"
            if position > 0 and number != 1:
                out["paper: Δ overall (1 run)"] = f"{ptable['overall'].iloc[position] - ptable['overall'].iloc[0]:+.3f}"
            elif number == 1 and paper_label != "baseline (frozen encoder)":
                base = ptable.loc["baseline (frozen encoder)", "overall"]
                out["paper: Δ overall (1 run)"] = f"{ptable.loc[paper_label, 'overall'] - base:+.3f}"
        rows.append(out)
    return pd.DataFrame(rows).set_index("row").fillna("")


def show_shipped(table: str, scale: str = "laptop", per_task: bool = False) -> pd.DataFrame:
    """For notebooks: say which shipped table this is (command, budget, seeds, hardware: measured
    by the course, not run in this notebook) and return it beside the paper's figures; with
    ``per_task`` the four scores (mean ± sd) and their paired Δ instead."""
    header = [line.rstrip(" ") for line in shipped_table(table, scale).splitlines()[2:6]]
    print(f"Read from the package (mtl_lib/results/{table}-{scale}.md), not run here:")
    print("\n".join(header))
    if not per_task:
        return side_by_side(table, scale)
    summary = shipped_summary(table, scale)
    records = {label: {"vs": rec["extends"], **{name: fmt_cell({"row": label, **rec}, key) for key, name in
                       (("sst_acc", "SST acc"), ("para_acc", "Quora acc"), ("sts_corr", "STS r"),
                        ("overall", "overall"))},
                       **{f"Δ {name}": fmt_diff(rec, key) for key, name in
                          (("sst_acc", "SST"), ("para_acc", "Quora"), ("sts_corr", "STS r"), ("overall", "overall"))}}
               for label, rec in summary.to_dict(orient="index").items()}
    return pd.DataFrame.from_dict(records, orient="index")


README_BEGIN, README_END = "<!-- reproduce tables: begin -->", "<!-- reproduce tables: end -->"


def table_lines(text: str) -> list[str]:
    """The Markdown table of a shipped table's text (its header row, rule and rows)."""
    return [line for line in text.splitlines() if line.startswith("|")]


def readme_block(scale: str = "laptop") -> str:
    """The README's seed-averaged results: the shipped ladder and Table 1, with how they were made."""
    ladder, table1 = shipped_table("ladder", scale), shipped_table("table1", scale)
    header = ladder.splitlines()[2:6]
    return "\n".join([README_BEGIN, "", "**Seed-averaged tables** (`mtl_lib/results/`, read by notebooks 04-09; "
                      "the paired Δ and its 95 % interval are explained in `mtl_lib/reproduce.py`):", "",
                      *(line.rstrip() for line in header), "", "The ladder, one thing added per rung, and each "
                      "task fine-tuned alone (its Δ: alone minus the three together, same heads):", "",
                      *table_lines(ladder), "", "Table 1 at the same budget:", "", *table_lines(table1), "",
                      README_END])
