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

from agents.cli.common import (
    add_device_flags,
    add_env_flags,
    check_resume_config,
    env_config,
    int_list,
    resolve,
    write_run_config,
)
from iale_env.protocols import PROTOCOLS

#: ``--preset`` settings (the AL protocol), from :mod:`iale_env.protocols`.
PRESETS: dict[str, dict] = {
    p: PROTOCOLS[p].al_config() for p in ("paper", "reduced", "cpu", "fast")
}
LABELS_CSV = "oracle_labels.csv"
SUMMARY = "summary.md"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="oracle_labels.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    p.add_argument("--dataset", default="MNIST")
    p.add_argument("--seeds", type=int_list, default=(100, 101), help="episode seeds (2 or more)")
    p.add_argument(
        "--experts", help="comma list of the oracle's experts (default: the preset's, the paper's)"
    )
    add_env_flags(p)
    add_device_flags(p)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--resume", action="store_true", help="continue the measurement in --out")
    args = p.parse_args(argv)
    s = resolve(PRESETS[args.preset], args)
    out = Path(args.out)
    stack = contextlib.ExitStack()
    try:  # everything that checks the input: a mistake is one line, before any long work
        from agents.diagnostics.oracle_labels import labels_markdown, measure
        from agents.runs.locking import exclusive_folder
        from iale_env import DatasetNotFoundError, check_data_fits, load_dataset

        if len(set(args.seeds)) < 2:
            raise ValueError(
                "--seeds needs at least 2 distinct episodes (the summary leaves one out)"
            )
        experts = {"experts": tuple(args.experts.split(","))} if args.experts else {}
        al = env_config(s, args).replace(dataset=args.dataset, **experts)
        if (out / LABELS_CSV).exists() and not args.resume:
            raise ValueError(f"{out} holds a measurement; pass --resume or use another --out")
        stack.enter_context(exclusive_folder(out))
        if args.resume:
            check_resume_config(out, "oracle_labels", al)
        data = load_dataset(args.dataset, al.data_dir)
        check_data_fits(al, data)
        write_run_config(out, "oracle_labels", al)
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
