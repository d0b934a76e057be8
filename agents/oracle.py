"""The best-expert oracle as a stable-baselines3 policy (the DAgger expert)."""

from __future__ import annotations

import hashlib
import math
from collections import Counter

import numpy as np
import torch
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from iale_env.oracles import OracleResult


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
        soft_temperature: With the best-expert oracle, also label each answer softly
            (:func:`soft_labels` at this temperature, in :attr:`labels`); ``None`` = the
            labels are the actions.

    Attributes:
        winners: How often each expert won, over all queries so far (best-expert oracle).
        answers: ``(observation digest, action)`` of every answer, in order (about n bytes each).
        labels: The demonstration labels of the last answer, one row per env: the actions, or
            their soft labels.
    """

    def __init__(
        self,
        venv: VecEnv,
        method: str = "oracle_action",
        soft_temperature: float | None = None,
    ) -> None:
        if method not in ("oracle_action", "lookahead_oracle_action"):
            raise ValueError(
                f"method must be 'oracle_action' or 'lookahead_oracle_action', got {method!r}"
            )
        if soft_temperature is not None and method != "oracle_action":
            raise ValueError("soft labels need the best-expert oracle (method='oracle_action')")
        super().__init__(venv.observation_space, venv.action_space)
        self.venv = venv
        self.method = method
        self.soft_temperature = soft_temperature
        self.winners: Counter[str] = Counter()
        self.answers: list[tuple[str, np.ndarray]] = []
        self.labels: np.ndarray | None = None

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
        self.labels = actions
        if self.method == "oracle_action":
            results = env_attr(self.venv, "last_oracle")
            for result in results:
                self.winners[result.winner] += 1
            if self.soft_temperature is not None:
                self.labels = np.stack([soft_labels(r, self.soft_temperature) for r in results])
        else:
            self.winners["lookahead"] += len(actions)
        self.answers.extend(zip(digests, actions))
        return actions, state

    def _predict(self, observation: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        raise NotImplementedError("BestExpertOracle answers through predict() only")


def soft_labels(result: OracleResult, temperature: float) -> np.ndarray:
    """Soft demonstration labels from every expert's retrained accuracy, not the winner's alone.

    Each expert gets the weight ``softmax(score / temperature)`` over the experts (its scoring
    accuracy in ``result.scores``), and a candidate's label is the total weight of the experts
    that select it. The labels sum to k; a candidate every expert selects gets 1. As the
    temperature goes to 0 they become the winner's action (experts with the top score share
    the weight). With a Bernoulli policy the BCE on these labels is the weighted mean of the BCE
    on each expert's action, so the policy learns from every expert, more from the better ones,
    instead of from a winner that a retraining seed may have decided.

    Args:
        result: The best-expert oracle's decision at a state (``env.last_oracle``).
        temperature: The softmax temperature in accuracy units (0.01: an expert one point
            behind gets e⁻¹ times the weight); must be > 0.

    Returns:
        A ``float32`` vector over the sub-pool.
    """
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(
            f"the soft labels' temperature must be a finite number > 0, got {temperature}"
        )
    names = list(result.scores)
    scores = np.array([result.scores[n] for n in names], dtype=np.float64) / temperature
    weights = np.exp(scores - scores.max())
    weights /= weights.sum()
    labels = np.zeros(len(result.action), dtype=np.float64)
    for name, weight in zip(names, weights):
        labels[result.selections[name]] += weight
    return labels.astype(np.float32)


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
