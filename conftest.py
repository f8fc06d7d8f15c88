"""Settings for every test run, unit tests and notebooks alike: offline data, smoke scale.

It sits at the repository root so that it applies also when only a notebook is
collected (``pytest notebooks/06_pcgrad.ipynb``); notebook kernels inherit
these environment variables.
"""

import os
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parent.parent / "shared" / "data" / "minbert"

if "MTL_DATA_DIR" not in os.environ and SHARED_DATA.is_dir():
    os.environ["MTL_DATA_DIR"] = str(SHARED_DATA)
os.environ.setdefault("MTL_SCALE", "smoke")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the Hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")
