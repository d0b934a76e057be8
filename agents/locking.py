"""One writer per output folder: an advisory lock that names its holder.

Two processes writing into the same run or sweep folder would interleave their files (each run
written twice, then dropped as unfinished on the next resume). :func:`exclusive_folder` takes a
lock on ``<folder>/.lock`` for the duration of a run; a second process gets a clear error naming
the first one's PID. The lock is an OS file lock (``fcntl.flock``), released when the process
exits, however it exits, so a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = ".lock"


class FolderLockedError(ValueError):
    """Another process holds the folder's lock."""


@contextmanager
def exclusive_folder(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold ``folder``'s lock (creating the folder) while the block runs.

    Raises:
        FolderLockedError: another live process holds it; the message names its PID.
    """
    import fcntl

    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path} is a file, not a folder; choose another output folder")
    path.mkdir(parents=True, exist_ok=True)
    fh = (path / LOCK_FILE).open("a+")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            raise FolderLockedError(
                f"another process (pid {holder}) is writing to {path}; wait for it to finish "
                f"or choose another output folder"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield path
    finally:
        fh.close()  # closing the descriptor releases the lock
