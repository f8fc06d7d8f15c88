"""Fixtures shared by the unit tests (the environment is set by the root conftest.py), and the test data.

Before any test runs, ``pytest_sessionstart`` makes sure the data files the tests read are there:
in ``MTL_DATA_DIR`` (the root conftest.py points it at ``../shared/data/minbert`` where that exists),
else in the repository's ``data/``, downloaded and sha256-checked on the first run. Offline, the
run stops at once with one message that says how to point ``MTL_DATA_DIR`` at the files.
"""

import hashlib
import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "minbert"
#: The files the tests read: every official file but quora-test-student.csv, which the offline copy lacks.
TEST_DATA_FILES = ["ids-sst-train.csv", "ids-sst-dev.csv", "ids-sst-test-student.csv", "quora-train.csv",
                   "quora-dev.csv", "sts-train.csv", "sts-dev.csv", "sts-test-student.csv"]
#: sha256 of the offline copy's quora-train.csv: a re-split of the official dev file (see its README).
OFFLINE_QUORA_TRAIN_SHA256 = "1529ab3d857739a7fd6c352121314095bd5cdf7821b2a8f5ef0acb023d99e9ff"


GRADING_TESTS = Path(__file__).resolve().parent / "grading"


def only_grading_tests(config) -> bool:
    """Whether this run collects nothing but the hidden grading tests (``python -m mtl_lib.classroom grade``
    and ``check`` run them on a student's copy): they read no data files, so grading never waits for them."""
    paths = [(config.invocation_params.dir / str(arg).split("::")[0]).resolve() for arg in config.args]
    return bool(paths) and all(path.is_relative_to(GRADING_TESTS) for path in paths)


def pytest_sessionstart(session):
    """Fetch the missing test data into the data folder, or stop the whole run with one clear message."""
    from mtl_lib import data

    if only_grading_tests(session.config):
        return
    try:
        folder = data.download_missing(TEST_DATA_FILES)
    except FileNotFoundError as err:
        # A usage error: pytest prints it once, as "ERROR: ...", and exits with 4 before any test runs.
        raise pytest.UsageError(f"The tests need the CS224N minBERT data files. {err}") from None
    os.environ["MTL_DATA_DIR"] = str(folder)  # notebooks' kernels inherit it


@pytest.fixture(autouse=True)
def fresh_data_warnings():
    """Each test sees its data warnings, even for a file that an earlier test loaded."""
    from mtl_lib import data

    data._warned.clear()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ["MTL_DATA_DIR"]) if "MTL_DATA_DIR" in os.environ else SHARED_DATA
    if not path.is_dir():
        pytest.fail(f"Test data folder {path} not found: set MTL_DATA_DIR to the CS224N files.")
    return path


@pytest.fixture(scope="session")
def offline_quora(data_dir) -> bool:
    """Whether the Quora files are the offline copy's re-split, whose rows some tests count exactly
    (a fresh clone with network downloads the official, larger ones)."""
    digest = hashlib.sha256((data_dir / "quora-train.csv").read_bytes()).hexdigest()
    return digest == OFFLINE_QUORA_TRAIN_SHA256


@pytest.fixture(scope="session")
def embedded_dir() -> Path:
    from mtl_lib.checkpoints import embedded_checkpoint_dir

    return embedded_checkpoint_dir()


@pytest.fixture(scope="session")
def reference_bert(embedded_dir):
    """Hugging Face's BertModel on the same weights: the independent reference."""
    import transformers  # a dev dependency (pip install -e ".[dev]"), never a runtime one
    return transformers.BertModel.from_pretrained(str(embedded_dir), attn_implementation="eager").eval()


@pytest.fixture(scope="session")
def tokenizer():
    from mtl_lib.tokenizer import load_tokenizer

    return load_tokenizer("all-MiniLM-L6-v2")
