"""stable-baselines3 RL agents (PPO, A2C) on the IALE env, with the IALE policy architecture.

The agent emits one real score per candidate (a Gaussian around the row-wise MLP's scores,
``IALEPolicy`` with a ``Box(n)`` action space) and :class:`~iale_env.TopKScoreAction` labels the
top-k, so every action is a valid selection and exploration perturbs scores rather than
producing selections of the wrong size. The reward is the env's accuracy gain; with the default
``gamma=1`` an episode's return is the final minus the initial scoring-set accuracy.

Training saves ``checkpoint.zip`` (the whole algorithm) after every policy update and
``policy.zip`` (the IALE policy, loadable with :func:`agents.policy.load_policy` on any IALE env);
``resume=True`` continues from the checkpoint (the rollout in progress at a kill is lost).
``log`` (``print`` in ``train_rl.py``) gets one line per saved update.
SB3's training log is written to ``logs/`` in the run directory: ``progress-<start timestep>.csv``
(one per start) and TensorBoard events, as DAgger's.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
from stable_baselines3 import A2C, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger, make_output_format
from stable_baselines3.common.monitor import Monitor

from agents.policy import VIEWS, IALEPolicy
from agents.runs.files import SNAPSHOTS, save_snapshot, snapshot_due
from agents.runs.locking import check_run_folder, exclusive_folder
from agents.runs.write_errors import write_atomically
from iale_env import ActiveLearningEnv, ALConfig, ALDataset, TopKScoreAction

ALGOS: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "a2c": A2C}
CHECKPOINT = "checkpoint.zip"
POLICY = "policy.zip"


@dataclass(frozen=True)
class RLConfig:
    """RL training settings.

    Attributes:
        algo: ``"ppo"`` or ``"a2c"``.
        timesteps: Total AL steps (each one retrains the classifier).
        n_steps: Env steps per policy update (``None``: one AL episode).
        lr: Adam learning rate.
        gamma: Discount; 1.0 makes the return the episode's accuracy gain.
        n_epochs, batch_size: PPO's optimisation epochs and minibatch size per update
            (``batch_size=None``: the whole rollout).
        ent_coef: Entropy bonus.
        seed: Seed of the algorithm (policy init, sampling) and of the env's episodes.
        device: Torch device of the policy.
        view: The policy's input view, ``"eq2"`` or ``"invariant"`` (see
            :class:`~agents.policy.IALEPolicy`).
        snapshot_every: Keep a copy of the IALE policy as ``snapshots/policy-<AL steps>.zip``
            at the first update past every multiple of this many AL steps (``None``: none), for
            learning curves against the AL steps spent in training.
    """

    algo: str = "ppo"
    timesteps: int = 1000
    n_steps: int | None = None
    lr: float = 3e-4
    gamma: float = 1.0
    n_epochs: int = 10
    batch_size: int | None = None
    ent_coef: float = 0.0
    seed: int = 0
    device: str = "cpu"
    view: str = "eq2"
    snapshot_every: int | None = None

    def __post_init__(self) -> None:
        if self.snapshot_every is not None and self.snapshot_every < 1:
            raise ValueError(f"snapshot_every must be >= 1, got {self.snapshot_every}")
        if self.view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}, got {self.view!r}")
        if self.algo not in ALGOS:
            raise ValueError(f"algo must be one of {sorted(ALGOS)}, got {self.algo!r}")
        if self.timesteps < 1:
            raise ValueError(f"timesteps must be >= 1, got {self.timesteps}")
        if self.n_steps is not None and self.n_steps < 2:
            raise ValueError(f"n_steps must be >= 2, got {self.n_steps}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr}")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {self.gamma}")


def make_rl_env(config: ALConfig, data: ALDataset | None = None) -> gym.Env:
    """An IALE env with a ``Box(n)`` score action (top-k labeled) and episode statistics."""
    return Monitor(TopKScoreAction(ActiveLearningEnv(config, data=data)))


class _SaveAfterUpdate(BaseCallback):
    """Save the algorithm and its IALE policy after every update (at the next rollout start,
    or at the end of training), then report the update as one line to ``log`` (if given)."""

    def __init__(
        self,
        out: Path,
        total: int,
        log: Callable[[str], None] | None,
        snapshot_every: int | None = None,
    ) -> None:
        super().__init__()
        self.out, self.total, self.report = out, total, log
        self.snapshot_every = snapshot_every
        self.saved_at = 0
        self.clock = 0.0

    def _on_training_start(self) -> None:
        self.saved_at = self.model.num_timesteps  # a resumed run's checkpoint is already saved
        self.clock = time.perf_counter()

    def _on_rollout_start(self) -> None:
        self._save_new_update()

    def _on_training_end(self) -> None:
        self._save_new_update()

    def _save_new_update(self) -> None:
        done = self.model.num_timesteps
        if done > self.saved_at:
            if snapshot_due(self.saved_at, done, self.snapshot_every):
                save_snapshot(self.model.policy, self.out, done)
            save_rl(self.model, self.out)
            self.saved_at = done
            self._report()

    def _report(self) -> None:
        if self.report is None:
            return
        now, returns = time.perf_counter(), [ep["r"] for ep in self.model.ep_info_buffer]
        last = (
            f"{returns[-1]:+.4f} (mean of {len(returns)}: {sum(returns) / len(returns):+.4f})"
            if returns
            else "none yet"
        )
        self.report(
            f"AL steps {self.model.num_timesteps:5d}/{self.total} | checkpoint saved | "
            f"last episode return {last} | {now - self.clock:.1f}s"
        )
        self.clock = now

    def _on_step(self) -> bool:
        return True


def save_rl(model: BaseAlgorithm, out_dir: str | os.PathLike) -> None:
    """Atomically write ``checkpoint.zip`` (resumable) and ``policy.zip`` (the IALE policy)."""
    out = Path(out_dir)
    intact = f"{CHECKPOINT} and {POLICY} of the last update are intact"
    write_atomically(out / CHECKPOINT, model.save, intact, tmp_suffix=".tmp.zip")
    write_atomically(
        out / POLICY, lambda tmp: model.policy.save(str(tmp)), intact, tmp_suffix=".tmp.zip"
    )


def train_rl(
    env: gym.Env,
    cfg: RLConfig,
    out_dir: str | os.PathLike,
    resume: bool = False,
    log: Callable[[str], None] | None = None,
) -> BaseAlgorithm:
    """Train PPO or A2C with :class:`IALEPolicy` on ``env`` (from :func:`make_rl_env`).

    ``out_dir`` is locked for the run (one writer); a folder that already holds a run needs
    ``resume`` (see :func:`check_out_dir`). A fresh run writes its checkpoint before the first
    update, so a kill at any point leaves a folder that ``resume`` continues. ``log`` (e.g.
    ``print``) receives one line per saved update: AL steps done, the last episode's return and
    the time since the previous line.
    """
    out = Path(out_dir)
    check_out_dir(out, resume)
    with exclusive_folder(out):
        return _train_rl(env, cfg, out, resume, log)


def check_out_dir(out: Path, resume: bool) -> None:
    """Refuse to overwrite an RL run (see :func:`~agents.runs.locking.check_run_folder`)."""
    check_run_folder(out, resume, CHECKPOINT, (POLICY, "logs", SNAPSHOTS))


def _train_rl(
    env: gym.Env, cfg: RLConfig, out: Path, resume: bool, log: Callable[[str], None] | None
) -> BaseAlgorithm:
    algo_cls = ALGOS[cfg.algo]
    al = env.unwrapped.config
    spec = env.unwrapped.classifier_spec
    ckpt = out / CHECKPOINT
    if resume and ckpt.exists():
        model = algo_cls.load(ckpt, env=env, device=cfg.device)
    else:
        n_steps = cfg.n_steps or al.steps_per_episode
        kwargs: dict[str, Any] = dict(
            learning_rate=cfg.lr,
            n_steps=n_steps,
            gamma=cfg.gamma,
            ent_coef=cfg.ent_coef,
            seed=cfg.seed,
            device=cfg.device,
            policy_kwargs={
                "acquisition_size": al.acquisition_size,
                "view": cfg.view,
                "num_classes": spec.num_classes,
                "embedding_dim": spec.embedding_dim,
                **({"score_columns": len(al.state_scores)} if al.state_scores else {}),
            },
        )
        if cfg.algo == "ppo":
            kwargs.update(n_epochs=cfg.n_epochs, batch_size=cfg.batch_size or n_steps)
        model = algo_cls(IALEPolicy, env, **kwargs)
        save_rl(model, out)  # resumable from the start, like DAgger's round 0
    remaining = cfg.timesteps - model.num_timesteps
    if remaining > 0:
        # SB3's training log (losses, episode returns) goes into the run directory, one CSV per
        # (re)start so a resume does not overwrite it, instead of a fresh /tmp/SB3-* folder.
        logs = out / "logs"
        logs.mkdir(exist_ok=True)
        model.set_logger(
            Logger(
                str(logs),
                [
                    make_output_format("csv", str(logs), f"-{model.num_timesteps}"),
                    make_output_format("tensorboard", str(logs)),
                ],
            )
        )
        model.learn(
            remaining,
            callback=_SaveAfterUpdate(out, cfg.timesteps, log, cfg.snapshot_every),
            log_interval=1,  # a row per update for both algorithms (A2C's default is 100)
            reset_num_timesteps=not resume,
        )  # the callback saved the last update
    else:
        save_rl(model, out)
    return model
