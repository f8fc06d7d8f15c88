"""A run folder is held by one process at a time, and never after that process is gone (mtl_lib.locks)."""

import multiprocessing
import os
import signal
import threading
from collections import Counter

import pytest

from mtl_lib import locks

fork = pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork (POSIX)")


def test_a_held_run_is_skipped_until_released(tmp_path):
    fd = locks.claim(tmp_path / "run")
    assert fd is not None
    assert locks.claim(tmp_path / "run") is None  # held, here by this very process
    assert (tmp_path / "run" / locks.LOCK_FILE).read_text() == f"{os.getpid()}\n"  # for a person to read
    locks.release(fd)
    with locks.held(tmp_path / "run") as mine:
        assert mine
        with locks.held(tmp_path / "run") as again:
            assert not again
    assert locks.claim(tmp_path / "run") is not None


@pytest.mark.parametrize("content", ["999999999", "", "{pid}"], ids=["dead PID", "empty", "own PID"])
def test_a_lock_file_nobody_holds_is_free_whatever_it_says(tmp_path, content):
    """Left by a process that died: its PID, nothing (killed before writing it), or the PID this process
    now has (a restarted container reuses PIDs). None of them may keep the run held for ever."""
    (tmp_path / locks.LOCK_FILE).write_text(content.format(pid=os.getpid()))
    assert locks.claim(tmp_path) is not None


@fork
def test_a_lock_is_released_when_its_owner_dies(tmp_path):
    ctx = multiprocessing.get_context("fork")
    claimed = ctx.Event()

    def owner():
        locks.claim(tmp_path)
        claimed.set()
        threading.Event().wait(60)  # holds the lock until killed

    process = ctx.Process(target=owner)
    process.start()
    try:
        assert claimed.wait(30)
        assert locks.claim(tmp_path) is None
    finally:
        os.kill(process.pid, signal.SIGKILL)  # no clean-up runs
        process.join()
    assert locks.claim(tmp_path) is not None


def _claim_each(folders, barrier, results):
    """Claim each folder at the moment the other process does; hold it until both have tried."""
    for folder in folders:
        barrier.wait()
        fd = locks.claim(folder)
        results.put((folder.name, fd is not None))
        barrier.wait()
        if fd is not None:
            locks.release(fd)


@fork
def test_two_processes_released_together_never_both_claim_a_stale_lock(tmp_path):
    """300 runs, each with a lock file left by a dead process; two processes claim each at once."""
    trials = 300
    folders = [tmp_path / f"run{i}" for i in range(trials)]
    for folder in folders:
        folder.mkdir()
        (folder / locks.LOCK_FILE).write_text("999999999")
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(2, timeout=60), ctx.Queue()
    processes = [ctx.Process(target=_claim_each, args=(folders, barrier, results)) for _ in range(2)]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=60) for _ in range(2 * trials)]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    claims = Counter(name for name, won in outcomes if won)
    assert len(claims) == trials and set(claims.values()) == {1}  # every run claimed, each exactly once


def _churn(path, stop):
    while not stop.is_set():
        path.unlink(missing_ok=True)
        path.write_text("1")  # PID 1: alive, and not ours


@fork
def test_a_lock_file_deleted_meanwhile_never_crashes(tmp_path):
    """Another process deletes and re-creates the file at any moment; claiming never raises."""
    ctx = multiprocessing.get_context("fork")
    stop = ctx.Event()
    churn = ctx.Process(target=_churn, args=(tmp_path / locks.LOCK_FILE, stop))
    churn.start()
    try:
        for _ in range(1000):
            fd = locks.claim(tmp_path)
            if fd is not None:
                locks.release(fd)
    finally:
        stop.set()
        churn.join()
