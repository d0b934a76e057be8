"""The DAgger algorithm on imitation: its settings, beta schedules, the top-k trajectory collector,
and the imitation measures (agreement with the oracle, the BCE of Eq. 3)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from imitation.algorithms.dagger import (
    BetaSchedule,
    InteractiveTrajectoryCollector,
)
from stable_baselines3.common.vec_env import VecEnv

from agents.dagger import imitation_adapter
from agents.policy import SELECTIONS, VIEWS, IALEPolicy


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
            :class:`~agents.policy.set_selection.GreedySetSelection`).
        oracle: ``"best_expert"`` (IALE) or ``"lookahead"``: retrain on each candidate alone
            and take the best (ALIL's oracle; n trainings per step).
        view: The policy's input view, ``"eq2"`` (the paper's rows), ``"invariant"``
            (class-order-free features; see :class:`~agents.policy.InvariantRowFeatures`),
            ``"relative"`` (the same, standardised over the sub-pool) or ``"rank"`` (ranked
            within it).
        normalize: Standardise the policy's input features; the statistics are refitted on the
            aggregated pairs before every update and saved with the policy.
        bc_batches: Minibatch updates per round instead of ``bc_epochs`` epochs (a round of a
            few dozen pairs otherwise makes only a few dozen updates); ``None`` = epochs.
        heldout_episodes: Oracle-labeled episodes collected before training, from seeds never
            used for training; the policy's agreement with the oracle on their states is logged
            after every round (``heldout_agreement``). 0 = none.
        snapshot_every: Keep the policy as ``snapshots/policy-<AL steps>.zip`` after every
            round that passes a multiple of this many AL steps (the training curve of
            imitation against AL steps spent); ``None`` = no snapshots. Not a setting a
            resumed run must match.
        soft_targets: Label every state with soft targets at this temperature instead of
            the winner's selection: each expert's retrained accuracy becomes a softmax weight
            and a candidate's label is the total weight of the experts that select it
            (:func:`agents.oracle.soft_labels`); the executed oracle action stays the winner's.
            ``None`` = the paper's hard labels. Needs the best-expert oracle and the
            ``"bernoulli"`` or ``"softmax"`` selection.
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
    view: Literal["eq2", "invariant", "relative", "rank"] = "eq2"
    normalize: bool = False
    bc_batches: int | None = None
    heldout_episodes: int = 0
    snapshot_every: int | None = None
    soft_targets: float | None = None

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
        if self.snapshot_every is not None and self.snapshot_every < 1:
            raise ValueError(f"snapshot_every must be >= 1 or None, got {self.snapshot_every}")
        if self.soft_targets is not None:
            self._check_soft_targets(self.soft_targets)

    def _check_soft_targets(self, temperature: float) -> None:
        if not (math.isfinite(temperature) and temperature > 0):
            raise ValueError(
                f"soft_targets (a temperature) must be a finite number > 0 or None, "
                f"got {temperature}"
            )
        if self.oracle != "best_expert" or self.selection == "greedy":
            raise ValueError(
                f"soft targets need the best-expert oracle and the 'bernoulli' or 'softmax' "
                f"selection (the greedy selection learns the teacher's set), got "
                f"oracle={self.oracle!r}, selection={self.selection!r}"
            )
        if self.class_weights is not None:
            raise ValueError(
                "soft targets and class weights do not combine (the weighted loss is not "
                "linear in the labels); drop one of --soft-targets and --class-weights"
            )

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
    every step whether the expert's action was executed. ``labels``, if given, maps the
    expert's actions of a step to the labels stored as its demonstration (soft targets); by
    default the actions themselves are stored.
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
        labels: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        super().__init__(venv, self._robot_acts, beta, save_dir, rng)
        self.policy = policy
        self.coin = coin
        self.on_step = on_step
        self.labels = labels
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
        labels = actions if self.labels is None else self.labels(actions)
        if len(labels) != len(actions):
            raise RuntimeError(f"{len(labels)} labels for the {len(actions)} envs' actions")
        imitation_adapter.record_expert_actions(self, labels)
        self.venv.step_async(executed)

    def step_wait(self):
        obs, rews, dones, infos = super().step_wait()
        if self.coin == "episode" and dones.any():
            self._episode_robot[dones] = self._flip(int(dones.sum()))
        if self.on_step is not None:
            self.on_step(infos)
        return obs, rews, dones, infos


def _derive(*keys: int) -> int:
    # In float64, as numpy 1 computed ``uint64 % int`` (numpy 2 keeps uint64): same seeds on both
    state = np.random.SeedSequence(list(keys)).generate_state(1, dtype=np.uint64)[0]
    return int(np.float64(state) % 2.0**31)


def _reset_parameters(policy: IALEPolicy) -> None:
    for module in policy.modules():
        if module is not policy and hasattr(module, "reset_parameters"):
            module.reset_parameters()


def agreement(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean fraction of the target's selections that the prediction also selects.

    Soft targets (:func:`agents.oracle.soft_labels`) count the label mass the prediction
    selects: the mean of its agreement with each expert's selection, weighted as the labels
    weigh the experts.
    """
    pred, target = np.asarray(pred) > 0.5, np.asarray(target)
    if np.isin(target, (0, 1)).all():
        target = target > 0.5
        return float(((pred & target).sum(-1) / np.maximum(target.sum(-1), 1)).mean())
    return float(((pred * target).sum(-1) / np.maximum(target.sum(-1), 1e-12)).mean())


@torch.no_grad()
def imitation_loss(policy: IALEPolicy, states: np.ndarray, actions: np.ndarray) -> float:
    """Mean over states of the summed per-candidate BCE (Eq. 3), as BC minimises it."""
    obs = torch.as_tensor(states, device=policy.device)
    acts = torch.as_tensor(actions, device=policy.device).float()
    return float(-policy.evaluate_actions(obs, acts)[1].mean())
