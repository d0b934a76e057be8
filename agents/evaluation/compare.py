"""Paired comparison of two sweeps' runs of the same methods (for example fp32 against bf16):
the per-seed differences of each run metric, with their intervals."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from agents.evaluation.metrics import curves_from_rows, mean_ci, run_metrics
from agents.evaluation.summary import format_estimate


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
