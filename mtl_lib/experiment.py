"""One training run from start to finish: what ``python -m mtl_lib train`` does.

load data at the chosen scale -> build the model -> train (frozen baseline,
sequential or summed) -> score dev -> write predictions for dev and test ->
``metrics.json`` with the scores, the time, the full config, the history and the
machine it ran on (hardware, torch, mtl_lib, date: ``records.machine_record``).
Notebooks call ``run_experiment`` too, so a notebook and the command line
can never disagree about what a run is.

``run_command`` is the one way a train command (``["train", ...]``, the command line's words) is
launched: by the command line, by notebooks (``train_or_load``) and by ``reproduce``'s tables. It
raises what went wrong; only the command line turns that into one printed line and an exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import shutil
import time
import traceback
import warnings
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import torch

from . import distributed
from .analysis import confusion_matrix
from .data import TASKS, load_task, resolve_data_dir
from .evaluate import collapse_reasons, evaluate, predict, write_predictions
from .frozen import train_frozen_heads
from .model import HeadConfig, MultitaskBert
from .options import METHODS, Scale, get_scale, resolve, trainer_config, train_parser
from .plots import plot_training_curves
from .precision import autocast_dtype, name as precision_name
from .records import machine_record
from .report import print_metrics, print_written, save_figure, wide_history
from .run_folder import (damaged, drop_optimizer_state, has_checkpoint, load_checkpoint, read_state, save_weights,
                   write_json)
from .setup import get_device, seed_everything
from .tokenizer import load_tokenizer
from .train import Trainer, TrainConfig

#: What a run keeps of its model (``run_experiment``'s ``weights``): "all" - checkpoints while it trains (it can
#: resume), the weights at the end; "final" - only the finished model's weights, written once, no optimizer
#: state (nothing to resume); "none" - no weights at all: scores, history and predictions only (a notebook's
#: runs: a bert-base checkpoint is 440 MB, and its optimizer state twice that).
WEIGHTS = ("all", "final", "none")


def cut(df: pd.DataFrame, n: int | None, seed: int = 0) -> pd.DataFrame:
    """``n`` rows of ``df`` as a seeded random sample (all of them if ``n`` is None or too large).

    A sample, not the first rows: the SST files are ordered, and their first 2000 rows
    hold 1% "very negative" against 13% overall.
    """
    return df if n is None or n >= len(df) else df.sample(n=n, random_state=seed).reset_index(drop=True)


def load_dev(n: int | None, data_dir=None, tasks=TASKS) -> dict[str, pd.DataFrame]:
    """The dev rows a run of ``n`` dev examples per task scores (``load_frames``' cut), without
    reading the training splits."""
    return {t: cut(load_task(t, "dev", data_dir), n) for t in tasks}


def load_frames(scale: Scale, data_dir=None, seed: int = 0) -> tuple[dict, dict]:
    """Training and dev frames of the three tasks, cut to the scale's sizes (``cut``)."""
    train = {t: cut(load_task(t, "train", data_dir), scale.max_examples, seed) for t in TASKS}
    dev = {t: cut(load_task(t, "dev", data_dir), scale.dev_examples, seed) for t in TASKS}
    return train, dev


#: Test rows predicted per scale (absent: every row). A smoke run's prediction files are for checking the
#: pipeline, not for submission, and predicting the ~3,900 test sentences took most of a smoke run's time.
TEST_ROWS = {"smoke": 64}


def load_test_frames(data_dir=None, download: bool = True) -> tuple[dict, dict]:
    """The unlabelled test splits that exist; and, for those that don't, why."""
    frames, missing = {}, {}
    for task in TASKS:
        try:
            frames[task] = load_task(task, "test", data_dir, download=download)
        except FileNotFoundError as err:
            missing[task] = str(err).splitlines()[0]
    return frames, missing


def run_experiment(out: str | Path, method: str = "summed", scale: str | Scale | None = None,
                   head: HeadConfig | None = None, train_cfg: TrainConfig | None = None,
                   data_dir=None, device=None, resume: bool = False, progress: bool = True,
                   baseline_epochs: int = 10, test_predictions: bool = True,
                   tasks: tuple[str, ...] | None = None, weights: str = "all") -> dict:
    """Train and evaluate one configuration; write everything under ``out``; return metrics.

    ``weights`` says what the run keeps of its model (``WEIGHTS``); the frozen baseline always keeps its
    heads (``heads.pt``, small).

    ``test_predictions=False`` skips predicting the test splits (a sweep only needs dev).
    ``tasks`` trains and scores only those tasks (``("sst",)``: SST fine-tuned alone, the
    single-task yardstick of every multi-task row); None: all three.
    Under torchrun, rank 0 scores and writes; every rank returns the same metrics.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    scale = get_scale(scale)
    head = head or HeadConfig(checkpoint=scale.checkpoint)
    train_cfg = train_cfg or TrainConfig(epochs=scale.epochs, batch_size=scale.batch_size,
                                         max_length=scale.max_length)
    device = torch.device(device or "cpu")
    seed_everything(train_cfg.seed)
    train, dev = load_frames(scale, data_dir)
    if tasks:
        unknown = sorted(set(tasks) - set(TASKS))
        if unknown or not tasks:
            raise ValueError(f"tasks={','.join(tasks)}: {', '.join(unknown)} is not a task; choose among "
                             f"{', '.join(TASKS)}.")
        train, dev = ({t: f[t] for t in TASKS if t in tasks} for f in (train, dev))
    tok = load_tokenizer(head.checkpoint)
    model = MultitaskBert.from_pretrained(head)
    start = time.perf_counter()
    extra = {}
    if method not in METHODS:
        raise ValueError(f"method={method!r}; choose one of {', '.join(METHODS)}.")
    if weights not in WEIGHTS:
        raise ValueError(f"weights={weights!r}; choose one of {', '.join(WEIGHTS)}.")
    if method == "baseline":
        if distributed.world_size() > 1:
            raise ValueError("--method baseline trains on cached features in one process; run it without torchrun.")
        frozen, history = train_frozen_heads(model, tok, train, dev, epochs=baseline_epochs, lr=train_cfg.head_lr,
                                             max_length=train_cfg.max_length, seed=train_cfg.seed,
                                             device=device, progress=progress, precision=train_cfg.precision)
        extra.update(encode_seconds=frozen["encode_seconds"], head_train_seconds=frozen["train_seconds"])
        torch.save(model.heads.state_dict(), out / "heads.pt")
    else:
        train_cfg = trainer_config(method, train_cfg)
        trainer = Trainer(model, tok, train, dev, train_cfg, device=device, progress=progress,
                          run_dir=out if weights == "all" else None)  # no run folder: no checkpoints
        history = trainer.fit(resume=resume)
        if weights == "final" and distributed.is_main():
            save_weights(out, model, {"epoch": train_cfg.epochs, "step": trainer.step, "seconds": trainer.elapsed(),
                                      "train_config": asdict(trainer.cfg), "head_config": model.config.to_dict(),
                                      "history": trainer.history})
        extra["loss_history"] = trainer.loss_history  # mean training loss every history_every steps (curves)
        start = time.perf_counter() - trainer.elapsed()  # a resumed run counts its earlier training too
        if trainer.conflicts:
            extra["pcgrad_steps"] = {"columns": ["cos_sst_para", "cos_sst_sts", "cos_para_sts", "projected"],
                                     "values": trainer.conflicts}
    train_seconds = time.perf_counter() - start
    if not distributed.is_main():
        return distributed.broadcast_object(None)  # rank 0's metrics
    metrics = finish_run(out, model, tok, dev, train_cfg, device, data_dir, test_predictions, progress,
                         test_rows=TEST_ROWS.get(scale.name))
    metrics.update(method=method, tasks=list(train), scale=scale.name, scale_config=asdict(scale), train_seconds=train_seconds,
                   head_config=head.to_dict(), train_config=asdict(train_cfg),
                   history=history.to_dict(orient="records"), machine=machine_record(device), **extra)
    write_json(out / "metrics.json", metrics)
    return distributed.broadcast_object(metrics)


def finish_run(out: Path, model, tok, dev: dict, cfg: TrainConfig, device, data_dir=None,
               test_predictions: bool = True, progress: bool = False, test_rows: int | None = None) -> dict:
    """Score dev, write dev and test predictions; return the metrics (and what was missing).

    ``test_rows`` predicts only the first rows of each test file (``TEST_ROWS``: smoke scale), and
    ``metrics["test_rows"]`` says so.

    ``metrics["collapsed"]`` says, per task, why its dev predictions are degenerate ('' if
    they are not): one class for every row, or one STS score (``evaluate.collapse_reasons``).
    ``metrics["sst_confusion"]`` counts SST dev rows by gold (row) and predicted class (column);
    ``metrics["data_dir"]`` is the data folder scored, so that ``evaluate_run`` knows the run's own data.
    ``progress`` shows a bar per task.
    """
    dtype = autocast_dtype(device, cfg.precision)  # training's precision also scores (mtl_lib.precision)
    metrics, preds = evaluate(model, tok, dev, max_length=cfg.max_length, device=device, amp_dtype=dtype,
                              progress=progress)
    metrics["precision"] = precision_name(dtype)
    metrics["collapsed"] = collapse_reasons(preds)
    if "sst" in preds:
        metrics["sst_confusion"] = confusion_matrix(dev["sst"]["label"], preds["sst"]).tolist()
    metrics["data_dir"] = str(resolve_data_dir(data_dir).resolve())
    write_predictions(out / "predictions", "dev", dev, preds)
    if not test_predictions:
        return metrics
    test, missing = load_test_frames(data_dir)
    if test_rows is not None:
        test = {t: df.head(test_rows) for t, df in test.items()}
        metrics["test_rows"] = test_rows
    if test:
        test_preds = {t: predict(model, tok, t, df, max_length=cfg.max_length, device=device, amp_dtype=dtype,
                                 progress=progress)
                      for t, df in test.items()}
        write_predictions(out / "predictions", "test", test, test_preds)
    if missing:
        metrics["missing_test_files"] = missing
        why = "; ".join(f"{task}: {reason.split('. ')[0]}" for task, reason in missing.items())
        warnings.warn(f"No test predictions for {why} (the full advice is in metrics['missing_test_files']).",
                      stacklevel=2)
    return metrics


def load_run(run: str | Path, device=None) -> tuple[MultitaskBert, object, dict]:
    """A finished run folder -> (model with its trained weights, tokenizer, saved metrics.json)."""
    run = Path(run)
    metrics_path = run / "metrics.json"
    if not metrics_path.exists():
        raise FileNotFoundError(f"{metrics_path} not found: is {run} a finished run folder "
                                "(written by `python -m mtl_lib train --out DIR`)?")
    saved = json.loads(metrics_path.read_text())
    head = HeadConfig(**saved["head_config"])
    model = MultitaskBert.from_pretrained(head)
    if saved["method"] == "baseline":
        try:
            heads = torch.load(run / "heads.pt", weights_only=True)
        except Exception as err:  # noqa: BLE001 - missing or cut short: say which file, and what to do
            raise damaged(run / "heads.pt", err) from None
        model.heads.load_state_dict(heads)
    else:
        load_checkpoint(run, model)
    return model.to(torch.device(device or "cpu")).eval(), load_tokenizer(head.checkpoint), saved


def evaluate_run(run: str | Path, data_dir=None, device=None, progress: bool = False) -> tuple[dict, Path]:
    """Re-score a finished run on dev (the rows its scale scores) and predict test; return (metrics, folder).

    On the data it was trained on (no ``data_dir``, or the folder it recorded) the folder is the run's:
    its dev and test predictions are written again, and metrics.json stays as training wrote it. On
    other data everything goes to a folder of its own, ``RUN/eval-<data folder name>/`` (metrics.json,
    predictions/), never over the run's own files. Only the dev and test splits are read.
    """
    run, device = Path(run), torch.device(device or "cpu")
    model, tok, saved = load_run(run, device)
    folder = resolve_data_dir(data_dir).resolve()
    own = str(folder) == saved["data_dir"] if "data_dir" in saved else data_dir is None
    out = run if own else run / f"eval-{folder.name}"
    dev = load_dev(Scale(**saved["scale_config"]).dev_examples, data_dir)
    metrics = finish_run(out, model, tok, dev, TrainConfig.from_dict(saved["train_config"]), device, data_dir,
                         progress=progress, test_rows=TEST_ROWS.get(saved.get("scale")))
    if not own:
        write_json(out / "metrics.json", {**metrics, "run": str(run)})
    return metrics, out


#: What train and evaluate write into a run folder, removed by --force before it trains again.
RUN_FILES = ("metrics.json", "checkpoint", ".checkpoint-old", ".checkpoint-damaged", "heads.pt", "predictions",
             "curves.png", "confusion-sst.png", "eval-*")


class UserError(Exception):
    """A run refused, with what to do instead (the command line prints it as one line, no traceback)."""


def check_out_folder(out: Path, force: bool, resume: bool) -> None:
    """Refuse to train over a run in ``out`` unless told what to do with it (--force or --resume)."""
    if resume or force:
        return
    if (out / "metrics.json").exists():
        overall = json.loads((out / "metrics.json").read_text()).get("overall")
        scores = f" (dev overall {overall:.4f})" if isinstance(overall, float) else ""
        raise UserError(f"{out} already holds a finished run{scores}. To train it again from scratch add "
                        "--force (it deletes that run), --resume to score it again, or choose another --out.")
    if has_checkpoint(out):
        state = read_state(out)
        raise UserError(f"{out} holds an interrupted run (saved after epoch {state['epoch']} of "
                        f"{state['train_config']['epochs']}). Add --resume to continue it, or --force to "
                        "start again from scratch.")


@contextlib.contextmanager
def own_words():
    """Inside: no warning about missing test files (``print_written`` says it, naming --data-dir)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No test predictions")
        yield


def run_command(argv: list[str]) -> dict:
    """Run ``python -m mtl_lib train ...`` here (``argv``: its words, starting with ``train``); return the
    run's metrics. Whatever fails is raised as it is (a usage error: argparse's SystemExit)."""
    if not argv or argv[0] != "train":
        raise ValueError(f"{' '.join(argv)!r} is not a train command: give the words of `python -m mtl_lib "
                         "train ...`, starting with 'train'.")
    return train_from_options(train_parser().parse_args(argv[1:]))


def train_from_options(args: argparse.Namespace) -> dict:
    """The train command with its options parsed: refuse to overwrite a run unless told to (--force,
    --resume), train (joining torchrun's group if there is one), then draw the curves, print the scores
    and say what was written. Returns the metrics."""
    out = Path(args.out)
    check_out_folder(out, args.force, args.resume)
    scale, head, cfg = resolve(args)
    device = distributed.init(get_device(args.device, verbose=False))  # torchrun: join the group
    try:
        if args.force and distributed.is_main():
            for path in (p for name in RUN_FILES for p in out.glob(name)):
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        with own_words():
            metrics = run_experiment(out, args.method, scale, head, cfg, data_dir=args.data_dir,
                                     device=device, resume=args.resume, baseline_epochs=args.epochs or 10,
                                     test_predictions=args.test_predictions, tasks=args.tasks,
                                     weights=args.weights)
        if distributed.is_main():
            if not args.keep_optimizer:
                drop_optimizer_state(out)
            history = wide_history(pd.DataFrame(metrics.get("history", [])))
            if any(c.startswith("dev_") for c in history):
                save_figure(plot_training_curves(history, title=f"{out.name}: train vs dev",
                                                 losses=metrics.get("loss_history")), out / "curves.png")
            print_metrics(metrics)
            print_written(out, metrics, ["metrics.json", "curves.png", "heads.pt"], args.keep_optimizer)
    finally:
        distributed.close()
    return metrics


def run_logged(argv: list[str], log_path: Path) -> Exception | None:
    """Run a train command in this process (``run_command``) with its output, without progress bars, in
    ``log_path``: the tables' and the sweep's runs. Returns the exception it failed with (its traceback
    in the log), None if it finished; Ctrl-C still stops everything."""
    with open(log_path, "w") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log), \
            no_progress_bars():
        try:
            run_command(argv)
            return None
        except Exception as err:  # noqa: BLE001 - one failed run must not end a table or a sweep
            traceback.print_exc(file=log)
            return err
        finally:
            gc.collect()


@contextlib.contextmanager
def no_progress_bars():
    """Inside: ``TQDM_DISABLE=1`` (``mtl_lib.progress``); the earlier value after."""
    saved = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TQDM_DISABLE"]
        else:
            os.environ["TQDM_DISABLE"] = saved


def train_or_load(args: list[str], out: str | Path, weights: str = "none") -> dict:
    """Load-or-train for notebooks: the metrics of ``python -m mtl_lib ARGS --out OUT``.

    A finished run of exactly that command in ``OUT`` is read back; anything else in ``OUT`` is replaced.
    ``weights`` (``WEIGHTS``): what the run keeps of its model. A notebook's runs keep scores, history and
    predictions, not weights ("none"), unless the notebook loads the model again ("final"; a finished run
    without its weights is then trained again); "all" also resumes an interrupted run from its last
    checkpoint. It is not part of the command that ``command.json`` records. A failing run raises its own
    exception (``run_command``).
    """
    out = Path(out)
    args = [*args, "--out", str(out)]
    command_file = out / "command.json"
    same = command_file.exists() and json.loads(command_file.read_text()) == args
    if same and (out / "metrics.json").exists() and (weights == "none" or has_checkpoint(out)):
        print(f"read the finished run {out} (same command); delete the folder to train it again")
    else:
        if not same:
            shutil.rmtree(out, ignore_errors=True)  # another configuration's run: start clean
            out.mkdir(parents=True)
            command_file.write_text(json.dumps(args))
        run_command([*args, "--weights", weights, "--resume"])
    return json.loads((out / "metrics.json").read_text())
