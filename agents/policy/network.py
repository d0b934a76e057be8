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
  by perturbing scores; the env labels the top-k of the sampled scores."""

from __future__ import annotations

import json
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.distributions import (
    DiagGaussianDistribution,
)
from stable_baselines3.common.policies import ActorCriticPolicy
from torch import nn

from agents.policy.digest import (
    POLICY_FORMAT,
    policy_digest,
)
from agents.policy.distributions import SoftmaxTopK, TopKBernoulli
from agents.policy.set_selection import (
    GreedySetSelection,
    candidate_embeddings,
    relative_log_distances,
)
from agents.policy.views import (
    VIEWS,
    RowNormalizer,
    view_extractor,
)

#: The policy's selection rules (``IALEPolicy(selection=...)``).
SELECTIONS = ("bernoulli", "softmax", "greedy")

#: The constructor settings a policy file records (beside its spaces).
SAVED_SETTINGS = (
    "acquisition_size",
    "hidden_dim",
    "class_weights",
    "selection",
    "view",
    "normalize",
    "num_classes",
    "embedding_dim",
    "score_columns",
)


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
        selection: ``"bernoulli"`` (IALE: independent per-candidate probabilities),
            ``"softmax"`` (ALIL: one softmax over the candidates) or ``"greedy"`` (set-aware:
            k rounds, each conditioned on the candidates chosen so far,
            :class:`~agents.policy.set_selection.GreedySetSelection`); the last two need MultiBinary
            actions.
        view: How the MLP sees a row: ``"eq2"`` (the paper's Eq. 2 row as is) or
            ``"invariant"`` (class-order-free features, :class:`InvariantRowFeatures`) or
            ``"relative"`` (the same, standardised over the sub-pool, :class:`RelativeRowFeatures`)
            or ``"rank"`` (the same, ranked within the sub-pool, :class:`RankRowFeatures`).
        normalize: Standardise the view's features with statistics stored in the policy
            (:class:`RowNormalizer`, fitted by :meth:`fit_normalizer`).
        num_classes: K of the env (needed by the ``"invariant"`` view).
        embedding_dim: D, the classifier's embedding size (``"invariant"`` view).
        score_columns: How many expert-score columns end each row (the env's
            ``state_scores``); ``"invariant"`` adds each score and its z-score, ``"relative"``
            and ``"rank"`` each score standardised or ranked over the sub-pool.
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
        view: str = "eq2",
        normalize: bool = False,
        num_classes: int = 10,
        embedding_dim: int = 128,
        score_columns: int = 0,
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
        if selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {SELECTIONS}, got {selection!r}")
        if selection != "bernoulli" and score_action:
            raise ValueError(f"selection={selection!r} needs MultiBinary actions, not Box scores")
        if not 1 <= acquisition_size <= n:
            raise ValueError(f"acquisition_size must be in [1, {n}], got {acquisition_size}")
        if view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
        self.view = view
        self.normalize = bool(normalize)
        self.num_classes, self.embedding_dim = int(num_classes), int(embedding_dim)
        self.score_columns = int(score_columns)
        self.acquisition_size = int(acquisition_size)
        self.hidden_dim = int(hidden_dim)
        self.class_weights = tuple(class_weights) if class_weights is not None else None
        self.selection = selection
        self.score_action = score_action
        extractor, extractor_kwargs = view_extractor(
            view, self.num_classes, self.embedding_dim, self.score_columns
        )
        kwargs.setdefault("features_extractor_class", extractor)
        if extractor_kwargs:  # the eq2 view takes none
            kwargs.setdefault("features_extractor_kwargs", extractor_kwargs)
        kwargs.setdefault("share_features_extractor", True)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def _build(self, lr_schedule: Any) -> None:
        row_dim, h = int(self.features_extractor.features_dim), self.hidden_dim
        if self.normalize:
            self.normalizer = RowNormalizer(row_dim)
        self.trunk = nn.Sequential(nn.Linear(row_dim, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU())
        self.score_head = nn.Linear(h, 1)
        self.value_head = nn.Linear(h, 1)
        n = int(self.observation_space.shape[0])
        if self.score_action:
            self.log_std = nn.Parameter(torch.zeros(()))
            self.action_dist = DiagGaussianDistribution(n)
        else:
            dist_cls = {
                "bernoulli": TopKBernoulli,
                "softmax": SoftmaxTopK,
                "greedy": GreedySetSelection,
            }[self.selection]
            self.action_dist = dist_cls(n, self.acquisition_size, self.class_weights)  # type: ignore[arg-type]
        if self.selection == "greedy":
            self.diversity_head = nn.Linear(h, 1)  # w_i of the distance term
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
            view=self.view,
            normalize=self.normalize,
            num_classes=self.num_classes,
            embedding_dim=self.embedding_dim,
            score_columns=self.score_columns,
        )
        for key in (
            "features_extractor_class",
            "features_extractor_kwargs",
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
    def features(self, obs: torch.Tensor) -> torch.Tensor:
        """The rows the MLP sees: the view's features, standardised if ``normalize``."""
        feats = self.extract_features(obs, self.features_extractor)
        return self.normalizer(feats) if self.normalize else feats

    @torch.no_grad()
    def fit_normalizer(self, states: np.ndarray, chunk: int = 256) -> None:
        """Fit the feature standardisation on ``states`` ``(m, n, row_dim)`` (no-op unless
        ``normalize``)."""
        if not self.normalize:
            return
        feats = [
            self.extract_features(
                torch.as_tensor(states[i : i + chunk], device=self.device), self.features_extractor
            )
            for i in range(0, len(states), chunk)
        ]
        self.normalizer.fit(torch.cat(feats))

    def _hidden_and_logits(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.trunk(self.features(obs))
        return hidden, self.score_head(hidden).squeeze(-1)

    def _distribution(self, obs: torch.Tensor, hidden: torch.Tensor, logits: torch.Tensor) -> Any:
        if self.score_action:
            return self.action_dist.proba_distribution(logits, self.log_std)
        if self.selection == "greedy":
            emb = candidate_embeddings(obs, self.num_classes, self.embedding_dim)
            weights = self.diversity_head(hidden).squeeze(-1)
            return self.action_dist.proba_distribution(logits, weights, relative_log_distances(emb))
        return self.action_dist.proba_distribution(logits)

    def logits(self, obs: torch.Tensor) -> torch.Tensor:
        """The row-wise scores before any selection rule, shape ``(batch, n)``; for a policy
        fitted to a value teacher (:mod:`agents.values.fit`), each candidate's predicted share
        of the retrained accuracy, in percentage points."""
        return self._hidden_and_logits(obs)[1]

    def scores(self, obs: torch.Tensor) -> torch.Tensor:
        """Desirability scores ``rho`` in (0, 1) of each candidate, shape ``(batch, n)``."""
        return torch.sigmoid(self.logits(obs))

    @torch.no_grad()
    def select(self, observation: np.ndarray) -> np.ndarray:
        """The deterministic selection: 0/1 ``int8`` top-k of the scores, for one observation
        ``(n, row_dim)`` or a batch; the same rule for every variant (Bernoulli, softmax, Box)."""
        obs = torch.as_tensor(np.asarray(observation, dtype=np.float32), device=self.device)
        single = obs.ndim == 2
        batch = obs[None] if single else obs
        hidden, logits = self._hidden_and_logits(batch)
        if self.selection == "greedy":  # the rounds, not the top-k of round 0
            chosen = self._distribution(batch, hidden, logits).mode()
        else:
            top = logits.topk(self.acquisition_size, dim=-1).indices
            chosen = torch.zeros_like(logits).scatter_(-1, top, 1.0)
        action = chosen.to(torch.int8).cpu().numpy()
        return action[0] if single else action

    def forward(
        self, obs: torch.Tensor, deterministic: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hidden, logits = self._hidden_and_logits(obs)
        dist = self._distribution(obs, hidden, logits)
        actions = dist.get_actions(deterministic=deterministic)
        values = self.value_head(hidden.mean(1))
        return actions, values, dist.log_prob(actions)

    def evaluate_actions(
        self, obs: torch.Tensor, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hidden, logits = self._hidden_and_logits(obs)
        dist = self._distribution(obs, hidden, logits)
        return self.value_head(hidden.mean(1)), dist.log_prob(actions.float()), dist.entropy()

    def get_distribution(self, obs: torch.Tensor) -> Any:
        return self._distribution(obs, *self._hidden_and_logits(obs))

    def predict_values(self, obs: torch.Tensor) -> torch.Tensor:
        return self.value_head(self._hidden_and_logits(obs)[0].mean(1))

    def _predict(self, observation: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        return self.get_distribution(observation).get_actions(deterministic=deterministic)

    def save(self, path: str) -> None:
        """Save the weights and a JSON description of the policy (no pickled objects).

        The file holds only tensors and strings, so :func:`load_policy` reads it with
        ``torch.load(weights_only=True)``, which cannot run code from the file, and checks the
        weights and the description against the SHA-256 digest stored with them
        (:mod:`agents.policy.digest`).
        """
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        n, row = (int(d) for d in self.observation_space.shape)
        meta = {
            "format": POLICY_FORMAT,
            "observation_shape": [n, row],
            "action": "scores" if self.score_action else "multibinary",
            **{key: getattr(self, key) for key in SAVED_SETTINGS},  # JSON: tuples -> lists
        }
        meta = json.loads(json.dumps(meta))  # the description as it is read back
        meta["sha256"] = policy_digest(state, meta)  # one digest: weights and description
        torch.save({"meta": json.dumps(meta), "state_dict": state}, path)

    @classmethod
    def load(cls, path: str, device: torch.device | str = "auto") -> IALEPolicy:  # type: ignore[override]
        """Load a policy saved with :meth:`save` (see :func:`load_policy`)."""
        from agents.policy.io import load_policy

        return load_policy(path, device=device)
