"""The IALE policy as a stable-baselines3 ``ActorCriticPolicy``.

One MLP (``row_dim -> 128 -> 128 -> 1``, ReLU, ReLU) scores every candidate row of the Eq. 2
observation; the sigmoid of the score is the candidate's Bernoulli "select" probability. The
deterministic action is the top-k of the scores (exactly ``acquisition_size`` ones); stochastic
actions are independent Bernoulli samples. Because the MLP is shared across rows, the same
weights work for any sub-pool size, and :func:`load_policy` rebinds a trained policy to any
IALE env (another dataset, sub-pool or acquisition size).

With imitation's BC (``ent_weight=0``, ``l2_weight=0``) the training loss is ``-log_prob``:
the Bernoulli log-likelihood summed over candidates, averaged over states, i.e. exactly the
binary cross-entropy of Eq. 3. ``class_weights=(0.9, 0.1)`` reproduces the authors' weighting
of selected vs. unselected candidates (then ``log_prob`` is a weighted log-likelihood).

Two variants share the architecture:

- ``selection="softmax"``: one softmax over the candidates (ALIL, Liu et al. 2018); the
  log-likelihood of a one-hot action is the cross-entropy of the chosen candidate.
- A ``Box(n)`` action space (the :class:`~iale_env.TopKScoreAction` wrapper, for RL agents):
  the scores are the mean of a Gaussian with one learned standard deviation, so PPO/A2C explore
  by perturbing scores; the env labels the top-k of the sampled scores.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from stable_baselines3.common.distributions import (
    BernoulliDistribution,
    DiagGaussianDistribution,
)
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn


class RowFeatures(BaseFeaturesExtractor):
    """Identity features extractor: keeps the ``(batch, n, row_dim)`` observation as is."""

    def __init__(self, observation_space: gym.spaces.Box) -> None:
        super().__init__(observation_space, features_dim=int(observation_space.shape[-1]))

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return observations


class TopKBernoulli(BernoulliDistribution):
    """Independent Bernoulli per candidate whose mode is the top-k of the logits."""

    def __init__(self, action_dims: int, k: int, class_weights: tuple[float, float] | None = None):
        super().__init__(action_dims)
        self.k = k
        self.class_weights = class_weights

    def mode(self) -> torch.Tensor:
        logits = self.distribution.logits
        top = logits.topk(self.k, dim=-1).indices
        return torch.zeros_like(logits).scatter_(-1, top, 1.0)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        actions = actions.float()
        if self.class_weights is None:
            return self.distribution.log_prob(actions).sum(dim=1)
        pos, neg = self.class_weights
        ll = -F.binary_cross_entropy_with_logits(
            self.distribution.logits, actions, reduction="none"
        )
        weights = actions * pos + (1.0 - actions) * neg
        return (weights * ll).sum(dim=1)


class SoftmaxTopK(TopKBernoulli):
    """One softmax over the candidates (ALIL's policy); mode and samples are k-hot vectors.

    Samples draw k candidates without replacement (Gumbel top-k); ``log_prob`` of a k-hot action
    sums the chosen candidates' log-softmax (the exact log-likelihood for k = 1).
    """

    def proba_distribution(self, action_logits: torch.Tensor) -> SoftmaxTopK:
        self.distribution = torch.distributions.Categorical(logits=action_logits)
        return self

    def _k_hot(self, scores: torch.Tensor) -> torch.Tensor:
        top = scores.topk(self.k, dim=-1).indices
        return torch.zeros_like(scores).scatter_(-1, top, 1.0)

    def mode(self) -> torch.Tensor:
        return self._k_hot(self.distribution.logits)

    def sample(self) -> torch.Tensor:
        logits = self.distribution.logits
        gumbel = -torch.log(-torch.log(torch.rand_like(logits).clamp(1e-20, 1.0)))
        return self._k_hot(logits + gumbel)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        return (actions.float() * self.distribution.logits).sum(dim=1)

    def entropy(self) -> torch.Tensor:
        return self.distribution.entropy()


class IALEPolicy(ActorCriticPolicy):
    """Row-wise MLP scorer over the candidates; top-k selection; SB3 actor-critic compatible.

    Args:
        observation_space: ``Box(n, row_dim)`` of an IALE env.
        action_space: ``MultiBinary(n)``, or ``Box(n)`` for score actions (RL agents).
        lr_schedule: SB3 learning-rate schedule (used by RL algorithms' optimisers).
        acquisition_size: k, the number of ones of a deterministic action.
        hidden_dim: Width of the two hidden layers (128 in the paper).
        class_weights: ``(positive, negative)`` weights of the imitation loss, or ``None`` for
            the plain BCE of Eq. 3.
        selection: ``"bernoulli"`` (IALE: independent per-candidate probabilities) or
            ``"softmax"`` (ALIL: one softmax over the candidates); MultiBinary actions only.
        **kwargs: Passed to ``ActorCriticPolicy`` (e.g. ``optimizer_kwargs``).

    The value head (for PPO/A2C) mean-pools the hidden features of all rows.
    """

    def __init__(
        self,
        observation_space: gym.spaces.Box,
        action_space: gym.spaces.MultiBinary,
        lr_schedule: Any,
        acquisition_size: int = 10,
        hidden_dim: int = 128,
        class_weights: tuple[float, float] | None = None,
        selection: str = "bernoulli",
        **kwargs: Any,
    ) -> None:
        n = int(observation_space.shape[0]) if observation_space.shape else 0
        score_action = isinstance(action_space, gym.spaces.Box) and action_space.shape == (n,)
        if len(observation_space.shape) != 2 or not (
            isinstance(action_space, gym.spaces.MultiBinary) or score_action
        ):
            raise ValueError(
                "IALEPolicy needs an IALE env: Box(n, row_dim) observations and MultiBinary(n) "
                f"(or Box(n) score) actions, got {observation_space} and {action_space}"
            )
        if selection not in ("bernoulli", "softmax"):
            raise ValueError(f"selection must be 'bernoulli' or 'softmax', got {selection!r}")
        if selection == "softmax" and score_action:
            raise ValueError("selection='softmax' needs MultiBinary actions, not Box scores")
        if not 1 <= acquisition_size <= n:
            raise ValueError(f"acquisition_size must be in [1, {n}], got {acquisition_size}")
        self.acquisition_size = int(acquisition_size)
        self.hidden_dim = int(hidden_dim)
        self.class_weights = tuple(class_weights) if class_weights is not None else None
        self.selection = selection
        self.score_action = score_action
        kwargs.setdefault("features_extractor_class", RowFeatures)
        kwargs.setdefault("share_features_extractor", True)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def _build(self, lr_schedule: Any) -> None:
        row_dim, h = int(self.observation_space.shape[-1]), self.hidden_dim
        self.trunk = nn.Sequential(nn.Linear(row_dim, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU())
        self.score_head = nn.Linear(h, 1)
        self.value_head = nn.Linear(h, 1)
        n = int(self.observation_space.shape[0])
        if self.score_action:
            self.log_std = nn.Parameter(torch.zeros(()))
            self.action_dist = DiagGaussianDistribution(n)
        else:
            dist_cls = SoftmaxTopK if self.selection == "softmax" else TopKBernoulli
            self.action_dist = dist_cls(n, self.acquisition_size, self.class_weights)  # type: ignore[arg-type]
        self.optimizer = self.optimizer_class(
            self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            acquisition_size=self.acquisition_size,
            hidden_dim=self.hidden_dim,
            class_weights=self.class_weights,
            selection=self.selection,
        )
        for key in (
            "net_arch",
            "activation_fn",
            "ortho_init",
            "use_sde",
            "log_std_init",
            "full_std",
            "use_expln",
            "squash_output",
            "sde_net_arch",
        ):
            data.pop(key, None)
        return data

    # ------------------------------------------------------------------ core computations
    def _hidden_and_logits(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.trunk(self.extract_features(obs, self.features_extractor))
        return hidden, self.score_head(hidden).squeeze(-1)

    def _distribution(self, logits: torch.Tensor) -> Any:
        if self.score_action:
            return self.action_dist.proba_distribution(logits, self.log_std)
        return self.action_dist.proba_distribution(logits)

    def scores(self, obs: torch.Tensor) -> torch.Tensor:
        """Desirability scores ``rho`` in (0, 1) of each candidate, shape ``(batch, n)``."""
        return torch.sigmoid(self._hidden_and_logits(obs)[1])

    @torch.no_grad()
    def select(self, observation: np.ndarray) -> np.ndarray:
        """The deterministic selection: 0/1 ``int8`` top-k of the scores, for one observation
        ``(n, row_dim)`` or a batch; the same rule for every variant (Bernoulli, softmax, Box)."""
        obs = torch.as_tensor(np.asarray(observation, dtype=np.float32), device=self.device)
        single = obs.ndim == 2
        logits = self._hidden_and_logits(obs[None] if single else obs)[1]
        top = logits.topk(self.acquisition_size, dim=-1).indices
        action = torch.zeros_like(logits).scatter_(-1, top, 1.0).to(torch.int8).cpu().numpy()
        return action[0] if single else action

    def forward(
        self, obs: torch.Tensor, deterministic: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hidden, logits = self._hidden_and_logits(obs)
        dist = self._distribution(logits)
        actions = dist.get_actions(deterministic=deterministic)
        values = self.value_head(hidden.mean(1))
        return actions, values, dist.log_prob(actions)

    def evaluate_actions(
        self, obs: torch.Tensor, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hidden, logits = self._hidden_and_logits(obs)
        dist = self._distribution(logits)
        return self.value_head(hidden.mean(1)), dist.log_prob(actions.float()), dist.entropy()

    def get_distribution(self, obs: torch.Tensor) -> Any:
        return self._distribution(self._hidden_and_logits(obs)[1])

    def predict_values(self, obs: torch.Tensor) -> torch.Tensor:
        return self.value_head(self._hidden_and_logits(obs)[0].mean(1))

    def _predict(self, observation: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        return self.get_distribution(observation).get_actions(deterministic=deterministic)

    @classmethod
    def load(cls, path: str, device: torch.device | str = "auto") -> IALEPolicy:  # type: ignore[override]
        """Load a policy saved with :meth:`save` (works on torch >= 2.6, unlike SB3 2.2's)."""
        return load_policy(path, device=device)


def load_policy(
    path: str, env: gym.Env | None = None, device: torch.device | str = "cpu"
) -> IALEPolicy:
    """Load a trained :class:`IALEPolicy`, optionally rebound to ``env``'s spaces.

    With ``env`` (any IALE env, e.g. another dataset or sub-pool size) the policy takes that
    env's observation/action spaces and acquisition size, keeping the trained row-wise weights.
    """
    from stable_baselines3.common.utils import get_device

    device = get_device(device)
    saved = torch.load(path, map_location=device, weights_only=False)
    data = dict(saved["data"])
    if env is not None:
        obs_space, act_space = env.observation_space, env.action_space
        if obs_space.shape[-1] != data["observation_space"].shape[-1]:
            raise ValueError(
                f"the policy was trained on rows of {data['observation_space'].shape[-1]} "
                f"features but the env's rows have {obs_space.shape[-1]} (another embedding size "
                f"or number of classes); it cannot be transferred"
            )
        if isinstance(data["action_space"], gym.spaces.Box):  # a score-action (RL) policy
            from iale_env.wrappers import score_space

            act_space = score_space(int(obs_space.shape[0]))
        data.update(
            observation_space=obs_space,
            action_space=act_space,
            acquisition_size=env.unwrapped.config.acquisition_size,
        )
    policy = IALEPolicy(**data)
    policy.load_state_dict(saved["state_dict"])
    return policy.to(device).eval()
