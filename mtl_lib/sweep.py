"""A hyperparameter sweep: learning rate x SMART lambda x dropout (the paper's Table 6).

``python -m mtl_lib sweep --out DIR`` trains every combination of the grid,
each as a normal training run (``run_experiment``) in its own folder named
after its values, ``DIR/lr1e-04_lam5_drop0.1/``, and keeps one table,
``DIR/results.csv`` (and ``DIR/results.md``, the same as a Markdown table): a row per configuration with its dev scores, the
training time, a ``status`` and a ``reason``:

* ``ok``        - finished, and no head collapsed;
* ``collapsed`` - finished, but at least one head's dev predictions carry no
  information: every SST or every Quora prediction the same class, or every STS
  prediction the same score (``evaluate.collapse_reasons``); ``reason`` names
  the head(s). Read from the run's ``metrics.json`` (``"collapsed"``), or for a
  run written before that record, from its ``predictions/*-dev-output.csv``.
  The paper names no collapses; ``paper.sweep_results`` reads its Table 6 with the same rule;
* ``nonfinite`` - stopped by a NaN/inf loss (``NonFiniteLossError``);
* ``failed``    - any other exception (the reason says which);
* ``mismatch``  - the folder holds a finished run of ANOTHER configuration (its
  ``metrics.json`` records other grid values or options; ``reason`` says which):
  its scores are not reported, and the sweep neither reuses nor overwrites it.
  Move or delete the folder to train this row. (Folder names used to keep one
  digit, so that 1e-4 and 1.2e-4 shared ``lr1e-04``);
* ``pending``   - not run yet (the table is rewritten after every run).

Folder names write each value with the fewest digits that read back as exactly
that value (``lr1.2e-04``, ``drop0.15``), so that distinct values never share a folder.

A sweep is resumable: run the same command again. A run with ``metrics.json``
is finished and skipped; a run with ``failure.json`` (nonfinite or failed) is
skipped too unless ``retry_failed`` (it is then restarted from scratch); any
other run folder was interrupted and RESUMES from its last epoch checkpoint
(exact: it ends where an uninterrupted run would; interrupted inside its first
epoch, it starts again). The options shared by all runs are saved in
``DIR/sweep.json``; resuming with different ones is refused. A finished run's
checkpoint is deleted (about 270 MB each for MiniLM) unless ``keep_checkpoints``.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import math
import os
import shutil
import tempfile
import traceback
from dataclasses import asdict, replace
from pathlib import Path

import pandas as pd
from .progress import bar as progress_bar

from .evaluate import PREDICTION_COLUMNS, collapse_reasons, run_predictions
from .experiment import run_logged
from .model import HeadConfig
from .options import budgets, train_words, trainer_config
from .records import config_differences, flatten
from .run_folder import write_json
from .setup import get_scale
from .train import NonFiniteLossError, TrainConfig

#: The paper's grid (Table 6): 3 x 4 x 3 = 36 runs.
DEFAULT_GRID = {"lr": [1e-3, 1e-4, 1e-5], "smart_lambda": [1.0, 3.0, 5.0, 7.0], "dropout": [0.1, 0.3, 0.5]}
#: Per-run sizes at each scale under ``--budget sweep`` (scales not listed keep their own sizes):
#: ``options.BUDGETS``' sweep budgets, where they are explained.
SWEEP_BUDGETS = budgets("sweep")
METRICS = ["sst_acc", "para_acc", "sts_corr", "overall", "train_seconds"]


# --- the grid ------------------------------------------------------------------------------
def parse_values(text: str) -> list[float]:
    """'1e-4, 1e-5' -> [1e-4, 1e-5]; ValueError (naming the bad value) otherwise."""
    items = [item.strip() for item in str(text).split(",") if item.strip()]
    if not items:
        raise ValueError("empty list: give one or more comma-separated numbers, e.g. 1e-4,1e-5")
    values = []
    for item in items:
        try:
            values.append(float(item))
        except ValueError:
            raise ValueError(f"{item!r} is not a number (expected comma-separated numbers, e.g. 1e-4,1e-5)")
    return values


def grid_values(flag: str):
    """An argparse ``type`` for a comma-separated list (argparse then names ``flag`` in its error)."""
    def parse(text: str) -> list[float]:
        try:
            return check_values(flag.lstrip("-").replace("-", "_"), parse_values(text), flag)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err).removeprefix(f"{flag}: "))  # argparse adds the flag
    parse.__name__ = flag
    return parse


def check_values(key: str, values, name: str) -> list[float]:
    """Validate the values of grid axis ``key``; errors start with ``name`` (the flag or file key)."""
    if not isinstance(values, list):
        values = [values]
    if not values:
        raise ValueError(f"{name}: empty list; give one or more values.")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        raise ValueError(f"{name}: {values!r} must be finite numbers.")
    ok = {"lr": lambda v: v > 0, "smart_lambda": lambda v: v >= 0, "dropout": lambda v: 0 <= v < 1}[key]
    bad = [v for v in values if not ok(v)]
    if bad:
        rule = {"lr": "> 0", "smart_lambda": ">= 0", "dropout": "in [0, 1)"}[key]
        raise ValueError(f"{name}: {bad} out of range; values must be {rule}.")
    return [float(v) for v in values]


def load_grid(config: str | Path | None = None, overrides: dict | None = None) -> dict[str, list[float]]:
    """The grid: ``DEFAULT_GRID``, updated by a JSON/TOML ``config`` file, then by ``overrides`` (not None)."""
    grid = dict(DEFAULT_GRID)
    if config:
        path = Path(config)
        if not path.is_file():
            raise FileNotFoundError(f"--config {path}: no such file.")
        try:
            if path.suffix == ".toml":
                import tomllib  # Python 3.11+

                data = tomllib.loads(path.read_text())
            else:
                data = json.loads(path.read_text())
        except ImportError:
            raise ImportError(f"--config {path}: TOML needs Python 3.11+ (tomllib); write it as JSON instead.")
        except ValueError as err:  # json.JSONDecodeError and tomllib.TOMLDecodeError
            raise ValueError(f"--config {path}: not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {err}")
        if not isinstance(data, dict):
            raise ValueError(f"--config {path}: expected a table of lists, e.g. {{\"lr\": [1e-4, 1e-5]}}.")
        for key, values in data.items():
            name = key.replace("-", "_")
            if name not in DEFAULT_GRID:
                raise ValueError(f"--config {path}: unknown key {key!r}; the grid keys are "
                                 f"{', '.join(DEFAULT_GRID)} (other options go on the command line).")
            grid[name] = check_values(name, values, f"--config {path}: {key}")
    grid.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return grid


def grid_configs(grid: dict[str, list[float]]) -> list[dict[str, float]]:
    """Every combination, in order: [{'lr': .., 'smart_lambda': .., 'dropout': ..}, ...]."""
    keys = list(DEFAULT_GRID)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def exact(value: float, style: str) -> str:
    """``value`` in format ``style`` ('e' or 'g') with the fewest digits that read back as exactly ``value``."""
    for digits in range(18):  # 17 significant digits always suffice for a float
        text = f"{value:.{digits}{style}}"
        if float(text) == value:
            return text
    return repr(float(value))  # nan, inf


def run_name(config: dict[str, float]) -> str:
    """{'lr': 1e-4, 'smart_lambda': 5, 'dropout': 0.1} -> 'lr1e-04_lam5_drop0.1'; 1.2e-4 -> 'lr1.2e-04_...'.

    Each value is written exactly (see ``exact``): distinct configurations get distinct folders.
    """
    return (f"lr{exact(config['lr'], 'e')}_lam{exact(config['smart_lambda'], 'g')}"
            f"_drop{exact(config['dropout'], 'g')}")


# --- one run -------------------------------------------------------------------------------
def run_config(config: dict, method: str, scale, head, train_cfg) -> dict:
    """What the run of ``config`` records in its metrics.json: method, scale, head and train options."""
    saved = {"method": method, "scale_config": asdict(scale),
             "head_config": asdict(replace(head, dropout=config["dropout"])),
             "train_config": asdict(trainer_config(method, replace(train_cfg, lr=config["lr"],
                                                                    smart_lambda=config["smart_lambda"])))}
    return json.loads(json.dumps(saved, default=str))  # as it reads back (tuples become lists)


def run_row(run_dir: Path, expected: dict | None = None) -> dict:
    """The results-table columns of a run folder, from what it has on disk.

    A finished run is ``collapsed`` when any head collapsed (metrics.json's ``collapsed``
    record, or for older runs its dev prediction files), else ``ok``. With ``expected``
    (``run_config``), a finished run that recorded another configuration is a ``mismatch``:
    its scores belong to another row, so none are reported.
    """
    if (run_dir / "metrics.json").exists():
        metrics = json.loads((run_dir / "metrics.json").read_text())
        differences = config_differences(metrics, expected) if expected else []
        if differences:
            return {"status": "mismatch", "reason": f"{run_dir / 'metrics.json'} is another configuration's: "
                    + "; ".join(differences) + ". Move or delete the folder to train this row."}
        reasons = metrics["collapsed"] if "collapsed" in metrics else collapse_reasons(run_predictions(run_dir))
        why = "; ".join(reasons[t] for t in PREDICTION_COLUMNS if reasons.get(t))
        return {**{k: metrics.get(k) for k in METRICS}, "status": "collapsed" if why else "ok", "reason": why}
    if (run_dir / "failure.json").exists():
        return json.loads((run_dir / "failure.json").read_text())
    return {"status": "pending", "reason": ""}


def train_one(run_dir: Path, config: dict, method: str, scale, head, train_cfg, data_dir, device,
              keep_checkpoint: bool = False) -> None:
    """One run of the grid, launched as its train command (``experiment.run_command``, its output in
    ``train.log``); a failure is written to ``failure.json`` instead of being raised."""
    run_dir.mkdir(parents=True, exist_ok=True)
    head = replace(head, dropout=config["dropout"])
    cfg = replace(train_cfg, lr=config["lr"], smart_lambda=config["smart_lambda"])
    argv = ["train", *train_words(method, scale, head, cfg), "--out", str(run_dir), "--resume",
            "--no-test-predictions", "--weights", "all" if keep_checkpoint else "none"]  # none: no ~270 MB checkpoint
    if data_dir:
        argv += ["--data-dir", str(data_dir)]
    if device:
        argv += ["--device", str(device)]
    err = run_logged(argv, run_dir / "train.log")
    if isinstance(err, NonFiniteLossError):
        write_json(run_dir / "failure.json", {"status": "nonfinite", "reason": str(err)})
    elif err is not None:
        write_json(run_dir / "failure.json", {"status": "failed", "reason": f"{type(err).__name__}: {err}",
                                              "traceback": "".join(traceback.format_exception(err))})


def summary_by_lr(results: pd.DataFrame) -> pd.DataFrame:
    """Per learning rate (largest first): how many runs ended ok, collapsed, non-finite or failed, the
    best dev overall, and the mean SST accuracy and STS r of the runs that finished."""
    def count(status):
        return "status", lambda s: int((s == status).sum())

    return results.groupby("lr").agg(
        runs=("run", "size"), ok=count("ok"), collapsed=count("collapsed"), nonfinite=count("nonfinite"),
        failed=count("failed"), best_overall=("overall", "max"), mean_sst_acc=("sst_acc", "mean"),
        mean_sts_corr=("sts_corr", "mean")).sort_index(ascending=False)


# --- the sweep -----------------------------------------------------------------------------
def write_table(table: pd.DataFrame, path: Path) -> None:
    """CSV through a temporary file and a rename: a reader never sees half a table."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        table.to_csv(f, index=False)
    os.replace(tmp, path)


def markdown_table(table: pd.DataFrame) -> str:
    """A results table as a Markdown table: how a measured sweep is kept in ``mtl_lib/results/``."""
    def cell(value) -> str:
        return "" if pd.isna(value) else (f"{value:.6g}" if isinstance(value, float) else str(value)).replace("|", "/")
    lines = ["| " + " | ".join(table.columns) + " |", "|" + " --- |" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def read_markdown_table(path: str | Path) -> pd.DataFrame:
    """The first Markdown table of a file (text around it is ignored) back as a DataFrame, numbers as numbers."""
    text = Path(path).read_text().splitlines()
    start = next((i for i, line in enumerate(text) if line.startswith("|")), None)
    if start is None:
        raise ValueError(f"{path}: no Markdown table (lines starting with '|') found.")
    lines = list(itertools.takewhile(lambda line: line.startswith("|"), text[start:]))
    body = [line.strip()[1:-1].strip() for line in lines[:1] + lines[2:]]  # drop the | --- | line and the outer pipes
    return pd.read_csv(io.StringIO("\n".join(body)), sep=r"\s*\|\s*", engine="python")


#: Recorded in sweep.json but not compared: the grid sets these per run, and ``method`` (compared) sets pcgrad.
UNCOMPARED_OPTIONS = {"train.lr", "train.smart_lambda", "head.dropout", "train.pcgrad", "train.extra"}


def check_same_options(out: Path, options: dict) -> None:
    """Save the options shared by every run; refuse to resume a sweep made with others (``UNCOMPARED_OPTIONS``
    aside: a sweep saved before the course recipe became the default recorded other base values for them)."""
    path = out / "sweep.json"
    options = json.loads(json.dumps(options, default=str))  # as it reads back (tuples become lists)
    if path.exists():
        saved = json.loads(path.read_text())
        saved, now = flatten(saved), flatten(options)
        changed = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k) and k not in UNCOMPARED_OPTIONS)
        if changed:
            raise ValueError(f"{out} was swept with other options ({', '.join(changed)} differ; see {path}). "
                             "Use a new --out folder, or the same options to resume.")
    else:
        write_json(path, options)


def run_sweep(out: str | Path, grid: dict[str, list[float]] | None = None, method: str = "summed",
              scale=None, head=None, train_cfg=None, data_dir=None, device=None,
              retry_failed: bool = False, keep_checkpoints: bool = False, progress: bool = True) -> pd.DataFrame:
    """Train every configuration of ``grid`` not done yet; return (and write) the results table.

    ``head`` and ``train_cfg`` are the options shared by all runs; the grid
    overrides their ``dropout``, ``lr`` and ``smart_lambda``. A finished run's
    checkpoint is deleted unless ``keep_checkpoints`` (the sweep picks the
    hyperparameters; train the chosen configuration again with ``train``).
    """
    if method == "baseline":
        raise ValueError("--method baseline has no learning rate or SMART to sweep; use summed, "
                         "sequential or pcgrad.")
    out, scale = Path(out), get_scale(scale)
    head = head or HeadConfig(checkpoint=scale.checkpoint)
    train_cfg = train_cfg or TrainConfig(epochs=scale.epochs, batch_size=scale.batch_size,
                                         max_length=scale.max_length)
    configs = grid_configs(grid or DEFAULT_GRID)
    out.mkdir(parents=True, exist_ok=True)
    check_same_options(out, {"method": method, "scale": asdict(scale), "head": asdict(head),
                             "train": asdict(train_cfg)})
    expected = [run_config(c, method, scale, head, train_cfg) for c in configs]
    rows = [{"run": run_name(c), **c, **run_row(out / run_name(c), e)} for c, e in zip(configs, expected)]
    columns = ["run", *DEFAULT_GRID, *METRICS, "status", "reason"]
    bar = progress_bar(list(enumerate(configs)), progress, desc="sweep", unit="run")
    for i, config in bar:
        run_dir = out / rows[i]["run"]
        bar.set_postfix_str(rows[i]["run"])
        if rows[i]["status"] in ("ok", "collapsed", "mismatch"):  # a mismatch is never overwritten
            continue
        if rows[i]["status"] in ("nonfinite", "failed"):
            if not retry_failed:
                continue
            shutil.rmtree(run_dir)  # a retry starts from scratch, not from the last good checkpoint
        train_one(run_dir, config, method, scale, head, train_cfg, data_dir, device, keep_checkpoints)
        rows[i] = {"run": rows[i]["run"], **config, **run_row(run_dir, expected[i])}
        write_table(pd.DataFrame(rows).reindex(columns=columns), out / "results.csv")
    table = pd.DataFrame(rows).reindex(columns=columns)
    write_table(table, out / "results.csv")
    (out / "results.md").write_text(markdown_table(table))  # the same table, to read or to put in the docs
    return table
