"""How long each notebook takes, per scale and device, and the training budget behind each figure.

Three kinds of figure, always labelled as such:

* ``measured`` - the laptop times: each notebook run whole at ``laptop`` scale on the
  development machine's 2-core CPU (the "**Time:**" line of the notebook's first cell);
* ``derived`` - the T4 times at ``colab`` scale: a count of the training and scoring work
  each notebook does at that scale (``NOTEBOOK_WORK``), in optimizer steps of the summed
  loss with 32 rows per task and in sentences encoded, times the cost of one such step of
  bert-base on a T4 (``T4``), which is itself derived, not measured: see ``T4_DERIVATION``;
* a GPU figure measured on a lent machine, when there is one (``MEASURED_GPU``).

``python -m mtl_lib bench --only colab`` measures, on the machine at hand, the step of a
bert-base-shaped minBERT (random weights: the same arithmetic as the real ones) next to the
laptop model's step on the same batches, and prints the T4 estimate the derivation gives.
"""

from __future__ import annotations

from dataclasses import dataclass

from .options import BUDGETS, SCALES

# --- the cost model -------------------------------------------------------------------------------
# Padded tokens of one summed step with 32 rows per task (SST 32 + Quora 64 + STS 64 sentences, each batch
# padded to its longest), measured on the first batches of the training files by ``bench --only colab``.
STEP_TOKENS = 7_520
SENTENCE_TOKENS = 30  # padded tokens per sentence when scoring (length-sorted batches pad little)
BERT_BASE_MATMUL_PARAMS = 85e6  # encoder weights that take part in matmuls (12 x 7.1 M); embeddings do not


@dataclass(frozen=True)
class GpuModel:
    """How fast a GPU runs a whole bert-base training step: effective matmul FLOP/s over the step."""

    name: str
    train_flops: float  # FLOP/s over a whole training step (forward + backward + AdamW), autocast on
    eval_flops: float  # FLOP/s over scoring (forward only, inference mode)
    overhead_s: float  # per notebook: installing, downloading bert-base (440 MB) and the data


T4 = GpuModel("T4 (fp16 autocast)", train_flops=8e12, eval_flops=6e12, overhead_s=150)

T4_DERIVATION = (
    "T4 figures are derived, not measured. One summed step (32 rows per task, 7,520 padded tokens, measured) costs "
    "6 x 85 M x 7,520 = 3.8 TFLOP of matmuls for bert-base (forward 2, backward 4 FLOP per weight and token; "
    "the CPU benchmark checks this count against its own measured step). A T4 peaks at 65 TFLOP/s in fp16 on "
    "tensor cores but is capped at 70 W; a whole training step (attention, dropout, LayerNorm, GELU, casts, AdamW "
    "on 110 M weights) reaches a fraction of that. We assume 8 TFLOP/s over the whole step, which matches the "
    "100-130 sequences of 128 tokens per second that BERT-base fine-tuning with mixed precision is commonly "
    "reported to reach on a T4, and a cautious 6 TFLOP/s for scoring (short, length-sorted batches): 0.48 s per summed step, ~1,200 sentences/s. "
    "Each notebook also gets 150 s for installing the course and downloading bert-base and the data."
)


def step_flops(tokens: int = STEP_TOKENS, params: float = BERT_BASE_MATMUL_PARAMS) -> float:
    """Matmul FLOPs of one training step: 2 (forward) + 4 (backward) per weight and token."""
    return 6 * params * tokens


def step_seconds(gpu: GpuModel = T4) -> float:
    """Seconds of one summed step of bert-base with 32 rows per task on ``gpu``."""
    return step_flops() / gpu.train_flops


def sentences_per_second(gpu: GpuModel = T4) -> float:
    """Sentences scored per second (forward only) by bert-base on ``gpu``."""
    return gpu.eval_flops / (2 * BERT_BASE_MATMUL_PARAMS * SENTENCE_TOKENS)


# --- what each notebook does at colab scale ----------------------------------------------------------
@dataclass(frozen=True)
class Work:
    """A notebook's training and scoring at one scale: steps are summed steps of 32 rows per task
    (a SMART step counts 2, a single-task step 1/3); sentences are those encoded without gradients."""

    steps: float
    sentences: int
    note: str


# The colab budgets (the Scale each notebook's setup cell gets, ``options.BUDGETS['colab']['notebooks']``) and the work they
# imply, counted from each notebook's training cells at that budget.
NOTEBOOK_WORK = {
    "00": Work(0, 0, "data tour; no model training"),
    "01": Work(0, 3_000, "attention maps and timings on up to 400 SST dev sentences"),
    "02": Work(0, 12_000, "parity with transformers, timings, 3 poolings x 1,000 STS pairs"),
    "03": Work(0, 40_000, "frozen encoder: 2,000 training + 1,000 dev rows per task encoded once (pairs: 2 "
                          "sentences), one epoch re-encoded for the timing; heads on cached features"),
    "04": Work(32 + 2 * 32 // 3, 16_000, "the summed run at the course budget (32 steps of 1,024 rows per task) "
                                         "scored 8 times on a quarter of the dev rows, two one-task phases of a "
                                         "sequential run (2 x 32 one-task steps), one full dev scoring"),
    "05": Work(2 * 32, 12_000, "MLP vs cosine STS head: 2 summed runs of 32 steps (1,024 rows per task)"),
    "06": Work(2 * 32 * 1.05, 12_000, "one PCGrad run of 32 steps (1,024 rows per task), scored 8 times: "
                                      "priced as two runs, an upper bound"),
    "07": Work(3 * 8 * (1 + 3), 16_000, "small-data regime: summed vs + SMART (cost x3), 3 epochs x 8 steps "
                                        "(256 rows per task), scored every half epoch; R_s measured on a few batches"),
    "08": Work(0, 0, "sweep, SMART modes and final model: read from the shipped colab tables when they "
                     "exist, else run at the colab sweep budget (see SWEEP_WORK)"),
    "09": Work(32 * 1.1 + 5 * 63, 30_000, "uncertainty-weighted live run at the course budget (32 steps) and five "
                                          "runs at the final budget (63 steps of 2,000 rows per task, unless "
                                          "shipped), each scored on 1,000 dev rows per task"),
    "10": Work(0, 0, "the appendix: reads the shipped tables and runs; no model"),
}

# Notebook 08 at colab scale, with the budgets below (the sweep's per-run budget for ``sweep.SWEEP_BUDGETS``
# and the SMART-mode runs' options): 36 sweep runs (all with SMART: x2) of 8 steps, each scoring 500 training
# and 200 dev rows per task (4,500 sentences with the final scoring); the SMART modes (none / same / independent
# masks: 1 + 2 + 2) of 16 steps without test predictions; the final model, 63 steps, scored on 1,000 dev rows
# per task and predicting the official test files (SST 2,210 + Quora 40,431 pairs + STS 1,725 pairs).
SWEEP_BUDGET_COLAB = BUDGETS["colab"]["sweep"]
MODES_BUDGET_COLAB = BUDGETS["colab"]["modes"]
SWEEP_WORK = Work(36 * 8 * 2 + 16 * 5 + 63, 36 * 4_500 + 3 * 7_500 + 12_500 + 86_500,
                  "36-run sweep of 8 steps, 3 SMART-mode runs of 16 steps, final model of 63 steps + test files")
NOTEBOOK_WORK["08"] = SWEEP_WORK

# The laptop times on the development machine (a 2-core CPU with native bf16, the default fast path, nothing else
# running): minutes for the whole notebook from scratch (no runs or cached features on disk; shipped results read
# where the notebook reads them), each executed with `jupyter nbconvert --execute` on 2026-12-05; the "**Time:**"
# line of each notebook's first cell says the same. A notebook whose line is an estimate awaiting its re-execution
# goes in LAPTOP_ESTIMATED; update both here when the notebooks' lines change.
LAPTOP_MINUTES = {"00": 0.1, "01": 0.3, "02": 0.6, "03": 0.9, "04": 2.1, "05": 3.8, "06": 2.1, "07": 3.4,
                  "08": 15.6, "09": 1.5, "10": 0.1}
LAPTOP_ESTIMATED: set[str] = set()
#: Notebooks that keep their training runs and read them back when run again.
SAVES_RUNS = {"05", "06", "08", "09"}

# The most time a notebook may take at colab scale on a T4, and what the budgets are checked against.
COLAB_LIMIT_MINUTES = 15.0


def derived_minutes(notebook: str, gpu: GpuModel = T4) -> float:
    """Minutes for ``notebook`` at colab scale on ``gpu``: its work priced by the cost model, plus set-up."""
    work = NOTEBOOK_WORK[notebook]
    return (work.steps * step_seconds(gpu) + work.sentences / sentences_per_second(gpu) + gpu.overhead_s) / 60


def step_bound(notebook: str, gpu: GpuModel = T4, limit_minutes: float = COLAB_LIMIT_MINUTES) -> float:
    """The most summed steps ``notebook`` could train within ``limit_minutes`` on ``gpu``, after its scoring
    and set-up: the bound its colab time estimate rests on."""
    work = NOTEBOOK_WORK[notebook]
    left = 60 * limit_minutes - work.sentences / sentences_per_second(gpu) - gpu.overhead_s
    return left / step_seconds(gpu)


def expected_time(notebook: str | None, scale: str, device_type: str) -> str:
    """One line for the setup cell: how long this notebook takes at this scale on this device, and how we know."""
    if notebook is None or notebook not in NOTEBOOK_WORK:
        return ""
    if scale == "smoke":
        return "expected time: seconds (smoke scale, for CI)"
    if scale == "laptop":
        minutes = LAPTOP_MINUTES[notebook]
        how = "estimated" if notebook in LAPTOP_ESTIMATED else "measured"
        where = how + ("" if device_type == "cpu" else "; less on a GPU")
        reuse = ", less when its runs are on disk" if notebook in SAVES_RUNS else ""
        return f"expected time: about {minutes:g} min at laptop scale ({where}){reuse}"
    if scale == "colab":
        minutes = derived_minutes(notebook)
        if device_type != "cuda":
            return (f"expected time: about {minutes:.0f} min on a T4 GPU (derived); on a CPU the colab scale "
                    "(bert-base) takes hours: use MTL_SCALE=laptop")
        return f"expected time: about {minutes:.0f} min on a T4 (derived from the step cost; less on faster GPUs)"
    return "expected time: hours (full scale: all the data, the paper's 10 epochs); not budgeted"


# --- disk at colab scale ---------------------------------------------------------------------------------
# What a pass of notebooks 00-09 at colab scale writes (bytes): the downloads, notebook 03's temporary feature
# cache and the runs (on Colab under MTL_RUNS_DIR, e.g. a Drive folder). A notebook's runs keep scores,
# histories and predictions, not weights (``experiment.train_or_load``, weights "none"), except notebook 06's two
# (it compares the trained encoders) and notebook 08's final model (it analyses it), which keep their weights
# without optimizer state (weights "final"). Upper bounds, not measurements of a colab pass.
BERT_BASE_BYTES = 440_449_768  # bert-base-uncased's model.safetensors (its vocabulary and config: under 1 MB)
# The official CS224N files: 2.9 MB for those the offline copy has, plus Quora's training and test files
# (141,506 + 40,431 rows at the official quora-dev.csv's 159 bytes a row: 29 MB), rounded up.
DATA_BYTES = 35_000_000
# A run without weights: metrics.json with its history, curves.png and dev predictions; about 100 kB at 500 dev
# rows per task (60 kB measured at smoke scale's 32), taken 2.5 times over.
RUN_BYTES = 250_000
TEST_PREDICTIONS_BYTES = 2_000_000  # 08's final model predicts every test row (44,366 lines of ~30 bytes)
HIDDEN_BYTES = 768 * 4  # one bert-base sentence embedding in float32 (notebook 03's feature cache)
# Run folders each notebook writes at colab scale, and how many of them keep their weights: those a smoke pass
# wrote (04-09: 1 + 2 + 3 + 6 + 8), with the sweep's 36 runs of the colab grid instead of smoke's 2.
COLAB_RUNS = {"05": (2, 0),  # the MLP and the cosine STS head
              "06": (1, 0),  # the PCGrad run
              "08": (36 + 3 + 1, 1),  # the sweep, the SMART modes, the final model (its weights kept)
              "09": (5, 0)}  # the final recipe, the STS-scale run and the three single-task runs


def colab_disk_bytes(sweep_checkpoint_bytes: int = 0) -> dict[str, int]:
    """Bytes on disk after a whole pass of notebooks 00-09 at colab scale (``kept``) and at its fullest
    (``peak``): ``kept`` plus the largest file written and deleted on the way, notebook 03's temporary feature
    cache (2,000 training and 1,000 dev rows per task, 5 sentences a row) or ``sweep_checkpoint_bytes``, what
    one sweep run writes and deletes (nothing when its runs keep no weights)."""
    colab = SCALES["colab"]
    runs = sum(count for count, _ in COLAB_RUNS.values())
    weights = sum(kept for _, kept in COLAB_RUNS.values())
    kept = BERT_BASE_BYTES + DATA_BYTES + runs * RUN_BYTES + TEST_PREDICTIONS_BYTES + weights * BERT_BASE_BYTES
    features = (colab.max_examples + colab.dev_examples) * 5 * HIDDEN_BYTES
    return {"kept": kept, "peak": kept + max(features, sweep_checkpoint_bytes), "runs": runs,
            "runs_with_weights": weights, "features": features}
