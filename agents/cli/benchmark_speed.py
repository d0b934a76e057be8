"""Time one env ``oracle_action`` and one ``step`` at several labeled-set sizes.

Paper settings by default (100 epochs, full batch, experts mc_dropout+ensemble, sub-pool 100,
acquisition 10, scoring set 1000, the whole test split). For each device present and each
fitting mode it times ``--repeats`` oracle+step calls, the modes interleaved within each repeat
and their order reversed every other repeat (so slow drift of the machine, and whatever the
previous call leaves behind, hit every mode alike), after an untimed warm-up per mode and size.
It prints a table of medians and writes JSON with every timing, the batched/sequential ratio
(median, and the worst of the per-repeat ratios), the estimated FLOPs of one oracle+step and the
achieved FLOP/s, and extrapolates one paper DAgger episode and the 100-episode protocol.

Every mode does the same work: the ensemble's extra members for the next state train together
with M inside ``step`` (``eager_ensemble``, as in DAgger training), so one oracle call trains
the experts' retrains and one step trains M plus the members; only the fitting differs (one
model after the other, or all of a call at once). The timed step does not end the episode.

    python scripts/benchmark_speed.py --labeled 20,500 --repeats 3 --out runs/bench.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from agents.cli.common import set_threads
from iale_env import ActiveLearningEnv, ALConfig, ALDataset, ClassifierSpec, load_dataset
from iale_env.protocols import PAPER

MODES = ("sequential", "batched", "batched-eager")
#: Acquisitions of one paper DAgger episode: labeled 20 -> 1000 in steps of 10.
PAPER_STEPS = PAPER.steps_per_episode


def step_flops(cfg: ALConfig, spec: ClassifierSpec, labeled: int, eval_images: int) -> dict:
    """Estimated FLOPs of one oracle call and one step (training = 3x forward per image-epoch)."""
    f = spec.forward_flops()

    def train(n: int) -> float:
        return 3.0 * f * n * cfg.epochs

    members = cfg.ensemble_size - 1 if "ensemble" in cfg.experts else 0
    nxt = labeled + cfg.acquisition_size
    # The experts' retrains on labeled + selection; M and (eagerly) the next state's members.
    oracle = (
        len(cfg.experts) * train(nxt)
        + len(cfg.experts) * f * cfg.scoring_size
        + f * cfg.subpool_size * (cfg.mc_dropout_passes + cfg.ensemble_size)
    )
    step = (1 + members) * train(nxt) + f * (eval_images + nxt + cfg.subpool_size)
    return {"oracle": oracle, "step": step}


def mode_config(base: ALConfig, mode: str, labeled: int) -> ALConfig:
    """The env config that times ``mode`` at ``labeled`` images (the timed step is not the
    last, so it trains the next state's ensemble members like every step of an episode)."""
    return replace(
        base,
        initial_labeled=labeled,
        budget=labeled + 2 * base.acquisition_size,
        fit_mode="sequential" if mode == "sequential" else "batched",
        cuda_graphs=False if mode == "batched-eager" else None,
        eager_ensemble=True,
    )


def time_oracle_and_step(cfg: ALConfig, data: ALDataset, seed: int = 0) -> dict[str, float]:
    """Wall seconds of one ``oracle_action`` and one ``step`` from a fresh ``reset(seed)``,
    and the estimated FLOPs of the two."""
    env = ActiveLearningEnv(cfg, data=data)
    env.reset(seed=seed)
    cuda = env.device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    sync()
    t0 = time.perf_counter()
    action = env.oracle_action()
    sync()
    t1 = time.perf_counter()
    env.step(action)
    sync()
    t2 = time.perf_counter()
    # M is scored on the scoring set and the test split after every step.
    eval_images = cfg.scoring_size + len(data.test_y[: cfg.test_size])
    flops = step_flops(cfg, env.classifier_spec, cfg.initial_labeled, eval_images)
    return {
        "oracle_s": t1 - t0,
        "step_s": t2 - t1,
        "total_s": t2 - t0,
        "flops": flops["oracle"] + flops["step"],
    }


def summarize_cells(timings: list[dict]) -> list[dict]:
    """One row per (device, labeled, mode): medians, spread and the ratio to sequential."""
    cells: dict[tuple, list[dict]] = {}
    for t in timings:
        cells.setdefault((t["device"], t["labeled"], t["mode"]), []).append(t)
    rows = []
    for (device, labeled, mode), ts in cells.items():
        totals = [t["total_s"] for t in ts]
        row = {
            "device": device,
            "labeled": labeled,
            "mode": mode,
            "repeats": len(ts),
            "oracle_s": statistics.median(t["oracle_s"] for t in ts),
            "step_s": statistics.median(t["step_s"] for t in ts),
            "total_s": statistics.median(totals),
            "total_min_s": min(totals),
            "total_max_s": max(totals),
            "flops": ts[0]["flops"],
        }
        row["flop_per_s"] = row["flops"] / row["total_s"]
        seq = cells.get((device, labeled, "sequential"))
        if seq is not None and mode != "sequential":
            row["ratio_over_sequential"] = row["total_s"] / statistics.median(
                t["total_s"] for t in seq
            )
            paired = [a["total_s"] / b["total_s"] for a, b in zip(ts, seq)]
            row["worst_paired_ratio"] = max(paired)
        rows.append(row)
    return rows


def extrapolate(rows: list[dict]) -> dict[str, dict[str, float]]:
    """A paper DAgger episode (98 oracle+step calls from 20 to 1000 labels) per device/mode.

    Time grows about linearly with the labeled count, so the line through the smallest and the
    largest measured size, taken at the episode's mean labeled count (510), estimates the mean
    per-call time.
    """
    out = {}
    for key in sorted({(r["device"], r["mode"]) for r in rows}):
        pts = sorted((r["labeled"], r["total_s"]) for r in rows if (r["device"], r["mode"]) == key)
        if len(pts) < 2:
            continue
        (l0, t0), (l1, t1) = pts[0], pts[-1]
        mean_call = t0 + (t1 - t0) / (l1 - l0) * ((20 + 1000) / 2 - l0)
        episode = mean_call * PAPER_STEPS
        out["/".join(key)] = {"episode_s": episode, "protocol_100_episodes_h": episode * 100 / 3600}
    return out


def markdown_table(rows: list[dict]) -> str:
    """The rows as a Markdown table (medians; the ratio's worst repeat in brackets)."""
    lines = [
        "| device | labeled | mode | repeats | oracle s | step s | oracle+step s (min-max) "
        "| / sequential (worst) | GFLOP/s |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = (
            f"{r['ratio_over_sequential']:.2f} ({r['worst_paired_ratio']:.2f})"
            if "ratio_over_sequential" in r
            else "1"
        )
        lines.append(
            f"| {r['device']} | {r['labeled']} | {r['mode']} | {r['repeats']} | "
            f"{r['oracle_s']:.2f} | {r['step_s']:.2f} | {r['total_s']:.2f} "
            f"({r['total_min_s']:.2f}-{r['total_max_s']:.2f}) | {ratio} | "
            f"{r['flop_per_s'] / 1e9:.1f} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--labeled", default="20,500,1000", help="comma list of labeled-set sizes")
    p.add_argument(
        "--modes",
        default="sequential,batched",
        help="sequential; batched (one optimizer step for all models of a call, replayed as a "
        "CUDA graph on CUDA); batched-eager (the same without CUDA graphs)",
    )
    p.add_argument("--precision", default="fp32", choices=("fp32", "tf32", "bf16"))
    p.add_argument(
        "--nondeterministic",
        action="store_true",
        help="let cuDNN use its faster non-deterministic algorithms (ALConfig.deterministic=False)",
    )
    p.add_argument("--devices", default=None, help="default: cpu, plus cuda when present")
    p.add_argument("--repeats", type=int, default=3, help="timed calls per cell (median shown)")
    p.add_argument("--no-warmup", action="store_true", help="skip the untimed warm-up call")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--experts", default="mc_dropout,ensemble")
    p.add_argument("--test-size", type=int, default=None, help="default: the whole test split")
    p.add_argument("--scoring-size", type=int, default=None, help="default: ALConfig's (1000)")
    p.add_argument(
        "--subpool-size", "--subpool", type=int, default=None, help="default: ALConfig's (100)"
    )
    p.add_argument("--dataset", default="MNIST")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--threads", type=int, help="PyTorch CPU threads (default: the process's cores)")
    p.add_argument("--out", default="runs/benchmark_speed.json")
    args = p.parse_args(argv)
    args.modes = args.modes.split(",")
    if unknown := [m for m in args.modes if m not in MODES]:
        p.error(f"unknown mode(s) {unknown}; choose from {', '.join(MODES)}")
    try:
        args.labeled = [int(v) for v in args.labeled.split(",")]
    except ValueError:
        p.error(f"--labeled takes a comma list of integers, got {args.labeled!r}")
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    cuda = torch.cuda.is_available()
    args.devices = args.devices.split(",") if args.devices else ["cpu"] + (["cuda"] * cuda)
    if any(d.startswith("cuda") for d in args.devices) and not cuda:
        p.error("--devices names cuda but no CUDA device is present")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    overrides = {
        k: v
        for k, v in (
            ("test_size", args.test_size),
            ("scoring_size", args.scoring_size),
            ("subpool_size", args.subpool_size),
        )
        if v is not None
    }
    try:
        set_threads(args.threads)
        data = load_dataset(args.dataset, args.data_dir)
        bases = {
            d: ALConfig(
                dataset=args.dataset,
                epochs=args.epochs,
                experts=tuple(args.experts.split(",")),
                device=d,
                precision=args.precision,
                deterministic=not args.nondeterministic,
                **overrides,
            )
            for d in args.devices
        }
    except (ValueError, FileNotFoundError) as err:
        sys.exit(f"benchmark_speed.py: error: {err}")

    timings = []
    for device, base in bases.items():
        for labeled in args.labeled:
            cfgs = {m: mode_config(base, m, labeled) for m in args.modes}
            if not args.no_warmup:
                for cfg in cfgs.values():
                    time_oracle_and_step(replace(cfg, epochs=1), data)
            for rep in range(args.repeats):
                order = list(cfgs.items())
                for mode, cfg in order[::-1] if rep % 2 else order:
                    t = time_oracle_and_step(cfg, data)
                    timings.append(
                        {"device": device, "labeled": labeled, "mode": mode, "repeat": rep} | t
                    )
                    print(
                        f"{device:5s} labeled={labeled:5d} {mode:13s} repeat {rep}: oracle "
                        f"{t['oracle_s']:8.2f}s step {t['step_s']:8.2f}s total "
                        f"{t['total_s']:8.2f}s ({t['flops'] / 1e12:.2f} TFLOP)",
                        flush=True,
                    )
    rows = summarize_cells(timings)
    print("\n" + markdown_table(rows))
    episodes = extrapolate(rows)
    for key, e in episodes.items():
        print(
            f"{key}: paper DAgger episode ~{e['episode_s'] / 60:.1f} min, "
            f"100 episodes ~{e['protocol_100_episodes_h']:.1f} h"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "timings": timings,
        "rows": rows,
        "extrapolation": episodes,
    }
    out.write_text(json.dumps(body, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
