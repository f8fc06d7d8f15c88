"""BERT's WordPiece tokenizer, assembled from the ``tokenizers`` library.

BERT does not see words but *word pieces*: ``"unbelievable"`` becomes
``un ##bel ##ie ##vable`` when the whole word is not in the 30,522-entry
vocabulary. The pipeline, stage by stage:

1. normalise - clean control characters, lower-case, strip accents
   (uncased models), put spaces around CJK characters;
2. pre-tokenise - split on white space and punctuation;
3. WordPiece - greedy longest-match-first against ``vocab.txt``;
4. post-process - add ``[CLS]`` in front and ``[SEP]`` after each sentence;
   a pair becomes ``[CLS] a [SEP] b [SEP]`` with token types 0 for a, 1 for b;
5. pad every sequence of a batch to the longest one (``[PAD]`` = id 0) and
   return an attention mask (1 = real token, 0 = padding).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import torch
from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece

from .pretrained import read_config, resolve_checkpoint

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


class BertTokenizer:
    """Callable tokenizer: ``tok(sentences, pairs=None, max_length=128)`` -> dict of tensors."""

    def __init__(self, vocab_file: str | Path, lowercase: bool = True, max_length: int = 512):
        vocab_file = Path(vocab_file)
        lines = vocab_file.read_text(encoding="utf-8").splitlines()
        vocab = {token: i for i, token in enumerate(lines)}
        absent = [t for t in SPECIAL if t not in vocab]
        if absent:
            raise ValueError(f"{vocab_file}: special tokens {absent} are missing; "
                             "is this a BERT WordPiece vocab.txt?")
        tok = Tokenizer(WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
        tok.normalizer = normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=lowercase)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        cls, sep = vocab["[CLS]"], vocab["[SEP]"]
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            pair="[CLS] $A [SEP] $B:1 [SEP]:1",  # ":1" = token type 1 for the 2nd sentence
            special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
        )
        tok.decoder = decoders.WordPiece(prefix="##")
        tok.add_special_tokens(SPECIAL)  # never split "[SEP]" etc.; decode() can skip them
        self.backend = tok
        self.vocab = vocab
        self.pad_id = vocab["[PAD]"]
        self.model_max_length = max_length

    def __call__(self, sentences: str | Sequence[str], pairs: Sequence[str] | None = None,
                 max_length: int | None = None) -> dict[str, torch.Tensor]:
        """Encode a batch of sentences (or sentence pairs), padded to the longest.

        Returns ``input_ids``, ``attention_mask`` and ``token_type_ids``, each a
        (B, T) int64 tensor, with T = the longest sequence after truncation.
        """
        if isinstance(sentences, str):
            sentences = [sentences]
        sentences = list(sentences)
        if pairs is not None:
            pairs = [pairs] if isinstance(pairs, str) else list(pairs)
            if len(pairs) != len(sentences):
                raise ValueError(f"pairs has {len(pairs)} sentences but sentences has "
                                 f"{len(sentences)}; they must match one to one.")
        max_length = min(max_length or self.model_max_length, self.model_max_length)
        tok = self.backend
        tok.enable_truncation(max_length=max_length, strategy="longest_first")
        tok.enable_padding(pad_id=self.pad_id, pad_token="[PAD]")  # pad to the longest
        inputs = sentences if pairs is None else list(zip(sentences, pairs))
        encodings = tok.encode_batch(inputs)
        return {
            "input_ids": torch.tensor([e.ids for e in encodings], dtype=torch.long),
            "attention_mask": torch.tensor([e.attention_mask for e in encodings], dtype=torch.long),
            "token_type_ids": torch.tensor([e.type_ids for e in encodings], dtype=torch.long),
        }

    def tokenize(self, sentence: str) -> list[str]:
        """The word pieces of one sentence, without special tokens."""
        return self.backend.encode(sentence, add_special_tokens=False).tokens

    def convert_ids_to_tokens(self, ids: Sequence[int]) -> list[str]:
        return [self.backend.id_to_token(int(i)) for i in ids]

    def decode(self, ids: Sequence[int]) -> str:
        return self.backend.decode([int(i) for i in ids], skip_special_tokens=True)

    def __len__(self) -> int:
        return len(self.vocab)


def load_tokenizer(name_or_path: str | Path = "all-MiniLM-L6-v2") -> BertTokenizer:
    """The tokenizer of a checkpoint (a known name or a folder with ``vocab.txt``)."""
    folder = resolve_checkpoint(name_or_path)
    config = read_config(folder)
    lowercase = True
    tok_config = folder / "tokenizer_config.json"
    if tok_config.exists():
        lowercase = json.loads(tok_config.read_text()).get("do_lower_case", True)
    return BertTokenizer(folder / "vocab.txt", lowercase=lowercase,
                         max_length=config.get("max_position_embeddings", 512))
