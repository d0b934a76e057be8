"""How well can the IALE policy imitate the oracle? Offline, on a DAgger run's states.

    python scripts/imitability.py runs/cpu/iale                  # a run with --heldout-episodes
    python scripts/imitability.py runs/cpu/iale --steps 4000 --out runs/cpu/imitability.md
    python scripts/imitability.py runs/cpu/iale --export pairs.npz   # the run's pairs, to share
    python scripts/imitability.py pairs.npz                          # the same table from them
    python scripts/imitability.py runs/cpu/iale --curve curve.png    # agreement over rounds
    python scripts/imitability.py runs/cpu/iale --decisions table.md # can the state tell the winner?
    python scripts/imitability.py runs/cpu/iale --export-decisions decisions.npz  # to share
    python scripts/imitability.py decisions.npz --rounds 8 --decisions table.md   # from them

Trains the policy offline on the run's aggregated oracle-labeled states (checkpoint.pt) with each
input view, feature scaling and loss weighting, and prints each one's agreement with the oracle
on the run's held-out states (heldout.npz), next to one-statistic scorers (least confidence,
margin, entropy of M's softmax; each expert's score column of a --state-scores run) and
chance. Agreement = share of the oracle's k picks that the scorer's top k hit. With --curve it
only plots the run's logged agreement over its DAgger rounds against those scorers (no training);
with --decisions it only tabulates the oracle's decisions on the run's states: each expert's wins,
the winner's margin, how well state-level features predict the winner (leave one round out), and
the agreement of following each expert's score column, the predicted winner's or the winner's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="imitability.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "run",
        help="a train_dagger.py --out folder, a pairs file of --export, or (with --decisions) "
        "a file of --export-decisions",
    )
    p.add_argument("--steps", type=int, default=2000, help="minibatch updates per policy")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rounds", type=int, help="train on the run's first N rounds (default: all)")
    p.add_argument(
        "--save", help="also save each variant's policy in this folder (for evaluate.py)"
    )
    p.add_argument("--threads", type=int, help="PyTorch CPU threads (default: the process's cores)")
    p.add_argument("--out", help="also write the table to this Markdown file")
    p.add_argument("--export", help="write the run's oracle-labeled pairs to this .npz and stop")
    p.add_argument(
        "--export-decisions",
        help="write the oracle's decisions on the run's states to this .npz and stop",
    )
    p.add_argument(
        "--decisions",
        help="tabulate the oracle's decisions on the run's states to this Markdown file and stop",
    )
    p.add_argument(
        "--curve",
        help="plot the run's agreement over its rounds to this PNG and stop (no training)",
    )
    args = p.parse_args(argv)
    if args.steps < 1:
        print("imitability.py: error: --steps must be >= 1", file=sys.stderr)
        return 2
    from agents.cli.common import set_threads

    try:
        from agents.diagnostics.decisions import (
            decisions_markdown,
            export_decisions,
            oracle_decisions,
        )
        from agents.diagnostics.imitability import (
            compare_scorers,
            export_pairs,
            imitation_curve,
            markdown,
        )
    except ImportError as exc:  # the base install has no imitation: one line, what to install
        print(f"imitability.py: error: {exc}", file=sys.stderr)
        return 2

    try:
        set_threads(args.threads)
        if args.export:
            print(f"wrote {export_pairs(args.run, args.export)}")
            return 0
        if args.export_decisions:
            print(f"wrote {export_decisions(args.run, args.export_decisions)}")
            return 0
        if args.decisions:
            table = decisions_markdown(oracle_decisions(args.run, args.rounds))
            Path(args.decisions).write_text(table)
            print(table, end="")
            return 0
        if args.curve:
            from agents.evaluation.plots import plot_imitation

            curve = imitation_curve(args.run)
            title = f"{Path(args.run).name}: imitation quality over DAgger rounds"
            print(f"wrote {plot_imitation(curve, args.curve, title)}")
            return 0
        rows = compare_scorers(
            args.run, steps=args.steps, seed=args.seed, rounds=args.rounds, save_dir=args.save
        )
        table = markdown(rows)
    except (ValueError, FileExistsError) as exc:
        print(f"imitability.py: error: {exc}", file=sys.stderr)
        return 2
    print(table, end="")
    if args.out:
        Path(args.out).write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
