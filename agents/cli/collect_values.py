"""Collect a value teacher's targets: the retrained accuracy of many selections per state.

    python scripts/collect_values.py --preset fast --dataset MNIST \
        --experts margin,ensemble,mc_dropout --seeds 3000,3001,3002,3003 --batches 40 --out runs/values_a
    python scripts/collect_values.py ... --out runs/values_a --resume     # after a kill

Runs one oracle-executed episode per seed; at every state M is retrained (all models from the
oracle's seed) on the labeled set plus each expert's selection and --batches proposed
selections (uniform, and experts' selections with half their picks redrawn). Writes
OUT/values/values-<seed>.npz per finished episode and OUT/config.json;
``scripts/train_value.py`` fits a policy to one or more such folders.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from functools import partial
from pathlib import Path

from agents.cli.common import add_state_flags, int_list
from agents.cli.oracle_noise import add_measurement_flags, open_measurement
from agents.values.folders import VALUES_DIR
from iale_env import DatasetNotFoundError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="collect_values.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--seeds", type=int_list, default=(3000,), help="episode seeds")
    p.add_argument("--batches", type=int, default=40, help="proposed selections per state")
    p.add_argument(
        "--keep", type=float, default=0.5, help="share of an expert's picks a proposal keeps"
    )
    p.add_argument("--proposal-seed", type=int, default=0, help="seed of the proposals")
    add_measurement_flags(p)
    add_state_flags(p)
    args = p.parse_args(argv)
    out = Path(args.out)
    stack = contextlib.ExitStack()
    try:  # everything that checks the input: a mistake is one line, before any long work
        from agents.presets import PRESETS
        from agents.values.collect import ValueSampling, collect

        sampling = ValueSampling(args.batches, args.keep, args.proposal_seed)
        state = {  # the state a policy trained on the preset sees, as train_dagger.py's
            "state_scores": PRESETS[args.preset].state_scores
            if args.state_scores is None
            else args.state_scores,
            "subpool_mean_embedding": args.subpool_mean_embedding,
            "eager_ensemble": True,  # the oracle's experts run at every step
            "rewards": False,  # the targets are scoring-set accuracies, not rewards
            "test_every_step": False,
        }
        al, data = open_measurement(
            args, VALUES_DIR, "value_targets", stack, env_overrides=state, sampling=sampling
        )
    except (ValueError, DatasetNotFoundError) as exc:
        stack.close()
        print(f"collect_values.py: error: {exc}", file=sys.stderr)
        return 2
    with stack:  # the collection itself: an error here keeps its traceback (exit code 1)
        files = collect(
            al,
            args.seeds,
            sampling,
            out / VALUES_DIR,
            data=data,
            resume=args.resume,
            log=partial(print, flush=True),
        )
    print(f"{len(files)} episodes in {out / VALUES_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
