"""Summary statistics of learning curves: means and 95% intervals over seeds, paired differences.

Per run (one dataset, method and seed) the metrics are:

- ``mean_accuracy``: the area under the learning curve divided by its length (trapezoid rule
  over the labeled-set sizes, so curves with other acquisition sizes compare fairly);
- ``acc@L``: test accuracy at L labels (linear interpolation between measured points) for every
  checkpoint L inside the curve, and at the final budget;
- ``labels_to_target``: the first labeled-set size whose accuracy reaches the target (runs that
  never reach it are counted separately).

Over seeds each metric gets its mean and the half-width of a 95% Student-t interval, and the
paired difference to the baseline (``random``): the same statistics of the per-seed differences,
which removes the split-to-split variance that pairing shares.

Two comparisons of mean accuracy are added for every method other than random, the oracle and
the best heuristic:

- ``vs_best_heuristic``: the paired difference to the best heuristic of the dataset (the
  sub-pool or pool heuristic with the highest mean accuracy; named in ``reference``);
- ``oracle_share``: the share of the best-expert oracle's gain over random that the method
  captures, ``(method - random) / (oracle - random)`` on the paired per-seed differences, with
  Fieller's 95% interval for a ratio of means (``low``/``high``; empty when the oracle's gain is
  not significantly above 0, where the ratio has no bounded interval).
"""

from __future__ import annotations

import csv
import math
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from agents.evaluation.metrics import (
    Curve,
    curves_from_rows,
    fieller_ratio,
    mean_ci,
    run_metrics,
)

CHECKPOINTS = (100, 200, 500, 1000)
SUMMARY_FIELDS = [
    "dataset",
    "method",
    "metric",
    "n",
    "mean",
    "ci95",
    "diff_mean",
    "diff_ci95",
    "n_pairs",
    "target",
    "reference",
    "low",
    "high",
]
#: The method label of the best-expert oracle (``evaluate.py --methods oracle``).
ORACLE = "oracle"


@dataclass(frozen=True)
class SummaryRow:
    """One metric of one method on one dataset, over seeds (``nan`` where undefined).

    For ``vs_best_heuristic`` and ``oracle_share`` rows, ``mean``/``ci95`` are the comparison's
    estimate, ``reference`` the method compared with, and ``low``/``high`` the interval bounds
    (``oracle_share``, whose interval is not symmetric).
    """

    dataset: str
    method: str
    metric: str
    n: int
    mean: float
    ci95: float
    diff_mean: float = math.nan
    diff_ci95: float = math.nan
    n_pairs: int = 0
    target: float = math.nan
    reference: str = ""
    low: float = math.nan
    high: float = math.nan


def is_heuristic(method: str) -> bool:
    """Whether a method label names a heuristic (``entropy``, ``mc_dropout@pool``, ...) other
    than random: the candidates for "best heuristic"."""
    from iale_env.experts import EXPERTS

    name, _, scope = method.partition("@")
    return name in EXPERTS and name != "random" and scope in ("", "pool")


def summarize(
    rows: Iterable[dict[str, str]],
    checkpoints: Sequence[int] = CHECKPOINTS,
    target: float | None = None,
    baseline: str = "random",
) -> list[SummaryRow]:
    """Per dataset, method and metric: mean, 95% CI, and the paired difference to ``baseline``.

    ``target`` is the accuracy of ``labels_to_target``; ``None`` uses, per dataset, the
    baseline's mean final accuracy ("labels needed to match random at the full budget"), and
    skips the metric when the baseline is absent.
    """
    curves = curves_from_rows(rows)
    by_dataset: dict[str, list[Curve]] = defaultdict(list)
    for c in curves:
        by_dataset[c.dataset].append(c)
    out: list[SummaryRow] = []
    for dataset, group in by_dataset.items():
        base = [c for c in group if c.method == baseline]
        goal = target
        if goal is None and base:
            goal = float(np.mean([c.accuracy[-1] for c in base]))
        per_run = {(c.method, c.seed): run_metrics(c, checkpoints, goal) for c in group}
        methods = list(dict.fromkeys(c.method for c in group))
        for method in methods:
            seeds = sorted(s for m, s in per_run if m == method)
            names = list(dict.fromkeys(k for s in seeds for k in per_run[(method, s)]))
            for metric in names:
                values = [per_run[(method, s)].get(metric, math.nan) for s in seeds]
                mean, ci = mean_ci(values)
                diffs = [
                    per_run[(method, s)].get(metric, math.nan)
                    - per_run[(baseline, s)].get(metric, math.nan)
                    for s in seeds
                    if (baseline, s) in per_run and method != baseline
                ]
                diffs = [d for d in diffs if not math.isnan(d)]
                d_mean, d_ci = mean_ci(diffs)
                out.append(
                    SummaryRow(
                        dataset,
                        method,
                        metric,
                        sum(not math.isnan(v) for v in values),
                        mean,
                        ci,
                        d_mean,
                        d_ci,
                        len(diffs),
                        goal if metric == "labels_to_target" and goal is not None else math.nan,
                    )
                )
        out += _comparisons(dataset, methods, per_run, baseline)
    return out


def _comparisons(
    dataset: str,
    methods: list[str],
    per_run: dict[tuple[str, int], dict[str, float]],
    baseline: str,
) -> list[SummaryRow]:
    """The ``vs_best_heuristic`` and ``oracle_share`` rows of one dataset (mean accuracy)."""

    def values(method: str) -> dict[int, float]:
        return {s: m["mean_accuracy"] for (name, s), m in per_run.items() if name == method}

    heuristics = [m for m in methods if is_heuristic(m)]
    best = max(heuristics, key=lambda m: np.mean(list(values(m).values())), default=None)
    base, oracle = values(baseline), values(ORACLE)
    rows = []
    for method in methods:
        if method in (baseline, ORACLE):
            continue
        own = values(method)
        if best is not None and method != best:
            ref = values(best)
            diffs = [own[s] - ref[s] for s in sorted(own) if s in ref]
            mean, ci = mean_ci(diffs)
            rows.append(
                SummaryRow(
                    dataset, method, "vs_best_heuristic", len(diffs), mean, ci, reference=best
                )
            )
        seeds = sorted(s for s in own if s in base and s in oracle)
        if seeds:
            ratio, low, high = fieller_ratio(
                [own[s] - base[s] for s in seeds], [oracle[s] - base[s] for s in seeds]
            )
            rows.append(
                SummaryRow(
                    dataset,
                    method,
                    "oracle_share",
                    len(seeds),
                    ratio,
                    math.nan,
                    reference=ORACLE,
                    low=low,
                    high=high,
                )
            )
    return rows


def write_summary_csv(summary: Sequence[SummaryRow], path: str | os.PathLike) -> Path:
    """Write the summary in long form (one row per dataset, method and metric)."""
    path = Path(path)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=SUMMARY_FIELDS)
        writer.writeheader()
        for row in summary:
            writer.writerow({k: _fmt(v) for k, v in asdict(row).items()})
    return path


def _fmt(value: object) -> object:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return value


def format_estimate(mean: float, ci: float, digits: int = 3) -> str:
    """``mean ± ci`` at ``digits`` decimals (``–`` for an undefined mean, no ``±`` without a CI)."""
    if math.isnan(mean):
        return "–"
    if math.isnan(ci):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {ci:.{digits}f}"


def summary_markdown(summary: Sequence[SummaryRow], overlap: Sequence[OverlapRow] = ()) -> str:
    """Markdown tables, one per dataset: mean ± 95% CI of every metric, paired Δ to random, the
    comparisons with the best heuristic and the oracle, and the learned policies' overlap with
    the heuristics (:func:`summarize_overlap`)."""
    lines = ["# Summary", ""]
    lines.append(
        "Mean ± 95% CI over seeds (Student t). `mean acc` = area under the learning curve / "
        "its length; `Δ random` = paired per-seed difference to random, mean ± 95% CI; "
        "`labels to target` = first labeled-set size reaching the target (mean over the seeds "
        "that reach it, with their count)."
    )
    datasets = list(dict.fromkeys(r.dataset for r in summary))
    for dataset in datasets:
        rows = [r for r in summary if r.dataset == dataset and r.metric not in _COMPARISONS]
        metrics = list(dict.fromkeys(r.metric for r in rows))
        acc_metrics = sorted((m for m in metrics if m.startswith("acc@")), key=lambda m: int(m[4:]))
        final = acc_metrics[-1] if acc_metrics else None
        target = next((r.target for r in rows if r.metric == "labels_to_target"), math.nan)
        header = ["method", "seeds", "mean acc", "Δ random (mean acc)", *acc_metrics]
        if final:
            header.append(f"Δ random ({final})")
        if not math.isnan(target):
            header.append(f"labels to {target:.3f}")
        lines += ["", f"## {dataset}", "", "| " + " | ".join(header) + " |"]
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
        for method in dict.fromkeys(r.method for r in rows):
            m = {r.metric: r for r in rows if r.method == method}
            mean_row = m["mean_accuracy"]
            cells = [
                method,
                str(mean_row.n),
                format_estimate(mean_row.mean, mean_row.ci95),
                format_estimate(mean_row.diff_mean, mean_row.diff_ci95),
            ]
            cells += [format_estimate(m[a].mean, m[a].ci95) if a in m else "–" for a in acc_metrics]
            if final:
                r = m.get(final)
                cells.append(format_estimate(r.diff_mean, r.diff_ci95) if r else "–")
            if not math.isnan(target):
                r = m.get("labels_to_target")
                if r is None or r.n == 0:
                    cells.append(f"not reached (0/{mean_row.n})")
                else:
                    cells.append(f"{format_estimate(r.mean, r.ci95, 0)} ({r.n}/{mean_row.n})")
            lines.append("| " + " | ".join(cells) + " |")
        lines += _comparison_table([r for r in summary if r.dataset == dataset])
        lines += _overlap_table([r for r in overlap if r.dataset == dataset])
    return "\n".join(lines) + "\n"


_COMPARISONS = ("vs_best_heuristic", "oracle_share")


@dataclass(frozen=True)
class OverlapRow:
    """How much a learned policy's picks overlap a heuristic's on the same states (Fig. 5).

    ``mean``/``ci95``: over seeds, of each seed's mean overlap over its AL steps (the share of
    the policy's k picks that the heuristic also picks; random's is about k / n).
    """

    dataset: str
    method: str
    heuristic: str
    n: int
    mean: float
    ci95: float


def summarize_overlap(rows: Iterable[dict[str, str]]) -> list[OverlapRow]:
    """Per dataset, learned method and heuristic: the mean overlap of ``overlap.csv`` rows."""
    per_seed: dict[tuple[str, str, str], dict[int, list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for r in rows:
        key = (r["dataset"], r["method"], r["heuristic"])
        per_seed[key][int(r["seed"])].append(float(r["overlap"]))
    out = []
    for (dataset, method, heuristic), seeds in per_seed.items():
        mean, ci = mean_ci([float(np.mean(v)) for _, v in sorted(seeds.items())])
        out.append(OverlapRow(dataset, method, heuristic, len(seeds), mean, ci))
    return out


def _overlap_table(rows: Sequence[OverlapRow]) -> list[str]:
    """One row per learned method, one column per heuristic."""
    if not rows:
        return []
    heuristics = list(dict.fromkeys(r.heuristic for r in rows))
    cell = {(r.method, r.heuristic): r for r in rows}
    lines = [
        "",
        "Overlap of each learned policy's picks with each heuristic's on the same states (share "
        "of its k picks, mean over the AL steps, then mean ± 95% CI over seeds; Fig. 5):",
        "",
        "| method | seeds | " + " | ".join(heuristics) + " |",
        "|---|---:|" + "---:|" * len(heuristics),
    ]
    for method in dict.fromkeys(r.method for r in rows):
        n = max(r.n for r in rows if r.method == method)
        cells = [
            format_estimate(cell[(method, h)].mean, cell[(method, h)].ci95)
            if (method, h) in cell
            else "–"
            for h in heuristics
        ]
        lines.append(f"| {method} | {n} | " + " | ".join(cells) + " |")
    return lines


def _comparison_table(rows: Sequence[SummaryRow]) -> list[str]:
    """Mean accuracy of each method against random, the best heuristic and the oracle."""
    comp = {(r.method, r.metric): r for r in rows if r.metric in _COMPARISONS}
    if not comp:
        return []
    best = next((r.reference for r in rows if r.metric == "vs_best_heuristic"), "")
    by_metric = {(r.method, r.metric): r for r in rows}
    methods = list(dict.fromkeys(m for m, _ in comp))
    lines = [
        "",
        f"Mean accuracy against random, the best heuristic ({best or 'none'}) and the oracle "
        "(share of the oracle's gain over random, Fieller 95% interval; '–' = unbounded):",
        "",
        "| method | Δ random | Δ best heuristic | share of oracle gain |",
        "|---|---:|---:|---:|",
    ]
    for method in methods:
        lines.append("| " + " | ".join([method, *comparison_cells(by_metric, method)]) + " |")
    return lines


def comparison_cells(rows: Mapping[tuple[str, str], SummaryRow], method: str) -> list[str]:
    """``method``'s mean accuracy against random, the best heuristic and the oracle, as table
    cells: paired Δ random, Δ best heuristic, share of the oracle's gain (``rows``: one
    dataset's summary rows by ``(method, metric)``)."""
    acc, vs_best = rows.get((method, "mean_accuracy")), rows.get((method, "vs_best_heuristic"))
    return [
        format_estimate(acc.diff_mean, acc.diff_ci95) if acc else "–",
        format_estimate(vs_best.mean, vs_best.ci95) if vs_best else "–",
        format_share(rows.get((method, "oracle_share"))),
    ]


def format_share(share: SummaryRow | None) -> str:
    """An ``oracle_share`` row as ``mean [low, high]`` (``–`` where undefined or unbounded)."""
    if share is None or math.isnan(share.mean):
        return "–"
    if math.isnan(share.low):
        return f"{share.mean:.2f} [–]"
    return f"{share.mean:.2f} [{share.low:.2f}, {share.high:.2f}]"
