"""The best-expert oracle as a stable-baselines3 policy (the DAgger expert)."""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np
import torch
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv


class BestExpertOracle(BasePolicy):
    """Answers every query with each env's ``oracle_action()`` (or another oracle method).

    The oracle needs the env's internals (labeled set, pool, model), not just the observation, so
    it asks the envs of ``venv`` (see :func:`env_call`); this works with ``DummyVecEnv`` and
    ``SubprocVecEnv`` and across auto-resets. Before answering it checks that each observation it
    is asked about is the env's current one (SHA-256 of the bytes) and raises ``RuntimeError`` if
    not, so it can never label a state with the decision for another.

    Args:
        venv: The IALE envs to answer for.
        method: The env method that answers: ``"oracle_action"`` (best expert, IALE) or
            ``"lookahead_oracle_action"`` (candidate-wise lookahead, ALIL).

    Attributes:
        winners: How often each expert won, over all queries so far (best-expert oracle).
        answers: ``(observation digest, action)`` of every answer, in order (about n bytes each).
    """

    def __init__(self, venv: VecEnv, method: str = "oracle_action") -> None:
        if method not in ("oracle_action", "lookahead_oracle_action"):
            raise ValueError(
                f"method must be 'oracle_action' or 'lookahead_oracle_action', got {method!r}"
            )
        super().__init__(venv.observation_space, venv.action_space)
        self.venv = venv
        self.method = method
        self.winners: Counter[str] = Counter()
        self.answers: list[tuple[str, np.ndarray]] = []

    def predict(self, observation, state=None, episode_start=None, deterministic=False):  # noqa: D102
        obs = np.asarray(observation, dtype=np.float32)
        if obs.shape != (self.venv.num_envs, *self.observation_space.shape):
            raise ValueError(
                f"BestExpertOracle answers one observation per env of its venv "
                f"({self.venv.num_envs}), got shape {obs.shape}"
            )
        digests = env_call(self.venv, "observation_digest")
        for i, digest in enumerate(digests):
            if hashlib.sha256(np.ascontiguousarray(obs[i]).tobytes()).hexdigest() != digest:
                raise RuntimeError(
                    f"env {i}'s current state does not match the observation the oracle was asked "
                    f"about; query the oracle only with the venv's latest observations"
                )
        actions = np.stack(env_call(self.venv, self.method))
        if self.method == "oracle_action":
            for result in env_attr(self.venv, "last_oracle"):
                self.winners[result.winner] += 1
        else:
            self.winners["lookahead"] += len(actions)
        self.answers.extend(zip(digests, actions))
        return actions, state

    def _predict(self, observation: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        raise NotImplementedError("BestExpertOracle answers through predict() only")


def _base_envs(venv: VecEnv) -> list | None:
    """The unwrapped envs of an in-process ``venv`` (through any VecEnv wrappers), else None."""
    base = venv.unwrapped
    return [env.unwrapped for env in base.envs] if isinstance(base, DummyVecEnv) else None


def env_call(venv: VecEnv, name: str, *args) -> list:
    """Call the IALE env method ``name`` in every env of ``venv``; the results, in env order.

    In-process envs are reached through ``env.unwrapped``, so no Gymnasium wrapper has to
    forward the call (that forwarding is deprecated in Gymnasium 0.29 and gone in 1.0). Envs in
    worker processes are asked through ``venv.env_method``.
    """
    envs = _base_envs(venv)
    if envs is None:
        return venv.env_method(name, *args)
    return [getattr(env, name)(*args) for env in envs]


def env_attr(venv: VecEnv, name: str) -> list:
    """The IALE env attribute ``name`` of every env of ``venv`` (see :func:`env_call`)."""
    envs = _base_envs(venv)
    if envs is None:
        return venv.get_attr(name)
    return [getattr(env, name) for env in envs]
