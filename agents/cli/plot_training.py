"""The training curves of RL runs: the mean episode return SB3 logged against AL steps.

    python scripts/plot_training.py ppo=runs/fast_ppo_50k a2c=runs/fast_a2c_50k \\
        --out results/fast/efficiency

Reads each run's ``logs/progress-<timestep>.csv`` (train_rl.py --out; a resumed run's files are
joined, the resume's rows replacing those lost to the kill) and writes training.csv (agent,
run folder as given, AL steps, mean return of the last 100 episodes) and training.png into
--out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agents.cli.common import key_values
from agents.evaluation.training_curves import (
    TRAINING_FIELDS,
    plot_training,
    read_training_curve,
    training_rows,
)
from agents.runs.files import rewrite_csv


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="plot_training.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", nargs="+", help="LABEL=RUN_FOLDER of a train_rl.py run")
    p.add_argument("--out", required=True, help="folder of training.csv and training.png")
    p.add_argument("--title", default="RL training", help="the figure's title")
    args = p.parse_args(argv)
    try:
        runs = {
            k: Path(v)
            for k, v in key_values(args.run, "runs as LABEL=RUN_FOLDER (e.g. ppo=runs/ppo)").items()
        }
        curves = {label: read_training_curve(run) for label, run in runs.items()}
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        rewrite_csv(out / "training.csv", TRAINING_FIELDS, training_rows(curves, runs))
        png = plot_training(curves, out / "training.png", args.title)
    except ValueError as exc:
        print(f"plot_training.py: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out / 'training.csv'}, {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
