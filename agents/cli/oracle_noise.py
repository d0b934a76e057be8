"""How stable are the best-expert oracle's labels? Re-make its decisions from other seeds.

    python scripts/oracle_noise.py --preset cpu --dataset MNIST --seeds 100 --reseeds 3 \
        --out runs/oracle_noise
    python scripts/oracle_noise.py ... --out runs/oracle_noise --resume     # after a kill

Runs one oracle-executed episode per seed; at every state the oracle's decision (which
expert's selection retrains best on the scoring set) is made again with models from --reseeds
other seeds. Writes OUT/oracle_noise.csv (one row per state and seed, as each state finishes),
OUT/config.json and OUT/summary.md: how often another seed names another winner, the oracle's
margin between the best two experts, and how much one selection's accuracy moves between seeds.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from functools import partial
from pathlib import Path
from typing import Any

from agents.cli.common import (
    add_device_flags,
    add_env_flags,
    check_resume_config,
    env_config,
    int_list,
    resolve,
    write_run_config,
)
from iale_env import ALConfig, ALDataset, DatasetNotFoundError
from iale_env.protocols import PROTOCOLS

#: ``--preset`` settings (the AL protocol), from :mod:`iale_env.protocols`.
PRESETS: dict[str, dict] = {
    p: PROTOCOLS[p].al_config() for p in ("paper", "reduced", "cpu", "fast")
}
NOISE_CSV = "oracle_noise.csv"
SUMMARY = "summary.md"


def add_measurement_flags(p: argparse.ArgumentParser) -> None:
    """The flags of an oracle-executed measurement (``oracle_noise.py``, ``oracle_labels.py``)
    besides its ``--seeds``: the protocol, the dataset, the oracle's experts, the env and
    device overrides, and the output folder."""
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    p.add_argument(
        "--dataset",
        default="MNIST",
        help="the source: an MNIST-family name, synthetic:<seed> (a generated task) or the "
        "path of an .npz file or image folder",
    )
    p.add_argument(
        "--experts", help="comma list of the oracle's experts (default: the preset's, the paper's)"
    )
    add_env_flags(p)
    add_device_flags(p)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--resume", action="store_true", help="continue the measurement in --out")


def open_measurement(
    args: argparse.Namespace,
    csv_name: str,
    method: str,
    stack: contextlib.ExitStack,
    env_overrides: dict[str, Any] | None = None,
    **sections: Any,
) -> tuple[ALConfig, ALDataset]:
    """Check a measurement's input before any long work: its env settings, that ``--out``
    holds no measurement unless ``--resume`` (then with the same settings), that the dataset
    loads and fits; lock ``--out`` on ``stack`` and write its ``config.json``.
    ``env_overrides``: env settings the measurement fixes beyond the flags. ``sections``:
    the measurement's own settings (dataclasses), recorded beside the env's and checked on
    ``--resume`` like them.

    Raises:
        ValueError, DatasetNotFoundError: the message says what to do.
    """
    from agents.runs.locking import exclusive_folder
    from agents.sources import load_source, parse_sources
    from iale_env import check_data_fits

    out = Path(args.out)
    experts = {"experts": tuple(args.experts.split(","))} if args.experts else {}
    sources = parse_sources(args.dataset)
    if len(sources) > 1:
        raise ValueError(f"--dataset takes one source here, got {len(sources)}: {args.dataset!r}")
    settings = resolve(PRESETS[args.preset], args)
    al = env_config(settings, args).replace(dataset=sources[0], **experts, **(env_overrides or {}))
    if (out / csv_name).exists() and not args.resume:
        raise ValueError(f"{out} holds a measurement; pass --resume or use another --out")
    stack.enter_context(exclusive_folder(out))
    if args.resume:
        check_resume_config(out, method, al, **sections)
    data = load_source(sources[0], al.data_dir)
    check_data_fits(al, data)
    write_run_config(out, method, al, **sections)
    return al, data


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="oracle_noise.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--seeds", type=int_list, default=(100,), help="episode seeds")
    p.add_argument("--reseeds", type=int, default=3, help="other seeds per state")
    add_measurement_flags(p)
    args = p.parse_args(argv)
    out = Path(args.out)
    stack = contextlib.ExitStack()
    try:  # everything that checks the input: a mistake is one line, before any long work
        from agents.diagnostics.oracle_noise import measure, noise_markdown

        if args.reseeds < 1:
            raise ValueError(f"--reseeds must be >= 1, got {args.reseeds}")
        al, data = open_measurement(args, NOISE_CSV, "oracle_noise", stack)
    except (ValueError, DatasetNotFoundError) as exc:
        stack.close()
        print(f"oracle_noise.py: error: {exc}", file=sys.stderr)
        return 2
    with stack:  # the measurement itself: an error here keeps its traceback (exit code 1)
        rows = measure(
            al,
            args.seeds,
            args.reseeds,
            out / NOISE_CSV,
            data=data,
            resume=args.resume,
            log=partial(print, flush=True),
        )
        table = noise_markdown(rows, al.oracle_seeds)
        (out / SUMMARY).write_text(table)
    print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
