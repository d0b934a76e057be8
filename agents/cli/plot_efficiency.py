"""The sample-efficiency figure: evaluation accuracy of the policies kept along training against
the AL steps each had spent, per agent (imitation's curve against RL's), with random and the
best heuristic as references.

    python scripts/plot_efficiency.py results/fast/eval/FashionMNIST_MNIST \\
        results/fast/eval/efficiency_FashionMNIST --datasets FashionMNIST \\
        --alias iale_all7=dagger_720 --out results/fast/efficiency

Reads each sweep folder's curves.csv (evaluate.py --out), where a policy kept after S AL steps
of training by agent A is the method A_S (``--methods ppo_5040=ppo:RUN/snapshots/
policy-5040.zip``); ``--alias OLD=NEW`` renames a method on reading. Writes into --out the
runs it read (curves.csv: random, the heuristics and the A_S methods; runs already there are
kept, and a run that differs from its copy there is an error), efficiency.csv, efficiency.md
and efficiency.png, all recomputed from that curves.csv.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agents.cli.common import key_values
from agents.evaluation.efficiency import (
    collect_runs,
    efficiency_markdown,
    efficiency_points,
    plot_efficiency,
    write_efficiency_csv,
)
from agents.evaluation.sweep_files import CURVE_FIELDS, CURVES_CSV
from agents.runs.files import read_csv, rewrite_csv


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="plot_efficiency.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("sweep", nargs="*", help="sweep folders with curves.csv (evaluate.py --out)")
    p.add_argument("--out", required=True, help="folder of the figure, tables and their runs")
    p.add_argument("--datasets", help="comma-separated datasets to keep (default: all)")
    p.add_argument("--alias", action="append", default=[], help="OLD=NEW: rename a method")
    args = p.parse_args(argv)
    try:
        out = Path(args.out)
        folders = [Path(s) for s in args.sweep]
        if (out / CURVES_CSV).exists():  # the runs of an earlier call are kept
            folders = [out, *(f for f in folders if f.resolve() != out.resolve())]
        tables = []
        for folder in folders:
            if not (folder / CURVES_CSV).is_file():
                raise ValueError(f"{folder} has no {CURVES_CSV}; give evaluate.py --out folders")
            tables.append((str(folder), read_csv(folder / CURVES_CSV)))
        if not tables:
            raise ValueError(f"no sweep folders given and {out} has no {CURVES_CSV} yet")
        datasets = args.datasets.split(",") if args.datasets else None
        rows = collect_runs(
            tables,
            key_values(args.alias, "--alias as OLD=NEW (a method label and its new one)"),
            datasets,
        )
        points, refs = efficiency_points(rows)
        if not points:
            raise ValueError("no <agent>_<steps> methods in the sweeps (see --alias)")
        out.mkdir(parents=True, exist_ok=True)
        rewrite_csv(out / CURVES_CSV, CURVE_FIELDS, rows)
        (out / "efficiency.md").write_text(efficiency_markdown(points, refs))
        written = [
            out / CURVES_CSV,
            out / "efficiency.md",
            write_efficiency_csv(points, out / "efficiency.csv"),
            plot_efficiency(points, refs, out / "efficiency.png"),
        ]
    except ValueError as exc:
        print(f"plot_efficiency.py: error: {exc}", file=sys.stderr)
        return 2
    print("wrote " + ", ".join(str(f) for f in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
