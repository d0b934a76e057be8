"""Writes of a run's files that fail (a full disk, a file-size limit): one error that says what
survived and what to do, instead of PyTorch's or the OS's traceback.

Every such file is written to a temporary name and moved into place, so a failed write leaves
the previous version intact; :func:`write_atomically` removes the partial temporary file and
raises :class:`RunWriteError` saying so.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


class RunWriteError(OSError):
    """A run's file could not be written; its previous version is intact (see the message)."""


def write_atomically(
    path: Path,
    write: Callable[[Path], None],
    survives: str,
    tmp_suffix: str = ".tmp",
    then: str = "rerun with --resume",
) -> None:
    """``write(tmp)``, then move ``tmp`` to ``path``; on failure remove ``tmp``. The one atomic
    write of the project's files (a kill at any point leaves the previous version or the new).

    Args:
        path: The file to (re)place.
        write: Writes the new content to the path it is given.
        survives: What is intact when the write fails, for the message (e.g. "the checkpoint
            of round 3 is intact").
        tmp_suffix: Appended to ``path``'s name for the temporary file (writers that append
            their own extension, such as ``np.savez`` or SB3's ``save``, need it to end with
            that extension).
        then: What to do once space is freed, for the message.

    Raises:
        RunWriteError: the write or the move failed (``OSError``, or the ``RuntimeError`` that
            ``torch.save`` raises for a file it could not write in full).
    """
    tmp = path.with_name(path.name + tmp_suffix)
    try:
        write(tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:  # pragma: no cover - the partial file stays; it is never read
            pass
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        reason = " ".join(reason.split())[:120]
        raise RunWriteError(
            f"could not write {path} ({type(exc).__name__}: {reason}); {survives}: free disk "
            f"space (or raise the file-size limit, ulimit -f) and {then}"
        ) from exc
