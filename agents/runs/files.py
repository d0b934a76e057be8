"""A run folder's small files: JSON read with errors that name the file, CSV logs appended
durably and rewritten atomically, and the one rule for what a resumed run must match
(:func:`changed_settings`)."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from agents.runs.write_errors import write_atomically


#: The settings file every training command writes into its run folder, beside ``policy.zip``.
RUN_CONFIG = "config.json"
#: The folder of a training run that keeps its policy along training (``policy-<AL steps>.zip``).
SNAPSHOTS = "snapshots"


class _Saveable(Protocol):
    def save(self, path: str) -> None: ...


def snapshot_due(before: int, after: int, every: int | None) -> bool:
    """Whether a run that went from ``before`` to ``after`` AL steps passed a multiple of
    ``every`` (``None``: no snapshots): its policy is then kept as a snapshot."""
    return every is not None and after // every > before // every


def save_snapshot(policy: _Saveable, out_dir: str | os.PathLike, steps: int) -> Path:
    """Atomically write ``policy`` as ``out_dir/snapshots/policy-<steps>.zip``; return its path.

    Training writes it before the checkpoint of the same update or round, so a kill between
    the two leaves a snapshot that the resumed run writes again (the same policy), never a
    checkpoint past a missing snapshot.
    """
    folder = Path(out_dir) / SNAPSHOTS
    folder.mkdir(exist_ok=True)
    path = folder / f"policy-{steps}.zip"
    write_atomically(
        path,
        lambda tmp: policy.save(str(tmp)),
        "the run's checkpoint is intact",
        tmp_suffix=".tmp.zip",
    )
    return path


def run_config_of(policy: Path) -> Path:
    """The ``config.json`` of the run that trained ``policy``: beside it, or beside the
    :data:`SNAPSHOTS` folder that a training run keeps its policies along training in."""
    beside = policy.with_name(RUN_CONFIG)
    if not beside.is_file() and policy.parent.name == SNAPSHOTS:
        return policy.parent.with_name(RUN_CONFIG)
    return beside


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes (what identifies a policy file in run records)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON object in ``path``.

    Raises:
        ValueError: the file is unreadable, truncated or not a JSON object; the message names it
            and says what to do.
    """
    path = Path(path)
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"{path} cannot be read ({type(exc).__name__}: {exc}); it is truncated or "
            f"corrupted: restore it from a copy, or move the folder away to start over"
        ) from None
    if not isinstance(value, dict):
        raise ValueError(f"{path} holds {type(value).__name__}, not a JSON object")
    return value


def read_csv(path: str | os.PathLike) -> list[dict[str, str]]:
    """Rows of a CSV file with a header (``[]`` if it does not exist)."""
    path = Path(path)
    if not path.exists():
        return []
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def finished_rows(path: str | os.PathLike) -> list[dict[str, str]]:
    """The CSV's rows (:func:`read_csv`), without a last line cut short by a kill."""
    return [r for r in read_csv(path) if None not in r.values()]


def whole_episodes(rows: list[dict[str, str]], per_episode: int) -> list[dict[str, str]]:
    """The rows of the episodes (``episode_seed``) that have all their ``per_episode`` rows: a
    resumed measurement keeps these and runs the others again."""
    counts = Counter(r["episode_seed"] for r in rows)
    return [r for r in rows if counts[r["episode_seed"]] == per_episode]


def append_csv(path: Path, fields: Sequence[str], rows: list[dict[str, Any]]) -> None:
    """Append ``rows`` to ``path`` (the header first if the file is new or empty), flushed to
    disk before returning, so a kill loses no row that was reported written."""
    new = not path.exists() or path.stat().st_size == 0
    with path.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        if new:
            writer.writeheader()
        writer.writerows(rows)
        fh.flush()
        os.fsync(fh.fileno())


def rewrite_csv(
    path: Path, fields: Sequence[str], rows: list[dict[str, Any]], then: str = "rerun"
) -> None:
    """Replace ``path`` with a header and ``rows``, atomically (a kill leaves the old file);
    fields a row lacks are written empty. A failed write is a
    :class:`~agents.runs.write_errors.RunWriteError` that ends with ``then``."""

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields, restval="")
            writer.writeheader()
            writer.writerows(rows)

    write_atomically(path, write, f"the previous {path.name} is intact", then=then)


#: Settings a resumed run may change: where and how fast it computes, how long it runs and
#: which policies along the way it keeps. Everything else (the protocol, the seeds, the
#: method's settings) must match.
RESUMABLE_CHANGES = frozenset(
    {"device", "deterministic", "precision", "cuda_graphs", "fit_mode", "vectorize", "threads"}
    | {"timesteps", "episodes", "snapshot_every", "checkpoint_every"}
    # evaluations a run skips, not results: M's reward and test accuracy between episode ends
    | {"rewards", "test_every_step"}
)


def changed_settings(
    saved: dict[str, Any], now: dict[str, Any], defaults: dict[str, dict[str, Any]] | None = None
) -> list[str]:
    """The settings of ``now`` that a resume of the run ``saved`` describes may not take.

    Both map section names (``"env"``, ``"dagger"``, ...) to dicts of settings (or to plain
    values, such as the method name). :data:`RESUMABLE_CHANGES` are never compared. A setting
    that ``saved`` lacks (added in a later version) counts as its default from ``defaults``, so
    an older run resumes with it unless it is set to something else; without a default it is
    not compared. Returns ``"section.key"`` names, empty when the resume may go on.
    """
    defaults = defaults or {}
    changed = []
    for section, values in now.items():
        old = saved.get(section)
        if not isinstance(values, dict):
            if section in saved and _jsonable(old) != _jsonable(values):
                changed.append(section)
            continue
        if not isinstance(old, dict):
            old = {}
        base = defaults.get(section, {})
        for key, value in values.items():
            if key in RESUMABLE_CHANGES or (key not in old and key not in base):
                continue
            reference = old[key] if key in old else base[key]
            if _jsonable(reference) != _jsonable(value):
                changed.append(f"{section}.{key}")
    return changed


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))
