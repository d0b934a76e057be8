"""Plots of a sweep (PNG): learning curves with 95% bands (Figs. 3-4 of the paper) and the
overlap of a learned policy's selections with the heuristics' on the same states (Fig. 5), and a
DAgger run's imitation quality over its rounds.

Uses matplotlib's object API (``Figure``), no pyplot global state, so it is safe in scripts,
tests and notebooks alike.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib import colormaps, cycler
from matplotlib.figure import Figure

from agents.evaluation.metrics import curves_from_rows, mean_ci

if TYPE_CHECKING:  # the imitation stack is imported only by whoever builds a curve
    from agents.diagnostics.imitability import ImitationCurve


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)


# matplotlib's ten default colours (tab10), then the same colours dashed, dotted and dash-dotted,
# so that a figure with more than ten methods still tells every one apart (forty distinct styles)
_SERIES_STYLES = cycler(linestyle=["-", "--", ":", "-."]) * cycler(color=colormaps["tab10"].colors)


def _axes() -> tuple[Figure, Any]:
    """A new figure's single axes, cycling through :data:`_SERIES_STYLES`."""
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.add_subplot()
    ax.set_prop_cycle(_SERIES_STYLES)
    return fig, ax


def _band(
    ax, x: np.ndarray, ys: list[np.ndarray], label: str, bounds: tuple[float, float] = (0.0, 1.0)
) -> None:
    """Mean line and 95% band of ``ys``; the band is clipped to ``bounds`` (accuracies and
    overlap fractions lie in [0, 1], a t-interval of two seeds need not)."""
    stacked = np.stack(ys)
    stats = [mean_ci(stacked[:, j]) for j in range(stacked.shape[1])]
    mean = np.array([s[0] for s in stats])
    ci = np.nan_to_num(np.array([s[1] for s in stats]))
    (line,) = ax.plot(x, mean, label=f"{label} (n={len(ys)})", linewidth=1.5)
    low, high = np.clip(mean - ci, *bounds), np.clip(mean + ci, *bounds)
    ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2, linewidth=0)


def plot_curves(rows: Iterable[dict[str, str]], out_dir: str | os.PathLike) -> list[Path]:
    """One ``curves_<dataset>.png`` per dataset: mean test accuracy vs labels, 95% CI bands."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    groups: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for c in curves_from_rows(rows):
        groups[c.dataset][c.method].append(c)
    paths = []
    for dataset, methods in groups.items():
        fig, ax = _axes()
        for method, curves in methods.items():
            x = curves[0].labeled
            same_grid = [c.accuracy for c in curves if np.array_equal(c.labeled, x)]
            _band(ax, x, same_grid, method)
        ax.set(xlabel="labeled images", ylabel="test accuracy", title=f"{dataset}: learning curves")
        paths.append(_save(fig, ax, out / f"curves_{_safe(dataset)}.png", "lower right"))
    return paths


def plot_overlap(rows: Iterable[dict[str, str]], out_dir: str | os.PathLike) -> list[Path]:
    """One ``overlap_<dataset>_<method>.png`` per learned method: share of its picks that each
    heuristic also picks on the same state, over the AL cycle (mean over seeds, 95% bands)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data: dict[tuple[str, str], dict[str, dict[int, dict[int, float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(dict))
    )
    for r in rows:
        data[(r["dataset"], r["method"])][r["heuristic"]][int(r["seed"])][int(r["labeled"])] = (
            float(r["overlap"])
        )
    paths = []
    for (dataset, method), heuristics in data.items():
        fig, ax = _axes()
        for heuristic, per_seed in heuristics.items():
            grids = [sorted(points) for points in per_seed.values()]
            x = np.array(grids[0])
            ys = [
                np.array([points[lab] for lab in x])
                for points in per_seed.values()
                if sorted(points) == list(x)
            ]
            _band(ax, x, ys, heuristic)
        ax.set(
            xlabel="labeled images",
            ylabel="share of the policy's picks also picked",
            title=f"{dataset}: {method} vs heuristics (same states)",
            ylim=(-0.02, 1.02),
        )
        path = out / f"overlap_{_safe(dataset)}_{_safe(method)}.png"
        paths.append(_save(fig, ax, path, "upper right"))
    return paths


def plot_imitation(curve: ImitationCurve, path: str | os.PathLike, title: str = "") -> Path:
    """A DAgger run's agreement with the oracle over its rounds (held out, and on each round's
    new states before its update), with the held-out agreement of chance and of each
    one-statistic scorer as dashed lines (:func:`agents.diagnostics.imitability.imitation_curve`)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = _axes()
    ax.plot(curve.rounds, curve.heldout, marker="o", linewidth=1.5, label="policy, held-out states")
    ax.plot(
        curve.rounds,
        curve.new_states,
        marker=".",
        linewidth=1,
        alpha=0.7,
        label="policy, the round's new states (before its update)",
    )
    for i, (name, value) in enumerate(curve.references.items()):
        ax.axhline(
            value, color=f"C{i + 2}", linestyle="--", linewidth=1, label=f"{name}: {value:.3f}"
        )
    ax.set(
        xlabel="DAgger round",
        ylabel="agreement with the oracle's picks",
        title=title or "imitation quality over DAgger rounds",
        ylim=(0.0, 1.0),
    )
    return _save(fig, ax, out, "lower right")


def _save(fig: Figure, ax: Any, path: Path, legend: str) -> Path:
    """Grid, legend and a 120-dpi PNG at ``path``."""
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc=legend)
    fig.savefig(path, dpi=120)
    return path
