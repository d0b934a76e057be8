"""DAgger training of the IALE policy on imitation's ``DAggerTrainer`` (Algorithm 1 of the paper).

One DAgger round is one AL episode: at every AL step the best-expert oracle labels the state,
and a coin (probability ``beta`` of executing the expert's selection) decides whether the
oracle's or the policy's top-k selection is labeled. The stored action is always the oracle's.
After each round the policy trains ``bc_epochs`` epochs (Adam) on all pairs aggregated so far
with the plain BCE of Eq. 3 (BC with ``ent_weight=0``, ``l2_weight=0``).

After every round a light checkpoint is written atomically (policy and optimizer state, round,
aggregated states as float32, labels as int8 or, soft, float32); ``resume=True`` continues from the last complete
round and gives the same final policy as an uninterrupted run. Every random draw of round r
comes from seeds derived from ``(seed, r)``, so the checkpoint needs no RNG snapshots."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from imitation.algorithms import bc
from imitation.algorithms.dagger import (
    BetaSchedule,
    DAggerTrainer,
)
from imitation.data import rollout, types
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from agents.dagger import imitation_adapter
from agents.dagger.algorithm import (
    ConstantBeta,
    DAggerConfig,
    ExponentialBeta,
    TopKCollector,
    _derive,
    _reset_parameters,
    agreement,
    imitation_loss,
)
from agents.dagger.run_folder import (
    _HELDOUT_KEY,
    CHECKPOINT,
    DEMOS,
    HELDOUT,
    LOGS,
    _atomic_torch_save,
    _read_checkpoint,
    _restore_demos,
    _run_logger,
    _write_round,
    check_out_dir,
    load_round_demos,
)
from agents.oracle import BestExpertOracle, env_attr
from agents.policy import IALEPolicy
from agents.runs import faults
from agents.runs.files import changed_settings, save_snapshot, snapshot_due
from agents.runs.locking import exclusive_folder
from agents.runs.write_errors import write_atomically
from agents.schedules import ConstantLR
from iale_env import ALConfig


@dataclass
class DAggerResult:
    """What :func:`train_dagger` returns: the trained policy, the per-round log, the oracle."""

    policy: IALEPolicy
    log: list[dict[str, Any]] = field(default_factory=list)
    oracle: BestExpertOracle | None = None
    states: np.ndarray | None = None
    actions: np.ndarray | None = None


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

    Hold ``out``'s lock (:func:`~agents.runs.locking.exclusive_folder`) while using it;
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
        self.oracle = BestExpertOracle(venv, self.oracle_method, cfg.soft_targets)
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
            labels=None if cfg.soft_targets is None else lambda _: self.oracle.labels,
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
        """Log the round, then write policy.zip, log.csv and any snapshot, then the checkpoint
        that marks the round complete: a kill between the two redoes the round
        (deterministically)."""
        self.log.append(row)
        _write_round(self.out, self.log, self.logger, self.policy)
        per_round = self.al_cfg.steps_per_episode * self.venv.num_envs
        if snapshot_due(rnd * per_round, (rnd + 1) * per_round, self.cfg.snapshot_every):
            save_snapshot(self.policy, self.out, (rnd + 1) * per_round)
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


def _progress_bar(total: int, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, unit="step", dynamic_ncols=True)


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
    write_atomically(
        path,
        lambda tmp: np.savez_compressed(tmp, states=states, actions=actions),
        "nothing was lost",
        tmp_suffix=".tmp.npz",
    )
    return states, actions
