"""A sweep folder's files: their names and columns, the settings ``config.json`` records, the
finished runs of a (possibly killed) ``curves.csv``, and the merge of several sweep folders."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from agents.runs.files import changed_settings, file_sha256, read_csv, read_json, rewrite_csv
from iale_env import ALConfig

CURVES_CSV = "curves.csv"
OVERLAP_CSV = "overlap.csv"
ORACLE_CSV = "oracle.csv"
CONFIG_JSON = "config.json"


CURVE_FIELDS = [
    "dataset",
    "method",
    "seed",
    "step",
    "labeled",
    "test_accuracy",
    "scoring_accuracy",
    "step_seconds",
    "run_seconds",
    "pairing_key",
    "points",
]
OVERLAP_FIELDS = ["dataset", "method", "seed", "step", "labeled", "heuristic", "overlap"]
ORACLE_FIELDS = ["dataset", "method", "seed", "step", "labeled", "winner", "scores"]


def sweep_settings(env: ALConfig) -> dict[str, Any]:
    """The env settings a sweep records in ``config.json`` (all but the per-run dataset and
    where/how the runs compute)."""
    settings = dataclasses.asdict(env)
    for key in (
        "dataset",
        "data_dir",
        "device",
        "fit_mode",
        "cuda_graphs",
        "deterministic",
        "rewards",
        "test_every_step",
    ):
        settings.pop(key)
    settings["experts"] = list(settings["experts"])
    return settings


def file_digest(path: str | os.PathLike | None) -> str:
    """SHA-256 of a file's bytes (identifies a trained policy in a sweep)."""
    return file_sha256(path)  # type: ignore[arg-type]


def _same_policies(saved: dict[str, str], now: dict[str, str], where: object) -> dict[str, str]:
    """The union of two label -> policy-digest maps; a label bound to two files raises."""
    clash = sorted(label for label in set(saved) & set(now) if saved[label] != now[label])
    if clash:
        raise ValueError(
            f"{where} holds runs of {', '.join(clash)} with another policy file; name the new "
            f"policy's curve differently (LABEL=FAMILY:PATH) or use another --out"
        )
    return {**saved, **now}


# ---------------------------------------------------------------------- CSV log and resume
def finished_runs(rows: Iterable[dict[str, str]]) -> set[tuple[str, str, int]]:
    """``(dataset, method, seed)`` of every run whose points are all in ``rows``: as many rows
    as each of them says the run has, with distinct steps."""
    counts: dict[tuple[str, str, int], list[tuple[int, int]]] = {}
    for r in rows:
        try:
            key = (r["dataset"], r["method"], int(r["seed"]))
            counts.setdefault(key, []).append((int(r["points"]), int(r["step"])))
        except (KeyError, TypeError, ValueError):
            continue  # a torn row from a killed write
    return {
        key
        for key, pts in counts.items()
        if {p for p, _ in pts} == {len(pts)} and len({s for _, s in pts}) == len(pts)
    }


def run_key(row: dict[str, str]) -> tuple[str, str, int] | None:
    """``(dataset, method, seed)`` of a CSV row, or ``None`` for a torn row."""
    try:
        return (row["dataset"], row["method"], int(row["seed"]))
    except (KeyError, TypeError, ValueError):
        return None


def _torn_tail(path: Path) -> bool:
    """Whether ``path``'s last line lost its line ending (a write cut short)."""
    if not path.exists() or path.stat().st_size == 0:
        return False
    with path.open("rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) != b"\n"


def _clean_logs(out: Path) -> set[tuple[str, str, int]]:
    """Drop rows of unfinished runs (a kill mid-run or mid-write) and a torn last line; return
    the finished runs."""
    tables = {}
    for name in (CURVES_CSV, OVERLAP_CSV, ORACLE_CSV):
        rows = read_csv(out / name)
        torn = bool(rows) and _torn_tail(out / name)
        # a last line cut short is never counted and never appended to
        tables[name] = (rows[:-1] if torn else rows, torn)
    done = finished_runs(tables[CURVES_CSV][0])

    def keep(r: dict[str, str]) -> bool:
        return run_key(r) in done

    for name, fields in (
        (CURVES_CSV, CURVE_FIELDS),
        (OVERLAP_CSV, OVERLAP_FIELDS),
        (ORACLE_CSV, ORACLE_FIELDS),
    ):
        rows, torn = tables[name]
        kept = [r for r in rows if keep(r) and None not in r and None not in r.values()]
        if (out / name).exists() and (torn or len(kept) != len(rows)):
            rewrite_csv(out / name, fields, kept)
    return done


def sweep_record(
    settings: dict[str, Any], policies: dict[str, str], classifier_transfer: bool
) -> dict[str, Any]:
    """A sweep folder's ``config.json``: its env settings, its policies' digests by label and,
    only where a policy ran on another classifier's states than it was trained on,
    ``"classifier_transfer": true`` (so that other sweeps' files stay as they were)."""
    record: dict[str, Any] = {"env": settings, "policies": policies}
    if classifier_transfer:
        record["classifier_transfer"] = True
    return record


def merge_sweeps(sources: Sequence[str | os.PathLike], out_dir: str | os.PathLike) -> Path:
    """Merge the finished runs of several sweep folders into ``out_dir`` (e.g. sweeps that ran
    in parallel, one per dataset or method group).

    All sources (and ``out_dir``, if it already holds a sweep) must have the same env settings
    (``config.json``). A (dataset, method, seed) run found in two places must have identical
    rows there (a repeated merge), else ``ValueError``: a run is never counted twice and never
    silently replaced. Unfinished runs are left out. Returns the merged folder.
    """
    out = Path(out_dir)
    folders = [Path(s) for s in sources]
    if (out / CURVES_CSV).exists():
        folders = [out, *[f for f in folders if f.resolve() != out.resolve()]]
    configs: dict[Path, dict[str, Any]] = {}
    policies: dict[str, str] = {}
    transfer = False  # a policy ran on another classifier's states in some source
    for folder in folders:
        path = folder / CONFIG_JSON
        if not path.exists():
            raise ValueError(
                f"{folder} is not a sweep folder (no {CONFIG_JSON}); give evaluate.py --out folders"
            )
        full = read_json(path)
        configs[folder] = full["env"]
        policies = _same_policies(policies, full.get("policies", {}), folder)
        transfer = transfer or bool(full.get("classifier_transfer"))
    settings = configs[folders[0]]
    defaults = {"env": sweep_settings(ALConfig())}  # settings a later version added
    differ = [
        str(f)
        for f, c in configs.items()
        if changed_settings({"env": settings}, {"env": c}, defaults)
        or changed_settings({"env": c}, {"env": settings}, defaults)
    ]
    if differ:
        raise ValueError(
            f"sweeps with other env settings than {folders[0]} cannot be merged: {differ}"
        )
    names = (CURVES_CSV, OVERLAP_CSV, ORACLE_CSV)
    merged: dict[tuple[str, str, int], tuple[Path, dict[str, list[dict[str, str]]]]] = {}
    for folder in folders:
        tables = {name: read_csv(folder / name) for name in names}
        done = finished_runs(tables[CURVES_CSV])
        order = dict.fromkeys(run_key(r) for r in tables[CURVES_CSV])  # runs in file order
        runs: dict[tuple[str, str, int], dict[str, list[dict[str, str]]]] = {
            run: {name: [] for name in names} for run in order if run in done
        }
        for name, rows in tables.items():
            for r in rows:
                key = run_key(r)
                if key in runs:
                    runs[key][name].append(r)
        for key, rows in runs.items():
            if key in merged and merged[key][1][CURVES_CSV] != rows[CURVES_CSV]:
                raise ValueError(
                    f"run {key} differs between {merged[key][0]} and {folder}; keep one of them"
                )
            merged.setdefault(key, (folder, rows))
    out.mkdir(parents=True, exist_ok=True)
    (out / CONFIG_JSON).write_text(json.dumps(sweep_record(settings, policies, transfer), indent=2))
    for name, fields in zip(names, (CURVE_FIELDS, OVERLAP_FIELDS, ORACLE_FIELDS)):
        rewrite_csv(out / name, fields, [r for _, rows in merged.values() for r in rows[name]])
    return out
