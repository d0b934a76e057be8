"""stable-baselines3 RL agents on the IALE env: PPO and A2C with the IALE policy architecture,
and SAC (off-policy) with a Q-critic over the whole sub-pool.

The agent emits one real score per candidate and :class:`~iale_env.TopKScoreAction` labels the
top-k, so every action is a valid selection and exploration perturbs scores rather than
producing selections of the wrong size. PPO and A2C sample the scores from a Gaussian around the
row-wise MLP's scores (``IALEPolicy`` with a ``Box(n)`` action space). SAC observes the policy's
input view of every candidate (:class:`RowViewObservation`, made by ``make_rl_env(...,
row_view=view)``) and its actor and critics are SB3's MLPs on those rows, flattened: the critic
sees the whole sub-pool and every candidate's score. The
reward is the env's accuracy gain; with the default ``gamma=1`` an episode's return is the final
minus the initial scoring-set accuracy.

PPO and A2C save ``checkpoint.zip`` (the whole algorithm) after every policy update; SAC, which
updates at every AL step, saves it at the first episode end ``checkpoint_every`` AL steps after
the last, together with its replay buffer (``replay_buffer-<AL steps>.pkl``). ``policy.zip``
holds the policy alone (an ``IALEPolicy`` loadable with :func:`agents.policy.load_policy` on
any IALE env, or SAC's policy with its view, :func:`load_sac_policy`, which selects on the
plain env's state). ``resume=True`` continues from the checkpoint (the
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
from agents.policy.views import view_extractor
from agents.runs.files import SNAPSHOTS, save_snapshot, snapshot_due
from agents.runs.locking import check_run_folder, exclusive_folder
from agents.runs.write_errors import write_atomically
from iale_env import ActiveLearningEnv, ALConfig, ALDataset, TopKScoreAction
from iale_env.actions import top_k_selection

ALGOS: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "a2c": A2C, "sac": SAC}
#: The off-policy algorithms: checkpointed every ``checkpoint_every`` steps with a replay buffer.
OFF_POLICY = ("sac",)
CHECKPOINT = "checkpoint.zip"
POLICY = "policy.zip"
#: SAC's replay buffer at a checkpoint: ``replay_buffer-<AL steps>.pkl``.
REPLAY_BUFFER = "replay_buffer-{steps}.pkl"


def row_view(
    observation_space: gym.spaces.Box,
    view: str,
    num_classes: int = 10,
    embedding_dim: int = 128,
    score_columns: int = 0,
) -> BaseFeaturesExtractor:
    """The module that turns ``(batch, n, row_dim)`` states into the policy's input view of
    each candidate, ``(batch, n, features)`` (as :class:`~agents.policy.IALEPolicy` reads them)."""
    extractor, kwargs = view_extractor(view, num_classes, embedding_dim, score_columns)
    return extractor(observation_space, **kwargs)


def _state_rows(rows: BaseFeaturesExtractor, observation: np.ndarray) -> np.ndarray:
    """The view ``rows`` of one ``(n, row_dim)`` state, ``(n, features)`` float32."""
    with torch.no_grad():
        out = rows(torch.as_tensor(observation, dtype=torch.float32)[None])[0]
    return out.numpy().astype(np.float32)


class RowViewObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """SAC's observation: the policy's input view of every candidate, ``Box(n, features)``.

    The view is computed once per AL step here, not at every gradient step from the raw state,
    and the replay buffer holds these rows (12 features per candidate in the ``relative`` view
    against the state's 2 D + 3 K): SAC's MLPs read them flattened, so the critic sees the
    whole sub-pool and every candidate's score.

    Args:
        env: An IALE env (or a wrapper of one).
        view: ``"eq2"``, ``"invariant"``, ``"relative"`` or ``"rank"``.
    """

    def __init__(self, env: gym.Env, view: str = "relative") -> None:
        gym.utils.RecordConstructorArgs.__init__(self, view=view)
        gym.ObservationWrapper.__init__(self, env)
        spec, cfg = env.unwrapped.classifier_spec, env.unwrapped.config
        #: What :func:`row_view` needs to rebuild the view (saved with SAC's policy).
        self.view_settings: dict[str, Any] = {
            "view": view,
            "num_classes": spec.num_classes,
            "embedding_dim": spec.embedding_dim,
            "score_columns": len(cfg.state_scores),
        }
        #: The shape of the env's own state, which the view reads.
        self.state_shape = tuple(env.observation_space.shape)
        self.rows = row_view(env.observation_space, **self.view_settings)
        n = env.observation_space.shape[0]
        self.observation_space = gym.spaces.Box(
            -np.inf, np.inf, shape=(n, self.rows.features_dim), dtype=np.float32
        )

    def observation(self, observation: np.ndarray) -> np.ndarray:
        """The view of one ``(n, row_dim)`` state."""
        return _state_rows(self.rows, observation)


#: The ``format`` of SAC's policy file (:func:`save_sac_policy`).
SAC_POLICY_FORMAT = "iale-gym-sac-policy"


def save_sac_policy(
    policy: SACPolicy,
    path: str | os.PathLike,
    view_settings: dict[str, Any],
    state_shape: tuple[int, ...],
) -> None:
    """Write SAC's policy with the view it reads (:class:`RowViewObservation`'s settings and the
    env state's shape) as tensors and plain settings, which ``torch.load(weights_only=True)``
    reads back (SB3's own ``policy.save`` pickles objects, which a safe load refuses)."""
    act = policy.action_space
    data = policy._get_constructor_parameters()
    meta = {
        "format": SAC_POLICY_FORMAT,
        "view": dict(view_settings),
        "state_shape": list(state_shape),
        "action_low": torch.as_tensor(act.low),
        "action_high": torch.as_tensor(act.high),
        "net_arch": data["net_arch"],
        "n_critics": data["n_critics"],
    }
    torch.save({"meta": meta, "state_dict": policy.state_dict()}, str(path))


@dataclass
class SACSelector:
    """A trained SAC policy with the view of the state it reads (:func:`load_sac_policy`)."""

    policy: SACPolicy
    rows: BaseFeaturesExtractor
    state_shape: tuple[int, ...]

    def scores(self, observation: np.ndarray) -> np.ndarray:
        """The deterministic score of each candidate of one ``(n, row_dim)`` state."""
        action, _ = self.policy.predict(_state_rows(self.rows, observation), deterministic=True)
        return np.asarray(action, dtype=np.float64)

    def select(self, observation: np.ndarray, k: int) -> np.ndarray:
        """The 0/1 selection of the k candidates with the highest scores."""
        return top_k_selection(self.scores(observation), k)


def load_sac_policy(
    path: str | os.PathLike, env: gym.Env | None = None, device: str = "cpu"
) -> SACSelector:
    """SAC's ``policy.zip`` (:func:`save_sac_policy`) and its view, checked against ``env``'s
    state if given.

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
    state_shape = tuple(meta["state_shape"])
    if env is not None and tuple(env.observation_space.shape) != state_shape:
        raise ValueError(
            f"the SAC policy {path} reads states of shape {state_shape}, the env gives "
            f"{env.observation_space.shape}: evaluate it with the sub-pool size and state of "
            f"its training run"
        )
    state_space = gym.spaces.Box(-np.inf, np.inf, shape=state_shape, dtype=np.float32)
    rows = row_view(state_space, **meta["view"])
    obs_space = gym.spaces.Box(
        -np.inf, np.inf, shape=(state_shape[0], rows.features_dim), dtype=np.float32
    )
    policy = SACPolicy(
        obs_space,
        gym.spaces.Box(meta["action_low"].numpy(), meta["action_high"].numpy()),
        lr_schedule=lambda _: 0.0,  # the optimizer is not used to select
        net_arch=meta["net_arch"],
        n_critics=meta["n_critics"],
    )
    policy.load_state_dict(saved["state_dict"])
    policy.set_training_mode(False)
    return SACSelector(policy.to(device), rows, state_shape)


class _SACPolicyFile:
    """SAC's policy with the ``save(path)`` of :func:`save_sac_policy` (for the snapshots)."""

    def __init__(self, model: SAC) -> None:
        self.model = model

    def save(self, path: str) -> None:
        view = self.model.iale_view  # type: ignore[attr-defined]  # set by train_rl
        save_sac_policy(self.model.policy, path, view["settings"], view["state_shape"])


def _saveable_policy(model: BaseAlgorithm) -> Any:
    """The policy of ``model`` as its ``policy.zip`` is written."""
    return _SACPolicyFile(model) if isinstance(model, SAC) else model.policy


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
        view: The policy's input view, ``"eq2"``, ``"invariant"``, ``"relative"`` or
            ``"rank"`` (see :class:`~agents.policy.IALEPolicy`).
        snapshot_every: Keep a copy of the IALE policy as ``snapshots/policy-<AL steps>.zip``
            at the first update past every multiple of this many AL steps (``None``: none), for
            learning curves against the AL steps spent in training.
        buffer_size: SAC's replay buffer, in transitions (AL steps; at most the first run's
            ``timesteps``, which a resumed run keeps). Each checkpoint writes it whole: about
            5 kB per transition on the fast track's ``relative`` view.
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


def make_rl_env(
    config: ALConfig, data: ALDataset | None = None, row_view: str | None = None
) -> gym.Env:
    """An IALE env with a ``Box(n)`` score action (top-k labeled) and episode statistics;
    ``row_view`` (SAC: the ``RLConfig.view``) observes the policy's input view of each
    candidate (:class:`RowViewObservation`) instead of the Eq. 2 state."""
    env: gym.Env = ActiveLearningEnv(config, data=data)
    if row_view is not None:
        env = RowViewObservation(env, row_view)
    return Monitor(TopKScoreAction(env))


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
    return _missing_buffer(out, int(data["num_timesteps"]))


def _missing_buffer(out: Path, steps: int) -> str | None:
    """Why a checkpoint at ``steps`` AL steps in ``out`` lacks its replay buffer, or ``None``."""
    buffer = out / REPLAY_BUFFER.format(steps=steps)
    if buffer.is_file():
        return None
    return (
        f"{out / CHECKPOINT} is at {steps} AL steps but {buffer.name} is missing: an off-policy "
        f"run resumes only with the replay buffer of its checkpoint; start a new run with "
        f"another --out"
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
    view: dict[str, Any] | None = None
    if cfg.algo in OFF_POLICY:
        try:
            view = {
                "settings": env.get_wrapper_attr("view_settings"),
                "state_shape": env.get_wrapper_attr("state_shape"),
            }
        except AttributeError:
            view = None
        if view is None or view["settings"]["view"] != cfg.view:
            raise ValueError(
                f"{cfg.algo} trains on the rows of its view: make the env with "
                f"make_rl_env(config, row_view={cfg.view!r})"
            )
    if resume and ckpt.exists():
        model = algo_cls.load(ckpt, env=env, device=cfg.device)
        if cfg.algo in OFF_POLICY:
            why = _missing_buffer(out, model.num_timesteps)  # the loaded checkpoint's step
            if why:
                raise ValueError(why)
            model.load_replay_buffer(out / REPLAY_BUFFER.format(steps=model.num_timesteps))
            _end_stored_episode(model)
            model.iale_view = view  # type: ignore[attr-defined]
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
        )
        model.iale_view = view  # type: ignore[attr-defined]  # what policy.zip records
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
