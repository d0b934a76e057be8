"""The report of a sweep folder: ``summary.md``, ``summary.csv``, the PNG plots, and the results
block of a README (:func:`update_readme`)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from agents.evaluation.plots import plot_curves, plot_overlap
from agents.evaluation.summary import (
    CHECKPOINTS,
    SummaryRow,
    comparison_cells,
    format_estimate,
    summarize,
    summarize_overlap,
    summary_markdown,
    write_summary_csv,
)
from agents.evaluation.sweep_files import CURVES_CSV, OVERLAP_CSV
from agents.runs.files import read_csv


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
    overlap_rows = read_csv(sweep / OVERLAP_CSV)
    md = out / "summary.md"
    md.write_text(summary_markdown(summary, summarize_overlap(overlap_rows)))
    written = [md, write_summary_csv(summary, out / "summary.csv")]
    if plots:
        written += plot_curves(rows, out)
        written += plot_overlap(overlap_rows, out)
    return written


#: The README block of a results folder: ``<!-- results: FOLDER -->`` ... ``<!-- /results -->``.
_BLOCK = re.compile(r"(<!-- results: (?P<folder>\S+) -->\n)(?P<body>.*?)(<!-- /results -->)", re.S)


def results_markdown(summary: Sequence[SummaryRow], folder: str) -> str:
    """The README's view of a summary: per dataset, each method's mean accuracy over the curve,
    its paired difference to random and to the best heuristic, and its share of the oracle's
    gain, with the dataset's learning-curve plot (``folder/curves_<dataset>.png``)."""
    lines = []
    for dataset in dict.fromkeys(r.dataset for r in summary):
        rows = {(r.method, r.metric): r for r in summary if r.dataset == dataset}
        methods = list(dict.fromkeys(m for m, metric in rows if metric == "mean_accuracy"))
        best = next((r.reference for r in rows.values() if r.metric == "vs_best_heuristic"), "")
        lines += [
            f"**{dataset}** (best heuristic: {best or 'none'})",
            "",
            "| method | seeds | mean acc | Δ random | Δ best heuristic | share of oracle gain |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for method in methods:
            acc = rows[(method, "mean_accuracy")]
            cells = [method, str(acc.n), format_estimate(acc.mean, acc.ci95)]
            cells += comparison_cells(rows, method)
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", f"![{dataset}]({folder}/curves_{dataset}.png)", ""]
    return "\n".join(lines)


def readme_blocks(readme: str | os.PathLike) -> dict[str, str]:
    """The results blocks of a README: ``{folder: body}``."""
    return {m["folder"]: m["body"] for m in _BLOCK.finditer(Path(readme).read_text())}


def update_readme(readme: str | os.PathLike, folder: str | os.PathLike) -> Path:
    """Rewrite the README's results block of ``folder`` from ``folder/curves.csv`` (with the
    defaults of ``plot.py``). ``folder`` is written as the block names it (relative to the
    README).

    Raises:
        ValueError: the README has no block for ``folder``.
    """
    path = Path(readme)
    name = Path(os.path.relpath(Path(folder).resolve(), path.resolve().parent)).as_posix()
    text = path.read_text()
    if name not in readme_blocks(path):
        raise ValueError(
            f"{path} has no results block for {name}; put the lines '<!-- results: {name} -->' "
            f"and '<!-- /results -->' where its table goes"
        )
    body = results_markdown(summarize(read_csv(Path(folder) / CURVES_CSV)), name)

    def fill(m: re.Match[str]) -> str:
        return m.group(1) + (body if m["folder"] == name else m["body"]) + m.group(4)

    path.write_text(_BLOCK.sub(fill, text))
    return path
