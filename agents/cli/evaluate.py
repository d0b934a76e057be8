r"""Paired active-learning curves of heuristics, the IALE policy, ALIL and RL agents.

    python scripts/evaluate.py --preset reduced --datasets FashionMNIST \
        --methods random,mc_dropout,iale:runs/smoke --out runs/eval_reduced
    python scripts/evaluate.py --datasets FashionMNIST,KMNIST --seeds 0,1,2,3,4 \
        --methods random,mc_dropout,ensemble,coreset,mc_dropout@pool,iale:runs/paper \
        --device cuda --out runs/eval_paper

Methods: a heuristic on the sub-pool (random, mc_dropout, ensemble, coreset, entropy, margin,
badge), HEURISTIC@pool on the whole unlabeled pool, oracle (the best-expert oracle executed at
every step: the ceiling of imitation), or FAMILY:PATH for a trained policy
(iale, alil, ppo, a2c; PATH = policy.zip, its run folder, or a shipped policy's name such as
iale-mnist-cpu); LABEL=FAMILY:PATH names the curve.
For one dataset and seed every method starts from the same split, initial set and classifier
initialisation. Finished runs are appended to OUT/curves.csv; rerunning the same command skips
them (resume after a kill). A curves.csv without the config.json that records its settings is
refused unless --adopt or --overwrite says what to do with it. Writes OUT/summary.md, summary.csv and PNG plots; redraw them with
scripts/plot.py.

With --workers N (or --address of a Ray cluster) the runs are Ray tasks, N at a time, each
reserving --threads CPUs (default: this machine's cores / N) and --gpus-per-run of a GPU; at
the same threads per run the curves are a sequential sweep's, bit for bit. Needs
pip install 'iale-gym[ray]'.
"""

from __future__ import annotations

import argparse
import contextlib
import sys

from agents.cli.common import (
    add_device_flags,
    add_env_flags,
    env_config,
    int_list,
    name_list,
    resolve,
)
from iale_env.protocols import PROTOCOLS

#: ``--preset`` settings (the AL protocol of every run), from :mod:`iale_env.protocols`.
PRESETS: dict[str, dict] = {
    p: PROTOCOLS[p].al_config() for p in ("paper", "reduced", "cpu", "fast")
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="evaluate.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--preset", choices=sorted(PRESETS), default="paper")
    p.add_argument("--datasets", type=name_list, default=("FashionMNIST", "KMNIST"))
    p.add_argument(
        "--methods", type=name_list, default=("random", "mc_dropout", "ensemble", "coreset")
    )
    p.add_argument("--seeds", type=int_list, default=(0, 1, 2))
    add_env_flags(p, pool_size=True)
    add_device_flags(p)
    p.add_argument("--mc-dropout-passes", type=int, default=20)
    p.add_argument("--ensemble-size", type=int, default=5)
    p.add_argument(
        "--overlap-with",
        type=name_list,
        default=("random", "mc_dropout", "ensemble", "coreset"),
        help="heuristics compared with the learned policies' picks ('' to skip)",
    )
    p.add_argument(
        "--overlap-families",
        type=name_list,
        default=("iale",),
        help="learned-policy families whose runs log the overlap (iale, alil, ppo, a2c)",
    )
    p.add_argument(
        "--classifier-transfer",
        action="store_true",
        help="evaluate learned policies trained on another classifier's states (e.g. a "
        "--preset fast policy, trained on the MLP, on the cnn of --preset cpu): a transfer "
        "experiment, recorded in config.json",
    )
    p.add_argument(
        "--target",
        type=float,
        help="accuracy of 'labels to target' (default: random's mean final accuracy)",
    )
    p.add_argument("--checkpoints", type=int_list, default=(100, 200, 500, 1000))
    p.add_argument("--out", default="runs/eval", help="output folder")
    unrecorded = p.add_mutually_exclusive_group()
    unrecorded.add_argument(
        "--adopt",
        action="store_const",
        const="adopt",
        dest="existing",
        default="refuse",
        help="keep the finished runs of a curves.csv in --out that has no config.json (the "
        "settings the file shows are checked: budget, initial set, acquisition size)",
    )
    unrecorded.add_argument(
        "--overwrite",
        action="store_const",
        const="overwrite",
        dest="existing",
        help="delete the sweep files in --out (config.json, curves.csv, overlap.csv, "
        "oracle.csv) and start over, unless they are a sweep of these settings (resumed)",
    )
    p.add_argument("--no-plots", action="store_true")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="runs at once, as Ray tasks (1: a plain sequential sweep in this process)",
    )
    p.add_argument(
        "--address",
        help="run on an existing Ray cluster ('auto', HOST:PORT or ray://HOST:10001)",
    )
    p.add_argument(
        "--gpus-per-run",
        type=float,
        help="GPU share each Ray run reserves (default: 1 with --device cuda, else 0)",
    )
    return p


def _runner(args: argparse.Namespace, threads_given: bool):
    """The sweep's runner: sequential, or Ray tasks for --workers > 1 or --address."""
    from agents.evaluation.sweep import sequential_runs

    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    if args.workers == 1 and args.address is None:
        if args.gpus_per_run is not None:
            raise ValueError("--gpus-per-run needs a Ray sweep (--workers N or --address)")
        return contextlib.nullcontext(sequential_runs)
    from agents.cli.common import check_ray_device, worker_threads
    from agents.evaluation.parallel import RayRunner, import_ray
    from agents.evaluation.ray_guard import check_reachable

    import_ray()
    check_ray_device(args.device)
    check_reachable(args.address, ", or drop --address to run on this machine")  # before data
    workers = None if args.address and args.workers == 1 else args.workers
    if threads_given or (workers and not args.address):
        threads = worker_threads(args.threads, workers or 1)
    else:
        threads = 1
    gpus = args.gpus_per_run
    if gpus is None:
        gpus = 1.0 if args.device == "cuda" else 0.0
    return RayRunner(workers=workers, address=args.address, threads=threads, gpus=gpus)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    s = resolve(PRESETS[args.preset], args)
    stack = contextlib.ExitStack()
    try:  # everything that checks the input: a mistake is one line, before any long work
        from agents.evaluation import EvalConfig, check_sweep, evaluate
        from agents.evaluation.methods import method_env_overrides
        from agents.evaluation.out_folder import check_writable
        from agents.evaluation.report import write_report
        from agents.runs.locking import exclusive_folder
        from iale_env import DatasetNotFoundError, check_data_fits, load_dataset

        env = env_config(
            s,
            args,
            mc_dropout_passes=args.mc_dropout_passes,
            ensemble_size=args.ensemble_size,
        )
        cfg = EvalConfig(
            args.datasets,
            args.methods,
            args.seeds,
            env,
            args.overlap_with,
            args.overlap_families,
            args.classifier_transfer,
        )
        runner = _runner(args, threads_given=args.threads is not None)
        check_writable(args.out)
        stack.enter_context(exclusive_folder(args.out))
        check_sweep(cfg, args.out, args.existing)
        # every dataset is there before the first run starts (and is loaded once)
        datasets = {name: load_dataset(name, env.data_dir) for name in cfg.datasets}
        for name, data in datasets.items():  # and every run fits its dataset
            for spec in cfg.specs:
                check_data_fits(env.replace(dataset=name, **method_env_overrides(spec)), data)
        runner = stack.enter_context(runner)  # connects to Ray, checks its resources
    except (ValueError, ImportError, DatasetNotFoundError) as exc:
        stack.close()
        print(f"evaluate.py: error: {exc}", file=sys.stderr)
        return 2
    from agents.runs.write_errors import RunWriteError

    with stack:  # the sweep itself: an error here keeps its traceback (exit code 1)
        try:
            evaluate(cfg, args.out, datasets=datasets, runner=runner, existing=args.existing)
        except RunWriteError as exc:  # a full disk: the message says what is kept
            print(f"evaluate.py: error: {exc}", file=sys.stderr)
            return 2
        files = write_report(
            args.out, target=args.target, checkpoints=args.checkpoints, plots=not args.no_plots
        )
    print("wrote " + ", ".join(str(f) for f in files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
