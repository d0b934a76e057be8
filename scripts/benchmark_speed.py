"""Time one env ``step`` and one ``oracle_action`` at several labeled-set sizes.

Paper settings by default (100 epochs, full batch, experts mc_dropout+ensemble, sub-pool 100,
acquisition 10, scoring set 1000). For each device present and each fitting mode it prints a
table and writes JSON with wall times, the batched/sequential ratio (compare oracle+step:
with batched fitting the ensemble's members train in the step before the oracle call), the estimated FLOPs of
the step and the achieved FLOP/s, and extrapolates one paper DAgger episode and 100 of them.

    python scripts/benchmark_speed.py --labeled 20,500 --out runs/bench.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from iale_env import ActiveLearningEnv, ALConfig, ClassifierSpec, load_dataset


def forward_flops(spec: ClassifierSpec) -> float:
    """Multiply-add FLOPs (x2) of one image's forward pass."""
    c, h, w = spec.image_shape
    k, ch = spec.kernel_size, spec.conv_channels
    h1, w1 = h - k + 1, w - k + 1
    h2, w2 = h1 - k + 1, w1 - k + 1
    ph, pw = spec.conv_out_hw
    return 2.0 * (
        c * k * k * ch * h1 * w1
        + ch * k * k * ch * h2 * w2
        + ch * ph * pw * spec.embedding_dim
        + spec.embedding_dim * spec.num_classes
    )


def step_flops(cfg: ALConfig, spec: ClassifierSpec, labeled: int, eval_images: int) -> dict:
    """Estimated FLOPs of one oracle call and one step (training = 3x forward per image-epoch)."""
    f = forward_flops(spec)
    train = lambda n: 3.0 * f * n * cfg.epochs  # noqa: E731
    members = cfg.ensemble_size - 1 if "ensemble" in cfg.experts else 0
    # The ensemble's members are trained in the oracle call or, eagerly, in the step before;
    # either way one oracle + one step cost the sum below.
    oracle = (
        members * train(labeled)
        + len(cfg.experts) * train(labeled + cfg.acquisition_size)
        + len(cfg.experts) * f * cfg.scoring_size
        + f * cfg.subpool_size * (cfg.mc_dropout_passes + cfg.ensemble_size)
    )
    step = train(labeled + cfg.acquisition_size) + f * (eval_images + labeled + cfg.subpool_size)
    return {"oracle": oracle, "step": step}


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--labeled", default="20,500,1000", help="comma list of labeled-set sizes")
    p.add_argument(
        "--modes",
        default="sequential,batched,batched-vmap",
        help="sequential; batched (vmap on CUDA, model loop on CPU); batched-vmap (vmap anywhere)",
    )
    p.add_argument("--devices", default=None, help="default: cpu, plus cuda when present")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--experts", default="mc_dropout,ensemble")
    p.add_argument("--test-size", type=int, default=None, help="default: the whole test split")
    p.add_argument("--dataset", default="MNIST")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default="runs/benchmark_speed.json")
    args = p.parse_args()

    devices = (
        args.devices.split(",")
        if args.devices
        else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    )
    data = load_dataset(args.dataset, args.data_dir)
    rows = []
    for device in devices:
        for labeled in [int(v) for v in args.labeled.split(",")]:
            for mode in args.modes.split(","):
                cfg = ALConfig(
                    dataset=args.dataset,
                    initial_labeled=labeled,
                    budget=labeled + 10,
                    epochs=args.epochs,
                    experts=tuple(args.experts.split(",")),
                    device=device,
                    fit_mode="sequential" if mode == "sequential" else "batched",
                    vectorize=True if mode == "batched-vmap" else None,
                    eager_ensemble=mode != "sequential",
                    test_size=args.test_size,
                )
                env = ActiveLearningEnv(cfg, data=data)
                env.reset(seed=0)
                sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
                sync()
                t0 = time.perf_counter()
                action = env.oracle_action()
                sync()
                t1 = time.perf_counter()
                env.step(action)
                sync()
                t2 = time.perf_counter()
                flops = step_flops(
                    cfg, env.classifier_spec, labeled, len(env._test_y) + cfg.scoring_size
                )
                row = {
                    "device": device,
                    "labeled": labeled,
                    "mode": mode,
                    "oracle_s": t1 - t0,
                    "step_s": t2 - t1,
                    "total_s": t2 - t0,
                    "flops": flops["oracle"] + flops["step"],
                    "flop_per_s": (flops["oracle"] + flops["step"]) / (t2 - t0),
                }
                rows.append(row)
                print(
                    f"{device:5s} labeled={labeled:5d} {mode:13s} oracle {row['oracle_s']:8.2f}s "
                    f"step {row['step_s']:8.2f}s total {row['total_s']:8.2f}s "
                    f"{row['flops'] / 1e12:7.2f} TFLOP {row['flop_per_s'] / 1e9:8.1f} GFLOP/s",
                    flush=True,
                )
    for r in rows:
        seq = [
            q
            for q in rows
            if q["device"] == r["device"]
            and q["labeled"] == r["labeled"]
            and q["mode"] == "sequential"
        ]
        r["ratio_over_sequential"] = (
            r["total_s"] / seq[0]["total_s"] if seq and r["mode"] != "sequential" else None
        )
    print(
        "\n| device | labeled | mode | oracle s | step s | oracle+step s | / sequential | GFLOP/s |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for r in rows:
        ratio = f"{r['ratio_over_sequential']:.2f}" if r["ratio_over_sequential"] else "1"
        print(
            f"| {r['device']} | {r['labeled']} | {r['mode']} | {r['oracle_s']:.2f} | "
            f"{r['step_s']:.2f} | {r['total_s']:.2f} | {ratio} | {r['flop_per_s'] / 1e9:.1f} |"
        )
    # A DAgger episode: (budget - initial) / acq steps, each one oracle call + one step; time grows
    # ~linearly with the labeled count, so the mean of the 20- and 1000-label times (or the
    # linear fit through the measured sizes) estimates the per-step mean.
    summary = {}
    for device in devices:
        for mode in args.modes.split(","):
            pts = sorted(
                (r["labeled"], r["total_s"])
                for r in rows
                if r["device"] == device and r["mode"] == mode
            )
            if len(pts) >= 2:
                (l0, t0), (l1, t1) = pts[0], pts[-1]
                slope = (t1 - t0) / (l1 - l0)
                mean_step = t0 + slope * ((20 + 1000) / 2 - l0)
                episode = mean_step * 98
                summary[f"{device}/{mode}"] = {
                    "episode_s": episode,
                    "protocol_100_episodes_h": episode * 100 / 3600,
                }
                print(
                    f"{device}/{mode}: paper DAgger episode ~{episode / 60:.1f} min, 100 episodes ~{episode * 100 / 3600:.1f} h"
                )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "extrapolation": summary}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
