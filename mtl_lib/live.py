"""Training curves you can watch: one figure that redraws while a model trains (notebook 04).

``LiveLoss`` is told every optimizer step's task losses (``step``) and, every few steps, train and
dev scores (``score``). In Jupyter it redraws one figure in place through an IPython display handle,
so a saved notebook keeps one static figure, not a stack of frames or a frozen progress bar; anywhere
else (a terminal, a test, a script) it prints one short line instead. Either way it refreshes every
``every`` steps, and ``finish`` draws the final figure.

``LiveTrainer`` is a ``Trainer`` that reports to a ``LiveLoss``: the losses of every step
(``Trainer.update``), every scoring row (``Trainer.record``: every ``eval_every`` steps and at the end
of each phase), the start of each task phase, and one scoring before the first step. What the run
computes does not change: scoring runs in eval mode and draws no random numbers.
"""

from __future__ import annotations

import base64
import io
import time

import numpy as np

from .bookkeeping import every as _due
from .train import Trainer

TASK_LABELS = {"sst": "SST", "para": "Quora", "sts": "STS"}
TASK_COLORS = {"sst": "C0", "para": "C1", "sts": "C2"}
METRICS = {"sst_acc": ("SST accuracy", "C0"), "para_acc": ("Quora accuracy", "C1"),
           "sts_corr": ("STS Pearson r", "C2"), "overall": ("overall", "k")}
MODES = ("auto", "figure", "text")


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (a display to draw in), not a terminal or a test."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


class LiveLoss:
    """The curves of one training run: task losses per step, scores every few steps, task phases.

    every: steps between refreshes (a figure redraw, or a text line); total: the run's steps, if known
    (shown as ``step 16/64``); mode: ``figure`` (Jupyter), ``text`` (print), or ``auto``: a figure in a
    Jupyter kernel, text elsewhere.
    """

    def __init__(self, every: int = 8, total: int | None = None, title: str = "", mode: str = "auto"):
        if every < 1 or mode not in MODES:
            raise ValueError(f"every={every} must be at least 1 and mode={mode!r} one of {', '.join(MODES)}.")
        self.every, self.total, self.title = every, total, title
        self.mode = ("figure" if in_notebook() else "text") if mode == "auto" else mode
        self.steps: list[int] = []  # the step of each recorded loss
        self.losses: dict[str, list[float]] = {}  # task -> its loss at each of ``steps`` (NaN: not trained)
        self.scores: list[tuple[int, dict]] = []  # (step, {"dev_sst_acc": ..., "train_overall": ...})
        self.phases: list[tuple[int, str]] = []  # (the step a phase starts after, its name)
        self.handle = None  # the IPython display handle of the figure
        self.pending = False  # a refresh is due and waits for the step's scores, if any come
        self.shown = None  # what the last refresh showed (``state``)

    # --- what a training loop calls ----------------------------------------------------
    def step(self, step: int, losses: dict[str, float]) -> None:
        """Record optimizer step ``step``'s task losses; refresh every ``every`` steps."""
        if self.pending:  # the last due refresh got no scores after its step: show it now
            self.refresh()
        for task in losses:
            self.losses.setdefault(task, [float("nan")] * len(self.steps))
        self.steps.append(step)
        for task, values in self.losses.items():
            values.append(float(losses[task]) if task in losses else float("nan"))
        self.pending = _due(step, self.every)

    def score(self, step: int, scores: dict[str, float]) -> None:
        """Record scores after step ``step`` (keys ``dev_<metric>`` and ``train_<metric>``) and refresh."""
        self.scores.append((step, dict(scores)))
        self.refresh()

    def phase(self, step: int, name: str) -> None:
        """A task phase (sequential training) starts after step ``step``."""
        self.phases.append((step, name))

    def finish(self) -> None:
        """The last refresh: the final figure (Jupyter) or the final line. In a Jupyter kernel in text mode
        the figure is shown once here."""
        if self.shown != self.state():
            self.refresh()
        if self.mode == "text" and in_notebook():
            from IPython.display import display

            display(self.display_data(), raw=True)

    # --- what it shows -----------------------------------------------------------------
    def mean_losses(self) -> dict[str, float]:
        """Each task's mean loss over the last ``every`` recorded steps (NaN where it was not trained)."""
        recent = {t: np.asarray(v[-self.every:], dtype=float) for t, v in self.losses.items()}
        return {t: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan") for t, v in recent.items()}

    def line(self) -> str:
        """One short line: the step, the recent mean losses, the latest dev scores."""
        step = self.steps[-1] if self.steps else 0
        if self.scores and self.scores[-1][0] > step:
            step = self.scores[-1][0]
        parts = [f"step {step}" + (f"/{self.total}" if self.total else "")]
        losses = {t: v for t, v in self.mean_losses().items() if np.isfinite(v)}
        if losses:
            parts.append("loss " + " ".join(f"{TASK_LABELS.get(t, t)} {v:.3f}" for t, v in losses.items()))
        if self.scores:
            dev = {k[4:]: v for k, v in self.scores[-1][1].items() if k.startswith("dev_")}
            parts.append("dev " + " ".join(f"{k} {v:.3f}" for k, v in dev.items()))
        return " | ".join(parts)

    def figure(self):
        """The curves as a matplotlib Figure (not registered with pyplot, so Jupyter does not show it twice):
        left, each task's loss per step and its running mean; right, train (dashed) and dev (solid) scores."""
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        fig = Figure(figsize=(11, 3.8), layout="constrained")
        loss_ax, score_ax = fig.subplots(1, 2)
        steps = np.asarray(self.steps)
        for i, (task, values) in enumerate(self.losses.items()):
            values, color = np.asarray(values, dtype=float), TASK_COLORS.get(task, f"C{3 + i}")
            loss_ax.plot(steps, values, color=color, alpha=0.3, lw=0.8)
            loss_ax.plot(steps, running_mean(values, self.every), color=color, lw=2, label=TASK_LABELS.get(task, task))
        loss_ax.set(xlabel="step", ylabel="training loss",
                    title=f"training loss per step (thick: mean of the last {self.every})")
        for name, (label, color) in METRICS.items():
            for split, style in (("train", "--"), ("dev", "o-")):
                points = [(s, row[f"{split}_{name}"]) for s, row in self.scores if f"{split}_{name}" in row]
                if points:
                    x, y = zip(*points)
                    score_ax.plot(x, y, style, color=color, ms=4, label=label if split == "dev" else None)
        score_ax.set(xlabel="step", ylabel="score", title="scores (solid: dev, dashed: training sample)")
        for ax in (loss_ax, score_ax):
            for start, name in self.phases:
                ax.axvline(start, color="grey", lw=0.8, ls=":")
                ax.annotate(f"{TASK_LABELS.get(name, name)} phase", (start, 1), xycoords=("data", "axes fraction"),
                            xytext=(3, -12), textcoords="offset points", fontsize=8, color="grey")
            ax.grid(alpha=0.3)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=8, loc="best")
        fig.suptitle("\n".join(filter(None, [self.title, self.line()])), fontsize=10)
        return fig

    def display_data(self) -> dict:
        """The figure as Jupyter display data: a PNG, and the text line for plain-text readers."""
        buffer = io.BytesIO()
        self.figure().savefig(buffer, format="png", dpi=80)
        return {"image/png": base64.b64encode(buffer.getvalue()).decode("ascii"), "text/plain": self.line()}

    def state(self) -> tuple[int, int, int]:
        """How much has been recorded: steps, scores, phases."""
        return len(self.steps), len(self.scores), len(self.phases)

    def refresh(self) -> None:
        """Redraw the figure in place (figure mode) or print the line (text mode)."""
        self.pending, self.shown = False, self.state()
        if self.mode == "text":
            print(self.line(), flush=True)
            return
        from IPython.display import display

        if self.handle is None:
            self.handle = display(self.display_data(), raw=True, display_id=True)
        else:
            self.handle.update(self.display_data(), raw=True)


def running_mean(values: np.ndarray, window: int) -> np.ndarray:
    """The mean of each value and the ``window - 1`` before it (fewer at the start), NaNs skipped; NaN where
    the value itself is NaN (a step that did not train the task)."""
    values = np.asarray(values, dtype=float)
    out = np.full(len(values), np.nan)
    for i in np.flatnonzero(np.isfinite(values)):
        out[i] = np.nanmean(values[max(0, i - window + 1):i + 1])
    return out


class LiveTrainer(Trainer):
    """A ``Trainer`` that draws its run in a ``LiveLoss`` (``live``), made with the run's total steps if it
    has none. Call ``fit`` as usual; set ``eval_every`` in the config for scores inside a phase."""

    SPLITS = ("train_", "dev_")

    def __init__(self, *args, live: LiveLoss, **kwargs):
        super().__init__(*args, **kwargs)
        self.live = live
        if live.total is None:
            live.total = sum(self.schedule_segments())

    def fit(self, resume: bool = False):
        if not resume:  # score the starting point, so that the curves start where the model starts
            self.t0, self.elapsed_before = time.perf_counter(), 0.0
            self.record(0, "start", {}, mid=True)
        history = super().fit(resume)
        self.live.finish()
        return history

    def run_steps(self, tasks, iters, n_steps, desc, epoch=0, phase="all", index=0, start=None):
        if phase != "all":  # sequential training: mark where each task phase starts
            self.live.phase(self.step, phase)
        return super().run_steps(tasks, iters, n_steps, desc, epoch, phase, index, start)

    def update(self, losses: dict) -> None:
        super().update(losses)
        self.live.step(self.step, {t: float(loss.detach()) for t, loss in losses.items()})

    def record(self, epoch: int, phase: str, losses: dict, mid: bool = False) -> None:
        super().record(epoch, phase, losses, mid)
        row = self.history[-1]
        if row:
            self.live.score(row["step"], {k: v for k, v in row.items()
                                          if k.startswith(self.SPLITS) and k.split("_", 1)[1] in METRICS})
