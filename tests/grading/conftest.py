"""The hidden grading tests: plumbing and independent references.

Each file ``test_<exercise>.py`` grades one exercise of
``mtl_lib.classroom.EXERCISES`` against an implementation that does not come
from the course (PyTorch, Hugging Face ``transformers``, or numbers worked
out by hand). In the ordinary ``pytest`` run they check the reference
solutions; ``python -m mtl_lib.classroom grade PATH`` runs them on a
student's copy, setting two variables:

* ``MTL_GRADE_EXPECT`` - the student's folder: refuse to grade any other
  ``mtl_lib`` (e.g. the instructor's, if the import path were wrong);
* ``MTL_GRADE_REPORT`` - a file that receives one JSON line per collected test
  and per test phase (with the last error lines of a failure, for feedback);
* ``MTL_GRADE_TEST_TIMEOUT`` - seconds each test may run: an endless loop in
  the student's code fails that test (``time_limit`` below) and the others still run.

They need no data files: ``tests/conftest.py`` skips its data check when only
these tests are collected.

``python -m mtl_lib.classroom check`` also sets ``MTL_GRADE_CANDIDATES``: a JSON
file of functions that a release's notebooks define. Every grading test then
runs once per candidate, with the candidate standing in for the exercise's
function (``leak_candidate`` below): a candidate that passes any grading test
gives a solution away.

Tests of one exercise must not depend on another exercise, or a student who
solved one part would lose its points for a part they did not: the fixtures
below stand in for the other exercises with reference code.
"""

import json
import math
import os
import signal
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import mtl_lib  # only the package: a broken module must fail its own tests, not the whole run


def pytest_sessionstart(session):
    expected = os.environ.get("MTL_GRADE_EXPECT")
    graded = Path(mtl_lib.__file__).resolve()
    if expected and not graded.is_relative_to(Path(expected).resolve()):
        pytest.exit(f"grading imported {graded}, not the mtl_lib in {expected}: check PYTHONPATH.", returncode=4)


def _write(record: dict) -> None:
    path = os.environ.get("MTL_GRADE_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(record) + "\n")


def _record(test: str, phase: str, outcome: str, report) -> None:
    message = tail = ""
    if outcome != "passed":
        crash = getattr(report.longrepr, "reprcrash", None)
        lines = str(report.longrepr).strip().splitlines()
        message = crash.message if crash is not None else (lines[-1] if lines else "")
        # the error lines ("E   ..."), not the test's code: feedback must not show the hidden tests
        tail = "\n".join([line[1:].strip() for line in lines if line.startswith("E ")][-10:]) or message
    _write({"test": test, "phase": phase, "outcome": outcome, "message": message, "tail": tail})


def pytest_collection_finish(session):
    for item in session.items:  # a test collected but never reported (killed, timed out) fails
        _write({"test": item.nodeid, "phase": "collected", "outcome": "", "message": ""})


def pytest_runtest_logreport(report):
    _record(report.nodeid, report.when, report.outcome, report)


def pytest_collectreport(report):
    if report.failed:  # e.g. the student's module does not import: every test of the file fails
        _record(report.nodeid, "collect", "failed", report)


@pytest.fixture(autouse=True)
def time_limit():
    """Under ``grade``: stop a test that runs longer than ``MTL_GRADE_TEST_TIMEOUT`` seconds with an error, so that
    an endless loop fails its own test instead of ending the whole run (POSIX only: SIGALRM)."""
    seconds = float(os.environ.get("MTL_GRADE_TEST_TIMEOUT") or 0)
    if not seconds or not hasattr(signal, "setitimer"):
        yield
        return

    def stop(signum, frame):
        raise TimeoutError(f"this test ran longer than its time limit of {seconds:g} s (an endless loop?) "
                           "and was stopped")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def reference_attention(q, k, v, mask=None, dropout=None):
    """Equation 1 with einsum, independent of the course's code; returns (output, weights)."""
    scores = torch.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return torch.einsum("bhqk,bhkd->bhqd", dropout(weights) if dropout is not None else weights, v), weights


def reference_self_attention(module, x, mask=None, output_attentions=False):
    """Multi-head self-attention of ``module``'s weights, head by head, no reshapes shared with the course."""
    B, T, H = x.shape
    nh = module.num_heads
    hs = H // nh
    contexts, weights = [], []
    for h in range(nh):
        part = slice(h * hs, (h + 1) * hs)
        q, k, v = (F.linear(x, lin.weight[part], lin.bias[part]).unsqueeze(1)
                   for lin in (module.query, module.key, module.value))
        context, w = reference_attention(q, k, v, mask)
        contexts.append(context[:, 0])
        weights.append(w[:, 0])
    return torch.cat(contexts, dim=-1), (torch.stack(weights, dim=1) if output_attentions else None)


@pytest.fixture
def reference_sdpa(monkeypatch):
    """Replace the course's scaled_dot_product_attention (another exercise) by the reference."""
    import mtl_lib.attention

    monkeypatch.setattr(mtl_lib.attention, "scaled_dot_product_attention", reference_attention)


@pytest.fixture
def reference_mhsa(monkeypatch):
    """Replace MultiHeadSelfAttention.forward (another exercise) by the reference."""
    import mtl_lib.attention

    monkeypatch.setattr(mtl_lib.attention.MultiHeadSelfAttention, "forward", reference_self_attention)


@pytest.fixture
def self_attention_by_hand():
    """``reference_self_attention`` for tests that compare against it."""
    return reference_self_attention


@pytest.fixture(scope="session")
def padded_batch(tokenizer):
    """Three sentences of different lengths: the shorter ones padded."""
    return tokenizer(["the movie was a delight from start to finish .", "dull .",
                      "how do i learn to play the guitar quickly ?"])


@pytest.fixture(scope="session")
def reference_outputs(reference_bert, padded_batch):
    """transformers.BertModel on the padded batch: hidden states per layer, attentions, pooler."""
    with torch.no_grad():
        return reference_bert(**padded_batch, output_hidden_states=True, output_attentions=True)


@pytest.fixture(scope="session")
def minbert():
    """The course's minBERT with the embedded weights (loading is not an exercise)."""
    from mtl_lib.bert import BertModel

    return BertModel.from_pretrained("all-MiniLM-L6-v2").eval()


# --- leak search: notebook functions standing in for an exercise's function ---------------------

def _stand_in_mean_pooling(candidate):
    """f(hidden, attention_mask) -> (B, H), wired in as pool's 'mean' (other poolings: not given)."""
    def pool(outputs, attention_mask, how="mean"):
        if how != "mean":
            raise NotImplementedError("the candidate only gives mean pooling")
        return candidate(outputs["last_hidden_state"], attention_mask)
    return pool


def _stand_in_layer_with_padding_mask(candidate):
    """f(layer, x, attention_mask (B, T) of 0/1) -> y or (y, ...), wired in as BertLayer.forward."""
    def forward(self, x, mask, output_attentions=False):
        out = candidate(self, x, mask.reshape(mask.shape[0], -1)[:, -x.shape[1]:].long())
        return (out[0] if isinstance(out, tuple) else out), None
    return forward


def _stand_in_sts_pair(candidate):
    """f(u, v) -> (B,), wired in as MultitaskBert.head's STS branch."""
    def head(self, task, u, v=None):
        if task != "sts":
            raise NotImplementedError("the candidate only gives the STS score")
        return candidate(u, v)
    return head


# How a student could wire a notebook's by-hand function into the library, per exercise (besides
# calling it as it is, "direct"), and how many positional arguments each stand-in passes it.
STAND_INS = {"pooling": {"mean": (_stand_in_mean_pooling, 2)},
             "encoder_layer": {"mask2d": (_stand_in_layer_with_padding_mask, 3)},
             "cosine_sts_head": {"sts": (_stand_in_sts_pair, 2)}}


def _candidates() -> list[dict]:
    path = os.environ.get("MTL_GRADE_CANDIDATES")
    return json.loads(Path(path).read_text())["candidates"] if path else []


_NAMESPACES: dict[str, dict] = {}


def _namespace(notebook: str) -> dict:
    """The functions and classes a notebook defines, executed after its imports (each import on its own:
    one that fails leaves its names undefined, and a function that needs them fails its tests)."""
    if notebook not in _NAMESPACES:
        code = json.loads(Path(os.environ["MTL_GRADE_CANDIDATES"]).read_text())["notebooks"][notebook]
        namespace = {"__name__": "notebook"}
        for statement in code["imports"]:
            try:
                exec(compile(statement, notebook, "exec"), namespace)
            except Exception:  # noqa: BLE001 - see the docstring
                pass
        for definition in code["definitions"]:
            try:
                exec(compile(definition, notebook, "exec"), namespace)
            except Exception:  # noqa: BLE001 - a definition that needs the notebook's state cannot leak here
                pass
        _NAMESPACES[notebook] = namespace
    return _NAMESPACES[notebook]


def _exercise_of_module(module) -> str:
    return Path(module.__file__).stem.removeprefix("test_")


def pytest_generate_tests(metafunc):
    """Under ``check``: each test once as it is ("__stub__") and once per candidate of its exercise."""
    if os.environ.get("MTL_GRADE_CANDIDATES") and "leak_candidate" in metafunc.fixturenames:
        candidates = [c for c in _candidates() if c["exercise"] == _exercise_of_module(metafunc.module)]
        metafunc.parametrize("leak_candidate", [None, *candidates], ids=["__stub__", *(c["id"] for c in candidates)],
                             indirect=True)


@pytest.fixture(autouse=True)
def leak_candidate(request, monkeypatch):
    """Under ``check``'s leak search: put the candidate in place of the exercise's function."""
    candidate = getattr(request, "param", None)
    if candidate is None:
        return None
    import importlib

    target = candidate["target"]  # {"module": "mtl_lib.encode", "qualname": "pool"}
    function = _namespace(candidate["notebook"])
    for part in candidate["qualname"].split("."):
        function = function[part] if isinstance(function, dict) else getattr(function, part)
    if candidate["adapter"] == "direct":
        stand_in = function
    else:
        stand_in = STAND_INS[candidate["exercise"]][candidate["adapter"]][0](function)
    module = importlib.import_module(target["module"])
    owner, name = module, target["qualname"]
    if "." in name:
        class_name, name = name.split(".")
        owner = getattr(module, class_name)
    original = getattr(owner, name)
    monkeypatch.setattr(owner, name, stand_in)
    if getattr(request.module, name, None) is original:  # the test file imported the function by name
        monkeypatch.setattr(request.module, name, stand_in)
    return candidate
