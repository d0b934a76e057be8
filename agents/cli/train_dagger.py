"""Train the IALE policy with DAgger to imitate the best-expert oracle (the project's main job).

    python scripts/train_dagger.py --preset smoke --out runs/smoke      # minutes on a laptop CPU
    python scripts/train_dagger.py --preset paper --out runs/paper      # the paper's protocol (GPU)
    python scripts/train_dagger.py --preset paper --out runs/paper --resume   # after a kill

Explicit flags override the preset. Writes ``policy.zip`` (load it with
``agents.policy.load_policy(path, env=...)``), ``checkpoint.pt``, ``log.csv``, ``config.json``
and SB3/imitation's logs (CSV and TensorBoard, ``logs/``) into ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from agents.cli.common import (
    add_device_flags,
    add_env_flags,
    add_state_flags,
    check_ray_device,
    check_resume_config,
    env_config,
    resolve,
    worker_threads,
    write_run_config,
)
from agents.presets import PRESETS as _PRESETS

#: ``--preset`` settings of train_dagger.py, from :mod:`agents.presets`.
IALE_PRESETS: dict[str, dict] = {
    p: _PRESETS[p].dagger_settings() for p in ("smoke", "paper", "cpu", "fast")
}
#: ``--preset`` settings of train_alil.py: 1 of 10 candidates per step, the lookahead oracle.
ALIL_PRESETS: dict[str, dict] = {
    p: _PRESETS[p].dagger_settings("alil") for p in ("smoke", "paper", "cpu", "fast")
}

PRESETS = {"iale": IALE_PRESETS, "alil": ALIL_PRESETS}


def build_parser(variant: str = "iale", doc: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="train_dagger.py" if variant == "iale" else f"train_{variant}.py",
        description=doc or __doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--preset", choices=sorted(PRESETS[variant]), default="smoke")
    p.add_argument(
        "--dataset",
        help="the training source: MNIST, FashionMNIST, KMNIST, synthetic:<seed> (a generated "
        "task) or an .npz file or image folder; a comma list trains on several, one AL "
        "episode of each per round (e.g. MNIST,synthetic:0,synthetic:1)",
    )
    p.add_argument("--episodes", type=int, help="DAgger rounds (one AL episode each)")
    add_env_flags(p)
    add_device_flags(p)
    if variant == "iale":
        p.add_argument("--experts", help="comma list of the oracle's experts")
        p.add_argument(
            "--selection",
            choices=["bernoulli", "greedy"],
            default="bernoulli",
            help="the policy's selection: the paper's top-k of independent scores (bernoulli) "
            "or k greedy rounds, each conditioned on the candidates already chosen (greedy)",
        )
        p.add_argument(
            "--soft-targets",
            type=float,
            metavar="TEMPERATURE",
            help="label each state with every expert's selection weighted by the softmax of "
            "its retrained accuracy at this temperature (e.g. 0.01), instead of the winner's "
            "selection alone",
        )
    add_state_flags(p)
    p.add_argument("--beta", type=float, help="probability of executing the expert's selection")
    p.add_argument("--beta-schedule", choices=["constant", "exponential"], default="constant")
    p.add_argument("--beta-decay", type=float, default=0.9, help="exponential schedule factor")
    p.add_argument(
        "--coin", choices=["step", "episode"], default="step", help="coin flip granularity"
    )
    p.add_argument("--bc-epochs", type=int, default=30)
    p.add_argument("--bc-batch-size", type=int)
    p.add_argument(
        "--bc-batches",
        type=int,
        help="minibatch updates per round (0: train --bc-epochs epochs per round instead)",
    )
    p.add_argument(
        "--view",
        choices=["eq2", "invariant", "relative", "rank"],
        help="policy input: the paper's Eq. 2 rows (eq2), class-order-free features (invariant), "
        "the same standardised over the sub-pool (relative) or ranked within it (rank)",
    )
    p.add_argument(
        "--normalize",
        action=argparse.BooleanOptionalAction,
        help="standardise the policy's input features (statistics saved with the policy)",
    )
    p.add_argument(
        "--heldout-episodes",
        type=int,
        help="oracle-labeled held-out episodes whose agreement is logged per round",
    )
    p.add_argument(
        "--snapshot-every",
        type=int,
        help="keep the policy as snapshots/policy-<AL steps>.zip after every round that "
        "passes a multiple of this many AL steps",
    )
    p.add_argument(
        "--reinit-policy", action="store_true", help="re-initialise before each retraining"
    )
    p.add_argument(
        "--class-weights", action="store_true", help="weight the loss 0.9/0.1 as the authors"
    )
    p.add_argument(
        "--envs",
        type=int,
        default=1,
        help="AL episodes collected in parallel per round, one worker process each (each "
        "with --threads threads; default: this machine's cores / N)",
    )
    p.add_argument(
        "--address",
        help="collect with Ray actors: 'local' (a local Ray instance) or a cluster ('auto', "
        "HOST:PORT, ray://HOST:10001); default: worker processes on this machine",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=f"runs/{variant}", help="output folder")
    p.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    p.add_argument("--no-progress", action="store_true", help="no live progress bar")
    return p


def main(argv: list[str] | None = None, variant: str = "iale", doc: str | None = None) -> int:
    """Run the script; ``variant="alil"`` trains ALIL (``scripts/train_alil.py``)."""
    parser = build_parser(variant, doc)
    args = parser.parse_args(argv)
    s = resolve(PRESETS[variant][args.preset], args)
    prog = parser.prog
    stack = contextlib.ExitStack()
    from iale_env import ActiveLearningEnv, DatasetNotFoundError  # named by the except below
    from iale_env.datasets import DATASETS

    try:  # everything that checks the input: a mistake is one line, before any long work
        from agents.dagger import DAggerConfig, DAggerRun, check_out_dir
        from agents.runs.locking import exclusive_folder
        from agents.sources import parse_sources

        sources = parse_sources(s["dataset"])
        one_dataset = len(sources) == 1 and sources[0] in DATASETS
        if not one_dataset:  # one MNIST-family name is recorded as given (older runs resume)
            s = {**s, "dataset": ",".join(sources)}
        if args.envs < 1:
            raise ValueError(f"--envs must be >= 1, got {args.envs}")
        if len(sources) > 1 and (args.address or args.envs not in (1, len(sources))):
            raise ValueError(
                f"with {len(sources)} sources the envs are one per source: leave out --address "
                f"and give --envs 1 (all in this process) or --envs {len(sources)} (a worker each)"
            )
        if not one_dataset and len(sources) == 1 and (args.envs > 1 or args.address):
            raise ValueError(
                f"--envs and --address run several envs of one MNIST-family dataset; "
                f"collect from {sources[0]!r} in this process (leave them out)"
            )
        al = env_config(
            s,
            args,
            experts=tuple(s["experts"].split(",")),
            # IALE's oracle runs at every step: train M and the ensemble's members together
            eager_ensemble=variant == "iale",
            subpool_mean_embedding=args.subpool_mean_embedding,
            state_scores=s["state_scores"],
            # imitation reads the oracle's labels, not rewards; the log keeps each episode's
            # final test accuracy
            rewards=False,
            test_every_step=False,
        )
        dagger = DAggerConfig(
            episodes=s["episodes"],
            beta=s["beta"],
            beta_schedule=args.beta_schedule,
            beta_decay=args.beta_decay,
            coin=args.coin,
            bc_epochs=args.bc_epochs,
            bc_batch_size=s["bc_batch_size"],
            reinit_policy=args.reinit_policy,
            class_weights=(0.9, 0.1) if args.class_weights else None,
            seed=args.seed,
            device=args.device,
            selection=args.selection if variant == "iale" else "softmax",
            oracle="best_expert" if variant == "iale" else "lookahead",
            view=s["view"],
            normalize=s["normalize"],
            bc_batches=s["bc_batches"] or None,
            heldout_episodes=s["heldout_episodes"],
            snapshot_every=args.snapshot_every,
            soft_targets=args.soft_targets if variant == "iale" else None,
        )
        out = Path(args.out)
        check_out_dir(out, args.resume)  # before any data loading or training
        stack.enter_context(exclusive_folder(out))  # one writer, config.json included
        if args.resume:
            check_resume_config(out, variant, al, dagger=dagger)
        if args.address:  # nothing answering there: one line now, not Ray's minutes later
            from agents.evaluation.ray_guard import check_reachable

            check_reachable(args.address, ", or use --address local")
        if not one_dataset:
            from agents.sources import source_envs

            workers = len(sources) > 1 and args.envs > 1
            threads = worker_threads(args.threads, args.envs)
            env = stack.enter_context(
                contextlib.closing(source_envs(al, sources, workers=workers, threads=threads))
            )
        else:
            env = ActiveLearningEnv(al)  # checks the data and the settings before any work
            if args.envs > 1 or args.address:
                env = stack.enter_context(contextlib.closing(_worker_envs(al, args)))
        env_settings = write_run_config(out, variant, al, dagger=dagger)
        _quiet_hf_datasets()
        run = DAggerRun(
            env,
            dagger,
            out,
            resume=args.resume,
            progress=not args.no_progress,
            settings={"env": env_settings},
        )
    except (ValueError, ImportError, DatasetNotFoundError) as exc:
        stack.close()
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    from agents.runs.write_errors import RunWriteError

    with stack:  # the run itself: an error here keeps its traceback (exit code 1)
        try:
            result = run.run()
        except RunWriteError as exc:  # a full disk: the message says what survived
            print(f"{prog}: error: {exc}", file=sys.stderr)
            return 2
    print(f"policy saved to {out / 'policy.zip'} after {len(result.log)} episodes")
    return 0


def _worker_envs(al, args: argparse.Namespace):
    """``--envs`` envs in worker processes, or as Ray actors with ``--address``."""
    threads = worker_threads(args.threads, args.envs)
    if not args.address:
        from agents.vec_env import parallel_envs

        return parallel_envs(al, args.envs, threads)
    from agents.evaluation.parallel import check_reservation, connect_ray, import_ray
    from agents.vec_env import RayVecEnv

    import_ray()
    check_ray_device(args.device)
    connect_ray(args.address, hint=", or use --address local")
    gpus = 1.0 / args.envs if args.device == "cuda" else 0.0
    check_reservation(threads, gpus)
    return RayVecEnv(al, args.envs, threads, gpus=gpus)


def _quiet_hf_datasets() -> None:
    """imitation stores demos through HF ``datasets``, which prints a bar per file."""
    try:
        from datasets.utils.logging import disable_progress_bar

        disable_progress_bar()
    except ImportError:  # pragma: no cover - datasets is a dependency of imitation
        pass


if __name__ == "__main__":
    sys.exit(main())
