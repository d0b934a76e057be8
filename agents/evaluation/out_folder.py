"""What a sweep may do with an output folder: write into it, and start in one holding files it
did not record.

A sweep's ``config.json`` records the settings its ``curves.csv`` was made with; a folder with
``curves.csv`` (or ``overlap.csv``, ``oracle.csv``) but no ``config.json`` holds results of
unknown settings. It is refused, by the rule every training script applies
(:func:`agents.runs.locking.check_run_folder`), unless the user says what to do with it:

- ``"adopt"``: keep its finished runs as this sweep's, after checking what the files can show
  (the CSV columns are ``evaluate.py``'s, and each finished run of a dataset and method of this
  sweep has this sweep's labeled-set sizes: its budget, initial set and acquisition size);
- ``"overwrite"``: delete the sweep's files there (``config.json`` and the CSV logs) and start
  over, unless they are a recorded sweep of the same settings (then it resumes, so rerunning an
  ``--overwrite`` command after a kill does not delete its own finished runs).
"""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from agents.evaluation import methods, sweep_files
from agents.runs.files import append_csv, read_csv
from agents.runs.locking import check_run_folder
from agents.runs.write_errors import RunWriteError

if TYPE_CHECKING:
    from agents.evaluation.sweep import EvalConfig

#: What to do with sweep files that no ``config.json`` describes.
Existing = Literal["refuse", "adopt", "overwrite"]
EXISTING_CHOICES: tuple[str, ...] = ("refuse", "adopt", "overwrite")


def check_writable(folder: str | os.PathLike, flag: str = "--out") -> None:
    """Create ``folder`` if needed and check that a file can be written in it (before any work).

    Raises:
        ValueError: it cannot be created or written; the message names it and the reason.
    """
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ValueError(
            f"cannot write into {path} ({reason}); choose another {flag} or fix its permissions"
        ) from None


def append_sweep_rows(path: Path, fields: list[str], rows: list[dict[str, Any]]) -> None:
    """Append a finished run's rows (:func:`agents.runs.files.append_csv`).

    Raises:
        RunWriteError: the write failed (disk full, ``ulimit -f``); the message says that the
            runs finished before are kept and how to go on.
    """
    try:
        append_csv(path, fields, rows)
    except OSError as exc:
        raise RunWriteError(
            f"could not write {path} ({exc.strerror or type(exc).__name__}); the runs finished "
            f"before are kept and a line cut short is dropped when the sweep runs again: free "
            f"disk space (or raise the file-size limit, ulimit -f) and rerun the same command"
        ) from exc


def check_unrecorded_sweep(out: Path, cfg: EvalConfig, existing: Existing = "refuse") -> None:
    """Refuse, adopt or (for ``"overwrite"``) allow a folder whose sweep files have no
    ``config.json`` (see the module's docstring); a folder without such files always passes.

    Raises:
        ValueError: ``existing`` is ``"refuse"`` and the folder holds unrecorded sweep files,
            or ``"adopt"`` and they do not fit ``cfg``; the message says what to do.
    """
    if existing not in EXISTING_CHOICES:
        raise ValueError(f"existing must be one of {EXISTING_CHOICES}, got {existing!r}")
    files = (sweep_files.CURVES_CSV, sweep_files.OVERLAP_CSV, sweep_files.ORACLE_CSV)
    if existing == "overwrite" or (out / sweep_files.CONFIG_JSON).exists():
        return
    if existing == "refuse":
        try:
            check_run_folder(out, True, sweep_files.CONFIG_JSON, files, doing="the sweep")
        except ValueError as exc:
            raise ValueError(
                f"{exc}, or pass --adopt to keep its finished runs (only settings the files "
                f"show are checked) or --overwrite to delete them"
            ) from None
        return
    _check_adoptable(out, cfg, files)


def remove_sweep_files(out: Path) -> None:
    """Delete the sweep's own files in ``out`` (``--overwrite``); other files stay."""
    for name in (
        sweep_files.CONFIG_JSON,
        sweep_files.CURVES_CSV,
        sweep_files.OVERLAP_CSV,
        sweep_files.ORACLE_CSV,
    ):
        (out / name).unlink(missing_ok=True)


def _check_adoptable(out: Path, cfg: EvalConfig, files: tuple[str, ...]) -> None:
    """Raise unless the unrecorded files have ``evaluate.py``'s columns and labeled-set sizes."""
    headers = dict(
        zip(
            files, (sweep_files.CURVE_FIELDS, sweep_files.OVERLAP_FIELDS, sweep_files.ORACLE_FIELDS)
        )
    )
    for name, fields in headers.items():
        path = out / name
        if not path.exists() or path.stat().st_size == 0:
            continue
        with path.open(newline="") as fh:
            header = next(csv.reader(fh), [])
        if header != fields:
            raise ValueError(
                f"{path} was not written by evaluate.py (its columns are {header[:6]}...); "
                f"it cannot be adopted: move it away or pass --overwrite"
            )
    rows = read_csv(out / sweep_files.CURVES_CSV)
    done = sweep_files.finished_runs(rows)
    expected = {}
    for spec in cfg.specs:
        env = cfg.env.replace(**methods.method_env_overrides(spec))
        step = env.acquisition_size
        expected[spec.label] = list(range(env.initial_labeled, env.budget + 1, step))
    runs: dict[tuple[str, str, int], list[int]] = {}
    for r in rows:
        key = sweep_files.run_key(r)
        if key in done and key[0] in cfg.datasets and key[1] in expected:
            runs.setdefault(key, []).append(int(r["labeled"]))
    for key, labeled in sorted(runs.items()):
        if sorted(labeled) != expected[key[1]]:
            raise ValueError(
                f"{out / sweep_files.CURVES_CSV} holds run {key} with labeled-set sizes "
                f"{sorted(labeled)[:3]}...{sorted(labeled)[-1]}, but this sweep's are "
                f"{expected[key[1]][:3]}...{expected[key[1]][-1]} (another budget, initial set "
                f"or acquisition size): it cannot be adopted; use its settings or another --out"
            )
