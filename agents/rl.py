"""stable-baselines3 RL agents on the IALE env: PPO and A2C with the IALE policy architecture,
and SAC (off-policy) with a Q-critic over the whole sub-pool.

The agent emits one real score per candidate and :class:`~iale_env.TopKScoreAction` labels the
top-k, so every action is a valid selection and exploration perturbs scores rather than
producing selections of the wrong size. PPO and A2C sample the scores from a Gaussian around the
row-wise MLP's scores (``IALEPolicy`` with a ``Box(n)`` action space). SAC's actor and critics
are SB3's MLPs on the policy's input view of every candidate, flattened
(:class:`FlatRowFeatures`): the critic sees the whole sub-pool and every candidate's score. The
reward is the env's accuracy gain; with the default ``gamma=1`` an episode's return is the final
minus the initial scoring-set accuracy.

PPO and A2C save ``checkpoint.zip`` (the whole algorithm) after every policy update; SAC, which
updates at every AL step, saves it every ``checkpoint_every`` AL steps together with its replay
buffer (``replay_buffer-<AL steps>.pkl``). ``policy.zip`` holds the policy alone (an
``IALEPolicy`` loadable with :func:`agents.policy.load_policy` on any IALE env, or SAC's
``SACPolicy``, :func:`load_sac_policy`). ``resume=True`` continues from the checkpoint (the
rollout, or for SAC the AL steps, since the last save are lost).
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
import numpy as np
import torch
from stable_baselines3 import A2C, PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger, make_output_format
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.sac.policies import SACPolicy

from agents.policy import VIEWS, IALEPolicy
from agents.policy.views import InvariantRowFeatures, RelativeRowFeatures, RowFeatures
from agents.runs.files import SNAPSHOTS, save_snapshot, snapshot_due
from agents.runs.locking import check_run_folder, exclusive_folder
from agents.runs.write_errors import write_atomically
from iale_env import ActiveLearningEnv, ALConfig, ALDataset, TopKScoreAction

ALGOS: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "a2c": A2C, "sac": SAC}
#: The off-policy algorithms: checkpointed every ``checkpoint_every`` steps with a replay buffer.
OFF_POLICY = ("sac",)
CHECKPOINT = "checkpoint.zip"
POLICY = "policy.zip"
#: SAC's replay buffer at a checkpoint: ``replay_buffer-<AL steps>.pkl``.
REPLAY_BUFFER = "replay_buffer-{steps}.pkl"
_ROW_VIEWS = {
    "eq2": RowFeatures,
    "invariant": InvariantRowFeatures,
    "relative": RelativeRowFeatures,
}


class FlatRowFeatures(BaseFeaturesExtractor):
    """SAC's features: the policy's input view of every candidate (``"eq2"``, ``"invariant"``
    or ``"relative"``, as :class:`~agents.policy.IALEPolicy`), flattened into one vector, so
    the actor and the critic see the whole sub-pool in candidate order.

    Args:
        observation_space: ``Box(n, row_dim)`` of an IALE env.
        view: The input view.
        num_classes, embedding_dim, score_columns: The env's K, D and number of state scores
            (the ``invariant`` and ``relative`` views need them).
    """

    def __init__(
        self,
        observation_space: gym.spaces.Box,
        view: str = "relative",
        num_classes: int = 10,
        embedding_dim: int = 128,
        score_columns: int = 0,
    ) -> None:
        if view == "eq2":
            rows: BaseFeaturesExtractor = RowFeatures(observation_space)
        else:
            rows = _ROW_VIEWS[view](observation_space, num_classes, embedding_dim, score_columns)
        n = int(observation_space.shape[0])
        super().__init__(observation_space, features_dim=n * rows.features_dim)
        self.rows = rows

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.rows(observations).flatten(1)


#: The ``format`` of SAC's policy file (:func:`save_sac_policy`).
SAC_POLICY_FORMAT = "iale-gym-sac-policy"


def save_sac_policy(policy: SACPolicy, path: str | os.PathLike) -> None:
    """Write SAC's policy as tensors and plain settings, which ``torch.load(weights_only=True)``
    reads back (SB3's own ``policy.save`` pickles objects, which a safe load refuses)."""
    obs, act = policy.observation_space, policy.action_space
    data = policy._get_constructor_parameters()
    meta = {
        "format": SAC_POLICY_FORMAT,
        "observation_low": torch.as_tensor(obs.low),
        "observation_high": torch.as_tensor(obs.high),
        "action_low": torch.as_tensor(act.low),
        "action_high": torch.as_tensor(act.high),
        "net_arch": data["net_arch"],
        "n_critics": data["n_critics"],
        "features_extractor_kwargs": dict(data["features_extractor_kwargs"]),
    }
    torch.save({"meta": meta, "state_dict": policy.state_dict()}, str(path))


def load_sac_policy(
    path: str | os.PathLike, env: gym.Env | None = None, device: str = "cpu"
) -> SACPolicy:
    """SAC's ``policy.zip`` (:func:`save_sac_policy`), checked against ``env``'s state if given.

    Raises:
        ValueError: the file holds no SAC policy, or ``env``'s state has another shape (SAC's
            MLPs read a fixed sub-pool size and row layout).
    """
    try:
        saved = torch.load(str(path), map_location="cpu", weights_only=True)
        meta = saved["meta"]
        if meta["format"] != SAC_POLICY_FORMAT:
            raise ValueError(f"format {meta['format']!r}")
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same advice
        raise ValueError(
            f"{path} is not a SAC policy file ({type(exc).__name__}: {exc}); give the "
            f"policy.zip of a train_rl.py --algo sac run"
        ) from None
    obs_space = gym.spaces.Box(meta["observation_low"].numpy(), meta["observation_high"].numpy())
    if env is not None and obs_space.shape != env.observation_space.shape:
        raise ValueError(
            f"the SAC policy {path} reads states of shape {obs_space.shape}, the env gives "
            f"{env.observation_space.shape}: evaluate it with the sub-pool size and state of "
            f"its training run"
        )
    policy = SACPolicy(
        obs_space,
        gym.spaces.Box(meta["action_low"].numpy(), meta["action_high"].numpy()),
        lr_schedule=lambda _: 0.0,  # the optimizer is not used to select
        net_arch=meta["net_arch"],
        n_critics=meta["n_critics"],
        features_extractor_class=FlatRowFeatures,
        features_extractor_kwargs=meta["features_extractor_kwargs"],
    )
    policy.load_state_dict(saved["state_dict"])
    policy.set_training_mode(False)
    return policy.to(device)


class _SACPolicyFile:
    """SAC's policy with the ``save(path)`` of :func:`save_sac_policy` (for the snapshots)."""

    def __init__(self, policy: SACPolicy) -> None:
        self.policy = policy

    def save(self, path: str) -> None:
        save_sac_policy(self.policy, path)


def _saveable_policy(model: BaseAlgorithm) -> Any:
    """The policy of ``model`` as its ``policy.zip`` is written."""
    return _SACPolicyFile(model.policy) if isinstance(model, SAC) else model.policy


def sac_select(policy: SACPolicy, observation: np.ndarray, k: int) -> np.ndarray:
    """The 0/1 selection of the k candidates with the highest deterministic SAC scores."""
    scores, _ = policy.predict(observation, deterministic=True)
    top = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[:k]
    action = np.zeros(len(scores), dtype=np.int8)
    action[top] = 1
    return action


@dataclass(frozen=True)
class RLConfig:
    """RL training settings.

    Attributes:
        algo: ``"ppo"``, ``"a2c"`` or ``"sac"``.
        timesteps: Total AL steps (each one retrains the classifier).
        n_steps: Env steps per policy update (``None``: one AL episode).
        lr: Adam learning rate.
        gamma: Discount; 1.0 makes the return the episode's accuracy gain.
        n_epochs, batch_size: PPO's optimisation epochs and minibatch size per update
            (``batch_size=None``: the whole rollout); SAC's minibatch (``None``: 256).
        ent_coef: Entropy bonus (SAC: ``0.0`` tunes it automatically, SB3's ``"auto"``).
        seed: Seed of the algorithm (policy init, sampling) and of the env's episodes.
        device: Torch device of the policy.
        view: The policy's input view, ``"eq2"``, ``"invariant"`` or ``"relative"`` (see
            :class:`~agents.policy.IALEPolicy`).
        snapshot_every: Keep a copy of the IALE policy as ``snapshots/policy-<AL steps>.zip``
            at the first update past every multiple of this many AL steps (``None``: none), for
            learning curves against the AL steps spent in training.
        buffer_size: SAC's replay buffer, in transitions (AL steps; at most the first run's
            ``timesteps``, which a resumed run keeps). Each checkpoint writes it whole: about
            115 kB per transition on the fast track.
        learning_starts: SAC's AL steps of random scores before its first update.
        checkpoint_every: SAC's AL steps between checkpoints (with the replay buffer).
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
    buffer_size: int = 10_000
    learning_starts: int = 180
    checkpoint_every: int = 900

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
        for name in ("buffer_size", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_starts < 0:
            raise ValueError(f"learning_starts must be >= 0, got {self.learning_starts}")
        if self.algo in OFF_POLICY and self.learning_starts >= self.timesteps:
            raise ValueError(
                f"{self.algo} would never learn: learning_starts ({self.learning_starts}) random "
                f"AL steps are not below timesteps ({self.timesteps}); raise --timesteps or lower "
                f"--learning-starts"
            )
        if self.algo in OFF_POLICY and self.n_steps is not None:
            raise ValueError(
                f"n_steps is the rollout of PPO and A2C; {self.algo} updates at every AL step "
                f"(leave it out)"
            )


def make_rl_env(config: ALConfig, data: ALDataset | None = None) -> gym.Env:
    """An IALE env with a ``Box(n)`` score action (top-k labeled) and episode statistics."""
    return Monitor(TopKScoreAction(ActiveLearningEnv(config, data=data)))


class _SaveAfterUpdate(BaseCallback):
    """Save the algorithm and its policy after every update (at the next rollout start, or at
    the end of training), then report the save as one line to ``log`` (if given).

    With ``every`` (SAC, which updates at every AL step) it saves at the first episode end at
    least ``every`` AL steps after the last save instead, so a resumed run starts a new episode
    where its replay buffer's last one ended. A snapshot is taken at the first step past each
    multiple of ``snapshot_every`` AL steps, before the checkpoint of that step if it has one.
    """

    def __init__(
        self,
        out: Path,
        total: int,
        log: Callable[[str], None] | None,
        snapshot_every: int | None = None,
        every: int | None = None,
    ) -> None:
        super().__init__()
        self.out, self.total, self.report = out, total, log
        self.snapshot_every, self.every = snapshot_every, every
        self.saved_at = self.snapshot_at = 0
        self.episode_ended = True
        self.clock = 0.0

    def _on_training_start(self) -> None:
        self.saved_at = self.model.num_timesteps  # a resumed run's checkpoint is already saved
        self.snapshot_at = self.saved_at
        self.clock = time.perf_counter()

    def _on_rollout_start(self) -> None:
        self._save_new_update(final=False)

    def _on_training_end(self) -> None:
        self._save_new_update(final=True)

    def _save_new_update(self, final: bool) -> None:
        done = self.model.num_timesteps
        if snapshot_due(self.snapshot_at, done, self.snapshot_every):
            save_snapshot(_saveable_policy(self.model), self.out, done)
        self.snapshot_at = done
        due = (
            final
            or self.every is None
            or (self.episode_ended and done - self.saved_at >= self.every)
        )
        if done > self.saved_at and due:
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
        dones = self.locals.get("dones")
        self.episode_ended = bool(np.all(dones)) if dones is not None else True
        return True


def _end_stored_episode(model: BaseAlgorithm) -> None:
    """Mark the replay buffer's last transition as an episode end (as SB3 does for a fresh
    ``learn``): a resumed run resets the env, and with ``optimize_memory_usage`` the next stored
    observation would otherwise become that transition's next state. Checkpoints fall on
    episode ends but the last one of a run, where this matters."""
    buffer = model.replay_buffer
    if buffer is not None and (buffer.full or buffer.pos > 0):
        buffer.dones[(buffer.pos - 1) % buffer.buffer_size] = True


def replay_buffer_missing(out: Path) -> str | None:
    """Why the SAC run in ``out`` cannot resume (its checkpoint's replay buffer is missing), or
    ``None``; read from the checkpoint's settings without loading the model."""
    from stable_baselines3.common.save_util import load_from_zip_file

    ckpt = out / CHECKPOINT
    if not ckpt.is_file():
        return None
    data, _, _ = load_from_zip_file(ckpt, load_data=True, device="cpu")
    steps = int(data["num_timesteps"])
    buffer = out / REPLAY_BUFFER.format(steps=steps)
    if buffer.is_file():
        return None
    return (
        f"{ckpt} is at {steps} AL steps but {buffer.name} is missing: an off-policy run "
        f"resumes only with the replay buffer of its checkpoint; start a new run with another "
        f"--out"
    )


def save_rl(model: BaseAlgorithm, out_dir: str | os.PathLike) -> None:
    """Atomically write ``checkpoint.zip`` (resumable) and ``policy.zip`` (the policy); an
    off-policy algorithm's replay buffer first (``replay_buffer-<AL steps>.pkl``, the older
    ones removed after the checkpoint), so every checkpoint has the buffer of its step."""
    out = Path(out_dir)
    intact = f"{CHECKPOINT} and {POLICY} of the last update are intact"
    buffer = getattr(model, "replay_buffer", None)
    if buffer is not None:
        path = out / REPLAY_BUFFER.format(steps=model.num_timesteps)
        write_atomically(path, model.save_replay_buffer, intact, tmp_suffix=".tmp.pkl")
    write_atomically(out / CHECKPOINT, model.save, intact, tmp_suffix=".tmp.zip")
    policy = _saveable_policy(model)
    write_atomically(out / POLICY, lambda tmp: policy.save(str(tmp)), intact, tmp_suffix=".tmp.zip")
    if buffer is not None:
        for old in out.glob(REPLAY_BUFFER.format(steps="*")):
            if old.name != path.name:
                old.unlink()


def train_rl(
    env: gym.Env,
    cfg: RLConfig,
    out_dir: str | os.PathLike,
    resume: bool = False,
    log: Callable[[str], None] | None = None,
) -> BaseAlgorithm:
    """Train PPO or A2C with :class:`IALEPolicy`, or SAC, on ``env`` (from :func:`make_rl_env`).

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
        if cfg.algo in OFF_POLICY:
            why = replay_buffer_missing(out)
            if why:
                raise ValueError(why)
            model.load_replay_buffer(out / REPLAY_BUFFER.format(steps=model.num_timesteps))
            _end_stored_episode(model)
    elif cfg.algo in OFF_POLICY:
        model = SAC(
            "MlpPolicy",
            env,
            learning_rate=cfg.lr,
            # a buffer file holds the whole allocated buffer: no larger than the run needs
            buffer_size=min(cfg.buffer_size, cfg.timesteps),
            learning_starts=cfg.learning_starts,
            batch_size=cfg.batch_size or 256,
            gamma=cfg.gamma,
            ent_coef=cfg.ent_coef or "auto",
            seed=cfg.seed,
            device=cfg.device,
            # the observations dominate the buffer: store each once (episodes never time out)
            optimize_memory_usage=True,
            replay_buffer_kwargs={"handle_timeout_termination": False},
            policy_kwargs={
                "features_extractor_class": FlatRowFeatures,
                "features_extractor_kwargs": {
                    "view": cfg.view,
                    "num_classes": spec.num_classes,
                    "embedding_dim": spec.embedding_dim,
                    "score_columns": len(al.state_scores),
                },
            },
        )
        save_rl(model, out)
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
            callback=_SaveAfterUpdate(
                out,
                cfg.timesteps,
                log,
                cfg.snapshot_every,
                cfg.checkpoint_every if cfg.algo in OFF_POLICY else None,
            ),
            # a row per update for PPO and A2C (A2C's default is 100), per episode for SAC
            log_interval=1,
            reset_num_timesteps=not resume,
        )  # the callback saved the last update
    else:
        save_rl(model, out)
    return model
