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
from scipy import stats

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
class Curve:
    """One run's learning curve."""

    dataset: str
    method: str
    seed: int
    labeled: np.ndarray
    accuracy: np.ndarray


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


def curves_from_rows(rows: Iterable[dict[str, str]]) -> list[Curve]:
    """Group ``curves.csv`` rows into curves sorted by labeled-set size."""
    points: dict[tuple[str, str, int], list[tuple[int, float]]] = defaultdict(list)
    for r in rows:
        points[(r["dataset"], r["method"], int(r["seed"]))].append(
            (int(r["labeled"]), float(r["test_accuracy"]))
        )
    out = []
    for (dataset, method, seed), pts in points.items():
        pts.sort()
        lab, acc = zip(*pts)
        out.append(Curve(dataset, method, seed, np.array(lab), np.array(acc)))
    return out


def mean_accuracy(labeled: np.ndarray, accuracy: np.ndarray) -> float:
    """Area under the learning curve divided by its length (trapezoid rule)."""
    if len(labeled) == 1:
        return float(accuracy[0])
    area = np.sum((accuracy[1:] + accuracy[:-1]) / 2 * np.diff(labeled))
    return float(area / (labeled[-1] - labeled[0]))


def accuracy_at(labeled: np.ndarray, accuracy: np.ndarray, at: int) -> float:
    """Accuracy at ``at`` labels, linearly interpolated; ``nan`` outside the curve."""
    if not labeled[0] <= at <= labeled[-1]:
        return math.nan
    return float(np.interp(at, labeled, accuracy))


def labels_to_target(labeled: np.ndarray, accuracy: np.ndarray, target: float) -> float:
    """The first labeled-set size with accuracy >= ``target`` (``nan`` if never reached)."""
    hits = np.flatnonzero(accuracy >= target)
    return float(labeled[hits[0]]) if len(hits) else math.nan


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of the Student-t confidence interval (``nan`` for fewer than 2)."""
    x = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    if len(x) == 0:
        return math.nan, math.nan
    if len(x) < 2:
        return float(x.mean()), math.nan
    sem = x.std(ddof=1) / math.sqrt(len(x))
    return float(x.mean()), float(stats.t.ppf(0.5 + confidence / 2, len(x) - 1) * sem)


def fieller_ratio(
    numerator: Sequence[float], denominator: Sequence[float], confidence: float = 0.95
) -> tuple[float, float, float]:
    """Ratio of the means of paired samples and its Fieller confidence interval.

    Returns ``(ratio, low, high)``; ``low``/``high`` are ``nan`` when the denominator's mean is not
    significantly different from 0 (the confidence set is then unbounded) or with fewer than 2
    pairs; ``ratio`` is ``nan`` when the denominator's mean is 0.
    """
    a = np.asarray(numerator, dtype=np.float64)
    b = np.asarray(denominator, dtype=np.float64)
    n = len(a)
    if n == 0 or len(b) != n:
        return math.nan, math.nan, math.nan
    ma, mb = float(a.mean()), float(b.mean())
    ratio = ma / mb if mb != 0 else math.nan
    if n < 2:
        return ratio, math.nan, math.nan
    cov = np.cov(a, b, ddof=1) / n  # covariance matrix of the two means
    t2 = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) ** 2
    qa = mb**2 - t2 * cov[1, 1]
    if qa <= 0:
        return ratio, math.nan, math.nan
    qb = ma * mb - t2 * cov[0, 1]
    qc = ma**2 - t2 * cov[0, 0]
    disc = max(qb**2 - qa * qc, 0.0)
    return ratio, (qb - math.sqrt(disc)) / qa, (qb + math.sqrt(disc)) / qa


def is_heuristic(method: str) -> bool:
    """Whether a method label names a heuristic (``entropy``, ``mc_dropout@pool``, ...) other
    than random: the candidates for "best heuristic"."""
    from iale_env.experts import EXPERTS

    name, _, scope = method.partition("@")
    return name in EXPERTS and name != "random" and scope in ("", "pool")


def run_metrics(curve: Curve, checkpoints: Sequence[int], target: float | None) -> dict[str, float]:
    """The per-run metrics (see the module docs)."""
    lab, acc = curve.labeled, curve.accuracy
    metrics = {"mean_accuracy": mean_accuracy(lab, acc)}
    for at in sorted({*checkpoints, int(lab[-1])}):
        if lab[0] <= at <= lab[-1]:
            metrics[f"acc@{at}"] = accuracy_at(lab, acc, at)
    if target is not None:
        metrics["labels_to_target"] = labels_to_target(lab, acc, target)
    return metrics


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


@dataclass(frozen=True)
class PairedComparison:
    """One metric of a candidate sweep against a reference sweep of the same runs.

    The runs are paired by dataset, method and seed (the same split, initial set and
    initialisation); the reference's seed-to-seed standard deviation is the noise scale.
    """

    dataset: str
    method: str
    metric: str
    n_pairs: int
    reference_mean: float
    reference_sd: float
    diff_mean: float
    diff_ci95: float
    max_abs_point_diff: float

    @property
    def within_noise(self) -> bool:
        """Whether the paired 95% CI contains 0 and ``|diff_mean|`` is below the seed-to-seed
        standard deviation (needs at least 2 pairs)."""
        if self.n_pairs < 2 or math.isnan(self.diff_ci95):
            return False
        return abs(self.diff_mean) <= self.diff_ci95 and abs(self.diff_mean) < self.reference_sd


def compare_runs(
    reference: Iterable[dict[str, str]], candidate: Iterable[dict[str, str]]
) -> list[PairedComparison]:
    """Paired differences ``candidate - reference`` of ``mean_accuracy`` and the final accuracy.

    Only runs present in both (same dataset, method and seed) are compared; the largest absolute
    accuracy difference at any common labeled-set size is reported alongside.
    """
    ref = {(c.dataset, c.method, c.seed): c for c in curves_from_rows(reference)}
    cand = {(c.dataset, c.method, c.seed): c for c in curves_from_rows(candidate)}
    pairs = sorted(set(ref) & set(cand))
    out = []
    for dataset, method in dict.fromkeys((d, m) for d, m, _ in pairs):
        seeds = [s for d, m, s in pairs if (d, m) == (dataset, method)]
        per_seed = []
        for s in seeds:
            a, b = ref[(dataset, method, s)], cand[(dataset, method, s)]
            common, ia, ib = np.intersect1d(a.labeled, b.labeled, return_indices=True)
            gap = float(np.max(np.abs(a.accuracy[ia] - b.accuracy[ib]))) if len(common) else 0.0
            final = int(min(a.labeled[-1], b.labeled[-1]))
            metrics_a = run_metrics(a, (final,), None)
            metrics_b = run_metrics(b, (final,), None)
            per_seed.append((metrics_a, metrics_b, gap))
        gap = max(p[2] for p in per_seed)
        for metric in per_seed[0][0]:
            ref_values = [p[0][metric] for p in per_seed if metric in p[1]]
            diffs = [p[1][metric] - p[0][metric] for p in per_seed if metric in p[1]]
            d_mean, d_ci = mean_ci(diffs)
            sd = float(np.std(ref_values, ddof=1)) if len(ref_values) > 1 else math.nan
            out.append(
                PairedComparison(
                    dataset,
                    method,
                    metric,
                    len(diffs),
                    float(np.mean(ref_values)),
                    sd,
                    d_mean,
                    d_ci,
                    gap,
                )
            )
    return out


def comparison_markdown(
    comparisons: Sequence[PairedComparison], reference: str, candidate: str
) -> str:
    """A Markdown table of :func:`compare_runs`' result."""
    lines = [
        f"# {candidate} vs {reference}",
        "",
        f"Paired per-seed difference {candidate} − {reference} (mean ± 95% CI), the "
        f"{reference} runs' seed-to-seed SD (the noise scale) and the largest accuracy gap at "
        "any labeled-set size. *Within noise*: the CI contains 0 and |Δ| < SD.",
        "",
        f"| dataset | method | metric | pairs | {reference} | SD over seeds | Δ | max gap "
        "| within noise |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for c in comparisons:
        lines.append(
            f"| {c.dataset} | {c.method} | {c.metric} | {c.n_pairs} | {c.reference_mean:.4f} | "
            f"{c.reference_sd:.4f} | {format_estimate(c.diff_mean, c.diff_ci95, 4)} | "
            f"{c.max_abs_point_diff:.4f} | {'yes' if c.within_noise else 'no'} |"
        )
    return "\n".join(lines) + "\n"
