"""Where an AL step's time goes, before and after the inference changes, and the fast track's
throughput.

Three tables from one run, on one PyTorch thread unless ``--threads`` says otherwise:

1. ``chunks``: inference seconds for 10,000 test images by chunk size, for each built-in
   classifier and each device present (the figures ``iale_env.inference.EVAL_CHUNK`` is set
   from), with a check that every chunk gives the 4,096-image chunk's logits bit for bit.
2. ``pieces`` and ``episodes``: each piece of a ``cpu``-protocol step (fitting M, its
   scoring-set and test-set accuracy, the state, an oracle call) and whole episodes (random and
   oracle-executed), with the settings of the code before these changes (``old``: 4,096-image
   inference chunks, scoring and test accuracy after every step) and now (``new``: the
   measured chunk; an evaluation sweep skips the reward, which it does not read). Old and new
   alternate within each repeat, so a load on the machine hits both alike.
3. ``throughput``: AL steps per second of the fast track (``IALE-*-fast-v0``) for an RL
   agent's training (no oracle, test accuracy at the episode's end only), with 1 and 2 envs in
   subprocesses of one thread each, for the paper's Eq. 2 state and for the state with the
   experts' scores (the ``fast`` preset's learned policies), with fp32 and bf16 inference.

    python scripts/benchmark_step.py --out runs/bench_step.json
    python scripts/benchmark_step.py --skip-episodes --throughput-steps 36   # minutes
    python scripts/benchmark_step.py --only-throughput --out runs/throughput.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.cli.common import set_threads
from iale_env import ActiveLearningEnv, ALConfig, ALDataset, inference, load_dataset
from iale_env.classifier import build_classifier, classifier_spec
from iale_env.inference import predict_models
from iale_env.protocols import CPU, FAST

CHUNKS = (4096, 1024, 256, 128, 64, 32)
#: The previous code's inference chunk on every device.
OLD_CHUNK = 4096


@contextlib.contextmanager
def inference_chunk(device: str, chunk: int) -> Iterator[None]:
    """Run the block with ``chunk`` as ``device``'s inference chunk (the benchmark's "old")."""
    table = inference.EVAL_CHUNK
    before = table[device]
    table[device] = dict.fromkeys(before, chunk)
    try:
        yield
    finally:
        table[device] = before


def chunk_table(data: ALDataset, devices: list[str], repeats: int) -> list[dict[str, Any]]:
    """Seconds to predict 10,000 test images, by classifier, device and chunk (best of
    ``repeats``), and whether the outputs equal those of 4,096-image chunks."""
    rows = []
    x_cpu = data.test_x[:10_000]
    for arch in ("cnn", "mlp"):
        spec = classifier_spec(arch, data.image_shape, data.num_classes)
        for device in devices:
            model = build_classifier(spec, 0, device).eval()
            x = x_cpu.to(device)
            with torch.no_grad():
                ref = predict_models([model], x, chunk=OLD_CHUNK)
                for chunk in CHUNKS:
                    best = float("inf")
                    for _ in range(repeats):
                        _sync(device)
                        t0 = time.perf_counter()
                        out = predict_models([model], x, chunk=chunk)
                        _sync(device)
                        best = min(best, time.perf_counter() - t0)
                    same = torch.equal(out[0], ref[0]) and torch.equal(out[1], ref[1])
                    rows.append(
                        dict(arch=arch, device=device, chunk=chunk, seconds=best, identical=same)
                    )
    return rows


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def cpu_config(dataset: str, data_dir: str | None, **changes: Any) -> ALConfig:
    """The ``cpu`` protocol's env settings (the CNN)."""
    return ALConfig(dataset=dataset, data_dir=data_dir, **CPU.al_config(), **changes)


def time_pieces(cfg: ALConfig, data: ALDataset, labeled_steps: int, seed: int) -> dict[str, float]:
    """Seconds of each piece of one step, after ``labeled_steps`` random steps from ``reset``."""
    env = ActiveLearningEnv(cfg.replace(rewards=True, test_every_step=True), data=data)
    env.reset(seed=seed)
    for _ in range(labeled_steps):
        env.step(env.expert_action("random"))
    out: dict[str, float] = {}
    labeled = env.labeled_indices
    t0 = time.perf_counter()
    model, _, _, _ = env.episode.fit(labeled)  # M alone (no eager members): the fit every step pays
    out["fit_M"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    env.scoring_accuracies([model])
    out["scoring_accuracy"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    env.episode.test_accuracies([model])
    out["test_accuracy"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    env._observation()
    out["state"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    env.oracle_action()  # the experts (MC-Dropout, the ensemble's 4 extra members) + 2 retrains
    out["oracle"] = time.perf_counter() - t0
    out["fit_M"] -= out["scoring_accuracy"] + out["test_accuracy"]  # _fit also scored M
    return out


def time_episode(cfg: ALConfig, data: ALDataset, method: str, seed: int, steps: int | None) -> dict:
    """Wall seconds of an episode (or its first ``steps`` steps) executing ``method``."""
    env = ActiveLearningEnv(cfg, data=data)
    t0 = time.perf_counter()
    env.reset(seed=seed)
    done, n = False, 0
    while not done and (steps is None or n < steps):
        action = env.oracle_action() if method == "oracle" else env.expert_action(method)
        _, _, done, _, info = env.step(action)
        n += 1
    return {"seconds": time.perf_counter() - t0, "steps": n, "final": info["test_accuracy"]}


def old_and_new(
    base: ALConfig, device: str
) -> dict[str, tuple[contextlib.AbstractContextManager, ALConfig]]:
    """The two settings compared: the previous code's work, and today's for an evaluation."""
    return {
        "old": (inference_chunk(device, OLD_CHUNK), base.replace(rewards=True)),
        "new": (contextlib.nullcontext(), base.replace(rewards=False)),
    }


def throughput(
    dataset: str,
    data_dir: str | None,
    envs: int,
    steps: int,
    state_scores: tuple[str, ...],
    inference_precision: str = "fp32",
) -> float:
    """AL steps per second of ``envs`` fast-track envs (subprocesses, one thread each) under
    random score actions, as an RL agent's rollouts drive them, with every prediction in
    ``inference_precision``."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import SubprocVecEnv

    cfg = ALConfig(
        dataset=dataset,
        data_dir=data_dir,
        **FAST.al_config(),
        test_every_step=False,
        state_scores=state_scores,
        eager_ensemble="ensemble" in state_scores,
        inference_precision=inference_precision,
    )
    venv = make_vec_env(
        _one_thread_env,
        n_envs=envs,
        seed=0,
        vec_env_cls=SubprocVecEnv,
        env_kwargs={"config": cfg},
        vec_env_kwargs={"start_method": "fork"},
    )
    try:
        venv.reset()
        rng = np.random.default_rng(0)
        shape = (envs, cfg.subpool_size)
        venv.step(rng.random(shape, dtype=np.float32))  # warm-up
        t0 = time.perf_counter()
        done_steps = 0
        while done_steps < steps:
            venv.step(rng.random(shape, dtype=np.float32))
            done_steps += envs
        return done_steps / (time.perf_counter() - t0)
    finally:
        venv.close()


def _one_thread_env(config: ALConfig):
    """An RL env in a subprocess that uses one PyTorch thread."""
    from agents.rl import make_rl_env

    torch.set_num_threads(1)
    return make_rl_env(config)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dataset", default="FashionMNIST")
    p.add_argument("--data-dir", help="data root (default: $IALE_DATA_DIR or a cache folder)")
    p.add_argument("--threads", type=int, default=1, help="PyTorch threads (default 1)")
    p.add_argument("--repeats", type=int, default=3, help="repeats of the chunk and piece timings")
    p.add_argument("--piece-steps", type=int, default=8, help="random steps before the pieces")
    p.add_argument(
        "--oracle-steps",
        type=int,
        default=None,
        help="time only the first N steps of the oracle-executed episode (default: all)",
    )
    p.add_argument("--skip-episodes", action="store_true", help="no whole-episode timings")
    p.add_argument(
        "--only-throughput", action="store_true", help="only table 3 (the fast track's steps/s)"
    )
    p.add_argument("--throughput-steps", type=int, default=180, help="AL steps per measurement")
    p.add_argument("--out", help="also write every figure as JSON here")
    return p.parse_args(argv)


def _fmt_ratio(old: float, new: float) -> str:
    return f"{old / new:.2f}x" if new > 0 else "-"


def report_chunks(args: argparse.Namespace, data: ALDataset, report: dict[str, Any]) -> None:
    """Table 1: inference seconds by chunk size, each checked bit for bit."""
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = chunk_table(data, devices, args.repeats)
    report["chunks"] = rows
    print("Inference of 10,000 images by chunk (seconds, best of repeats; '=' bit-identical)")
    for r in rows:
        mark = "=" if r["identical"] else "DIFFERS"
        print(
            f"  {r['arch']:>4} {r['device']:>5} chunk {r['chunk']:>5}: {r['seconds']:7.3f} {mark}"
        )


def report_pieces(args: argparse.Namespace, data: ALDataset, report: dict[str, Any]) -> None:
    """Table 2: each piece of a ``cpu`` step, and whole episodes, old against new."""
    base = cpu_config(args.dataset, args.data_dir)
    pieces: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
    for rep in range(args.repeats):
        order = ["old", "new"] if rep % 2 == 0 else ["new", "old"]
        for name in order:
            ctx, cfg = old_and_new(base, "cpu")[name]
            with ctx:
                pieces[name].append(time_pieces(cfg, data, args.piece_steps, seed=rep))
    medians = {
        name: {k: statistics.median(t[k] for t in ts) for k in ts[0]} for name, ts in pieces.items()
    }
    report["pieces"] = medians
    print(f"\ncpu protocol, one step at {20 + 10 * args.piece_steps} labels (median seconds)")
    print(f"  {'piece':>17} {'old':>8} {'new':>8} {'speed-up':>9}")
    for key in medians["old"]:
        o, n = medians["old"][key], medians["new"][key]
        print(f"  {key:>17} {o:8.3f} {n:8.3f} {_fmt_ratio(o, n):>9}")
    if args.skip_episodes:
        return
    episodes: dict[str, dict[str, dict]] = {}
    for method, steps in (("random", None), ("oracle", args.oracle_steps)):
        for name in ("old", "new"):
            ctx, cfg = old_and_new(base, "cpu")[name]
            with ctx:
                episodes.setdefault(method, {})[name] = time_episode(cfg, data, method, 0, steps)
    report["episodes"] = episodes
    print("\ncpu protocol, whole episodes (seed 0; an evaluation's work)")
    for method, by in episodes.items():
        o, n = by["old"], by["new"]
        same = "same final accuracy" if o["final"] == n["final"] else "FINAL ACCURACY DIFFERS"
        print(
            f"  {method:>7} ({o['steps']} steps): old {o['seconds']:7.1f} s, new "
            f"{n['seconds']:7.1f} s, {_fmt_ratio(o['seconds'], n['seconds'])} ({same})"
        )


def report_throughput(args: argparse.Namespace, report: dict[str, Any]) -> None:
    """Table 3: the fast track's AL steps per second for an RL agent."""
    report["throughput"] = []
    print("\nFast track, AL steps per second for an RL agent (random score actions, no oracle)")
    for scores in ((), ("mc_dropout", "ensemble")):
        for precision in ("fp32", "bf16"):
            for envs in (1, 2):
                rate = throughput(
                    args.dataset, args.data_dir, envs, args.throughput_steps, scores, precision
                )
                report["throughput"].append(
                    dict(envs=envs, state_scores=list(scores), precision=precision, rate=rate)
                )
                label = "Eq. 2 + expert scores" if scores else "Eq. 2"
                print(f"  {label:>22}, {precision}, {envs} env(s): {rate:6.2f} steps/s")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    set_threads(args.threads)
    if args.out and Path(args.out).exists():
        print(f"error: {args.out} exists; choose another --out", file=sys.stderr)
        return 2
    report: dict[str, Any] = {"dataset": args.dataset, "threads": args.threads}
    if not args.only_throughput:
        data = load_dataset(args.dataset, args.data_dir)
        report_chunks(args, data, report)
        report_pieces(args, data, report)
    report_throughput(args, report)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
