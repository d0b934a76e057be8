"""Training curves of RL runs: the return SB3 logged along training, from a run's
``logs/progress-<start timestep>.csv`` files (one per start or resume), as a table and a figure."""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.figure import Figure

#: SB3's columns: the AL steps so far and the mean return of the last 100 episodes.
STEPS_COLUMN, RETURN_COLUMN = "time/total_timesteps", "rollout/ep_rew_mean"
#: The columns of training.csv (``run``: the run folder it was read from, as given).
TRAINING_FIELDS = ("agent", "run", "al_steps", "mean_return")
_PROGRESS = re.compile(r"^progress-(\d+)\.csv$")


def read_training_curve(run: str | os.PathLike) -> list[tuple[int, float]]:
    """``(AL steps, mean return of the last 100 episodes)`` along a run, in order.

    A resumed run has one progress file per start, named by the timestep it started from (its
    last checkpoint, saved after the update whose row was logged at that timestep); the rows an
    earlier file logged after a later file's start were lost to the kill and redone by the
    resume, so the later file's rows replace them. Rows without a return (before the first
    episode ended) and files without a header (a start killed before its first row) are
    skipped.

    Raises:
        ValueError: ``run`` has no ``logs/progress-*.csv`` (not a ``train_rl.py`` run folder),
            or a progress file lacks SB3's columns.
    """
    logs = Path(run) / "logs"
    files = sorted(
        (int(m.group(1)), path)
        for path in (logs.iterdir() if logs.is_dir() else ())
        if (m := _PROGRESS.match(path.name))
    )
    if not files:
        raise ValueError(
            f"{logs} has no progress-<timestep>.csv files; give a train_rl.py --out folder"
        )
    curve: list[tuple[int, float]] = []
    for i, (_, path) in enumerate(files):
        end = files[i + 1][0] if i + 1 < len(files) else math.inf
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None:
                continue
            missing = {STEPS_COLUMN, RETURN_COLUMN} - set(reader.fieldnames)
            if missing:
                raise ValueError(
                    f"{path} lacks SB3's columns {sorted(missing)}; is {run} a train_rl.py run?"
                )
            for row in reader:
                steps, ret = row[STEPS_COLUMN], row[RETURN_COLUMN]
                if steps and ret and int(float(steps)) <= end:
                    curve.append((int(float(steps)), float(ret)))
    return curve


def training_rows(
    curves: Mapping[str, Sequence[tuple[int, float]]], runs: Mapping[str, str | os.PathLike]
) -> list[dict[str, str]]:
    """The rows of training.csv, per agent (read from ``runs[agent]``) in order of AL steps."""
    return [
        {
            "agent": agent,
            "run": Path(runs[agent]).as_posix(),
            "al_steps": str(steps),
            "mean_return": f"{ret:.6f}",
        }
        for agent, curve in curves.items()
        for steps, ret in curve
    ]


def curves_from_rows(rows: Sequence[Mapping[str, str]]) -> dict[str, list[tuple[int, float]]]:
    """training.csv's rows back into curves (:func:`training_rows`' inverse, to 6 decimals)."""
    curves: dict[str, list[tuple[int, float]]] = {}
    for row in rows:
        curves.setdefault(row["agent"], []).append(
            (int(row["al_steps"]), float(row["mean_return"]))
        )
    return curves


def plot_training(
    curves: Mapping[str, Sequence[tuple[int, float]]],
    path: str | os.PathLike,
    title: str = "RL training",
) -> Path:
    """The mean return of the last 100 episodes against AL steps, one line per agent."""
    if not curves:
        raise ValueError("no training curves to plot")
    fig = Figure(figsize=(6.5, 4.0), layout="constrained")
    ax = fig.subplots()
    for i, (agent, curve) in enumerate(curves.items()):
        ax.plot([s for s, _ in curve], [r for _, r in curve], color=f"C{i}", label=agent)
    ax.set(
        xlabel="AL steps spent in training",
        ylabel="episode return (accuracy gain), mean of last 100",
        title=title,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    path = Path(path)
    fig.savefig(path, dpi=120)
    return path
