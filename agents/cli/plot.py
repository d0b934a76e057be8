"""Redraw a sweep's plots and summary from its CSV files (no training).

    python scripts/plot.py runs/eval_reduced                 # into the sweep folder
    python scripts/plot.py runs/eval_reduced --out figs --target 0.7
    python scripts/plot.py runs/eval_mnist runs/eval_fmnist --out results/cpu   # merge sweeps
    python scripts/plot.py results/cpu/final --readme README.md   # and its README table

Reads DIR/curves.csv (and DIR/overlap.csv) written by scripts/evaluate.py; writes
summary.md, summary.csv, curves_<dataset>.png and overlap_<dataset>_<method>.png. With several
folders (sweeps run in parallel, with the same settings), or an --out folder that already holds
a sweep, their finished runs are first merged into --out (each run once; duplicates are an
error).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="plot.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("sweep", nargs="+", help="folder(s) with curves.csv (evaluate.py --out)")
    p.add_argument("--out", help="where to write (default: the sweep folder)")
    p.add_argument("--target", type=float, help="accuracy of 'labels to target'")
    p.add_argument(
        "--checkpoints",
        default="100,200,500,1000",
        help="labeled-set sizes whose accuracy is tabulated",
    )
    p.add_argument(
        "--readme",
        help="also rewrite this README's results block of the output folder "
        "('<!-- results: FOLDER -->' ... '<!-- /results -->')",
    )
    args = p.parse_args(argv)
    from agents.evaluation import merge_sweeps
    from agents.evaluation.report import update_readme, write_report
    from agents.evaluation.sweep_files import CURVES_CSV

    try:
        checkpoints = tuple(int(c) for c in args.checkpoints.split(",") if c)
        sweep = args.sweep[0]
        # an --out folder that holds a sweep of its own is merged with the given ones, so that
        # its summary always describes its curves.csv
        into_sweep = args.out and (Path(args.out) / CURVES_CSV).exists()
        if len(args.sweep) > 1 or (
            into_sweep and Path(args.out).resolve() != Path(sweep).resolve()
        ):
            if not args.out:
                raise ValueError("merging several sweeps needs --out (the merged folder)")
            sweep = merge_sweeps(args.sweep, args.out)
        files = write_report(sweep, args.out, args.target, checkpoints)
        if args.readme:
            files.append(update_readme(args.readme, args.out or sweep))
    except ValueError as exc:
        print(f"plot.py: error: {exc}", file=sys.stderr)
        return 2
    print("wrote " + ", ".join(str(f) for f in files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
