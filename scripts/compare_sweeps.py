"""Paired comparison of two sweeps with the same seeds (for example fp32 against bf16 inference).

Prints (and with ``--out``, writes) the Markdown table of
:func:`agents.evaluation.summary.compare_runs`: per dataset and method, the paired difference
candidate - reference of the mean-curve and the final accuracy, with a 95% interval, against
the reference's seed-to-seed spread.

    python scripts/compare_sweeps.py results/fast/eval/FashionMNIST_MNIST \
        results/fast/precision/bf16_inference --names fp32,bf16
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agents.evaluation import read_csv
from agents.evaluation.summary import compare_runs, comparison_markdown


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("reference", help="sweep folder with curves.csv")
    p.add_argument("candidate", help="sweep folder with curves.csv")
    p.add_argument("--names", default="reference,candidate", help="two labels, comma-separated")
    p.add_argument("--out", help="also write the table here (refuses an existing file)")
    args = p.parse_args(argv)
    ref_name, cand_name = args.names.split(",")
    rows = [read_csv(Path(folder) / "curves.csv") for folder in (args.reference, args.candidate)]
    table = comparison_markdown(compare_runs(*rows), ref_name, cand_name)
    print(table)
    if args.out:
        out = Path(args.out)
        if out.exists():
            print(f"error: {out} exists; choose another --out", file=sys.stderr)
            return 2
        out.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
