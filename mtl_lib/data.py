"""Load the CS224N minBERT data: SST-5 sentiment, Quora paraphrase, SemEval STS.

The files are the tab-separated ``.csv`` files of the CS224N default project
(``gpoesia/minbert-default-final-project``, folder ``data/``). Their mess is
handled and reported, never hidden: extra unnamed index columns (so columns are
found by header *name*), sentences with a leading space (stripped), and a few
Quora rows with an empty label or sentence (skipped with a :class:`DataWarning`
naming each file line; ``strict=True`` raises :class:`DataFormatError`).

Example: ``load_task("sst", "dev")`` -> columns id, sentence, label;
``load_all("train", limit=64)`` -> smoke-scale data for all three tasks.
"""
from __future__ import annotations

import csv
import hashlib
import http.client
import io
import math
import os
import re
import tempfile
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

#: Where missing files are downloaded from (override with env ``MTL_DATA_URL``).
DATA_URL = "https://raw.githubusercontent.com/gpoesia/minbert-default-final-project/main/data/"
#: Seconds to wait for the server before a download counts as failed.
TIMEOUT_S = 30
SPLITS = ("train", "dev", "test")

#: sha256 of the official files. SST and STS were checked against the official
#: files byte for byte; quora-dev.csv's sum is the official file's (20,215 lines with the header).
#: The other official Quora sums are not known to us yet: None means "download, warn that it is
#: unverified and print its sha256". To pin one, put that printed sum here (or, without editing the
#: package, set ``MTL_DATA_SHA256="quora-train.csv=<sum>,quora-test-student.csv=<sum>"``).
SHA256 = {
    "ids-sst-train.csv": "03b2b625c090f94a6afd59f114cde5282e2053aab0b101e87ed695d8a0c5b1df",
    "ids-sst-dev.csv": "a186ce94577635fbe10beaaddd50f16cccf6c30973221cefdf90deed2a584bfe",
    "ids-sst-test-student.csv": "bdd5a767faa0c26782117e37767ece154c30d5d04fb8727d09c71e3850a55c7b",
    "sts-train.csv": "15d12efc2d656fffb1d61ac1f08ec4227f43925fd16f420c037cbd063699c21b",
    "sts-dev.csv": "ce3cad6f16062586ac7ba462c28b010a9be10c530fd5074165860d7b7ab4e93d",
    "sts-test-student.csv": "dee455745b72e9ca3ff74e7c056bd73e34bad5b8d5641045a2c1e7e131866f47",
    "quora-train.csv": None,
    "quora-dev.csv": "bfa3cc954a9ba300ae776a980141de65f622a3c1b97e3fd905d63245bc36d5ad",
    "quora-test-student.csv": None,
}


class DataWarning(UserWarning):
    """Rows were skipped, or a download could not be verified."""


# A data warning is about a file, not about the line of code that loaded it: it is shown once per
# file and message in a session (``_warned``), however often the file is loaded, without a source line.
_warned: set[tuple[str, str]] = set()
_format_warning = warnings.formatwarning


def _format_data_warning(message, category, filename, lineno, line=None):
    if issubclass(category, DataWarning):
        return f"DataWarning: {message}\n"
    return _format_warning(message, category, filename, lineno, line)


warnings.formatwarning = _format_data_warning


class DataFormatError(ValueError):
    """A data file is not what a CS224N minBERT file should look like."""


class ChecksumError(ValueError):
    """A downloaded file's sha256 differs from the pinned one."""


@dataclass(frozen=True)
class TaskInfo:
    """What a task's files look like and what its labels mean."""

    name: str
    prefix: str  # file name prefix, e.g. "ids-sst" -> ids-sst-train.csv
    sentence_cols: tuple[str, ...]
    label_col: str  # column name in the file; ours is always called "label"
    label_dtype: str  # "int64" or "float32"
    label_range: tuple[float, float]  # inclusive
    num_classes: int | None  # None for regression (STS)
    allowed: tuple[float, ...] | None = None  # the only values allowed, if any
    label_names: tuple[str, ...] | None = None

    def filename(self, split: str) -> str:
        """The official file name, e.g. ``quora-test-student.csv``."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
        return f"{self.prefix}-{'test-student' if split == 'test' else split}.csv"

    def columns(self, split: str) -> list[str]:
        """The file columns that :func:`load_task` needs for ``split``."""
        return ["id", *self.sentence_cols] + ([] if split == "test" else [self.label_col])


TASKS = {
    "sst": TaskInfo("sst", "ids-sst", ("sentence",), "sentiment", "int64", (0, 4), 5,
                    label_names=("very negative", "negative", "neutral",
                                 "positive", "very positive")),
    "para": TaskInfo("para", "quora", ("sentence1", "sentence2"), "is_duplicate",
                     "float32", (0.0, 1.0), 2, allowed=(0.0, 1.0),
                     label_names=("not duplicate", "duplicate")),
    "sts": TaskInfo("sts", "sts", ("sentence1", "sentence2"), "similarity",
                    "float32", (0.0, 5.0), None),
}


def _task(task: str) -> TaskInfo:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {tuple(TASKS)}")
    return TASKS[task]


def cache_dir() -> Path:
    """The course's cache folder: ``$XDG_CACHE_HOME/mtl-minbert``, else ``~/.cache/mtl-minbert``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mtl-minbert"


def pinned_sha256(name: str) -> str | None:
    """The sha256 a download of ``name`` must have: ``SHA256``, or one pinned in ``$MTL_DATA_SHA256``
    (``name=sum`` pairs separated by commas) for a file whose official sum the package does not know."""
    for item in filter(None, os.environ.get("MTL_DATA_SHA256", "").split(",")):
        key, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"[0-9a-f]{64}", value.strip()):
            raise ValueError(f"MTL_DATA_SHA256 entry {item!r} is not FILE=SHA256 (64 hex digits); "
                             "e.g. MTL_DATA_SHA256=quora-train.csv=<the sum printed at the first download>.")
        if key.strip() == name:
            return value.strip()
    return SHA256.get(name)


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """``data_dir`` if given, else env ``MTL_DATA_DIR``, else the repo's ``data/``
    (a clone), else ``cache_dir()/data`` (a pip install, e.g. on Colab)."""
    if data_dir is not None:
        return Path(data_dir)
    if os.environ.get("MTL_DATA_DIR"):
        return Path(os.environ["MTL_DATA_DIR"])
    repo_data = Path(__file__).resolve().parent.parent / "data"
    if (repo_data / "README.md").is_file():
        return repo_data
    return cache_dir() / "data"


def _download(url: str, dest: Path, expected: str | None) -> None:
    """Download ``url`` to ``dest`` through a temp file; check its sha256."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
            size = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=size, unit="B", unit_scale=True, desc=dest.name) as bar:
                while chunk := resp.read(1 << 16):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
        got = digest.hexdigest()
        if expected is None:
            print(f"{dest.name}: sha256 {got} (not pinned yet)")
            warnings.warn(f"{dest.name}: downloaded from {url} but could NOT be verified "
                          f"(no pinned sha256). Its sha256 is {got}; pin it in SHA256 in mtl_lib/data.py, "
                          f"or set MTL_DATA_SHA256={dest.name}={got}.", DataWarning, stacklevel=3)
        elif got != expected:
            raise ChecksumError(
                f"{dest.name}: sha256 mismatch for the download from {url}: expected "
                f"{expected}, got {got}. The download was deleted. Retry; if it fails "
                f"again, the upstream file changed or something between you and it "
                f"alters files: fetch the official file yourself into {dest.parent} "
                f"(or set MTL_DATA_DIR to a folder holding it).")
        os.replace(tmp, dest)  # atomic: dest is either absent or complete
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


#: What a failed download raises: no network, HTTP 404, a refused connection, a bad URL.
DOWNLOAD_ERRORS = (urllib.error.URLError, http.client.HTTPException, OSError, ValueError)


def file_url(name: str) -> str:
    """Where ``name`` is downloaded from: env ``MTL_DATA_URL`` (a mirror, or a local test server), else ``DATA_URL``."""
    return os.environ.get("MTL_DATA_URL", DATA_URL).rstrip("/") + "/" + name


def how_to_fix(names: list[str]) -> str:
    """The advice every missing-file error ends with (the command line says --data-dir for data_dir=)."""
    return (f"To fix, do one of: point the environment variable MTL_DATA_DIR at a folder holding the "
            f"CS224N minBERT data files (this needs {', '.join(names)}), e.g. "
            f"`export MTL_DATA_DIR=/path/to/minbert`; or pass that folder with data_dir=; or get network "
            f"access so that they can be downloaded.")


def ensure_file(task: str, split: str, data_dir=None, download: bool = True) -> Path:
    """Return the path of ``task``'s ``split`` file, downloading it if missing.

    Raises ``FileNotFoundError`` (saying what to do) if the file is absent and
    cannot be downloaded, and :class:`ChecksumError` if the download is corrupt.
    """
    name = _task(task).filename(split)
    folder = resolve_data_dir(data_dir)
    path = folder / name
    if path.is_file():
        return path
    url = file_url(name)
    why = "and download=False"
    if download:
        expected = pinned_sha256(name)  # a malformed MTL_DATA_SHA256 is its own error, not a failed download
        try:
            _download(url, path, expected)
            return path
        except ChecksumError:
            raise
        except DOWNLOAD_ERRORS as err:
            why = f"and downloading {url} failed ({err})"
    raise FileNotFoundError(f"{name} is not in {folder} {why}. {how_to_fix([name])}")


def download_missing(names=None, data_dir=None) -> Path:
    """Download each file of ``names`` (default: every official file) that the data folder lacks; return the folder.

    Each download is checked like ``ensure_file``'s. The first failed download ends it (offline,
    every one would fail the same way, each after a timeout) with ONE ``FileNotFoundError`` that
    lists every file still missing: the test suite's start uses it to stop once, with one message.
    """
    folder = resolve_data_dir(data_dir)
    missing = [name for name in (names or SHA256) if not (folder / name).is_file()]
    pins = {name: pinned_sha256(name) for name in missing}
    for i, name in enumerate(missing):
        try:
            _download(file_url(name), folder / name, pins[name])
        except DOWNLOAD_ERRORS as err:
            if isinstance(err, ChecksumError):
                raise
            raise FileNotFoundError(f"{len(missing) - i} data file(s) missing from {folder}, and downloading "
                                    f"{file_url(name)} failed ({err}). {how_to_fix(missing[i:])}") from err
    return folder


def _parse_label(info: TaskInfo, text: str, where: str) -> float | int:
    """Parse one label: ValueError if unparseable (a row to skip), DataFormatError
    if it is a number outside the task's range (the file is wrong)."""
    value = float(text)  # ValueError for "abc"
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    lo, hi = info.label_range
    integral = info.label_dtype == "int64"
    if (not lo <= value <= hi or (integral and not value.is_integer())
            or (info.allowed is not None and value not in info.allowed)):
        allowed = (" or ".join(map(str, info.allowed)) if info.allowed
                   else f"{'an integer' if integral else 'a number'} {lo}..{hi}")
        raise DataFormatError(f"{where}: {info.label_col} = {text!r} is out of range; "
                              f"allowed: {allowed}. The file is wrong (not a row to skip).")
    return int(value) if integral else value


def _open_table(path: Path, need: list[str]):
    """Decode ``path``, check its header; return (csv reader, header, expected-text)."""
    expected = f"a tab-separated CS224N file whose header has the columns {need}"
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        raise DataFormatError(f"{path}, line {line}: not UTF-8 text ({err}); "
                              f"expected {expected}.") from err
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t")
    header = [h.strip() for h in next(reader, [])]
    if len(header) < 2:
        what = "the file is empty" if not header else f"the header has one column {header}"
        raise DataFormatError(f"{path}, line 1: {what}; expected {expected}.")
    missing = [c for c in need if c not in header]
    if missing:
        raise DataFormatError(f"{path}, line 1 (header): missing column(s) {missing}; "
                              f"columns found: {header}; expected {expected}.")
    return reader, header, expected


def _check_row(info, split, header, row, where):
    """Return (record, problems) for one csv row; problems make it a row to skip."""
    if len(row) != len(header):
        return None, [f"{len(row)} fields instead of {len(header)}"]
    record = {c: row[header.index(c)].strip() for c in info.columns(split)}
    problems = [f"empty {c}" for c, v in record.items() if not v]
    if split != "test" and record[info.label_col]:
        try:
            record["label"] = _parse_label(info, record.pop(info.label_col), where)
        except DataFormatError:  # out of range: the file is wrong, not just this row
            raise
        except ValueError as err:  # unparseable: a bad row
            problems.append(f"unparseable {info.label_col}: {err}")
    return record, problems


def load_task(task: str, split: str, data_dir=None, strict: bool = False,
              limit: int | None = None, download: bool = True,
              _stacklevel: int = 2) -> pd.DataFrame:
    """Read one task's split into a DataFrame with columns ``id``, the sentence
    column(s) and ``label`` (no ``label`` for the test split).

    Bad rows (wrong number of fields, empty id/sentence/label, unparseable
    label) are skipped with one :class:`DataWarning` that lists each one with
    its file line, and kept in ``df.attrs["skipped"]`` as ``(line, reason)``;
    with ``strict=True`` the first one raises :class:`DataFormatError`.
    A missing column, an out-of-range label or a file in another format always
    raise :class:`DataFormatError`. ``limit`` keeps the first ``limit`` good
    rows (reading stops there).
    """
    info = _task(task)
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {limit}")
    path = ensure_file(task, split, data_dir, download)
    reader, header, expected = _open_table(path, info.columns(split))
    rows, skipped = [], []
    try:
        while limit is None or len(rows) < limit:
            line = reader.line_num + 1  # first file line of the next record
            row = next(reader, None)
            if row is None:
                break
            where = f"{path}, line {line}"
            record, problems = _check_row(info, split, header, row, where)
            if not problems:
                rows.append(record)
            elif strict:
                raise DataFormatError(f"{where}: bad row: {'; '.join(problems)}. (strict=True;"
                                      f" with strict=False it would be skipped with a warning.)")
            else:
                skipped.append((line, "; ".join(problems)))
    except csv.Error as err:  # e.g. a quoted field longer than csv's field size limit
        raise DataFormatError(f"{path}, line {reader.line_num}: {err}; "
                              f"expected {expected}.") from err

    if skipped:
        listing = "\n".join(f"  line {line}: {reason}" for line, reason in skipped)
        message = f"{path.name}: skipped {len(skipped)} bad row(s) (strict=True makes this an error):\n{listing}"
        if (str(path), message) not in _warned:
            _warned.add((str(path), message))
            warnings.warn(message, DataWarning, stacklevel=_stacklevel)
    text_cols = ["id", *info.sentence_cols]
    df = pd.DataFrame(rows, columns=text_cols + ([] if split == "test" else ["label"]))
    df[text_cols] = df[text_cols].astype(str)
    if split != "test":
        df["label"] = df["label"].astype(info.label_dtype)
    df.attrs["skipped"] = skipped
    df.attrs["source"] = str(path)
    return df


def load_all(split: str, data_dir=None, **kw) -> dict[str, pd.DataFrame]:
    """``load_task`` for every task in :data:`TASKS`, as ``{task: DataFrame}``."""
    return {task: load_task(task, split, data_dir, _stacklevel=3, **kw) for task in TASKS}
