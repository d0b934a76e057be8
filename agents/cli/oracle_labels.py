"""What decides the oracle's choice: what a policy can see, or the selections' true labels?

    python scripts/oracle_labels.py --preset fast --dataset MNIST --experts margin,ensemble,mc_dropout \
        --seeds 2000,2001,2002 --out runs/oracle_labels
    python scripts/oracle_labels.py ... --out runs/oracle_labels --resume     # after a kill

Runs one oracle-executed episode per seed; at every state each expert's selection is summarised
by what a policy reading the state could compute, by the class coverage M's softmax expects of
it, and by its true labels (which only the oracle's retraining uses). Writes
OUT/oracle_labels.csv (one row per state, as each state finishes), OUT/config.json and
OUT/summary.md: how well a conditional logit on each set of summaries names the oracle's winner
on episodes it was not fitted on, and what following it gains over the best fixed expert.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from functools import partial
from pathlib import Path

from agents.cli.common import int_list
from agents.cli.oracle_noise import SUMMARY, add_measurement_flags, open_measurement
from iale_env import DatasetNotFoundError

#: The measurement's CSV in ``--out``.
LABELS_CSV = "oracle_labels.csv"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="oracle_labels.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--seeds", type=int_list, default=(100, 101), help="episode seeds (2 or more)")
    add_measurement_flags(p)
    args = p.parse_args(argv)
    out = Path(args.out)
    stack = contextlib.ExitStack()
    try:  # everything that checks the input: a mistake is one line, before any long work
        from agents.diagnostics.oracle_labels import labels_markdown, measure

        if len(set(args.seeds)) < 2:
            raise ValueError(
                "--seeds needs at least 2 distinct episodes (the summary leaves one out)"
            )
        al, data = open_measurement(args, LABELS_CSV, "oracle_labels", stack)
    except (ValueError, DatasetNotFoundError) as exc:
        stack.close()
        print(f"oracle_labels.py: error: {exc}", file=sys.stderr)
        return 2
    with stack:  # the measurement itself: an error here keeps its traceback (exit code 1)
        rows = measure(
            al,
            args.seeds,
            out / LABELS_CSV,
            data=data,
            resume=args.resume,
            log=partial(print, flush=True),
        )
        table = labels_markdown(rows)
        (out / SUMMARY).write_text(table)
    print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
