"""Sample efficiency of training: the evaluation accuracy of a learner's policies kept along its
training, against the AL steps each had spent (imitation's curve against RL's).

A policy kept after ``S`` AL steps of training by agent ``A`` is evaluated under the method label
``A_S`` (``dagger_90``, ``ppo_5040``: ``evaluate.py --methods ppo_5040=ppo:RUN/snapshots/
policy-5040.zip``). :func:`efficiency_points` turns the sweeps' curves into one point per dataset,
agent and step count: the mean-curve accuracy over seeds with its 95% interval, and the paired
per-seed differences to random and to the best heuristic of the dataset (the same statistics as
:mod:`agents.evaluation.summary`, whose ``mean_accuracy`` and ``vs_best_heuristic`` rows they
are).
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from matplotlib.figure import Figure

from agents.evaluation.summary import format_estimate, summarize

#: A method label of a policy kept along training: ``<agent>_<AL steps>``.
STEP_LABEL = re.compile(r"^(?P<agent>.+)_(?P<steps>\d+)$")


@dataclass(frozen=True)
class EfficiencyPoint:
    """One agent's policy after ``steps`` AL steps of training, evaluated on ``dataset``.

    ``mean_accuracy``/``ci95``: the mean-curve accuracy over ``seeds`` and its 95% interval;
    ``vs_random``/``vs_best``: the paired per-seed differences to random and to the dataset's
    best heuristic (``best_heuristic``), with their 95% intervals (``nan`` where absent).
    """

    dataset: str
    agent: str
    steps: int
    method: str
    seeds: int
    mean_accuracy: float
    ci95: float
    vs_random: float
    vs_random_ci95: float
    vs_best: float
    vs_best_ci95: float
    best_heuristic: str


@dataclass(frozen=True)
class Reference:
    """A method drawn as a horizontal line: its mean-curve accuracy and 95% interval."""

    dataset: str
    method: str
    seeds: int
    mean_accuracy: float
    ci95: float


def rename_methods(
    rows: Iterable[dict[str, str]], aliases: Mapping[str, str]
) -> list[dict[str, str]]:
    """``rows`` with the methods of ``aliases`` renamed (``{"iale_all7": "dagger_720"}``: a
    policy evaluated under another label joins its agent's curve)."""
    return [{**r, "method": aliases.get(r["method"], r["method"])} for r in rows]


def collect_runs(
    tables: Sequence[tuple[str, Iterable[dict[str, str]]]],
    aliases: Mapping[str, str] | None = None,
    datasets: Sequence[str] | None = None,
) -> list[dict[str, str]]:
    """The finished runs of several sweeps' ``curves.csv`` rows (``(source name, rows)``), with
    the methods of ``aliases`` renamed, restricted to ``datasets`` (``None``: all) and to the
    methods a sample-efficiency table reads (random, the heuristics, ``<agent>_<steps>``).

    Raises ``ValueError`` when one run (dataset, method, seed) differs between two sources, or
    when runs of one dataset and seed are not paired (other pairing keys: sweeps with other
    settings, such as another scoring set).
    """
    from agents.evaluation.summary import is_heuristic
    from agents.evaluation.sweep_files import CURVE_FIELDS, finished_runs, run_key

    runs: dict[tuple[str, str, int], tuple[str, list[dict[str, str]]]] = {}
    for name, rows in tables:
        rows = rename_methods(rows, aliases or {})
        done = finished_runs(rows)
        own: dict[tuple[str, str, int], list[dict[str, str]]] = defaultdict(list)
        for r in rows:
            key = run_key(r)
            if key not in done:  # an unfinished run, or a torn row (key None)
                continue
            dataset, method, _ = key
            read = method == "random" or is_heuristic(method) or STEP_LABEL.match(method)
            if read and (datasets is None or dataset in datasets):
                own[key].append({f: r.get(f, "") for f in CURVE_FIELDS})
        for key, run in own.items():
            if key in runs and runs[key][1] != run:
                raise ValueError(
                    f"run {key} differs between {runs[key][0]} and {name}; give one of them"
                )
            runs.setdefault(key, (name, run))
    pairing: dict[tuple[str, int], tuple[str, str]] = {}
    for (dataset, method, seed), (name, run) in runs.items():
        key = run[0]["pairing_key"]
        if not key:  # a sweep older than the pairing key: nothing to check
            continue
        seen = pairing.setdefault((dataset, seed), (key, name))
        if seen[0] != key:
            raise ValueError(
                f"{dataset} seed {seed} is not paired between {seen[1]} and {name} ({method}): "
                "other pairing keys, so other settings (for example --scoring-size); "
                "evaluate every method with the same protocol"
            )
    return [r for _, run in runs.values() for r in run]


def efficiency_points(
    rows: Iterable[dict[str, str]],
) -> tuple[list[EfficiencyPoint], list[Reference]]:
    """The points of every ``<agent>_<steps>`` method of ``rows`` (``curves.csv`` rows), and the
    references of each dataset (random and its best heuristic), sorted by dataset, agent and
    steps."""
    summary = summarize(rows, checkpoints=())
    by_key = {(r.dataset, r.method, r.metric): r for r in summary}
    points, refs = [], []
    for dataset in dict.fromkeys(r.dataset for r in summary):
        best = next(
            (
                r.reference
                for r in summary
                if r.dataset == dataset and r.metric == "vs_best_heuristic"
            ),
            "",
        )
        for method in ("random", best):
            acc = by_key.get((dataset, method, "mean_accuracy"))
            if method and acc is not None:
                refs.append(Reference(dataset, method, acc.n, acc.mean, acc.ci95))
        for r in summary:
            match = STEP_LABEL.match(r.method)
            if r.dataset != dataset or r.metric != "mean_accuracy" or match is None:
                continue
            vs_best = by_key.get((dataset, r.method, "vs_best_heuristic"))
            points.append(
                EfficiencyPoint(
                    dataset,
                    match["agent"],
                    int(match["steps"]),
                    r.method,
                    r.n,
                    r.mean,
                    r.ci95,
                    r.diff_mean,
                    r.diff_ci95,
                    vs_best.mean if vs_best else math.nan,
                    vs_best.ci95 if vs_best else math.nan,
                    best,
                )
            )
    points.sort(key=lambda p: (p.dataset, p.agent, p.steps))
    shown = {p.dataset for p in points}
    return points, [r for r in refs if r.dataset in shown]


def _datasets(points: Sequence[EfficiencyPoint]) -> list[str]:
    """The datasets of ``points`` in order (:func:`efficiency_points` keeps the references of
    these only)."""
    return list(dict.fromkeys(p.dataset for p in points))


def write_efficiency_csv(points: Sequence[EfficiencyPoint], path: str | os.PathLike) -> Path:
    """Write the points as CSV (one row per point, the fields of :class:`EfficiencyPoint`)."""
    path = Path(path)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[f.name for f in fields(EfficiencyPoint)])
        writer.writeheader()
        for p in points:
            writer.writerow(
                {k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in asdict(p).items()}
            )
    return path


def efficiency_markdown(points: Sequence[EfficiencyPoint], refs: Sequence[Reference]) -> str:
    """One table per dataset: each agent's policies by training AL steps, with the references."""
    lines = [
        "# Sample efficiency of training",
        "",
        "Mean-curve accuracy of each agent's policy after the given number of AL steps of "
        "training (mean ± 95% CI over seeds), and its paired per-seed difference to random and "
        "to the dataset's best heuristic.",
    ]
    for dataset in _datasets(points):
        own = [p for p in points if p.dataset == dataset]
        best = next((p.best_heuristic for p in own), "")
        lines += [
            "",
            f"## {dataset}",
            "",
            "| reference | seeds | mean acc |",
            "|---|---:|---:|",
        ]
        for r in refs:
            if r.dataset == dataset:
                lines.append(
                    f"| {r.method} | {r.seeds} | {format_estimate(r.mean_accuracy, r.ci95)} |"
                )
        lines += [
            "",
            f"| agent | AL steps | seeds | mean acc | Δ random | Δ best heuristic ({best}) |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for p in own:
            lines.append(
                f"| {p.agent} | {p.steps} | {p.seeds} | "
                f"{format_estimate(p.mean_accuracy, p.ci95)} | "
                f"{format_estimate(p.vs_random, p.vs_random_ci95)} | "
                f"{format_estimate(p.vs_best, p.vs_best_ci95)} |"
            )
    return "\n".join(lines) + "\n"


def plot_efficiency(
    points: Sequence[EfficiencyPoint], refs: Sequence[Reference], path: str | os.PathLike
) -> Path:
    """One panel per dataset: mean-curve accuracy (95% error bars) against the AL steps spent in
    training (log scale), one line per agent; random and the best heuristic as bands."""
    datasets = _datasets(points)
    if not datasets:
        raise ValueError("no <agent>_<steps> methods to plot")
    fig = Figure(figsize=(5.5 * len(datasets), 4.5), layout="constrained")
    axes = fig.subplots(1, len(datasets), squeeze=False)[0]
    agents = list(dict.fromkeys(p.agent for p in points))
    for ax, dataset in zip(axes, datasets):
        for i, r in enumerate(x for x in refs if x.dataset == dataset):
            color = f"C{len(agents) + i}"
            ax.axhline(r.mean_accuracy, color=color, linestyle="--", linewidth=1, label=r.method)
            low, high = r.mean_accuracy - r.ci95, r.mean_accuracy + r.ci95
            if not math.isnan(r.ci95):
                ax.axhspan(low, high, color=color, alpha=0.12, linewidth=0)
        series: dict[str, list[EfficiencyPoint]] = defaultdict(list)
        for p in points:
            if p.dataset == dataset:
                series[p.agent].append(p)
        for agent, pts in series.items():
            ax.errorbar(
                [p.steps for p in pts],
                [p.mean_accuracy for p in pts],
                yerr=[0.0 if math.isnan(p.ci95) else p.ci95 for p in pts],
                color=f"C{agents.index(agent)}",
                marker="o",
                capsize=3,
                label=agent,
            )
        ax.set_xscale("log")
        ax.set(
            xlabel="AL steps spent in training",
            ylabel="mean-curve test accuracy",
            title=dataset,
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    path = Path(path)
    fig.savefig(path, dpi=120)
    return path
