"""Throughput of parallel work on this machine: sweep runs per hour and DAgger episodes per hour.

Times the same work two ways each, with every core used once (no oversubscription):

- a sweep: ``--runs`` heuristic episodes sequentially in this process (``--threads`` PyTorch
  threads) and as Ray tasks on ``--workers`` workers (``threads / workers`` threads each): runs
  per hour (the curves of the two differ in the last bits, because PyTorch's CPU results depend
  on the thread count; at equal threads per run they are identical, which the tests check);
- DAgger: ``--rounds`` rounds with one env (``--threads`` threads) and with ``--workers`` envs in
  worker processes (one round = ``--workers`` episodes, ``threads / workers`` threads each):
  AL episodes per hour.

Small settings by default (the ``reduced`` protocol with a budget of 60), so it finishes in
minutes on 2 cores; the relative figures are what it measures. Prints a Markdown table and
writes JSON.

    python scripts/benchmark_parallel.py --workers 2 --out runs/bench_parallel.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from agents.cli.common import default_threads, set_threads
from agents.extras import require_imitation

SETTINGS = dict(budget=60, epochs=10, scoring_size=1000, test_size=2000, pool_size=5000)


def _sweep(cfg, out: Path, runner=None) -> float:
    from agents.evaluation import evaluate
    from agents.evaluation.sweep import sequential_runs

    t0 = time.perf_counter()
    evaluate(cfg, out, log=None, runner=runner or sequential_runs)
    return time.perf_counter() - t0


def _dagger(env_cfg, rounds: int, envs: int, threads: int, out: Path) -> float:
    from agents.dagger import DAggerConfig, train_dagger
    from agents.vec_env import parallel_envs
    from iale_env import ActiveLearningEnv

    cfg = DAggerConfig(episodes=rounds, bc_batch_size=4, bc_batches=50, heldout_episodes=0)
    t0 = time.perf_counter()
    if envs == 1:
        set_threads(threads)
        train_dagger(ActiveLearningEnv(env_cfg), cfg, out, progress=False)
    else:
        venv = parallel_envs(env_cfg, envs, threads)
        try:
            train_dagger(venv, cfg, out, progress=False)
        finally:
            venv.close()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="benchmark_parallel.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dataset", default="MNIST")
    p.add_argument("--workers", type=int, default=2, help="Ray workers / DAgger envs")
    p.add_argument("--threads", type=int, help="cores in all (default: those of this process)")
    p.add_argument("--runs", type=int, default=8, help="sweep episodes (random and entropy)")
    p.add_argument("--rounds", type=int, default=2, help="DAgger rounds with one env")
    p.add_argument("--data-dir", help="data root (default: $IALE_DATA_DIR or a cache folder)")
    p.add_argument("--skip", choices=("sweep", "dagger"), help="time only the other one")
    p.add_argument("--out", help="JSON file of the figures")
    args = p.parse_args(argv)
    threads = args.threads or default_threads()
    from iale_env import DatasetNotFoundError

    try:
        if args.workers < 2 or threads < args.workers:
            raise ValueError(
                f"--workers must be >= 2 and at most the cores ({threads}), got {args.workers}"
            )
        if args.runs < 2 or args.rounds < 1:
            raise ValueError("--runs must be >= 2 and --rounds >= 1")
        from agents.evaluation import EvalConfig
        from agents.evaluation.parallel import RayRunner, import_ray
        from iale_env import ALConfig, load_dataset

        import_ray()
        if args.skip != "dagger":
            require_imitation("DAgger's timing (--skip dagger times the sweep alone)")
        load_dataset(args.dataset, args.data_dir)
    except (ValueError, ImportError, DatasetNotFoundError) as exc:
        print(f"benchmark_parallel.py: error: {exc}", file=sys.stderr)
        return 2
    per_worker = threads // args.workers
    env = ALConfig(dataset=args.dataset, data_dir=args.data_dir, **SETTINGS)
    seeds = tuple(range((args.runs + 1) // 2))
    cfg = EvalConfig((args.dataset,), ("random", "entropy"), seeds, env, ())
    runs = len(cfg.methods) * len(seeds)
    figures: dict = {"threads": threads, "workers": args.workers, "settings": SETTINGS}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.skip != "sweep":
            set_threads(threads)
            seq = _sweep(cfg, tmp / "seq")
            with RayRunner(workers=args.workers, threads=per_worker) as runner:
                par = _sweep(cfg, tmp / "ray", runner)
            figures["sweep"] = {"runs": runs, "sequential_s": seq, "ray_s": par}
            rows += [
                ("sweep, sequential", f"1 process x {threads} threads", runs / seq * 3600, "runs"),
                (
                    "sweep, Ray",
                    f"{args.workers} workers x {per_worker} threads",
                    runs / par * 3600,
                    "runs",
                ),
            ]
        if args.skip != "dagger":
            eps = args.rounds
            one = _dagger(env, eps, 1, threads, tmp / "d1")
            many = _dagger(env, max(1, eps // args.workers), args.workers, per_worker, tmp / "dn")
            many_eps = max(1, eps // args.workers) * args.workers
            figures["dagger"] = {
                "episodes_1env": eps,
                "s_1env": one,
                "episodes_nenv": many_eps,
                "s_nenv": many,
            }
            rows += [
                ("DAgger, 1 env", f"1 process x {threads} threads", eps / one * 3600, "episodes"),
                (
                    f"DAgger, {args.workers} envs",
                    f"{args.workers} workers x {per_worker} threads",
                    many_eps / many * 3600,
                    "episodes",
                ),
            ]
    print("| work | processes | per hour |")
    print("|---|---|---:|")
    for what, how, rate, unit in rows:
        print(f"| {what} | {how} | {rate:.1f} {unit} |")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
