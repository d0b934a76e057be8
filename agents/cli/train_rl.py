"""Train a stable-baselines3 RL agent (PPO, A2C or SAC) on the IALE env, to benchmark against IALE.

    python scripts/train_rl.py --algo ppo --preset smoke --out runs/ppo_smoke     # CPU, minutes
    python scripts/train_rl.py --algo a2c --preset paper --timesteps 9800 --device cuda --out runs/a2c
    python scripts/train_rl.py --algo ppo --preset paper --out runs/ppo --resume  # after a kill
    python scripts/train_rl.py --algo sac --preset fast --timesteps 50000 --out runs/sac

PPO and A2C use the IALE policy architecture (row-wise MLP over the Eq. 2 rows) with a Gaussian
score action; SAC observes every candidate's input view (--view) and uses SB3's MLPs on those
rows, flattened (its critic sees the whole sub-pool). The env labels the top-k scores (iale_env.TopKScoreAction). Reward: the
gain in scoring-set accuracy (gamma 1: the return is the episode's accuracy gain). Writes
checkpoint.zip after every policy update (SAC: every --checkpoint-every AL steps, with its
replay buffer), policy.zip and config.json into --out; evaluate with scripts/evaluate.py
--methods ppo:OUT (a2c:OUT, sac:OUT).
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
    add_state_flags,
    check_resume_config,
    env_config,
    resolve,
    write_run_config,
)
from agents.presets import PRESETS as _PRESETS

#: ``--preset`` settings, from :mod:`agents.presets`.
PRESETS: dict[str, dict] = {p: _PRESETS[p].rl_settings() for p in ("smoke", "cpu", "fast", "paper")}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="train_rl.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--algo", choices=["ppo", "a2c", "sac"], default="ppo")
    p.add_argument("--preset", choices=sorted(PRESETS), default="smoke")
    p.add_argument("--dataset")
    p.add_argument("--timesteps", type=int, help="total AL steps of training")
    add_env_flags(p, oracle=False)
    add_device_flags(p)
    p.add_argument("--n-steps", type=int, help="env steps per update (default: one episode)")
    p.add_argument(
        "--view", choices=["eq2", "invariant", "relative", "rank"], help="the policy's input view"
    )
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--gamma", type=float, default=1.0)
    p.add_argument(
        "--ent-coef", type=float, default=0.0, help="entropy bonus (SAC: 0 tunes it automatically)"
    )
    add_state_flags(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--snapshot-every",
        type=int,
        default=None,
        help="keep the policy as snapshots/policy-<AL steps>.zip every this many AL steps",
    )
    p.add_argument("--buffer-size", type=int, default=10_000, help="SAC's replay buffer")
    p.add_argument(
        "--learning-starts", type=int, default=180, help="SAC's random AL steps before learning"
    )
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=900,
        help="SAC's AL steps between checkpoints (each with its replay buffer)",
    )
    p.add_argument("--out", default="runs/rl")
    p.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.zip")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    s = resolve(PRESETS[args.preset], args)
    stack = contextlib.ExitStack()
    try:  # everything that checks the input: a mistake is one line, before any long work
        from agents.rl import (
            OFF_POLICY,
            RLConfig,
            check_out_dir,
            make_rl_env,
            replay_buffer_missing,
            train_rl,
        )
        from agents.runs.locking import exclusive_folder
        from iale_env import DatasetNotFoundError

        al = env_config(
            s,
            args,
            subpool_mean_embedding=args.subpool_mean_embedding,
            state_scores=s["state_scores"],
            test_every_step=False,  # the agent learns from rewards; the log keeps final accuracy
        )
        # the ensemble's score column: train M and the members together
        al = al.replace(eager_ensemble="ensemble" in al.state_scores)
        rl = RLConfig(
            algo=args.algo,
            timesteps=s["timesteps"],
            n_steps=args.n_steps,
            lr=args.lr,
            gamma=args.gamma,
            ent_coef=args.ent_coef,
            seed=args.seed,
            device=args.device,
            view=s["view"],
            snapshot_every=args.snapshot_every,
            buffer_size=args.buffer_size,
            learning_starts=args.learning_starts,
            checkpoint_every=args.checkpoint_every,
        )
        out = Path(args.out)
        check_out_dir(out, args.resume)  # before any data loading or training
        stack.enter_context(exclusive_folder(out))  # one writer, config.json included
        if args.resume:
            check_resume_config(out, args.algo, al, rl=rl)
            if rl.algo in OFF_POLICY and (why := replay_buffer_missing(out)):
                raise ValueError(why)
        env = make_rl_env(al, row_view=rl.view if rl.algo in OFF_POLICY else None)
        env.reset(seed=args.seed)
        write_run_config(out, args.algo, al, rl=rl)
    except (ValueError, DatasetNotFoundError) as exc:
        stack.close()
        print(f"train_rl.py: error: {exc}", file=sys.stderr)
        return 2
    with stack:  # the run itself: an error here keeps its traceback (exit code 1)
        model = train_rl(env, rl, out, resume=args.resume, log=partial(print, flush=True))
    returns = [ep["r"] for ep in model.ep_info_buffer] if model.ep_info_buffer else []
    print(
        f"{args.algo} trained {model.num_timesteps} AL steps; episode returns (accuracy gain): "
        + ", ".join(f"{r:+.4f}" for r in returns)
    )
    print(f"policy saved to {out / 'policy.zip'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
