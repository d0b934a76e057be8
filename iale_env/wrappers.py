"""Wrappers that adapt the AL environment to agents that do not emit exact top-k selections."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class TopKScoreAction(gym.ActionWrapper):
    """Let the agent emit one real score per candidate; the env labels the top-k scores.

    The action space becomes ``Box(-inf, inf, (subpool_size,))`` (SB3's PPO/A2C/SAC accept it),
    and every action is turned into a 0/1 vector with exactly ``acquisition_size`` ones: the k
    highest scores, ties broken by the lower candidate position.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        cfg = env.unwrapped.config
        self.k, self.n = cfg.acquisition_size, cfg.subpool_size
        self.action_space = spaces.Box(-np.inf, np.inf, shape=(self.n,), dtype=np.float32)

    def action(self, action: np.ndarray) -> np.ndarray:
        """Scores ``(n,)`` to a 0/1 ``int8`` selection of the k best."""
        scores = np.asarray(action, dtype=np.float64)
        if scores.shape != (self.n,) or not np.all(np.isfinite(scores)):
            raise ValueError(f"expected {self.n} finite scores, got shape {scores.shape}")
        top = np.argsort(-scores, kind="stable")[: self.k]
        out = np.zeros(self.n, dtype=np.int8)
        out[top] = 1
        return out
