"""Results that ship with the package: read them instead of training when no run of your own exists.

A notebook cell that trains for minutes first looks for a finished run of the same command in the
runs folder (``experiment.train_or_load``). When there is none, a result measured earlier and
shipped inside the package (``mtl_lib/results/``, installed with pip and on Colab) can stand in:
the student sees every table and plot, and one printed line says what was read rather than run.

Two kinds of shipped result:

* tables - ``mtl_lib/results/<name>.md``, Markdown with a header naming the command, scale,
  seeds, hardware and date (``read_table``);
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

from .records import CONFIG_KEYS, config_differences, resolved_config

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
    from .experiment import train_or_load

    out = Path(out)
    command_file = out / "command.json"
    own_run = (out / "metrics.json").is_file() and command_file.is_file() and \
        json.loads(command_file.read_text()) == [*args, "--out", str(out)]
    use_shipped = os.environ.get("MTL_USE_SHIPPED", "1") != "0"
    if not own_run and use_shipped:
        shipped = read_shipped_run(args, results)
        if shipped is not None:
            print(f"read, not run: the shipped result of `python -m mtl_lib {' '.join(shipped['command'])}` "
                  f"({shipped['note']}); set MTL_USE_SHIPPED=0 to train it here")
            return {**shipped["metrics"], "shipped": shipped["note"]}
    return train_or_load(args, out)
