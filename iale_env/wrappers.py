"""Wrappers that adapt the AL environment to agents that do not emit exact top-k selections."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from iale_env.actions import top_k_selection

#: Bound of the score action space (SB3 needs finite bounds; scores are clipped into it).
SCORE_BOUND = 100.0


class TopKScoreAction(gym.ActionWrapper, gym.utils.RecordConstructorArgs):
    """Let the agent emit one real score per candidate; the env labels the top-k scores.

    The action space becomes ``Box(-SCORE_BOUND, SCORE_BOUND, (subpool_size,))`` (SB3's
    PPO/A2C/SAC need finite bounds and clip into them), and every action is turned into a 0/1
    vector with exactly ``acquisition_size`` ones: the k highest scores, ties broken by the
    lower candidate position. It records its constructor arguments, so ``gym.make(env.spec)``
    re-creates the wrapped env.
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)  # the spec can re-make the wrapper
        gym.ActionWrapper.__init__(self, env)
        cfg = env.unwrapped.config
        self.k, self.n = cfg.acquisition_size, cfg.subpool_size
        self.action_space = score_space(self.n)

    def action(self, action: np.ndarray) -> np.ndarray:
        """Scores ``(n,)`` to a 0/1 ``int8`` selection of the k best."""
        scores = np.asarray(action, dtype=np.float64)
        if scores.shape != (self.n,) or not np.all(np.isfinite(scores)):
            raise ValueError(f"expected {self.n} finite scores, got shape {scores.shape}")
        return top_k_selection(scores, self.k)


def score_space(n: int) -> spaces.Box:
    """The ``Box(n)`` score action space of :class:`TopKScoreAction`."""
    return spaces.Box(-SCORE_BOUND, SCORE_BOUND, shape=(n,), dtype=np.float32)
