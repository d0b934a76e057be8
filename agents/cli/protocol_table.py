"""The table of candidate protocols: does the oracle beat random, and what does it cost?

    python scripts/protocol_table.py results/cpu/protocol/b100_e30 results/cpu/protocol/b150_e30

Each folder is an ``evaluate.py --methods random,oracle`` sweep of one candidate setting. Per
candidate and dataset the table gives the oracle's paired difference to random in mean accuracy
(mean and 95% interval over seeds), whether that interval excludes 0, and the oracle's seconds
per episode (the bulk of a DAgger episode's cost: the oracle runs at every step), all computed
from the sweeps' CSV files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agents.runs.files import read_json


def table(folders: list[Path]) -> str:
    """The Markdown table of the candidates in ``folders``."""
    import numpy as np

    from agents.evaluation import CONFIG_JSON, CURVES_CSV, read_csv
    from agents.evaluation.summary import summarize

    lines = [
        "| budget | epochs | scoring set | test set | dataset | seeds | oracle − random (mean acc) "
        "| excludes 0 | oracle s/episode |",
        "|---:|---:|---:|---:|---|---:|---:|---|---:|",
    ]
    for folder in folders:
        env = read_json(folder / CONFIG_JSON)["env"]
        rows = read_csv(folder / CURVES_CSV)
        if not rows:
            raise ValueError(f"{folder / CURVES_CSV} has no finished runs")
        summary = {(r.dataset, r.method, r.metric): r for r in summarize(rows)}
        for dataset in dict.fromkeys(r["dataset"] for r in rows):
            s = summary.get((dataset, "oracle", "mean_accuracy"))
            if s is None:
                continue
            seconds = [  # the last point of each oracle run: the whole episode
                float(r["run_seconds"])
                for r in rows
                if r["dataset"] == dataset
                and r["method"] == "oracle"
                and int(r["step"]) == int(r["points"]) - 1
            ]
            low, high = s.diff_mean - s.diff_ci95, s.diff_mean + s.diff_ci95
            excludes = "yes" if low > 0 or high < 0 else "no"
            if s.n_pairs < 2:
                excludes = "– (one seed)"
            lines.append(
                f"| {env['budget']} | {env['epochs']} | {env['scoring_size']} | "
                f"{env['test_size'] or 'all'} | {dataset} | {s.n_pairs} | "
                f"{s.diff_mean:+.4f} ± {s.diff_ci95:.4f} | {excludes} | "
                f"{np.median(seconds):.0f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="protocol_table.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("sweeps", nargs="+", help="evaluate.py --out folders, one per candidate")
    args = p.parse_args(argv)
    try:
        print(table([Path(s) for s in args.sweeps]), end="")
    except (ValueError, FileNotFoundError) as exc:
        print(f"protocol_table.py: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
