"""DAgger training of the IALE policy on imitation's ``DAggerTrainer`` (Algorithm 1 of the paper).

One DAgger round is one AL episode: at every AL step the best-expert oracle labels the state,
and a coin (probability ``beta`` of executing the expert's selection) decides whether the
oracle's or the policy's top-k selection is labeled. The stored action is always the oracle's.
After each round the policy trains ``bc_epochs`` epochs (Adam) on all pairs aggregated so far
with the plain BCE of Eq. 3 (BC with ``ent_weight=0``, ``l2_weight=0``).

After every round a light checkpoint is written atomically (policy and optimizer state, round,
aggregated states/actions as float32/int8); ``resume=True`` continues from the last complete
round and gives the same final policy as an uninterrupted run. Every random draw of round r
comes from seeds derived from ``(seed, r)``, so the checkpoint needs no RNG snapshots.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import shutil
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from agents.extras import is_missing_imitation, missing_imitation

try:
    from imitation.algorithms import bc
    from imitation.algorithms.dagger import (
        BetaSchedule,
        DAggerTrainer,
        InteractiveTrajectoryCollector,
    )
    from imitation.data import rollout, serialize, types
    from imitation.util import logger as imit_logger
except ModuleNotFoundError as exc:  # the base install: say what to install, in one line
    if not is_missing_imitation(exc):
        raise
    raise missing_imitation("DAgger and ALIL training (agents.dagger)") from None

from agents import faults, imitation_adapter
from agents.files import changed_settings
from agents.locking import check_run_folder, exclusive_folder
from agents.oracle import BestExpertOracle, env_attr
from agents.policy import SELECTIONS, VIEWS, IALEPolicy
from agents.schedules import ConstantLR
from agents.write_errors import write_atomically
from iale_env import ALConfig

CHECKPOINT = "checkpoint.pt"
POLICY = "policy.zip"
LOG_CSV = "log.csv"
#: The run's logger folder (SB3/imitation: ``progress-<round>.csv`` and TensorBoard events).
LOGS = "logs"
#: Demonstrations, one folder per round: ``demos/round-NNN/*.npz`` (imitation's format).
DEMOS = "demos"
HELDOUT = "heldout.npz"
#: Seed-derivation key of the held-out episodes (training rounds use ``(seed, round, ...)``).
_HELDOUT_KEY = 0x4E1D


@dataclass(frozen=True)
class DAggerConfig:
    """DAgger settings (the paper's by default).

    Attributes:
        episodes: DAgger rounds; each round is one AL episode.
        beta: Probability of executing the expert's selection (per step or per episode).
        beta_schedule: ``"constant"`` or ``"exponential"`` (``beta * beta_decay ** round``).
        beta_decay: Decay factor of the exponential schedule.
        coin: ``"step"``: the coin is flipped at every AL step; ``"episode"``: once per episode
            (as the authors' code did).
        bc_epochs: Policy training epochs over the aggregated pairs after each round.
        bc_batch_size: Minibatch size of the policy training.
        lr: Adam learning rate of the policy.
        reinit_policy: Re-initialise the policy (and its optimizer) before each retraining, as
            the authors did, instead of continuing to train it.
        class_weights: ``(positive, negative)`` loss weights, e.g. ``(0.9, 0.1)`` as the
            authors' code; ``None`` = plain BCE (Eq. 3).
        seed: Master seed: env episodes, coins, policy init and minibatch order derive from it.
        device: Torch device of the policy.
        selection: The policy's output: ``"bernoulli"`` (IALE), ``"softmax"`` over the
            candidates (ALIL) or ``"greedy"`` (set-aware rounds,
            :class:`~agents.set_selection.GreedySetSelection`).
        oracle: ``"best_expert"`` (IALE) or ``"lookahead"``: retrain on each candidate alone
            and take the best (ALIL's oracle; n trainings per step).
        view: The policy's input view, ``"eq2"`` (the paper's rows) or ``"invariant"``
            (class-order-free features; see :class:`~agents.policy.InvariantRowFeatures`).
        normalize: Standardise the policy's input features; the statistics are refitted on the
            aggregated pairs before every update and saved with the policy.
        bc_batches: Minibatch updates per round instead of ``bc_epochs`` epochs (a round of a
            few dozen pairs otherwise makes only a few dozen updates); ``None`` = epochs.
        heldout_episodes: Oracle-labeled episodes collected before training, from seeds never
            used for training; the policy's agreement with the oracle on their states is logged
            after every round (``heldout_agreement``). 0 = none.
    """

    episodes: int = 100
    beta: float = 0.5
    beta_schedule: Literal["constant", "exponential"] = "constant"
    beta_decay: float = 0.9
    coin: Literal["step", "episode"] = "step"
    bc_epochs: int = 30
    bc_batch_size: int = 32
    lr: float = 1e-3
    reinit_policy: bool = False
    class_weights: tuple[float, float] | None = None
    seed: int = 0
    device: str = "cpu"
    selection: Literal["bernoulli", "softmax", "greedy"] = "bernoulli"
    oracle: Literal["best_expert", "lookahead"] = "best_expert"
    view: Literal["eq2", "invariant", "relative"] = "eq2"
    normalize: bool = False
    bc_batches: int | None = None
    heldout_episodes: int = 0

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}")
        if not 0.0 <= self.beta <= 1.0:
            raise ValueError(f"beta must be in [0, 1], got {self.beta}")
        if self.beta_schedule not in ("constant", "exponential"):
            raise ValueError(
                f"beta_schedule must be 'constant' or 'exponential', got {self.beta_schedule!r}"
            )
        if not 0.0 < self.beta_decay <= 1.0:
            raise ValueError(f"beta_decay must be in (0, 1], got {self.beta_decay}")
        if self.coin not in ("step", "episode"):
            raise ValueError(f"coin must be 'step' or 'episode', got {self.coin!r}")
        if self.bc_epochs < 1 or self.bc_batch_size < 1:
            raise ValueError("bc_epochs and bc_batch_size must be >= 1")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr}")
        if self.selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {SELECTIONS}, got {self.selection!r}")
        if self.oracle not in ("best_expert", "lookahead"):
            raise ValueError(f"oracle must be 'best_expert' or 'lookahead', got {self.oracle!r}")
        if self.view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}, got {self.view!r}")
        if self.bc_batches is not None and self.bc_batches < 1:
            raise ValueError(f"bc_batches must be >= 1 or None, got {self.bc_batches}")
        if self.heldout_episodes < 0:
            raise ValueError(f"heldout_episodes must be >= 0, got {self.heldout_episodes}")

    @property
    def bc_train_kwargs(self) -> dict[str, Any]:
        """The amount of policy training per round, as imitation's ``BC.train`` takes it."""
        if self.bc_batches is not None:
            return {"n_batches": self.bc_batches}
        return {"n_epochs": self.bc_epochs}


class ConstantBeta(BetaSchedule):
    """``beta`` at every round (picklable, unlike a lambda)."""

    def __init__(self, beta: float) -> None:
        self.beta = beta

    def __call__(self, round_num: int) -> float:
        return self.beta


class ExponentialBeta(BetaSchedule):
    """``beta * decay ** round``."""

    def __init__(self, beta: float, decay: float) -> None:
        self.beta, self.decay = beta, decay

    def __call__(self, round_num: int) -> float:
        return self.beta * self.decay**round_num


class TopKCollector(InteractiveTrajectoryCollector):
    """imitation's DAgger collector, with the policy acting by its deterministic top-k.

    The stock collector samples the robot action stochastically (about half the candidates, not
    k) and flips the coin per step only. This one executes ``policy.predict(obs,
    deterministic=True)`` (exactly k ones), flips per step or once per episode, and records for
    every step whether the expert's action was executed.
    """

    def __init__(
        self,
        venv: VecEnv,
        policy: IALEPolicy,
        beta: float,
        save_dir: Path,
        rng: np.random.Generator,
        coin: str = "step",
        on_step: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> None:
        super().__init__(venv, self._robot_acts, beta, save_dir, rng)
        self.policy = policy
        self.coin = coin
        self.on_step = on_step
        self.expert_executed: list[bool] = []
        self._episode_robot = np.zeros(venv.num_envs, dtype=bool)

    def _robot_acts(self, obs: np.ndarray) -> np.ndarray:
        return self.policy.predict(obs, deterministic=True)[0]

    def _flip(self, size: int) -> np.ndarray:
        return self.rng.uniform(0, 1, size=size) > self.beta  # True: the robot acts

    def reset(self) -> np.ndarray:
        obs = super().reset()
        self._episode_robot = self._flip(self.num_envs)
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        last_obs = imitation_adapter.last_observation(self)
        robot = self._flip(self.num_envs) if self.coin == "step" else self._episode_robot
        executed = np.array(actions)
        if robot.any():
            executed[robot] = self._robot_acts(last_obs[robot])
        self.expert_executed.extend((~robot).tolist())
        imitation_adapter.record_expert_actions(self, actions)
        self.venv.step_async(executed)

    def step_wait(self):
        obs, rews, dones, infos = super().step_wait()
        if self.coin == "episode" and dones.any():
            self._episode_robot[dones] = self._flip(int(dones.sum()))
        if self.on_step is not None:
            self.on_step(infos)
        return obs, rews, dones, infos


@dataclass
class DAggerResult:
    """What :func:`train_dagger` returns: the trained policy, the per-round log, the oracle."""

    policy: IALEPolicy
    log: list[dict[str, Any]] = field(default_factory=list)
    oracle: BestExpertOracle | None = None
    states: np.ndarray | None = None
    actions: np.ndarray | None = None


def _derive(*keys: int) -> int:
    # In float64, as numpy 1 computed ``uint64 % int`` (numpy 2 keeps uint64): same seeds on both
    state = np.random.SeedSequence(list(keys)).generate_state(1, dtype=np.uint64)[0]
    return int(np.float64(state) % 2.0**31)


def _atomic_torch_save(obj: Any, path: Path) -> None:
    """Save ``obj`` to ``path`` atomically; a failed write (disk full) is a :class:`RunWriteError`
    that says the previous checkpoint is intact."""
    survives = (
        f"the previous {path.name} is intact, so the run resumes from its last finished round"
        if path.exists()
        else "nothing was lost"
    )
    write_atomically(path, lambda tmp: torch.save(obj, tmp), survives)


def _reset_parameters(policy: IALEPolicy) -> None:
    for module in policy.modules():
        if module is not policy and hasattr(module, "reset_parameters"):
            module.reset_parameters()


def agreement(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean fraction of the target's selections that the prediction also selects."""
    pred, target = np.asarray(pred) > 0.5, np.asarray(target) > 0.5
    return float(((pred & target).sum(-1) / np.maximum(target.sum(-1), 1)).mean())


@torch.no_grad()
def imitation_loss(policy: IALEPolicy, states: np.ndarray, actions: np.ndarray) -> float:
    """Mean over states of the summed per-candidate BCE (Eq. 3), as BC minimises it."""
    obs = torch.as_tensor(states, device=policy.device)
    acts = torch.as_tensor(actions, device=policy.device).float()
    return float(-policy.evaluate_actions(obs, acts)[1].mean())


def train_dagger(
    env: gym.Env | VecEnv,
    cfg: DAggerConfig,
    out_dir: str | os.PathLike,
    resume: bool = False,
    progress: bool = True,
    settings: dict[str, Any] | None = None,
) -> DAggerResult:
    """Train an :class:`IALEPolicy` to imitate the best-expert oracle with DAgger.

    Args:
        env: An IALE env (or a VecEnv of them, e.g. ``SubprocVecEnv``).
        cfg: DAgger settings.
        out_dir: Where ``policy.zip``, ``log.csv``, ``checkpoint.pt``, ``logs/`` (CSV and
            TensorBoard) and ``demos/`` (imitation's format) go; locked for the run.
        resume: Continue from ``out_dir/checkpoint.pt`` if present (the settings must match).
        progress: Show a live progress bar (episode, AL step, labeled count, ETA).
        settings: Extra settings (e.g. the env's) stored in and checked against the checkpoint.

    Returns:
        The trained policy, the per-round log rows and the oracle (with its win counts).
    """
    out = Path(out_dir)
    check_out_dir(out, resume)
    with exclusive_folder(out):
        return DAggerRun(env, cfg, out, resume, progress, settings).run()


class DAggerRun:
    """One DAgger run, step by step: set up (and resume) in the constructor, which is quick
    and raises ``ValueError`` for settings that cannot work; then :meth:`run` collects the
    held-out set and, per round, one AL episode (:meth:`collect`), the policy's update
    (:meth:`update`) and the round's log, policy and checkpoint (:meth:`commit`).

    Hold ``out``'s lock (:func:`~agents.locking.exclusive_folder`) while using it;
    :func:`train_dagger` does.
    """

    def __init__(
        self,
        env: gym.Env | VecEnv,
        cfg: DAggerConfig,
        out: Path,
        resume: bool = False,
        progress: bool = True,
        settings: dict[str, Any] | None = None,
    ) -> None:
        imitation_adapter.check_version()
        self.cfg, self.out, self.progress = cfg, Path(out), progress
        self.venv = venv = env if isinstance(env, VecEnv) else DummyVecEnv([lambda: env])
        self.al_cfg = al_cfg = env_attr(venv, "config")[0]
        spec = env_attr(venv, "classifier_spec")[0]
        first_round = al_cfg.steps_per_episode * venv.num_envs
        if cfg.bc_batch_size > first_round:
            raise ValueError(
                f"bc_batch_size ({cfg.bc_batch_size}) exceeds the {first_round} state-action "
                f"pairs of the first round ({al_cfg.steps_per_episode} AL steps per episode); "
                f"lower --bc-batch-size to at most {first_round} or raise the budget"
            )
        self.run_settings = {"dagger": dataclasses.asdict(cfg), **(settings or {})}
        self.run_settings["dagger"].pop("episodes")  # a resumed run may extend its rounds
        # N envs collect N episodes per round from N seeds: part of what a resume must match
        self.run_settings["collection"] = {"num_envs": venv.num_envs}
        self.policy = policy = self._new_policy(spec)
        self.ckpt_path = self.out / CHECKPOINT
        ckpt = _read_checkpoint(self.ckpt_path) if resume and self.ckpt_path.exists() else None
        self.start = ckpt["round"] if ckpt is not None else 0
        self.logger = _run_logger(self.out / LOGS, self.start)
        self.bc_trainer = bc.BC(
            observation_space=venv.observation_space,
            action_space=venv.action_space,
            rng=np.random.default_rng(cfg.seed),
            policy=policy,
            batch_size=cfg.bc_batch_size,
            optimizer_cls=torch.optim.Adam,
            optimizer_kwargs={"lr": cfg.lr},
            ent_weight=0.0,
            l2_weight=0.0,
            device=cfg.device,
            custom_logger=self.logger,
        )
        self.schedule: BetaSchedule = (
            ConstantBeta(cfg.beta)
            if cfg.beta_schedule == "constant"
            else ExponentialBeta(cfg.beta, cfg.beta_decay)
        )
        self.log: list[dict[str, Any]] = []
        if ckpt is not None:
            self._resume_from(ckpt)
        self.trainer = DAggerTrainer(
            venv=venv,
            scratch_dir=self.out,  # demonstrations: out/demos/round-NNN/ (imitation's layout)
            rng=np.random.default_rng(cfg.seed),
            beta_schedule=self.schedule,
            bc_trainer=self.bc_trainer,
            custom_logger=self.logger,
        )
        self.states, self.actions = self._restore_pairs(ckpt)
        self.oracle_method = (
            "oracle_action" if cfg.oracle == "best_expert" else "lookahead_oracle_action"
        )
        self.oracle = BestExpertOracle(venv, self.oracle_method)
        self.heldout: tuple[np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------------ set-up and resume
    def _new_policy(self, spec: Any) -> IALEPolicy:
        cfg, venv = self.cfg, self.venv
        policy = IALEPolicy(
            venv.observation_space,
            venv.action_space,
            lr_schedule=ConstantLR(cfg.lr),
            acquisition_size=self.al_cfg.acquisition_size,
            class_weights=cfg.class_weights,
            selection=cfg.selection,
            view=cfg.view,
            normalize=cfg.normalize,
            num_classes=spec.num_classes,
            embedding_dim=spec.embedding_dim,
            score_columns=len(self.al_cfg.state_scores),
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_derive(cfg.seed, 0xC0FFEE))
            _reset_parameters(policy)
        return policy.to(cfg.device)

    def _resume_from(self, ckpt: dict[str, Any]) -> None:
        defaults = {
            "env": dataclasses.asdict(ALConfig()),
            "dagger": dataclasses.asdict(DAggerConfig()),
            "collection": {"num_envs": 1},
        }
        changed = changed_settings(ckpt["settings"], self.run_settings, defaults)
        if changed:
            raise ValueError(
                f"{self.ckpt_path} was written with other settings ({', '.join(changed)}); "
                f"resume with the same flags or use another --out"
            )
        self.log = ckpt["log"]
        self.policy.load_state_dict(ckpt["policy"])
        self.bc_trainer.optimizer.load_state_dict(ckpt["optimizer"])

    def _restore_pairs(
        self, ckpt: dict[str, Any] | None
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Drop unfinished rounds' demos; the aggregated pairs of the finished ones."""
        demos = self.out / DEMOS
        for stale in demos.glob("round-*") if demos.is_dir() else ():
            if int(stale.name.split("-")[1]) >= self.start:  # a round that did not finish
                shutil.rmtree(stale)
        if ckpt is not None and "states" in ckpt:  # an older checkpoint holds the pairs itself
            shutil.rmtree(demos, ignore_errors=True)
            _restore_demos(self.trainer, ckpt["states"], ckpt["actions"], self.start)
            return [ckpt["states"]], [ckpt["actions"]]
        if not self.start:
            return [], []
        pairs = load_round_demos(self.out, self.start)
        imitation_adapter.set_round(self.trainer, self.start)
        return [p[0] for p in pairs], [p[1] for p in pairs]

    # ------------------------------------------------------------------ the run
    def run(self) -> DAggerResult:
        """Collect the held-out set (once), then train the remaining rounds."""
        cfg = self.cfg
        if cfg.heldout_episodes:
            self.heldout = _heldout_set(self.venv, cfg, self.out, self.oracle_method)
        if not self.ckpt_path.exists():
            # round 0 before any result file: a kill inside round 1 then resumes from it, and
            # results without a checkpoint are never this run's own
            self._save_checkpoint(0)
        steps = self.al_cfg.steps_per_episode
        self.bar = _progress_bar(cfg.episodes * steps, self.start * steps, self.progress)
        try:
            for rnd in range(self.start, cfg.episodes):
                t0 = time.perf_counter()
                won_before = Counter(self.oracle.winners)
                trajs, executed = self.collect(rnd)
                # the round's pairs in the order of its files, as a resumed run reads them
                ep_states, ep_actions = load_round_demos(self.out, rnd + 1, first=rnd)[0]
                agree = agreement(self.policy.predict(ep_states, deterministic=True)[0], ep_actions)
                self.states.append(ep_states)
                self.actions.append(ep_actions)
                all_states, all_actions = np.concatenate(self.states), np.concatenate(self.actions)
                self.update(rnd, all_states)
                won = Counter(self.oracle.winners) - won_before
                final = [t.infos[-1]["test_accuracy"] for t in trajs if t.infos is not None]
                row = {
                    "episode": rnd + 1,
                    "pairs": len(all_actions),
                    "loss": imitation_loss(self.policy, all_states, all_actions),
                    "agreement": agree,
                    "heldout_agreement": (
                        agreement(self.policy.select(self.heldout[0]), self.heldout[1])
                        if self.heldout is not None
                        else float("nan")
                    ),
                    "expert_executed": executed,
                    "beta": self.schedule(rnd),
                    "final_test_accuracy": float(np.mean(final)) if final else float("nan"),
                    "wins": json.dumps(dict(sorted(won.items()))),
                    "wall_s": time.perf_counter() - t0,
                }
                self.commit(rnd, row)
                self.states, self.actions = [all_states], [all_actions]
        finally:
            self.bar.close()
            self.logger.close()
        all_states = np.concatenate(self.states) if self.states else None
        all_actions = np.concatenate(self.actions) if self.actions else None
        return DAggerResult(self.policy, self.log, self.oracle, all_states, all_actions)

    def collect(self, rnd: int) -> tuple[list[types.TrajectoryWithRew], float]:
        """Round ``rnd``'s AL episode: the oracle labels every state, the coin decides whose
        selection is executed; the demonstrations go to ``demos/round-NNN/``. Returns the
        trajectories and the share of steps that executed the oracle's selection."""
        cfg, bar = self.cfg, self.bar
        self.venv.seed(_derive(cfg.seed, rnd, 1))

        def on_step(infos):
            bar.update(1)
            bar.set_postfix(
                episode=f"{rnd + 1}/{cfg.episodes}",
                step=infos[0]["step"],
                labeled=infos[0]["labeled"],
            )

        collector = TopKCollector(
            self.venv,
            self.policy,
            self.schedule(rnd),
            imitation_adapter.demo_dir(self.trainer),
            np.random.default_rng(_derive(cfg.seed, rnd, 2)),
            cfg.coin,
            on_step,
        )
        trajs = rollout.generate_trajectories(
            policy=self.oracle,
            venv=collector,
            # every env runs one episode (all end together: a fixed budget)
            sample_until=rollout.make_sample_until(
                min_timesteps=None, min_episodes=self.venv.num_envs
            ),
            deterministic_policy=True,
            rng=np.random.default_rng(_derive(cfg.seed, rnd, 3)),
        )
        return trajs, float(np.mean(collector.expert_executed))

    def update(self, rnd: int, all_states: np.ndarray) -> None:
        """Refit the feature statistics and train the policy on every pair so far (BC)."""
        cfg = self.cfg
        self.policy.fit_normalizer(all_states)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_derive(cfg.seed, rnd, 4))
            if cfg.reinit_policy:
                _reset_parameters(self.policy)
                self.bc_trainer.optimizer = torch.optim.Adam(self.policy.parameters(), lr=cfg.lr)
            self.trainer.extend_and_update(
                {**cfg.bc_train_kwargs, "log_rollouts_venv": None, "progress_bar": False}
            )

    def commit(self, rnd: int, row: dict[str, Any]) -> None:
        """Log the round, then write policy.zip and log.csv, then the checkpoint that marks
        the round complete: a kill between the two redoes the round (deterministically)."""
        self.log.append(row)
        _write_round(self.out, self.log, self.logger, self.policy)
        faults.reached(f"dagger:round-written:{rnd + 1}")
        self._save_checkpoint(rnd + 1)
        faults.reached(f"dagger:checkpoint-written:{rnd + 1}")
        self.bar.write(
            f"episode {row['episode']:3d} | pairs {row['pairs']:5d} | loss {row['loss']:.4f} | "
            f"agreement {row['agreement']:.3f} | held-out {row['heldout_agreement']:.3f} | "
            f"expert executed {row['expert_executed']:.2f} | "
            f"wins {row['wins']} | test acc {row['final_test_accuracy']:.4f} | "
            f"{row['wall_s']:.1f}s"
        )

    def _save_checkpoint(self, rounds: int) -> None:
        # the pairs are in demos/round-NNN/ (written during each round, before this)
        _atomic_torch_save(
            {
                "round": rounds,
                "policy": self.policy.state_dict(),
                "optimizer": self.bc_trainer.optimizer.state_dict(),
                "log": self.log,
                "settings": self.run_settings,
            },
            self.ckpt_path,
        )


def _restore_demos(
    trainer: DAggerTrainer, states: np.ndarray, actions: np.ndarray, rounds: int
) -> None:
    """Put the checkpoint's aggregated pairs where imitation's trainer loads them from.

    They become one trajectory of round 0 (rounds 1..rounds-1 stay empty); imitation then
    concatenates them before the new round's pairs, in the same order as an uninterrupted run.
    """
    obs = np.concatenate([states, states[-1:]])  # a trajectory has one more obs than acts
    traj = types.TrajectoryWithRew(
        obs=obs, acts=actions, infos=None, terminal=True, rews=np.zeros(len(actions), np.float32)
    )
    for r in range(rounds):
        imitation_adapter.demo_dir(trainer, r).mkdir(parents=True, exist_ok=True)
    serialize.save(imitation_adapter.demo_dir(trainer, 0) / "restored.npz", [traj])
    imitation_adapter.set_round(trainer, rounds)


def _progress_bar(total: int, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, unit="step", dynamic_ncols=True)


def _run_logger(folder: Path, start: int) -> imit_logger.HierarchicalLogger:
    """SB3/imitation's logger of a run: CSV (one file per (re)start, ``progress-<round>.csv``,
    so a resume overwrites nothing) and TensorBoard, in ``folder``."""
    from stable_baselines3.common import logger as sb_logger

    folder.mkdir(parents=True, exist_ok=True)
    formats = [
        sb_logger.make_output_format("csv", str(folder), f"-{start}"),
        sb_logger.make_output_format("tensorboard", str(folder)),
    ]
    return imit_logger.HierarchicalLogger(sb_logger.Logger(str(folder), formats), ["csv"])


#: The per-round values that go to the run's logger (TensorBoard and CSV) as ``dagger/<key>``.
ROUND_SCALARS = (
    "pairs",
    "loss",
    "agreement",
    "heldout_agreement",
    "expert_executed",
    "beta",
    "final_test_accuracy",
    "wall_s",
)


def _write_round(out: Path, log: list[dict[str, Any]], logger, policy: IALEPolicy) -> None:
    """Rewrite ``log.csv`` from the whole log, log the round's scalars, save ``policy.zip``."""
    tmp = out / (LOG_CSV + ".tmp")
    fields = list(dict.fromkeys(k for row in log for k in row))  # rows of older versions lack some
    with tmp.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, restval="")
        w.writeheader()
        w.writerows(log)
    os.replace(tmp, out / LOG_CSV)
    row = log[-1]
    for key in ROUND_SCALARS:
        logger.record(f"dagger/{key}", row[key])
    logger.dump(step=row["episode"])
    write_atomically(
        out / POLICY,
        lambda tmp: policy.save(str(tmp)),
        f"{POLICY} and {CHECKPOINT} of the last finished round are intact",
        tmp_suffix=".tmp.zip",
    )


def load_round_demos(
    out: str | os.PathLike, rounds: int, first: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Rounds ``first`` to ``rounds - 1``'s ``(states, oracle actions)`` from ``out/demos``.

    The demonstrations are imitation's format (``imitation.data.serialize.load`` reads every
    file: one trajectory per AL episode, with its rewards and infos), in the order imitation's
    DAgger trainer aggregates them.
    """
    return [
        (
            np.concatenate([t.obs[:-1] for t in trajs]).astype(np.float32),
            np.concatenate([t.acts for t in trajs]).astype(np.int8),
        )
        for trajs in load_round_trajectories(out, rounds, first)
    ]


def load_round_trajectories(
    out: str | os.PathLike, rounds: int, first: int = 0
) -> list[list[types.TrajectoryWithRew]]:
    """Rounds ``first`` to ``rounds - 1``'s demonstrations from ``out/demos``, one list of
    trajectories (AL episodes, with the env's infos) per round, in aggregation order."""
    per_round = []
    for r in range(first, rounds):
        folder = Path(out) / DEMOS / f"round-{r:03d}"
        paths = sorted(p for p in folder.glob("*.npz")) if folder.is_dir() else []
        if not paths:
            raise ValueError(
                f"{folder} holds no demonstrations, but the checkpoint says round {r + 1} "
                f"finished; the run folder is incomplete: restore it, or start over elsewhere"
            )
        per_round.append([t for p in paths for t in _load_demo_file(p)])
    return per_round


def _load_demo_file(path: Path) -> list[types.TrajectoryWithRew]:
    try:
        return list(serialize.load(path))
    except Exception as exc:  # noqa: BLE001 - HF datasets/zipfile raise many kinds
        raise ValueError(
            f"{path} cannot be read ({type(exc).__name__}); the demonstrations of a finished "
            f"round are lost: restore the file from a copy, or start the run over elsewhere"
        ) from None


def _read_checkpoint(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - a truncated/corrupted file raises many kinds
        raise ValueError(
            f"{path} cannot be read ({type(exc).__name__}: {str(exc)[:120]}); it is "
            f"truncated or corrupted: restore a copy, or move the folder away to start over"
        ) from None


def check_out_dir(out: Path, resume: bool) -> None:
    """Refuse to overwrite a DAgger run (see :func:`~agents.locking.check_run_folder`)."""
    check_run_folder(out, resume, CHECKPOINT, (POLICY, LOG_CSV))


def _heldout_set(
    venv: VecEnv, cfg: DAggerConfig, out: Path, oracle_method: str
) -> tuple[np.ndarray, np.ndarray]:
    """``cfg.heldout_episodes`` oracle-executed episodes' states and oracle actions.

    The episodes start from a seed derived from ``(cfg.seed, _HELDOUT_KEY)``, never from a
    training round's, and the oracle acts at every step. Saved once as ``out/heldout.npz`` and
    reloaded on resume.
    """
    path = out / HELDOUT
    if path.exists():
        try:
            with np.load(path) as data:
                return data["states"], data["actions"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(
                f"{path} cannot be read ({type(exc).__name__}); it is truncated or corrupted: "
                f"delete it and resume, and the same held-out episodes are collected again"
            ) from None
    oracle = BestExpertOracle(venv, oracle_method)
    venv.seed(_derive(cfg.seed, _HELDOUT_KEY, 1))
    trajs = rollout.generate_trajectories(
        policy=oracle,
        venv=venv,
        sample_until=rollout.make_sample_until(
            min_timesteps=None, min_episodes=cfg.heldout_episodes
        ),
        deterministic_policy=True,
        rng=np.random.default_rng(_derive(cfg.seed, _HELDOUT_KEY, 2)),
    )[: cfg.heldout_episodes]
    states = np.concatenate([t.obs[:-1] for t in trajs]).astype(np.float32)
    actions = np.concatenate([t.acts for t in trajs]).astype(np.int8)
    tmp = out / (HELDOUT + ".tmp.npz")
    np.savez_compressed(tmp, states=states, actions=actions)
    os.replace(tmp, path)
    return states, actions
