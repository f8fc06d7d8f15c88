"""One process at a time per run folder: an operating-system lock on ``FOLDER/reproduce.lock``.

``claim`` takes the lock (``fcntl.flock``; ``msvcrt.locking`` on Windows) on a file it keeps open
while the run trains. The kernel lets one open file hold it at a time and releases it when that
file is closed or its process ends, however it ends. So two processes can never both hold a run, a
lock never outlives its owner, and what the file contains decides nothing: the owner's PID is
written there for a person to read, and a file left by an older version (a dead or reused PID, or
nothing) is simply free. The file is never deleted: a process that had opened the old file and one
that created a new one could then both hold "the" lock.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt

LOCK_FILE = "reproduce.lock"


def claim(folder: str | Path) -> int | None:
    """Take ``folder`` for this process: an open file descriptor that holds the lock until ``release``,
    or None if another open lock file (another process, or this one) holds it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:  # held elsewhere
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def release(fd: int) -> None:
    """Give a claimed folder back (closing the file releases the lock; the file stays)."""
    os.close(fd)


@contextlib.contextmanager
def held(folder: str | Path):
    """``with held(folder) as mine:`` - ``mine`` is True if this process now holds ``folder`` (released
    on leaving the block), False if another one does."""
    fd = claim(folder)
    try:
        yield fd is not None
    finally:
        if fd is not None:
            release(fd)
