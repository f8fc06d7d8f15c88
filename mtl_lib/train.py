"""Training loops: sequential fine-tuning and the summed multi-task loss.

One machinery serves every method:

* ``sequential`` - every epoch, a full pass over each task's training set,
  in a given order (sst -> para -> sts, or any of the 6 orders). The model
  is scored on dev after each phase, which makes *forgetting* visible: what
  the last task teaches can overwrite what the first one learned.
* ``summed`` - every step takes a batch of EVERY task and back-propagates
  L = L_sst + L_para + L_sts, so the shared encoder always hears all three.

Tasks differ in size, so how often each one's examples come round is an
option (``sampling``), given as the number of examples per task per step:

* ``equal``        - B of every task: small tasks repeat within an epoch;
* ``proportional`` - B_t proportional to the task's size n_t;
* ``annealed``     - B_t proportional to n_t ** alpha, alpha going from 1 to 0.5
  over the epochs (Stickland & Murray 2019): big tasks lead early, then the
  small ones catch up.

The defaults of ``TrainConfig`` are the course's recipe (``options.RECIPES["course"]``: equal
sampling, lr 1e-4); the command line's defaults are the same.

An epoch of the summed loss is as many steps as it takes to show the largest
task once at its batch size.

The learning rate follows ``schedule``: ``linear`` warms up over the first
``warmup`` fraction of ALL steps and then decays to zero (the summed loss's
default); ``per-phase`` restarts that warm-up and decay in every task phase
of sequential training (its default), so that every task is trained at the
same mean rate wherever it sits in the order - with one schedule over the
whole run, the first phase would sit in the warm-up and the last one near
zero, and Table 1 would rank positions in the schedule rather than
forgetting; ``constant`` keeps the peak rate throughout (like the CS224N
starter code). Also here: AdamW, gradient clipping, mixed precision (``precision``: bf16 autocast on
CPUs with native bf16 and on GPUs, see ``mtl_lib.precision``), length-grouped batches
(``group_by_length``, ``mtl_lib.batches``), a guard against NaN/inf losses,
checkpoints at the end of every epoch and, optionally, every N steps or M minutes
inside an epoch (``checkpoint_every`` / ``checkpoint_minutes``: on Colab an epoch can outlast
the session), and exact resumption from either: the data order and the dropout masks of epoch e
depend only on (seed, e), and a mid-epoch checkpoint also keeps the position in the epoch, the
random-number state and the running losses. The history has one row of training losses and
train/dev scores per epoch (sequential: per task phase), and optionally one every ``eval_every``
steps; ``loss_history`` has the mean training loss of every ``history_every`` steps (curves of a
one-epoch run). Under ``torchrun`` the same
loop runs data-parallel on several processes (``mtl_lib.distributed``).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from itertools import permutations
from pathlib import Path

import pandas as pd
import torch
from .progress import bar as progress_bar

from . import distributed, schedule
from .batches import cycle, to_device, train_loader
from .bookkeeping import (BOOKKEEPING, CheckpointClock, config_changes, every, loss_row,  # noqa: F401
                          pcgrad_summary, rng_state, set_rng_state)
from .combine import pcgrad_backward, summed_backward
from .contrastive import in_batch_negatives, positives
from .evaluate import evaluate
from .model import TASK_NAMES, MultitaskBert, task_loss
from .precision import PRECISIONS, autocast, autocast_dtype
from .smart import rng_state as dropout_state, smart_regularizer
from .run_folder import has_checkpoint, load_checkpoint, read_resume_state, read_state, save_checkpoint
from .schedule import adamw, layer_rates, schedule_multiplier, task_batch_sizes  # noqa: F401 - their old home
from .weighting import UncertaintyWeights

#: The Trainer's loops (``TrainConfig.method``). What a run is - these, the frozen baseline or the summed
#: loss with PCGrad - is ``options.METHODS``.
LOOPS = ("sequential", "summed")
SAMPLINGS = ("equal", "proportional", "annealed")
SCHEDULES = ("linear", "per-phase", "constant")
SMART_DROPOUT = ("same", "independent")
SMART_STEPS = (0, 1)  # 0: the paper's random perturbation; 1: one ascent step (original SMART)
LOSS_WEIGHTINGS = ("sum", "uncertainty")
ORDERS = [tuple(p) for p in permutations(TASK_NAMES)]


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or inf; the run stopped before saving anything bad."""


@dataclass
class TrainConfig:
    method: str = "summed"
    order: tuple = ("sst", "para", "sts")  # sequential only
    sampling: str = "equal"  # summed only
    epochs: int = 3
    lr: float = 1e-4  # the encoder's learning rate
    head_lr: float = 1e-3  # the freshly initialised heads learn faster
    weight_decay: float = 0.01
    batch_size: int = 32  # examples per task per step (pairs: B pairs)
    max_length: int = 128
    warmup: float = 0.1  # fraction of the steps of each schedule stretch (the run, or one phase)
    schedule: str | None = None  # linear | per-phase | constant; None: per-phase if sequential, else linear
    clip: float = 1.0  # max gradient norm (0: off)
    seed: int = 0
    steps_per_epoch: int | None = None  # summed: override the computed epoch length
    train_eval_examples: int = 500  # train rows scored each epoch (train vs dev curves)
    log_every: int = 10  # steps between progress-bar updates (host-device syncs)
    history_every: int = 10  # steps per row of loss_history (mean training loss per task; 0: off)
    eval_every: int = 0  # steps between train/dev scoring rows in the history (0: only at epoch/phase ends)
    checkpoint_every: int = 0  # steps between mid-epoch checkpoints (0: off; single-process runs only)
    checkpoint_minutes: float = 10.0  # minutes between mid-epoch checkpoints (0: off); only with a run folder
    precision: str = "auto"  # auto | fp32 | bf16: autocast for the matrix products (mtl_lib.precision)
    group_by_length: bool = True  # training batches of rows of similar length (mtl_lib.batches): little padding
    pcgrad: bool = False  # summed only: gradient surgery on the shared encoder (mtl_lib.pcgrad)
    smart_lambda: float = 0.0  # weight of the SMART regularizer (0: off; mtl_lib.smart)
    smart_sigma: float = 1e-5  # std of the random perturbation of the word embeddings
    smart_steps: int = 0  # 0: the paper's random perturbation; 1: one ascent step (original SMART)
    smart_step_size: float = 1e-3
    smart_epsilon: float = 1e-5  # ascent: delta is projected onto ||delta||_inf <= epsilon (SMART's default)
    smart_dropout: str = "same"  # same: clean and perturbed passes share dropout masks; independent: R-Drop-like
    task_weights: dict = field(default_factory=dict)  # task -> factor on its whole objective: loss, SMART, contrastive (1)
    loss_weighting: str = "sum"  # summed only: sum, or uncertainty (learned task weights, mtl_lib.weighting)
    weighting_lr: float = 0.02  # learning rate of the uncertainty weights' log-variances
    layer_decay: float = 1.0  # encoder layer k of L learns at lr * layer_decay ** (L - k); embeddings lowest (1: off)
    contrastive: float = 0.0  # weight of in-batch negatives on para/sts positives (mtl_lib.contrastive; 0: off)

    @classmethod
    def from_dict(cls, saved: dict) -> "TrainConfig":
        """A config saved by an earlier version: ``amp`` (autocast on CUDA only) became ``precision``, and
        runs saved before ``precision`` and ``group_by_length`` existed were fp32 with random batches on
        a CPU, which is what their missing fields now say; ``extra``, never read, is gone."""
        saved = dict(saved)
        saved.pop("extra", None)
        amp = saved.pop("amp", None)
        if amp is not None:
            saved.setdefault("precision", "fp32")  # on a CPU (every shipped run) amp changed nothing
            saved.setdefault("group_by_length", False)
        return cls(**saved)

    def __post_init__(self):
        self.order = tuple(self.order)
        if self.schedule is None:
            self.schedule = "per-phase" if self.method == "sequential" else "linear"
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule={self.schedule!r}; choose one of {', '.join(SCHEDULES)}.")
        if self.schedule == "per-phase" and self.method != "sequential":
            raise ValueError("schedule='per-phase' restarts the rate in every task phase of sequential "
                             "training; the summed loss has one phase: use linear or constant.")
        if self.smart_dropout not in SMART_DROPOUT:
            raise ValueError(f"smart_dropout={self.smart_dropout!r}; choose one of {', '.join(SMART_DROPOUT)}.")
        if self.method not in LOOPS:
            raise ValueError(f"method={self.method!r}; choose one of {', '.join(LOOPS)}.")
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"sampling={self.sampling!r}; choose one of {', '.join(SAMPLINGS)}.")
        if self.order not in ORDERS:
            raise ValueError(f"order={self.order!r} must be a permutation of {TASK_NAMES}.")
        for name in ("epochs", "batch_size", "max_length", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be at least 1.")
        for name in ("history_every", "eval_every", "checkpoint_every", "checkpoint_minutes"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)} must be 0 (off) or positive.")
        if self.pcgrad and self.method != "summed":
            raise ValueError("pcgrad needs method='summed' (a batch of every task in every step).")
        if self.smart_lambda < 0 or self.smart_steps not in SMART_STEPS or self.smart_epsilon <= 0:
            raise ValueError(f"smart_lambda={self.smart_lambda} must be >= 0, smart_steps "
                             f"({self.smart_steps}) 0 or 1 and smart_epsilon ({self.smart_epsilon}) > 0.")
        wrong = {t: w for t, w in self.task_weights.items() if t not in TASK_NAMES or not w > 0}
        if wrong:
            raise ValueError(f"task_weights={self.task_weights!r}: give positive weights for tasks among "
                             f"{', '.join(TASK_NAMES)} (wrong: {wrong}).")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision={self.precision!r}; choose one of {', '.join(PRECISIONS)}.")
        if self.loss_weighting not in LOSS_WEIGHTINGS:
            raise ValueError(f"loss_weighting={self.loss_weighting!r}; choose one of {', '.join(LOSS_WEIGHTINGS)}.")
        if self.loss_weighting != "sum" and self.method != "summed":
            raise ValueError("loss_weighting='uncertainty' weighs the tasks of one summed step: it needs method='summed'.")
        if not 0 < self.layer_decay <= 1 or self.contrastive < 0 or self.weighting_lr <= 0:
            raise ValueError(f"layer_decay={self.layer_decay} must be in (0, 1], contrastive={self.contrastive} "
                             f">= 0 and weighting_lr={self.weighting_lr} > 0.")
        if not (self.lr > 0 and self.head_lr > 0):
            raise ValueError(f"lr={self.lr} and head_lr={self.head_lr} must be positive.")


def amp_dtype(device: torch.device, enabled: bool = True):
    """The autocast dtype ``precision="auto"`` picks on ``device`` (None: fp32), or None when off.
    See ``mtl_lib.precision``: bf16 on CPUs with native bf16 and on Ampere+ GPUs, fp16 on older GPUs."""
    return autocast_dtype(device, "auto" if enabled else "fp32")


class Trainer:
    """Fine-tunes a ``MultitaskBert`` on ``train`` frames, scoring on ``dev`` frames."""

    def __init__(self, model: MultitaskBert, tokenizer, train: dict[str, pd.DataFrame],
                 dev: dict[str, pd.DataFrame], cfg: TrainConfig, device=None,
                 run_dir: str | Path | None = None, progress: bool = True):
        if cfg.loss_weighting == "uncertainty" and distributed.world_size() > 1:
            raise ValueError("loss_weighting='uncertainty' runs in one process: under torchrun each rank "
                             "would set the weights' gradient from its own share of the batch.")
        self.model, self.tok, self.train, self.dev, self.cfg = model, tokenizer, train, dev, cfg
        self.device = torch.device(device or "cpu")
        self.run_dir = Path(run_dir) if run_dir else None
        self.progress = progress and distributed.is_main()
        self.amp = autocast_dtype(self.device, cfg.precision)  # None: fp32
        # SMART's perturbation (sigma ~ 1e-5 of embeddings ~ 1e-2) is far below bf16's resolution (~4e-3
        # relative): under bf16 it would round away and R_s would measure rounding noise. Its clean and
        # perturbed passes therefore run in fp32 whatever the precision (mtl_lib.smart, notebook 07).
        self.step_dtype = None if cfg.smart_lambda > 0 else self.amp
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp == torch.float16)
        self.pin = self.device.type == "cuda"
        self.model.to(self.device)
        distributed.broadcast_parameters(self.model)  # torchrun: every rank starts from rank 0's weights
        groups = schedule.parameter_groups(model, cfg)
        self.weighting = None
        if cfg.loss_weighting == "uncertainty":
            self.weighting = UncertaintyWeights(list(train)).to(self.device)
            groups.append({"params": list(self.weighting.parameters()), "lr": cfg.weighting_lr, "weight_decay": 0.0})
        self.optimizer = schedule.adamw([g for g in groups if g["params"]], self.device)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, schedule.rate_multiplier(self.sizes(), cfg))
        self.history: list[dict] = []  # per epoch (sequential: per phase), and every eval_every steps
        self.loss_history: list[dict] = []  # the mean training loss of every history_every steps
        self._conflicts: list[torch.Tensor] = []  # this phase's, still on the device
        self.conflicts: list[list[float]] = []  # PCGrad: per step, cosines (sst-para, sst-sts, para-sts) + projected
        self.pcgrad_generator = torch.Generator().manual_seed(cfg.seed)
        self._flat = None  # PCGrad: the (T, P) flat task gradients, allocated at the first step
        self.start_epoch = 0
        self.step = 0
        self.clock = CheckpointClock(cfg.checkpoint_every, cfg.checkpoint_minutes, self.run_dir is not None)

    # --- how long an epoch is (mtl_lib.schedule) ---------------------------------------
    def sizes(self) -> dict[str, int]:
        return {t: len(df) for t, df in self.train.items()}

    def steps_per_epoch(self, epoch: int = 0) -> int:
        return schedule.steps_per_epoch(self.sizes(), self.cfg, epoch)

    def phase_steps(self) -> list[int]:
        """Sequential: the steps of every task phase, epoch by epoch, in training order."""
        return schedule.phase_steps(self.sizes(), self.cfg)

    def phase_rates(self) -> list[float]:
        """Sequential: the mean learning rate of every task phase, as a fraction of the peak."""
        return schedule.phase_rates(self.sizes(), self.cfg)

    def schedule_segments(self) -> list[int]:
        """The stretches of steps over which the rate warms up and decays once."""
        return schedule.schedule_segments(self.sizes(), self.cfg)

    def loaders(self, epoch: int, batch_sizes: dict[str, int]):
        seed = self.cfg.seed * 1000 + epoch
        return {t: train_loader(t, df, self.tok, batch_sizes[t], self.cfg.max_length, seed + i, self.pin,
                                distributed.rank(), distributed.world_size(), self.cfg.group_by_length)
                for i, (t, df) in enumerate(self.train.items())}

    # --- one optimisation step ---------------------------------------------------------
    def losses(self, batches: dict) -> dict[str, torch.Tensor]:
        """Task -> loss for this step's batches (no host-device sync)."""
        out = {}
        cfg = self.cfg
        for task, (batch, labels) in batches.items():
            batch, labels = to_device(batch, labels, self.device)
            weight = batch.pop("loss_weight", None)  # torchrun: this rank's share of the global batch
            with autocast(self.device, self.step_dtype):
                same = cfg.smart_lambda > 0 and cfg.smart_dropout == "same"
                state = dropout_state(self.device) if same else None  # replayed: the perturbed pass's masks
                contrast = cfg.contrastive > 0 and task in ("para", "sts") and task not in self.model.config.cross_encode
                if contrast:  # the same pass, keeping the two embeddings for the in-batch negatives
                    u, v = self.model.embed(batch).chunk(2)  # (2B, H) -> (B, H), (B, H)
                    output = self.model.head(task, u, v)
                else:
                    output = self.model(task, batch)
                loss = task_loss(task, output, labels)
                if contrast:
                    loss = loss + cfg.contrastive * in_batch_negatives(u, v, positives(task, labels))
                if cfg.smart_lambda > 0:
                    loss = loss + cfg.smart_lambda * smart_regularizer(
                        self.model, task, batch, output, cfg.smart_sigma, cfg.smart_steps,
                        cfg.smart_step_size, cfg.smart_epsilon, dropout_state=state)
            loss = loss * cfg.task_weights.get(task, 1.0)
            out[task] = loss if weight is None else loss * weight
        return out

    def update(self, losses: dict[str, torch.Tensor]) -> None:
        """One optimizer step from this step's task losses: learned task weights (if any), then the gradient
        of their sum or PCGrad's (``mtl_lib.combine``), clipping, the step and the schedule's next rate."""
        self.optimizer.zero_grad(set_to_none=True)
        if self.weighting is not None:  # learned task weights; sets their own gradient
            losses = self.weighting.weigh(losses, float(self.scaler.get_scale()) if self.scaler.is_enabled() else 1.0)
        if self.cfg.pcgrad and len(losses) > 1:
            self.pcgrad_backward(losses)
        else:
            summed_backward(self.model, losses, self.scaler)
        if self.cfg.clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.step += 1

    def pcgrad_backward(self, losses: dict[str, torch.Tensor]) -> None:
        """PCGrad's update of the shared encoder as .grad (``combine.pcgrad_backward``); the step's
        gradient cosines and projections join this phase's record."""
        self._flat, record = pcgrad_backward(self.model, losses, self.scaler, self.pcgrad_generator, self._flat)
        self._conflicts.append(record)

    def check_finite(self, running: torch.Tensor, tasks: list[str], where: str) -> list[float]:
        """One sync: read the running losses; stop the run if any is NaN/inf."""
        running = running.clone()
        distributed.all_average_([running])  # torchrun: the global batch's loss; every rank stops together
        values = running.tolist()
        bad = [t for t, v in zip(tasks, values) if not math.isfinite(v)]
        if bad:
            kept = f"the last good checkpoint is kept in {self.run_dir}" if self.run_dir else "nothing was saved"
            raise NonFiniteLossError(
                f"Non-finite loss for task {', '.join(bad)} by step {self.step} ({where}); {kept}. "
                f"Try a lower learning rate (now {self.cfg.lr:g}), gradient clipping (--clip 1.0), "
                "or warm-up (--warmup 0.1).")
        return values

    # --- epochs ------------------------------------------------------------------------
    def run_steps(self, tasks: list[str], iters: dict, n_steps: int, desc: str, epoch: int = 0,
                  phase: str = "all", index: int = 0, start: dict | None = None) -> dict[str, float]:
        """Steps 0 .. n_steps - 1 of one phase (``index`` counts the epoch's phases); from ``start``,
        a mid-epoch checkpoint's position, when resuming. Returns the phase's mean training losses."""
        running = torch.zeros(len(tasks), device=self.device)
        self._conflicts = []
        first, mark = 0, (0, [0.0] * len(tasks))  # mark: the step and running sums of the last loss row
        if start:  # replay the data order up to the checkpoint, then restore what the steps would have left
            first = start["pos"]
            for _ in range(first):
                for t in tasks:
                    next(iters[t])
            running = torch.tensor(start["running"], dtype=running.dtype, device=self.device)
            mark = (start["mark"][0], start["mark"][1])
            self._conflicts = [torch.tensor(c, device=self.device) for c in start["conflicts"]]
            set_rng_state(start["rng"], self.device, self.pcgrad_generator)
        values = running.tolist()
        bar = progress_bar(range(first, n_steps), self.progress, desc=desc, leave=False,
                   initial=first, total=n_steps)
        for i in bar:
            losses = self.losses({t: next(iters[t]) for t in tasks})
            self.update(losses)
            running += torch.stack([losses[t].detach().float() for t in tasks])
            done, last = i + 1, i + 1 == n_steps
            if every(done, self.cfg.log_every) or last:
                values = self.check_finite(running, tasks, desc)
                bar.set_postfix({t: f"{v / done:.3f}" for t, v in zip(tasks, values)})
            if every(done, self.cfg.history_every):
                values = self.check_finite(running, tasks, desc)
                weights = self.weighting.weights() if self.weighting else {}
                self.loss_history.append(loss_row(epoch, phase, self.step, tasks, values, done, mark, weights))
                mark = (done, values)
            if last:
                break
            if every(self.step, self.cfg.eval_every):
                values = self.check_finite(running, tasks, desc)
                self.record(epoch, phase, {f"train_loss_{t}": v / done for t, v in zip(tasks, values)}, mid=True)
            if self.clock.due(self.step):
                self.save(epoch, {"epoch": epoch, "phase": index, "pos": done, "mark": list(mark),
                                  "running": running.tolist(), "conflicts": [c.tolist() for c in self._conflicts]})
        result = {f"train_loss_{t}": v / max(n_steps, 1) for t, v in zip(tasks, values)}
        if self._conflicts:  # one transfer per phase, not per step
            steps = torch.stack(self._conflicts).cpu().tolist()
            self.conflicts += steps
            result.update(pcgrad_summary(tasks, steps))
        return result

    def run_epoch(self, epoch: int, position: dict | None = None) -> None:
        """One epoch; with ``position`` (a mid-epoch checkpoint's), only what was left of it."""
        torch.manual_seed(self.cfg.seed * 1000 + epoch + 1_000_003 * distributed.rank())  # dropout masks
        self.pcgrad_generator.manual_seed(self.cfg.seed * 1000 + epoch)  # PCGrad's visiting orders
        self.model.train()
        title = f"epoch {epoch + 1}/{self.cfg.epochs}"
        if self.cfg.method == "summed":
            bs = task_batch_sizes(self.sizes(), self.cfg, epoch)
            loaders = self.loaders(epoch, bs)
            phases = [("all", list(self.train), lambda: {t: cycle(l) for t, l in loaders.items()},
                       self.steps_per_epoch(epoch))]
        else:
            loaders = self.loaders(epoch, {t: self.cfg.batch_size for t in self.train})
            phases = [(task, [task], lambda task=task: {task: iter(loaders[task])}, len(loaders[task]))
                      for task in self.cfg.order if task in loaders]
        first = position["phase"] if position else 0
        for index, (phase, tasks, make_iters, n_steps) in enumerate(phases):
            if index < first:
                continue  # finished before the checkpoint: its row is in the history already
            start = position if position and index == first else None
            losses = self.run_steps(tasks, make_iters(), n_steps, f"{title} {phase}", epoch, phase, index, start)
            self.record(epoch, phase, losses)

    def record(self, epoch: int, phase: str, losses: dict, mid: bool = False) -> None:
        """Score the training sample and dev; append a history row (``mid``: inside the phase, by eval_every)."""
        row = None
        if distributed.is_main():  # torchrun: rank 0 evaluates and sends the row to the others
            n = self.cfg.train_eval_examples
            sample = {t: df.iloc[:n] for t, df in self.train.items()}
            train_metrics, _ = evaluate(self.model, self.tok, sample, max_length=self.cfg.max_length,
                                        device=self.device, amp_dtype=self.amp) if n else ({}, None)
            dev_metrics, _ = evaluate(self.model, self.tok, self.dev, max_length=self.cfg.max_length,
                                      device=self.device, amp_dtype=self.amp)
            row = {"epoch": epoch + 1, "phase": phase, "step": self.step,
                   "seconds": self.elapsed(), **losses,
                   **{f"train_{k}": v for k, v in train_metrics.items()},
                   **{f"dev_{k}": v for k, v in dev_metrics.items()}}
            if self.progress:  # one line per epoch (sequential: per task phase), and per eval_every steps: dev scores
                where = f", step {self.step}" if mid else ""
                print(f"epoch {epoch + 1}/{self.cfg.epochs} {phase}{where}: dev "
                      + " | ".join(f"{k} {v:.4f}" for k, v in dev_metrics.items()))
        self.history.append(distributed.broadcast_object(row))

    def elapsed(self) -> float:
        """Seconds of training so far, including those before a resume."""
        return self.elapsed_before + time.perf_counter() - self.t0

    # --- checkpoints -------------------------------------------------------------------
    def save(self, epoch: int, position: dict | None = None) -> None:
        """Save a checkpoint: at the end of epoch ``epoch`` (0-based), or inside it at ``position``."""
        state = {"epoch": epoch if position else epoch + 1, "step": self.step, "seconds": self.elapsed(),
                 "train_config": asdict(self.cfg), "head_config": self.model.config.to_dict(),
                 "history": self.history, "loss_history": self.loss_history, "pcgrad_steps": self.conflicts}
        if self.weighting is not None:
            state["loss_log_vars"] = self.weighting.log_vars.tolist()
        if position:
            state["position"] = position
        save_checkpoint(self.run_dir, self.model, self.optimizer, self.scheduler, state, scaler=self.scaler,
                        resume={"rng": rng_state(self.device, self.pcgrad_generator)} if position else None)
        self.clock.saved()

    def fit(self, resume: bool = False) -> pd.DataFrame:
        """Train for ``cfg.epochs`` (continuing a saved run if ``resume``); return the history."""
        self.elapsed_before = 0.0
        position = self.resume() if resume else None
        self.t0 = time.perf_counter()
        self.clock.saved()  # the first mid-epoch checkpoint is due minutes from now
        for epoch in range(self.start_epoch, self.cfg.epochs):
            if position:
                self.run_epoch(epoch, position)  # the rest of the epoch a mid-epoch checkpoint was saved in
                position = None
            else:
                self.run_epoch(epoch)
            if self.run_dir and distributed.is_main():
                self.save(epoch)
        distributed.check_in_sync(self.model)
        return pd.DataFrame(self.history)

    def resume(self) -> dict | None:
        """Continue from the run's last checkpoint, if it has one and was made with this exact
        configuration (training and heads; ``BOOKKEEPING`` options may differ); any other difference
        is refused, naming what differs. Returns the mid-epoch position to continue from, if any."""
        if not self.run_dir or not has_checkpoint(self.run_dir):
            return None  # nothing to resume: start from scratch
        state = read_state(self.run_dir)
        saved = {**asdict(TrainConfig.from_dict(state["train_config"])),
                 **{f"head.{k}": v for k, v in state["head_config"].items()}}
        now = {**asdict(self.cfg), **{f"head.{k}": v for k, v in self.model.config.to_dict().items()}}
        changed = config_changes(saved, now)
        if changed:
            raise ValueError(f"Cannot resume {self.run_dir}: it was trained with another configuration: "
                             f"{'; '.join(changed)}. Resume with the same options, or train into a new --out "
                             "folder (a run cannot be extended: its schedule and sampling depend on epochs).")
        load_checkpoint(self.run_dir, self.model, self.optimizer, self.scheduler, self.scaler)
        self.start_epoch, self.step, self.history = state["epoch"], state["step"], state["history"]
        self.loss_history = state.get("loss_history", [])
        self.conflicts = state.get("pcgrad_steps", [])
        if self.weighting is not None:
            with torch.no_grad():
                self.weighting.log_vars.copy_(torch.tensor(state["loss_log_vars"]))
        self.elapsed_before = state.get("seconds", self.history[-1]["seconds"] if self.history else 0.0)
        position = state.get("position")
        if position:
            position = {**position, "rng": read_resume_state(self.run_dir)["rng"]}
        return position
