"""Per-run metrics of a learning curve (mean accuracy, accuracy at a labeled-set size, labels to
a target) and the interval statistics over seeds (Student t, Fieller's ratio interval)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Curve:
    """One run's learning curve."""

    dataset: str
    method: str
    seed: int
    labeled: np.ndarray
    accuracy: np.ndarray


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
