"""Results that ship with the package: read them instead of training when no run of your own exists.

A notebook cell that trains for minutes first looks for a finished run of the same command in the
runs folder (``experiment.train_or_load``). When there is none, a result measured earlier and
shipped inside the package (``mtl_lib/results/``, installed with pip and on Colab) can stand in:
the student sees every table and plot, and one printed line says what was read rather than run.

Two kinds of shipped result:

* tables - ``mtl_lib/results/<name>.md``, Markdown with a header naming the command, scale,
  seeds, hardware and date (``read_table``), written by ``python -m mtl_lib reproduce`` with the
  per-seed numbers beside them (``.json``); ``shipped_table``, ``shipped_summary``, ``side_by_side``
  (ours beside the paper's), ``show_shipped`` (a notebook's view) and ``readme_block`` (the
  README's) show them;
* runs - ``mtl_lib/results/runs/<key>.json``, the ``metrics.json`` of one ``python -m mtl_lib train``
  command (scores, history, loss history, the configuration it recorded; never weights), written by
  ``ship_run`` and read by ``load_or_train``. A command is served the shipped run whose recorded
  configuration is the one the command resolves to now (``records.resolved_config``): the order
  or spelling of its flags does not matter, and a command whose defaults have changed since is not
  served the old result. (Options newer than a shipped run are not compared: ``records``.)

Set ``MTL_USE_SHIPPED=0`` to ignore shipped runs and always train.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from . import experiment, paper
from .options import budget
from .records import CONFIG_KEYS, config_differences, resolved_config
from .stats import fmt_cell, fmt_diff, mean_sd, paired_interval

RESULTS = Path(__file__).resolve().parent / "results"
# Options that say where a run goes or how it is resumed, not what it computes: not part of the key.
PLACEMENT_OPTIONS = {"--out": 1, "--resume": 0, "--force": 0, "--keep-optimizer": 0, "--device": 1}


def normalized(args: list[str]) -> list[str]:
    """``args`` without the options that only place or resume a run (``PLACEMENT_OPTIONS``)."""
    kept, skip = [], 0
    for arg in args:
        if skip:
            skip -= 1
            continue
        name = arg.split("=", 1)[0]
        if name in PLACEMENT_OPTIONS:
            skip = 0 if "=" in arg else PLACEMENT_OPTIONS[name]
            continue
        kept.append(arg)
    return kept


def command_key(args: list[str]) -> str:
    """A short, stable file name for the shipped result of ``python -m mtl_lib ARGS`` (placement options
    left out). It names the file only: results are looked up by configuration (``read_shipped_run``)."""
    return hashlib.sha256(json.dumps(normalized(args)).encode()).hexdigest()[:16]


def shipped_run_path(args: list[str], results: Path = RESULTS) -> Path:
    return Path(results) / "runs" / f"{command_key(args)}.json"


def read_table(name: str, results: Path = RESULTS) -> str | None:
    """The shipped Markdown table ``mtl_lib/results/<name>.md``, or None if the package has none by that name."""
    path = Path(results) / f"{name}.md"
    return path.read_text() if path.is_file() else None


def ship_run(run: str | Path, args: list[str], note: str, results: Path = RESULTS) -> Path:
    """Copy a finished run's metrics.json into the package as the shipped result of ``args``.

    ``note`` says where and when it was measured (e.g. "one T4 on Colab, 2026-12-01"); it is printed
    whenever the result is read instead of run."""
    metrics_path = Path(run) / "metrics.json"
    if not metrics_path.is_file():
        raise FileNotFoundError(f"{metrics_path} not found: ship a finished run (a folder written by "
                                f"`python -m mtl_lib {' '.join(normalized(args))} --out DIR`).")
    metrics = json.loads(metrics_path.read_text())
    missing = [key for key in CONFIG_KEYS if key not in metrics]
    differences = config_differences(metrics, resolved_config(normalized(args))) if not missing else []
    if missing or differences:
        raise ValueError(f"{metrics_path} is not the run of `python -m mtl_lib {' '.join(normalized(args))}`: "
                         + (f"it records no {', '.join(missing)}" if missing else "; ".join(differences))
                         + ". Ship the folder that command trained.")
    metrics.pop("data_dir", None)  # a path on the machine that measured it: meaningless elsewhere
    dest = shipped_run_path(args, results)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps({"command": normalized(args), "note": note, "metrics": metrics}, indent=1))
    return dest


def read_shipped_run(args: list[str], results: Path = RESULTS) -> dict | None:
    """The shipped ``{"command", "note", "metrics"}`` whose recorded configuration is the one ``args``
    resolves to (``records.resolved_config``), or None; a damaged file is an error naming it."""
    wanted = resolved_config(normalized(args))
    for path in sorted((Path(results) / "runs").glob("*.json")):
        try:
            shipped = json.loads(path.read_text())
        except ValueError as err:
            raise ValueError(f"{path} is not valid JSON ({err}); reinstall the course, or delete the file to "
                             "train this run instead.") from None
        metrics = shipped.get("metrics", {})
        if all(key in metrics for key in CONFIG_KEYS) and not config_differences(metrics, wanted):
            return shipped
    return None


def load_or_train(args: list[str], out: str | Path, results: Path = RESULTS) -> dict:
    """The metrics of ``python -m mtl_lib ARGS --out OUT``, by the cheapest honest route:

    1. a finished run of that command in ``OUT``: read back (``experiment.train_or_load``);
    2. else a shipped result of that command: read, with one line saying so (unless ``MTL_USE_SHIPPED=0``);
    3. else train (or resume an interrupted run in ``OUT``).

    The returned dict is the run's metrics.json; a shipped one also carries ``"shipped": note``.
    """
    out = Path(out)
    command_file = out / "command.json"
    own_run = (out / "metrics.json").is_file() and command_file.is_file() and \
        json.loads(command_file.read_text()) == [*args, "--out", str(out)]
    use_shipped = os.environ.get("MTL_USE_SHIPPED", "1") != "0"
    if not own_run and use_shipped:
        shipped = read_shipped_run(args, results)
        if shipped is not None:
            print(f"read, not run: the shipped result of this run (its record: {shipped_run_path(args, results).name} "
                  "in mtl_lib/results/runs; MTL_USE_SHIPPED=0 trains it here)")
            return {**shipped["metrics"], "shipped": shipped["note"]}
    return experiment.train_or_load(args, out)


# --- shipped tables: how a notebook and the README show them ---------------------------------------
SHIPPED = RESULTS  # the folder of the shipped tables (its old name)


def shipped_table(table: str, scale: str = "laptop") -> str:
    """The Markdown of a table measured by the course and shipped in ``mtl_lib/results/`` (``shipped.read_table``)."""
    text = read_table(f"{table}-{scale}")
    if text is None:
        have = ", ".join(sorted(p.stem for p in SHIPPED.glob("*.md"))) or "none"
        raise FileNotFoundError(f"No shipped table {table}-{scale}.md (shipped: {have}). Make it with "
                                f"`python -m mtl_lib reproduce {table} --scale {scale} --out DIR`.")
    return text


def shipped_summary(table: str, scale: str = "laptop") -> pd.DataFrame:
    """A shipped table's rows as a DataFrame (means, sds, paired differences and their intervals)."""
    path = SHIPPED / f"{table}-{scale}.json"
    if not path.exists():
        shipped_table(table, scale)  # the same helpful error
    return pd.DataFrame(json.loads(path.read_text())["summary"]).set_index("row")


def shipped_seeds(table: str, label: str, scale: str = "laptop", key: str = "overall") -> list[float | None]:
    """One row of a shipped table, per seed (seed 0 first; None for a seed it lacks): a lesson's live run of
    that row's recipe, budget and seed is the same run as the table's."""
    rows = json.loads((SHIPPED / f"{table}-{scale}.json").read_text())["rows"]
    if label not in rows:
        raise KeyError(f"{table}-{scale} has no row {label!r}; its rows: {', '.join(rows)}")
    return [run[key] if run else None for run in rows[label]]


#: Our row -> the paper's (table number, row label) that measured the same change.
PAPER_ROWS = {
    "table1": {"frozen baseline": (1, "baseline (frozen encoder)"), "summed": (1, "summed"),
               **{label: (1, label) for label in paper.TABLES[1]["rows"] if label.startswith("sequential ")}},
    "table2": {"summed, MLP STS head": (2, "linear STS head"), "summed, cosine STS head": (2, "cosine STS head")},
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
    summary = shipped_summary(table, scale) if summary is None else summary.set_index("row")
    rows = []
    for label, record in summary.iterrows():
        record = {"row": label, **record.to_dict()}
        out = {"row": label, "ours: overall": fmt_cell(record, "overall"), "ours: Δ overall [95 %]": fmt_diff(record, "overall")}
        number, paper_label = PAPER_ROWS.get(table, {}).get(label, (None, None))
        if number is not None:
            ptable = paper.paper_table(number)
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
    """For notebooks: say which shipped table this is (command, budget, seeds: measured by the course,
    not run in this notebook; its hardware and timings are in the file, which notebook 10 shows) and
    return it beside the paper's figures; with ``per_task`` the four scores (mean ± sd) and their paired
    Δ instead."""
    header = [line.rstrip(" ") for line in shipped_table(table, scale).splitlines()[2:5]]
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


# --- the README's one results table ----------------------------------------------------------------
README_TABLE_BEGIN, README_TABLE_END = "<!-- results table: begin -->", "<!-- results table: end -->"
#: The full-budget runs of the course recipe (notebooks 08-09), shipped for seeds 0, 1, 2: this command and --seed N.
FULL_BUDGET_COMMAND = ["train", "--scale", "laptop", "--max-examples", "10000", "--epochs", "1", "--no-test-predictions"]
#: Its fair yardstick: the frozen encoder with the same (course) heads and training rows, shipped for seed 0.
FULL_BUDGET_FROZEN = ["train", "--method", "baseline", "--scale", "laptop", "--max-examples", "10000",
                      "--no-test-predictions"]
#: Its flags' values: {"--scale": "laptop", "--max-examples": "10000", "--epochs": "1"}.
FULL_BUDGET_SIZES = dict(zip(FULL_BUDGET_COMMAND[1:-1:2], FULL_BUDGET_COMMAND[2::2]))


def full_budget_runs(seeds: int = 3) -> list[dict]:
    """The shipped metrics of FULL_BUDGET_COMMAND for seeds 0, 1, ... (those shipped), in seed order."""
    runs = [read_shipped_run([*FULL_BUDGET_COMMAND, "--seed", str(seed)]) for seed in range(seeds)]
    return [run["metrics"] for run in runs if run]


def readme_table(scale: str = "laptop") -> str:
    """The README's one results table: ours (mean ± sd over seeds) beside the paper's figure, both labelled.
    Its rows: the shipped ladder's rungs, the six sequential orders of the shipped Table 1 (lowest to
    highest) before the summed loss, and the course recipe at the full laptop budget (shipped runs).
    Paste it between the README's markers after shipping new tables (a test compares them)."""
    ladder = side_by_side("ladder", scale)
    table1 = shipped_summary("table1", scale)
    info = json.loads((SHIPPED / f"ladder-{scale}.json").read_text())
    budget, seeds = info["budget"], info["seeds"]
    orders = table1[table1.index.str.startswith("sequential ")]
    best = orders["overall"].idxmax()
    paper_orders = paper.paper_table(1).filter(like="sequential", axis=0)["overall"]

    def arrow(label: str) -> str:  # "sequential sst > para > sts" or "sequential sst→para→sts" -> "sst→para→sts"
        return label.removeprefix("sequential ").replace(" > ", "→")

    orders_row = (f"| sequential, the six orders: lowest – highest | {orders['overall'].min():.3f} – "
                  f"{orders['overall'].max():.3f} (best: {arrow(best)}, "
                  f"{fmt_cell(orders.loc[best].to_dict(), 'overall')}) | {paper_orders.min():.3f} – "
                  f"{paper_orders.max():.3f} (best: {arrow(paper_orders.idxmax())}) |")
    lines = [README_TABLE_BEGIN, "",
             f"Ours: all-MiniLM-L6-v2 at laptop scale, dev overall, mean ± sd over {seeds} seeds; the course budget "
             f"({budget['max_examples']:,} training rows per task, {budget['epochs']} epoch, {budget['dev_examples']:,} dev "
             f"rows per task) unless a row names another. Paper: bert-base-uncased, one run per row.", "",
             "| row | ours: dev overall | paper: dev overall |", "| --- | --- | --- |"]
    for label, row in ladder.iterrows():
        if not row["ours: overall"]:
            continue  # a single-task row: no overall score
        if label == "summed":
            lines.append(orders_row)
        lines.append(f"| {label} | {row['ours: overall']} | {row.get('paper: overall') or 'not in the paper'} |")
    by_rows = fine_tuning_by_rows()  # the crossing budgets and the final one, read once
    for rows in CROSSING:
        if rows in by_rows.index:
            row = by_rows.loc[rows]
            lines.append(f"| the course recipe at {rows:,} training rows per task, 600 dev rows: fine-tuned / frozen "
                         f"baseline, course heads | {row['fine-tuned']} / {row['frozen, same heads']} | "
                         "not in the paper |")
    final_rows = int(FULL_BUDGET_SIZES["--max-examples"])
    if final_rows in by_rows.index:
        tuned, frozen = by_rows.loc[final_rows, "tuned"], by_rows.loc[final_rows, "frozen"]
        mean, sd = mean_sd(tuned)
        lines.append(f"| the course recipe at {final_rows:,} training rows per task, {FULL_BUDGET_SIZES['--epochs']} epoch, all dev "
                     f"rows ({len(tuned)} seeds) | {mean:.3f} ± {sd:.3f} | final model, test sets: "
                     f"{paper.paper_table(5)['overall'].iloc[-1]:.3f} |")
        lines.append(f"| frozen baseline, course heads, the same budget ({len(frozen)} seed{'s' * (len(frozen) > 1)}) | "
                     f"{np.mean(frozen):.3f} | not in the paper |")
    return "\n".join([*lines, "", README_TABLE_END])


# --- where fine-tuning pulls ahead of the frozen encoder -------------------------------------------
#: Budgets beside the course's at which the course recipe was trained both fine-tuned and frozen
#: (``--method baseline``: the same heads on the frozen encoder), 3 seeds each, shipped: training rows
#: per task -> rows per task per step; 1 epoch, 600 dev rows per task.
CROSSING = {1000: 16, 2000: 16}


def crossing_command(method: str, rows: int, seed: int) -> list[str]:
    """The train command of one crossing run (``method``: summed = fine-tuned, baseline = frozen)."""
    return ["train", "--method", method, "--scale", "laptop", "--max-examples", str(rows), "--dev-examples", "600",
            "--batch-size", str(CROSSING[rows]), "--epochs", "1", "--no-test-predictions", "--train-eval-examples",
            "0", "--seed", str(seed), "--weights", "none"]


def fine_tuning_by_rows(seeds: int = 3) -> pd.DataFrame:
    """The course recipe fine-tuned against the frozen encoder with the same heads, by training rows per
    task, at laptop scale: the course budget (the shipped ladder's two rows), the crossing runs
    (``CROSSING``) and the final budget (``FULL_BUDGET_COMMAND``; its frozen twin, one seed).

    One row per budget, fewest rows first: rows, batch, steps, dev rows, both overall scores (mean ± sd),
    the per-seed scores (``tuned``, ``frozen``) and fine-tuned − frozen (a paired t interval where both
    have 2+ seeds)."""
    course = json.loads((SHIPPED / "ladder-laptop.json").read_text())["budget"]
    budgets = [(course["max_examples"], course["batch_size"], course["dev_examples"],
                *([score for score in shipped_seeds("ladder", label) if score is not None]
                  for label in ("+ rich pair features", "frozen baseline, course heads")))]
    for rows, batch in CROSSING.items():
        runs = {method: [read_shipped_run(crossing_command(method, rows, seed)) for seed in range(seeds)]
                for method in ("summed", "baseline")}
        budgets.append((rows, batch, 600, *([run["metrics"]["overall"] for run in runs[method] if run]
                                            for method in ("summed", "baseline"))))
    frozen = read_shipped_run(FULL_BUDGET_FROZEN)
    budgets.append((int(FULL_BUDGET_SIZES["--max-examples"]), budget("laptop", "final")["batch_size"], None,
                    [m["overall"] for m in full_budget_runs()],
                    [frozen["metrics"]["overall"]] if frozen else []))
    table = []
    for rows, batch, dev, tuned, still in sorted(budgets, key=lambda budget: budget[0]):
        if not tuned or not still:
            continue
        paired = min(len(tuned), len(still)) >= 2
        diff, low, high = (paired_interval(tuned, still) if paired else
                           (float(np.mean(tuned) - np.mean(still)), None, None))
        table.append({"training rows per task": rows, "batch per task": batch, "steps": -(-rows // batch),
                      "dev rows per task": f"{dev:,}" if dev else "all",
                      "fine-tuned": _seeds_cell(tuned), "frozen, same heads": _seeds_cell(still),
                      "fine-tuned − frozen": f"{diff:+.3f}" + (f" [{low:+.3f}, {high:+.3f}]" if paired else ""),
                      "tuned": tuned, "frozen": still})
    return pd.DataFrame(table).set_index("training rows per task")


def _seeds_cell(scores: list[float]) -> str:
    """'0.700 ± 0.004 (3 seeds)', or '0.707 (1 seed)'."""
    if len(scores) == 1:
        return f"{scores[0]:.3f} (1 seed)"
    return "{:.3f} ± {:.3f}".format(*mean_sd(scores)) + f" ({len(scores)} seeds)"
