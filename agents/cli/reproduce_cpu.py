"""Reproduce ``results/cpu``: train every learner with the ``cpu`` protocol, evaluate everything.

    python scripts/reproduce_cpu.py --device cuda --jobs 12      # a GPU machine
    python scripts/reproduce_cpu.py --jobs 2                     # a 2-core CPU: days
    python scripts/reproduce_cpu.py --quick --jobs 2             # a tiny end-to-end check
    python scripts/reproduce_cpu.py --scoring-sizes KMNIST=3000  # a 7,011-image KMNIST copy

Runs, as separate processes (``--jobs`` at a time, each with one CPU thread):

1. training on MNIST: the IALE policy with DAgger (``train_dagger.py --preset cpu``) and its
   ablations (the paper's Eq. 2 state without the experts' scores, in the paper's view, raw and
   standardised, and in the invariant view; the authors' 0.9/0.1 loss weights; 30 epochs per
   round instead of a fixed number of updates),
   PPO and A2C (``train_rl.py --preset cpu``) and ALIL (``train_alil.py --preset cpu``);
   at the same time the heuristics and the best-expert oracle (``evaluate.py --preset cpu``) on
   MNIST, Fashion-MNIST and KMNIST, seeds 0-4;
2. the trained policies on the same datasets and seeds (paired with the heuristics' runs);
3. ``plot.py`` merges the sweeps into ``RUNS/results`` and writes the summary and plots (a
   dataset given its own scoring-set size with ``--scoring-sizes``, as this project's
   7,011-image KMNIST needs, into ``RUNS/results_<dataset>``).

Every step resumes: rerun the same command after a kill (or after ``--deadline``) and only the
missing work runs. The exact commands are written to ``RUNS/commands.txt``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

# The folder that holds the ``agents`` package (the checkout, or site-packages), so that the
# ``python -m agents.cli...`` children import the same code as this process.
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]

DATASETS = ("MNIST", "FashionMNIST", "KMNIST")
HEURISTICS = "random,mc_dropout,ensemble,coreset,entropy,margin,badge,oracle"
#: name -> extra train_dagger.py flags (on top of --preset cpu)
IALE_VARIANTS = {
    "iale": [],
    "iale_eq2": ["--view", "eq2", "--no-normalize", "--state-scores="],
    "iale_eq2_std": ["--view", "eq2", "--normalize", "--state-scores="],
    "iale_invariant": ["--view", "invariant", "--state-scores="],
    "iale_weighted": ["--class-weights"],
    "iale_epochs": ["--bc-batches", "0", "--bc-epochs", "30"],
}
#: Tiny settings of --quick (every code path, seconds per run).
QUICK_ENV = ["--budget", "40", "--epochs", "3", "--scoring-size", "200", "--test-size", "200"]


@dataclass
class Job:
    """One command of the pipeline."""

    name: str
    args: list[str]
    stage: int
    proc: subprocess.Popen | None = field(default=None, repr=False)
    started: float = 0.0


def build_jobs(
    runs: Path,
    device: str,
    seeds: str,
    quick: bool,
    ablations: bool = True,
    scoring_sizes: dict[str, int] | None = None,
) -> list[Job]:
    """Every command of the pipeline, in launch order (``ablations=False``: the IALE policy
    without its DAgger ablations, which cost as much as it each; ``scoring_sizes``: a dataset's
    scoring-set size where the protocol's does not fit, as for a KMNIST subset)."""
    scoring_sizes = scoring_sizes or {}
    py = sys.executable
    dev = ["--device", device]
    env = QUICK_ENV if quick else []
    jobs = []
    variants = IALE_VARIANTS if ablations else {"iale": IALE_VARIANTS["iale"]}
    for name, extra in variants.items():
        q = "--episodes 2 --heldout-episodes 1 --bc-batches 5 --bc-batch-size 2".split()
        q = q if quick else []
        jobs.append(
            Job(
                f"train_{name}",
                [py, "-m", "agents.cli.train_dagger", "--preset", "cpu", *extra, *env, *q, *dev]
                + ["--no-progress", "--resume", "--out", str(runs / name)],
                1,
            )
        )
    for algo in ("ppo", "a2c"):
        q = ["--timesteps", "4"] if quick else []
        jobs.append(
            Job(
                f"train_{algo}",
                [py, "-m", "agents.cli.train_rl", "--algo", algo, "--preset", "cpu", *env, *q, *dev]
                + ["--resume", "--out", str(runs / algo)],
                1,
            )
        )
    q = ["--episodes", "1", "--budget", "23", "--bc-batch-size", "2"] if quick else []
    jobs.append(
        Job(
            "train_alil",
            [py, "-m", "agents.cli.train_alil", "--preset", "cpu", *env, *q, *dev]
            + ["--no-progress", "--resume", "--out", str(runs / "alil")],
            1,
        )
    )
    eval_base = [py, "-m", "agents.cli.evaluate", "--preset", "cpu", *env, *dev, "--seeds", seeds]
    eval_base += ["--no-plots"]
    per_dataset = {
        ds: ["--scoring-size", str(scoring_sizes[ds])] if ds in scoring_sizes else []
        for ds in DATASETS
    }
    for ds in DATASETS:
        jobs.append(
            Job(
                f"eval_heuristics_{ds}",
                [*eval_base, *per_dataset[ds], "--datasets", ds, "--methods", HEURISTICS]
                + ["--out", str(runs / "eval" / f"{ds}_heuristics")],
                1,
            )
        )
    policies = {name: f"{name}=iale:{runs / name}" for name in variants}
    policies.update({algo: f"{algo}={algo}:{runs / algo}" for algo in ("ppo", "a2c")})
    policies["alil"] = f"alil=alil:{runs / 'alil'}"
    for ds in DATASETS:
        for name, method in policies.items():
            jobs.append(
                Job(
                    f"eval_{name}_{ds}",
                    [*eval_base, *per_dataset[ds], "--datasets", ds, "--methods", method]
                    + ["--out", str(runs / "eval" / f"{ds}_{name}")],
                    2,
                )
            )
    return jobs


def result_folder(sweep_name: str, scoring_sizes: dict[str, int]) -> str:
    """The merged results folder of an ``eval/<dataset>_<name>`` sweep: ``results``, or
    ``results_<dataset>`` for a dataset run with its own scoring-set size."""
    dataset = sweep_name.split("_", 1)[0]
    return f"results_{dataset}" if dataset in scoring_sizes else "results"


def parse_scoring_sizes(text: str) -> dict[str, int]:
    """``"KMNIST=3000"`` (comma-separated) -> ``{"KMNIST": 3000}``; ``ValueError`` if malformed."""
    sizes = {}
    for item in filter(None, text.split(",")):
        name, _, size = item.partition("=")
        if name not in DATASETS or not size.isdigit() or int(size) < 1:
            raise ValueError(
                f"--scoring-sizes takes DATASET=N items with DATASET in {DATASETS}, got {item!r}"
            )
        sizes[name] = int(size)
    return sizes


def run_stage(jobs: list[Job], n_parallel: int, deadline: float, logs: Path) -> None:
    """Run ``jobs`` with at most ``n_parallel`` at once; terminate what still runs at
    ``deadline`` (monotonic seconds); everything is resumable."""
    pending, running = list(jobs), []
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(_PACKAGE_ROOT), env.get("PYTHONPATH", "")])
    while pending or running:
        while pending and len(running) < n_parallel and time.monotonic() < deadline:
            job = pending.pop(0)
            with (logs / f"{job.name}.log").open("a") as log:  # the child keeps its own copy
                job.proc = subprocess.Popen(job.args, stdout=log, stderr=subprocess.STDOUT, env=env)
            job.started = time.monotonic()
            running.append(job)
            print(f"start  {job.name}", flush=True)
        for job in list(running):
            rc = job.proc.poll()  # type: ignore[union-attr]
            if rc is not None:
                running.remove(job)
                took = time.monotonic() - job.started
                print(
                    f"{'done ' if rc == 0 else 'FAIL '} {job.name} rc={rc} {took:.0f}s", flush=True
                )
        if time.monotonic() >= deadline:
            for job in running:
                job.proc.terminate()  # type: ignore[union-attr]
                print(f"stop   {job.name} (deadline; resumable)", flush=True)
            for job in running:
                job.proc.wait()  # type: ignore[union-attr]
            return
        time.sleep(1.0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="reproduce_cpu.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--jobs", type=int, default=1, help="processes at once (one thread each)")
    p.add_argument("--runs", default="runs/cpu", help="folder of every run and sweep")
    p.add_argument("--seeds", default="0,1,2,3,4", help="evaluation seeds")
    p.add_argument("--quick", action="store_true", help="tiny settings: an end-to-end check")
    p.add_argument(
        "--train-deadline", type=float, help="seconds after which training stops (resumable)"
    )
    p.add_argument("--deadline", type=float, help="seconds after which everything stops")
    p.add_argument("--no-report", action="store_true", help="skip merging and plotting")
    p.add_argument(
        "--scoring-sizes",
        default="",
        help="DATASET=N[,...]: a dataset's own scoring-set size where the protocol's 10,000 do "
        "not fit (e.g. KMNIST=3000 for a KMNIST subset); its results go to RUNS/results_DATASET",
    )
    p.add_argument(
        "--no-ablations",
        action="store_true",
        help="train only the IALE policy, not its DAgger ablations (each costs as much; "
        "on a CPU compare the views offline with scripts/imitability.py instead)",
    )
    args = p.parse_args(argv)
    try:
        if args.jobs < 1:
            raise ValueError("--jobs must be >= 1")
        scoring_sizes = parse_scoring_sizes(args.scoring_sizes)
    except ValueError as exc:
        print(f"reproduce_cpu.py: error: {exc}", file=sys.stderr)
        return 2
    runs = Path(args.runs)
    logs = runs / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    jobs = build_jobs(
        runs, args.device, args.seeds, args.quick, not args.no_ablations, scoring_sizes
    )
    with (runs / "commands.txt").open("w") as fh:
        for job in jobs:
            fh.write(f"# stage {job.stage}: {job.name}\n{' '.join(job.args[1:])}\n")
    t0 = time.monotonic()
    end = t0 + args.deadline if args.deadline else float("inf")
    train_end = min(end, t0 + args.train_deadline) if args.train_deadline else end
    stage1 = [j for j in jobs if j.stage == 1]
    run_stage(stage1, args.jobs, train_end, logs)
    # the heuristic sweeps need no policy: stopped by the training deadline, they resume here
    sweeps = [j for j in stage1 if j.name.startswith("eval_")]
    stage2 = [j for j in jobs if j.stage == 2] + [Job(j.name, j.args, 2) for j in sweeps]
    run_stage(stage2, args.jobs, end, logs)
    sweeps = sorted(d for d in (runs / "eval").iterdir() if (d / "curves.csv").exists())
    # one merged folder per protocol: a dataset with its own scoring-set size gets its own
    groups = {
        out: [str(d) for d in sweeps if result_folder(d.name, scoring_sizes) == out]
        for out in dict.fromkeys(result_folder(d.name, scoring_sizes) for d in sweeps)
    }
    for out, group in groups.items():
        if args.no_report:
            break
        merged = subprocess.run(
            [sys.executable, "-m", "agents.cli.plot", *group, "--out", str(runs / out)],
            env={**os.environ, "PYTHONPATH": str(_PACKAGE_ROOT)},
        )
        if merged.returncode:
            return merged.returncode
    where = ", ".join(str(runs / out) for out in groups) or "nowhere (no finished sweep)"
    print(f"finished in {time.monotonic() - t0:.0f}s; results in {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
