"""The report of a sweep folder: ``summary.md``, ``summary.csv`` and the PNG plots."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from agents.evaluation.plots import plot_curves, plot_overlap
from agents.evaluation.summary import CHECKPOINTS, summarize, summary_markdown, write_summary_csv
from agents.evaluation.sweep import CURVES_CSV, OVERLAP_CSV, read_csv


def write_report(
    sweep_dir: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    target: float | None = None,
    checkpoints: Sequence[int] = CHECKPOINTS,
    plots: bool = True,
) -> list[Path]:
    """Summarize ``sweep_dir/curves.csv`` (and plot it, with ``overlap.csv``) into ``out_dir``
    (default: the sweep folder). Returns the files written."""
    sweep = Path(sweep_dir)
    rows = read_csv(sweep / CURVES_CSV)
    if not rows:
        raise ValueError(f"{sweep / CURVES_CSV} has no finished runs yet; run scripts/evaluate.py")
    out = Path(out_dir) if out_dir is not None else sweep
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(rows, checkpoints, target)
    md = out / "summary.md"
    md.write_text(summary_markdown(summary))
    written = [md, write_summary_csv(summary, out / "summary.csv")]
    if plots:
        written += plot_curves(rows, out)
        written += plot_overlap(read_csv(sweep / OVERLAP_CSV), out)
    return written
