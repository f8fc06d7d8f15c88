"""Fixtures shared by the unit tests (the environment is set by the root conftest.py)."""

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "minbert"


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
