"""One writer per output folder, and no run overwritten: a lock that names its holder, and the
rule for starting into a folder that already holds files (:func:`check_run_folder`).

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

# Folders whose lock this process holds: a nested exclusive_folder on one of them (a command
# that locks its folder, then calls a training function that locks it too) re-enters.
_HELD: set[Path] = set()


class FolderLockedError(ValueError):
    """Another process holds the folder's lock."""


@contextmanager
def exclusive_folder(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold ``folder``'s lock (creating the folder) while the block runs (re-entrant within
    one process).

    Raises:
        FolderLockedError: another live process holds it; the message names its PID.
    """
    import fcntl

    path = _as_folder(folder)
    path.mkdir(parents=True, exist_ok=True)
    key = path.resolve()
    if key in _HELD:  # re-entered from inside this process's own lock
        yield path
        return
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
        _HELD.add(key)
        try:
            yield path
        finally:
            _HELD.discard(key)
    finally:
        fh.close()  # closing the descriptor releases the lock


def check_run_folder(
    out: str | os.PathLike,
    resume: bool,
    checkpoint: str,
    results: tuple[str, ...],
    doing: str = "training",
) -> None:
    """Refuse to start a run that would overwrite another: the one rule of every training script.

    A folder with ``checkpoint`` needs ``resume``; a folder with any of ``results`` but no
    ``checkpoint`` cannot be resumed, and training would overwrite them, so it is refused too.
    ``doing`` names the work in the message (``"training"``, ``"the sweep"``).

    Raises:
        ValueError: the message says what to do (``--resume``, or another folder).
    """
    path = _as_folder(out)
    found = [name for name in results if (path / name).exists()]
    has_ckpt = (path / checkpoint).exists()
    if has_ckpt and not resume:
        raise ValueError(
            f"{path} already holds a run; pass --resume to continue it or another --out"
        )
    if found and not has_ckpt:
        raise ValueError(
            f"{path} holds {' and '.join(found)} but no {checkpoint} to resume from; {doing} "
            f"would overwrite them: move them away or choose another --out"
        )


def _as_folder(folder: str | os.PathLike) -> Path:
    """``folder`` as a path, refused if a file is in its place."""
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path} is a file, not a folder; choose another output folder (--out)")
    return path
