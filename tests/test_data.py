"""Tests for mtl_lib.data, on the real offline data copy and on broken files.

The real files live in ``$MTL_DATA_DIR`` or, by default, in ``shared/data/minbert``
beside the repository clone. Downloads are only ever tried against a local
``http.server`` on 127.0.0.1; every other test points ``MTL_DATA_URL`` at a
closed local port, so nothing can reach any other address.
"""
import functools
import hashlib
import http.server
import os
import shutil
import threading
import warnings
from pathlib import Path

import pytest

from mtl_lib import data as D

REPO_ROOT = Path(__file__).resolve().parents[1]
ROWS = {  # rows in the shipped files (quora-train: 14266 minus 2 bad rows)
    ("sst", "train"): 8544, ("sst", "dev"): 1101, ("sst", "test"): 2210,
    ("sts", "train"): 6040, ("sts", "dev"): 863, ("sts", "test"): 1725,
    ("para", "train"): 14264, ("para", "dev"): 3005,
}
CLOSED_PORT_URL = "http://127.0.0.1:1/"  # nothing listens there: fails at once


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """No test may download from the internet, or through a proxy."""
    monkeypatch.setenv("MTL_DATA_URL", CLOSED_PORT_URL)
    for var in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(var.upper(), raising=False)
    monkeypatch.setattr(D, "TIMEOUT_S", 5)


@pytest.fixture
def quora_resplit(offline_quora):
    """For tests that count the offline copy's Quora rows (a fresh clone may have downloaded the official ones)."""
    if not offline_quora:
        pytest.skip("counts the rows of the offline copy's re-split Quora files; these Quora files are others")


def load_quietly(*args, **kw):
    """load_task, failing on any warning (clean files must load silently)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return D.load_task(*args, **kw)


# ---------------------------------------------------------------- real data

@pytest.mark.parametrize("task,split", sorted(ROWS))
def test_real_files_rows_columns_dtypes(data_dir, task, split, request):
    if task == "para":
        request.getfixturevalue("quora_resplit")
    if (task, split) == ("para", "train"):
        with pytest.warns(D.DataWarning):
            df = D.load_task(task, split, data_dir, download=False)
    else:
        df = load_quietly(task, split, data_dir, download=False)
    info = D.TASKS[task]
    assert len(df) == ROWS[task, split]
    label = [] if split == "test" else ["label"]
    assert list(df.columns) == ["id", *info.sentence_cols, *label]
    assert df["id"].str.len().gt(0).all()
    for col in info.sentence_cols:
        assert df[col].str.len().gt(0).all()
        assert (df[col] == df[col].str.strip()).all()
    if split != "test":
        assert str(df["label"].dtype) == info.label_dtype
        lo, hi = info.label_range
        assert df["label"].between(lo, hi).all()
        if info.allowed:
            assert set(df["label"].unique()) == set(info.allowed)


def test_sst_labels_and_leading_space(data_dir):
    df = load_quietly("sst", "train", data_dir)
    assert sorted(df["label"].unique()) == [0, 1, 2, 3, 4]
    assert df["sentence"].iloc[0].startswith("The Rock is destined")  # file has " The Rock"


def test_sst_test_odd_header(data_dir):
    # header is "0<TAB><TAB>id<TAB>sentence": two unnamed extra columns
    df = load_quietly("sst", "test", data_dir)
    assert list(df.columns) == ["id", "sentence"]
    assert df.iloc[0].tolist() == ["b7573736a6ddf7be102b7fee0", "Effective but too-tepid biopic"]


def test_quora_train_skips_bad_rows_with_warning(data_dir, quora_resplit):
    with pytest.warns(D.DataWarning) as record:
        df = D.load_task("para", "train", data_dir)
    assert len(record) == 1
    msg = str(record[0].message)
    assert "quora-train.csv" in msg and "skipped 2 bad row" in msg
    assert "line 1778: empty is_duplicate" in msg
    assert "line 10033: empty sentence2; empty is_duplicate" in msg
    assert [line for line, _ in df.attrs["skipped"]] == [1778, 10033]
    assert len(df) + 2 == 14266


def test_quora_train_strict_raises_at_first_bad_row(data_dir, quora_resplit):
    match = r"quora-train\.csv, line 1778: .*empty is_duplicate.*strict=False"
    with pytest.raises(D.DataFormatError, match=match):
        D.load_task("para", "train", data_dir, strict=True)


def test_limit_keeps_first_good_rows(data_dir):
    full = load_quietly("sts", "dev", data_dir)
    small = load_quietly("sts", "dev", data_dir, limit=7)
    assert small.equals(full.head(7))
    assert len(load_quietly("sts", "dev", data_dir, limit=0)) == 0
    with pytest.raises(ValueError):
        D.load_task("sts", "dev", data_dir, limit=-1)


def test_load_all(data_dir):
    frames = D.load_all("dev", data_dir, limit=10)
    assert set(frames) == {"sst", "para", "sts"}
    assert all(len(df) == 10 for df in frames.values())
    if not (data_dir / "quora-test-student.csv").exists():  # not in the offline copy
        with pytest.raises(FileNotFoundError, match="quora-test-student.csv"):
            D.load_all("test", data_dir, download=False)


def test_resolve_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("MTL_DATA_DIR", raising=False)
    assert D.resolve_data_dir() == REPO_ROOT / "data"
    monkeypatch.setenv("MTL_DATA_DIR", str(tmp_path))
    assert D.resolve_data_dir() == tmp_path
    assert D.resolve_data_dir("elsewhere") == Path("elsewhere")


def test_unknown_task_or_split(data_dir):
    with pytest.raises(ValueError, match="unknown task"):
        D.load_task("nli", "dev", data_dir)
    with pytest.raises(ValueError, match="unknown split"):
        D.load_task("sst", "validation", data_dir)


# ------------------------------------------------------------ broken files

SST_HEADER = "\tid\tsentence\tsentiment\n"
STS_HEADER = "\tid\tsentence1\tsentence2\tsimilarity\n"
QUORA_HEADER = "\tid\tsentence1\tsentence2\tis_duplicate\n"


def write(folder, name, text):
    (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_missing_column(tmp_path):
    write(tmp_path, "ids-sst-dev.csv", "\tid\tsentence\n0\ta\t good\n")
    with pytest.raises(D.DataFormatError) as err:
        D.load_task("sst", "dev", tmp_path, download=False)
    msg = str(err.value)
    assert "ids-sst-dev.csv, line 1" in msg and "['sentiment']" in msg
    assert "columns found: ['', 'id', 'sentence']" in msg


@pytest.mark.parametrize("task,name,header,row,value", [
    ("sst", "ids-sst-dev.csv", SST_HEADER, "0\ta\t ok\t7\n", "'7'"),
    ("sst", "ids-sst-dev.csv", SST_HEADER, "0\ta\t ok\t2.5\n", "'2.5'"),
    ("sts", "sts-dev.csv", STS_HEADER, "0\ta\tx\ty\t5.5\n", "'5.5'"),
    ("para", "quora-dev.csv", QUORA_HEADER, "0\ta\tx\ty\t0.5\n", "'0.5'"),
])
def test_label_out_of_range_is_always_an_error(tmp_path, task, name, header, row, value):
    good = row.replace(value.strip("'"), "1")
    write(tmp_path, name, header + good + row)
    with pytest.raises(D.DataFormatError) as err:
        D.load_task(task, "dev", tmp_path, download=False)  # strict=False
    msg = str(err.value)
    assert f"{name}, line 3" in msg and value in msg and "allowed" in msg


def test_comma_separated_file(tmp_path):
    write(tmp_path, "ids-sst-dev.csv", ",id,sentence,sentiment\n0,a,good,3\n")
    match = r"ids-sst-dev\.csv, line 1: .*one column.*tab-separated"
    with pytest.raises(D.DataFormatError, match=match):
        D.load_task("sst", "dev", tmp_path, download=False)


def test_empty_file(tmp_path):
    write(tmp_path, "sts-dev.csv", "")
    match = r"sts-dev\.csv, line 1: the file is empty.*tab-separated"
    with pytest.raises(D.DataFormatError, match=match):
        D.load_task("sts", "dev", tmp_path, download=False)


def test_not_utf8_names_the_line(tmp_path):
    (tmp_path / "sts-dev.csv").write_bytes(STS_HEADER.encode() + b"0\ta\tok\tok\t1\n"
                                           + b"1\tb\t\xff\xfe\tx\t2\n")
    with pytest.raises(D.DataFormatError, match=r"sts-dev\.csv, line 3: not UTF-8"):
        D.load_task("sts", "dev", tmp_path, download=False)


def test_windows_line_endings_and_bom(tmp_path):
    text = "\ufeff" + STS_HEADER + "0\ta\t x \ty\t4.5\n"
    write(tmp_path, "sts-dev.csv", text.replace("\n", "\r\n"))
    df = load_quietly("sts", "dev", tmp_path, download=False)
    assert df.iloc[0].tolist() == ["a", "x", "y", 4.5]


def test_binary_garbage(tmp_path):
    (tmp_path / "sts-dev.csv").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(D.DataFormatError, match=r"sts-dev\.csv, line \d+: .*tab-separated"):
        D.load_task("sts", "dev", tmp_path, download=False)


@pytest.mark.parametrize("bad_row,reason", [
    ("1\tb\t good\n", "3 fields instead of 4"),
    ("1\tb\t good\t2\textra\n", "5 fields instead of 4"),
    ("1\tb\t   \t2\n", "empty sentence"),
    ("1\tb\t good\t\n", "empty sentiment"),
    ("1\tb\t good\tthree\n", "unparseable sentiment"),
    ("1\tb\t good\tnan\n", "unparseable sentiment"),
    ("1\t\t good\t2\n", "empty id"),
])
def test_bad_row_skipped_or_strict(tmp_path, bad_row, reason):
    text = SST_HEADER + "0\ta\t fine\t1\n" + bad_row + "2\tc\t also fine\t4\n"
    write(tmp_path, "ids-sst-dev.csv", text)
    with pytest.warns(D.DataWarning) as record:
        df = D.load_task("sst", "dev", tmp_path, download=False)
    assert df["id"].tolist() == ["a", "c"] and df["label"].tolist() == [1, 4]
    assert len(df.attrs["skipped"]) == 1 and df.attrs["skipped"][0][0] == 3
    msg = str(record[0].message)
    assert "ids-sst-dev.csv" in msg and "skipped 1 bad row" in msg
    assert f"line 3: {reason}" in msg
    with pytest.raises(D.DataFormatError) as err:
        D.load_task("sst", "dev", tmp_path, strict=True, download=False)
    assert "ids-sst-dev.csv, line 3" in str(err.value) and reason in str(err.value)


def test_line_numbers_count_multiline_fields(tmp_path):
    # a quoted sentence over two lines: the bad row after it is on file line 4
    write(tmp_path, "sts-dev.csv", STS_HEADER + '0\ta\t"two\nlines"\ty\t1.0\n1\tb\tx\t\t\n')
    with pytest.warns(D.DataWarning, match="line 4: empty sentence2; empty similarity"):
        df = D.load_task("sts", "dev", tmp_path, download=False)
    assert df["sentence1"].tolist() == ["two\nlines"]


# ---------------------------------------------------------- missing/download

def test_missing_file_without_download(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        D.ensure_file("sts", "train", tmp_path, download=False)
    msg = str(err.value)
    assert "sts-train.csv" in msg and "MTL_DATA_DIR" in msg
    assert "data_dir=" in msg and "network" in msg


def test_download_failure_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"ids-sst-dev\.csv.*127\.0\.0\.1:1.*MTL_DATA_DIR"):
        D.load_task("sst", "dev", tmp_path / "new")
    assert not (tmp_path / "new").exists() or not any((tmp_path / "new").iterdir())


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A local http.server on 127.0.0.1 serving tmp_path/'served'; MTL_DATA_URL points at it."""
    served = tmp_path / "served"
    served.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.timeout = 5
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    # no trailing slash on purpose: ensure_file must add it
    monkeypatch.setenv("MTL_DATA_URL", f"http://127.0.0.1:{httpd.server_address[1]}")
    yield served
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def test_download_verified(server, data_dir, tmp_path):
    shutil.copy(data_dir / "ids-sst-dev.csv", server / "ids-sst-dev.csv")
    dest = tmp_path / "dest"
    df = load_quietly("sst", "dev", dest)  # downloads, verifies, then loads
    assert len(df) == 1101
    got = hashlib.sha256((dest / "ids-sst-dev.csv").read_bytes()).hexdigest()
    assert got == D.SHA256["ids-sst-dev.csv"]
    assert [p.name for p in dest.iterdir()] == ["ids-sst-dev.csv"]  # no temp file left


def test_download_corrupted_raises_and_leaves_nothing(server, data_dir, tmp_path):
    text = (data_dir / "ids-sst-dev.csv").read_text(encoding="utf-8")
    (server / "ids-sst-dev.csv").write_text(text.replace("lovely", "lousy", 1), encoding="utf-8")
    dest = tmp_path / "dest"
    with pytest.raises(D.ChecksumError) as err:
        D.ensure_file("sst", "dev", dest)
    msg = str(err.value)
    wrong = hashlib.sha256((server / "ids-sst-dev.csv").read_bytes()).hexdigest()
    assert "ids-sst-dev.csv" in msg and D.SHA256["ids-sst-dev.csv"] in msg and wrong in msg
    assert "MTL_DATA_DIR" in msg
    assert list(dest.iterdir()) == []


def test_download_unpinned_quora_warns_with_sha(server, data_dir, tmp_path, capsys):
    shutil.copy(data_dir / "quora-train.csv", server / "quora-train.csv")
    sha = hashlib.sha256((server / "quora-train.csv").read_bytes()).hexdigest()
    with pytest.warns(D.DataWarning, match=f"could NOT be verified.*{sha}.*MTL_DATA_SHA256=quora-train.csv={sha}"):
        path = D.ensure_file("para", "train", tmp_path / "dest")
    assert path.read_bytes() == (server / "quora-train.csv").read_bytes()
    assert f"quora-train.csv: sha256 {sha}" in capsys.readouterr().out  # printed at the first download


def test_official_quora_dev_is_pinned_and_a_pin_can_be_set_without_editing(server, data_dir, tmp_path,
                                                                           monkeypatch):
    assert D.SHA256["quora-dev.csv"].startswith("bfa3cc95") and D.SHA256["quora-dev.csv"].endswith("d5ad")
    shutil.copy(data_dir / "quora-dev.csv", server / "quora-dev.csv")  # the offline re-split, not the official file
    with pytest.raises(D.ChecksumError, match="quora-dev.csv: sha256 mismatch"):
        D.ensure_file("para", "dev", tmp_path / "dest")
    shutil.copy(data_dir / "quora-train.csv", server / "quora-train.csv")
    monkeypatch.setenv("MTL_DATA_SHA256", "quora-train.csv=" + "0" * 64)
    with pytest.raises(D.ChecksumError, match="0000000000"):
        D.ensure_file("para", "train", tmp_path / "dest")
    monkeypatch.setenv("MTL_DATA_SHA256", "quora-train.csv=abc")
    with pytest.raises(ValueError, match=r"MTL_DATA_SHA256 entry .*\(64 hex digits\)"):
        D.ensure_file("para", "train", tmp_path / "dest")


def test_cache_folder_honours_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert D.cache_dir() == tmp_path / "mtl-minbert"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert D.cache_dir() == Path.home() / ".cache" / "mtl-minbert"


def test_download_404_is_file_not_found(server, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"sts-dev\.csv.*HTTP Error 404.*MTL_DATA_DIR"):
        D.ensure_file("sts", "dev", tmp_path / "dest")
    assert not any((tmp_path / "dest").iterdir())


TEST_FILES = ["ids-sst-train.csv", "ids-sst-dev.csv", "ids-sst-test-student.csv", "quora-train.csv",
              "quora-dev.csv", "sts-train.csv", "sts-dev.csv", "sts-test-student.csv"]


def test_download_missing_fetches_every_file_or_fails_once(server, data_dir, tmp_path, monkeypatch):
    for name in TEST_FILES:
        shutil.copy(data_dir / name, server / name)
    dest = tmp_path / "dest"
    # the offline quora-dev.csv is a re-split, not the official file whose sum is pinned: pin the copy served here
    local = hashlib.sha256((data_dir / "quora-dev.csv").read_bytes()).hexdigest()
    monkeypatch.setitem(D.SHA256, "quora-dev.csv", local)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert D.download_missing(TEST_FILES, dest) == dest
    unverified = sorted(str(w.message).split(":")[0] for w in caught if "could NOT be verified" in str(w.message))
    assert unverified == ["quora-train.csv"]  # the one sum not pinned here; SST, STS and Quora dev are checked
    assert sorted(p.name for p in dest.iterdir()) == sorted(TEST_FILES)
    for name in TEST_FILES:
        assert (dest / name).read_bytes() == (data_dir / name).read_bytes()
    assert D.download_missing(TEST_FILES, dest) == dest  # all there: nothing is fetched

    monkeypatch.setenv("MTL_DATA_URL", CLOSED_PORT_URL)  # offline
    (dest / "sts-dev.csv").unlink()
    (dest / "quora-dev.csv").unlink()
    with pytest.raises(FileNotFoundError) as err:
        D.download_missing(TEST_FILES, dest)
    msg = str(err.value)
    assert msg.startswith(f"2 data file(s) missing from {dest}")
    assert "quora-dev.csv, sts-dev.csv" in msg and "export MTL_DATA_DIR=" in msg


def fresh_clone(tmp_path: Path) -> Path:
    """The files a test run reads, copied to tmp_path/clone: beside it, no shared/data/minbert."""
    clone = tmp_path / "clone"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO_ROOT / "mtl_lib", clone / "mtl_lib", ignore=ignore)
    for name in ("conftest.py", "pyproject.toml", "tests/conftest.py", "data/README.md"):
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / name, clone / name)
    (clone / "tests" / "test_one.py").write_text(
        "from mtl_lib.data import load_task\n\n"
        "def test_reads_the_data(data_dir):\n"
        "    assert len(load_task('sts', 'dev', data_dir)) == 863\n")
    return clone


def run_pytest(clone: Path, url: str, **extra_env):
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "MTL_DATA_DIR"} | {"MTL_DATA_URL": url} | extra_env
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests/test_one.py"],
                          cwd=clone, env=env, capture_output=True, text=True, timeout=300)


def test_fresh_clone_downloads_the_test_data_or_stops_once(server, data_dir, tmp_path):
    """`pytest` in a clone with neither MTL_DATA_DIR nor ../shared: the data comes from the server into
    data/; offline, the run stops before any test with one message naming MTL_DATA_DIR."""
    clone = fresh_clone(tmp_path)
    offline = run_pytest(clone, CLOSED_PORT_URL)
    out = offline.stdout + offline.stderr
    assert offline.returncode == 4, out
    assert out.count("The tests need the CS224N minBERT data files") == 1
    assert "8 data file(s) missing" in out and "export MTL_DATA_DIR=" in out and "passed" not in out

    for name in TEST_FILES:
        shutil.copy(data_dir / name, server / name)
    # the server holds the offline Quora re-split, not the official quora-dev.csv that is pinned: pin this copy
    local = hashlib.sha256((data_dir / "quora-dev.csv").read_bytes()).hexdigest()
    online = run_pytest(clone, os.environ["MTL_DATA_URL"], MTL_DATA_SHA256=f"quora-dev.csv={local}")
    assert online.returncode == 0, online.stdout + online.stderr
    assert "1 passed" in online.stdout
    assert sorted(p.name for p in (clone / "data").glob("*.csv")) == sorted(TEST_FILES)
