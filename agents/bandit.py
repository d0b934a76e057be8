"""A baseline that needs no training: a bandit over the experts, learning within one episode.

At every AL step an adversarial bandit (EXP3, Auer et al., 2002; the learner of "Active
Learning by Learning", Hsu & Lin, 2015, is its contextual cousin) draws one expert, executes
that expert's selection, and updates its weights with the env's reward (the change of M's
scoring-set accuracy) of that step. It sees only the current episode: whatever it learns, it
learns on the dataset it is run on, which is what a learned, transferred policy has to beat.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from iale_env import ActiveLearningEnv


@dataclass(frozen=True)
class BanditConfig:
    """EXP3's settings.

    Attributes:
        experts: The arms.
        reward_scale: A reward of ``+reward_scale`` (accuracy gain) maps to 1, ``-reward_scale``
            to 0 (clipped): EXP3 needs rewards in [0, 1], and one step's gain is a few points.
        gamma: Exploration rate; ``None``: ``min(1, sqrt(K ln K / ((e - 1) T)))`` for ``T``
            steps, EXP3's tuning for a known horizon.
    """

    experts: tuple[str, ...]
    reward_scale: float = 0.05
    gamma: float | None = None

    def __post_init__(self) -> None:
        if len(self.experts) < 2:
            raise ValueError(f"a bandit needs at least two experts, got {list(self.experts)}")
        if not self.reward_scale > 0:
            raise ValueError(f"reward_scale must be > 0, got {self.reward_scale}")
        if self.gamma is not None and not 0 < self.gamma <= 1:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma}")


class ExpertBandit:
    """EXP3 over ``config.experts`` for one episode of ``env`` (make one per episode).

    ``select()`` draws an expert and returns its action; ``observe(reward)`` feeds back the
    reward of the step that executed it. Its draws come from a generator seeded by the env's
    episode (the oracle seed of the first state), never from the env's RNG.
    """

    def __init__(self, env: ActiveLearningEnv, config: BanditConfig) -> None:
        self.env, self.config = env, config
        k = len(config.experts)
        horizon = env.config.steps_per_episode
        self.gamma = config.gamma or min(1.0, math.sqrt(k * math.log(k) / ((math.e - 1) * horizon)))
        self.log_weights = np.zeros(k)
        self._rng: np.random.Generator | None = None
        self._last: tuple[int, float] | None = None  # arm drawn, its probability
        #: The expert drawn by the last :meth:`select`.
        self.drawn: str | None = None

    def probabilities(self) -> np.ndarray:
        """The current probability of drawing each expert."""
        w = np.exp(self.log_weights - self.log_weights.max())
        k = len(w)
        return (1 - self.gamma) * w / w.sum() + self.gamma / k

    def select(self) -> tuple[str, np.ndarray]:
        """Draw an expert; return its name and its selection on the current sub-pool."""
        if self._rng is None:
            self._rng = np.random.default_rng([self.env.oracle_seed, 0xBA4D17])
        p = self.probabilities()
        arm = int(self._rng.choice(len(p), p=p))
        self._last = (arm, float(p[arm]))
        self.drawn = self.config.experts[arm]
        return self.drawn, self.env.expert_action(self.drawn)

    def observe(self, reward: float) -> None:
        """Update the drawn expert's weight with the step's reward (importance-weighted)."""
        if self._last is None:
            raise RuntimeError("observe() before select()")
        if not math.isfinite(reward):
            raise ValueError(
                f"the bandit needs the env's reward, got {reward}; make the env with rewards=True"
            )
        arm, prob = self._last
        x = min(1.0, max(0.0, 0.5 + reward / (2 * self.config.reward_scale)))
        self.log_weights[arm] += self.gamma * (x / prob) / len(self.log_weights)
        self._last = None
