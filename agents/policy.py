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

import json
import zipfile
from pathlib import Path
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

from agents.policy_digest import (
    POLICY_FORMAT,
    check_policy_digest,
    check_recorded_sha256,
    policy_digest,
)
from agents.set_selection import (
    GreedySetSelection,
    candidate_embeddings,
    relative_log_distances,
)

#: Input views of the policy: how the Eq. 2 rows are presented to the row-wise MLP.
VIEWS = ("eq2", "invariant", "relative")
#: The policy's selection rules (``IALEPolicy(selection=...)``).
SELECTIONS = ("bernoulli", "softmax", "greedy")


class RowFeatures(BaseFeaturesExtractor):
    """Identity features extractor (the ``"eq2"`` view): the ``(batch, n, row_dim)`` Eq. 2
    observation as is."""

    def __init__(self, observation_space: gym.spaces.Box) -> None:
        super().__init__(observation_space, features_dim=int(observation_space.shape[-1]))

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return observations


class InvariantRowFeatures(BaseFeaturesExtractor):
    """The ``"invariant"`` view: class-order-free features of each candidate, computed from the
    Eq. 2 observation (which the env keeps as is).

    The Eq. 2 row lists the candidate's softmax and the labeled-set histograms in class order,
    and its embedding in the classifier's own coordinates; both mean something else on another
    dataset (or for another classifier run). This view keeps only quantities that are the same
    function of the state whatever the class order or embedding basis, so that a policy trained
    on MNIST reads Fashion-MNIST states the same way:

    - uncertainty of M on the candidate: top-3 probabilities, least confidence ``1 - p1``, margin
      ``p1 - p2``, entropy / log K;
    - the labeled set seen from the candidate: the labeled share of its predicted class and of its
      second class, and M's prediction share of its predicted class on the labeled set (all times
      K, so 1 means balanced);
    - diversity: the distance of its embedding to the labeled mean embedding relative to the
      sub-pool's mean distance, the cosine between the two, and the share of the sub-pool that M
      assigns to its predicted class (times K);
    - the same candidate relative to the sub-pool: z-scores over the n candidates of least
      confidence, margin, entropy and distance (the selection is the top-k *within* the sub-pool).

    Args:
        observation_space: ``Box(n, row_dim)`` of an IALE env.
        num_classes: K, the number of classes of the env's dataset.
        embedding_dim: D, the classifier's embedding size.
    """

    #: Names of the features, in column order.
    NAMES = (
        "p1",
        "p2",
        "p3",
        "least_confidence",
        "margin",
        "entropy",
        "labeled_share_pred",
        "labeled_share_second",
        "pred_share_pred",
        "relative_distance",
        "cosine_to_labeled_mean",
        "subpool_share_pred",
        "z_least_confidence",
        "z_margin",
        "z_entropy",
        "z_distance",
    )

    def __init__(
        self,
        observation_space: gym.spaces.Box,
        num_classes: int = 10,
        embedding_dim: int = 128,
        score_columns: int = 0,
    ) -> None:
        row_dim = int(observation_space.shape[-1])
        k, d, extra = int(num_classes), int(embedding_dim), int(score_columns)
        if k < 3 or extra < 0 or row_dim - extra not in (2 * d + 3 * k, 3 * d + 3 * k):
            raise ValueError(
                f"the invariant view needs Eq. 2 rows of 2*D + 3*K (or 3*D + 3*K) features with "
                f"K >= 3 classes, plus the state's expert scores; got rows of {row_dim} with "
                f"K={k}, D={d}, {extra} score columns: pass the env's num_classes, "
                f"embedding_dim and the number of its state_scores"
            )
        super().__init__(observation_space, features_dim=self._width(extra))
        self.num_classes, self.embedding_dim, self.score_columns = k, d, extra

    @classmethod
    def _width(cls, score_columns: int) -> int:
        """Features per candidate: the named ones, then each expert score and its z-score."""
        return len(cls.NAMES) + 2 * score_columns

    def _scores(self, observations: torch.Tensor) -> list[torch.Tensor]:
        """The state's expert-score columns (the last ``score_columns`` of a row)."""
        s = self.score_columns
        return [observations[..., -s + i].float() for i in range(s)]

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        feats = self._named(observations)
        for score in self._scores(observations):
            feats += [score, _zscore(score)]
        return torch.stack(feats, dim=-1)

    def _named(self, observations: torch.Tensor) -> list[torch.Tensor]:
        k, d = self.num_classes, self.embedding_dim
        x = observations.float()
        mean_emb, lab_hist = x[..., :d], x[..., d : d + k]
        pred_hist, emb = x[..., d + k : d + 2 * k], x[..., d + 2 * k : 2 * d + 2 * k]
        probs = x[..., 2 * d + 2 * k : 2 * d + 3 * k]
        top, order = probs.sort(dim=-1, descending=True)
        p1, p2, p3 = top[..., 0], top[..., 1], top[..., 2]
        entropy = -(probs * probs.clamp_min(1e-12).log()).sum(-1) / np.log(k)
        first, second = order[..., :1], order[..., 1:2]
        dist = (emb - mean_emb).norm(dim=-1)
        cosine = F.cosine_similarity(emb, mean_emb, dim=-1, eps=1e-8)
        same_pred = (first == first.transpose(-1, -2)).float().mean(-1)  # (batch, n)
        feats = [
            p1,
            p2,
            p3,
            1.0 - p1,
            p1 - p2,
            entropy,
            lab_hist.gather(-1, first).squeeze(-1) * k,
            lab_hist.gather(-1, second).squeeze(-1) * k,
            pred_hist.gather(-1, first).squeeze(-1) * k,
            dist / dist.mean(-1, keepdim=True).clamp_min(1e-8),
            cosine,
            same_pred * k,
            _zscore(1.0 - p1),
            _zscore(p1 - p2),
            _zscore(entropy),
            _zscore(dist),
        ]
        return feats


class RelativeRowFeatures(InvariantRowFeatures):
    """The ``"relative"`` view: each candidate only relative to the other candidates.

    The twelve quantities of :class:`InvariantRowFeatures` before its z-scores (uncertainty, the
    labeled set seen from the candidate, diversity), each standardised over the n candidates of
    the sub-pool. A selection is the top k *within* the sub-pool, and the heuristics rank the
    candidates by one such quantity; this view keeps the ranking information and drops the
    levels, which shift from dataset to dataset (M is less confident on Fashion-MNIST than on
    MNIST at the same labeled-set size), so a policy trained on one dataset does not meet
    feature values on another that it never saw.
    """

    NAMES = tuple(f"z_{name}" for name in InvariantRowFeatures.NAMES[:12])

    @classmethod
    def _width(cls, score_columns: int) -> int:
        return len(cls.NAMES) + score_columns

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        base = torch.stack(self._named(observations)[:12] + self._scores(observations), dim=-1)
        return _zscore(base.transpose(-1, -2)).transpose(-1, -2)  # over the candidates


def _zscore(values: torch.Tensor) -> torch.Tensor:
    """Standardise over the candidates (last dim)."""
    mean = values.mean(-1, keepdim=True)
    std = values.std(-1, keepdim=True, unbiased=False)
    return (values - mean) / (std + 1e-6)


class RowNormalizer(nn.Module):
    """Per-feature standardisation of the rows, with statistics stored in the policy's state.

    ``fit(features)`` sets the mean and standard deviation from training rows (DAgger refits
    them on the aggregated pairs before every update); until fitted it is the identity. The
    statistics are buffers, so they are saved with the policy and travel with it.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    @torch.no_grad()
    def fit(self, features: torch.Tensor) -> None:
        """Set the statistics from ``features`` of shape ``(..., dim)``."""
        rows = features.reshape(-1, features.shape[-1]).double()
        self.mean.copy_(rows.mean(0).float())
        self.std.copy_(rows.std(0, unbiased=False).clamp_min(1e-4).float())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.mean) / self.std


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
        selection: ``"bernoulli"`` (IALE: independent per-candidate probabilities),
            ``"softmax"`` (ALIL: one softmax over the candidates) or ``"greedy"`` (set-aware:
            k rounds, each conditioned on the candidates chosen so far,
            :class:`~agents.set_selection.GreedySetSelection`); the last two need MultiBinary
            actions.
        view: How the MLP sees a row: ``"eq2"`` (the paper's Eq. 2 row as is) or
            ``"invariant"`` (class-order-free features, :class:`InvariantRowFeatures`) or
            ``"relative"`` (the same, standardised over the sub-pool, :class:`RelativeRowFeatures`).
        normalize: Standardise the view's features with statistics stored in the policy
            (:class:`RowNormalizer`, fitted by :meth:`fit_normalizer`).
        num_classes: K of the env (needed by the ``"invariant"`` view).
        embedding_dim: D, the classifier's embedding size (``"invariant"`` view).
        score_columns: How many expert-score columns end each row (the env's
            ``state_scores``); the invariant views add each score (and its z-score).
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
        if view in ("invariant", "relative"):
            extractor = InvariantRowFeatures if view == "invariant" else RelativeRowFeatures
            kwargs.setdefault("features_extractor_class", extractor)
            kwargs.setdefault(
                "features_extractor_kwargs",
                {
                    "num_classes": self.num_classes,
                    "embedding_dim": self.embedding_dim,
                    "score_columns": self.score_columns,
                },
            )
        else:
            kwargs.setdefault("features_extractor_class", RowFeatures)
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

    def scores(self, obs: torch.Tensor) -> torch.Tensor:
        """Desirability scores ``rho`` in (0, 1) of each candidate, shape ``(batch, n)``."""
        return torch.sigmoid(self._hidden_and_logits(obs)[1])

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
        (:mod:`agents.policy_digest`).
        """
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        n, row = (int(d) for d in self.observation_space.shape)
        meta = {
            "format": POLICY_FORMAT,
            "observation_shape": [n, row],
            "action": "scores" if self.score_action else "multibinary",
            **{key: getattr(self, key) for key in _SAVED_SETTINGS},  # JSON: tuples -> lists
        }
        meta = json.loads(json.dumps(meta))  # the description as it is read back
        meta["sha256"] = policy_digest(state, meta)  # one digest: weights and description
        torch.save({"meta": json.dumps(meta), "state_dict": state}, path)

    @classmethod
    def load(cls, path: str, device: torch.device | str = "auto") -> IALEPolicy:  # type: ignore[override]
        """Load a policy saved with :meth:`save` (see :func:`load_policy`)."""
        return load_policy(path, device=device)


#: The constructor settings a policy file records (beside its spaces).
_SAVED_SETTINGS = (
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


def _read_policy_file(path: str, trust_pickle: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(constructor data, state dict)`` of a policy file, checked."""
    if not Path(path).is_file():
        raise ValueError(f"no policy file at {path}; expected a policy.zip written by IALE-Gym")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for unreadable files
        if not trust_pickle:
            legacy = "Unsupported global" in str(exc) or "weights_only" in str(exc)
            if legacy and zipfile.is_zipfile(path):
                raise ValueError(
                    f"{path} is a policy file of an older format that stores pickled objects, "
                    f"which can run code when loaded; if you trust its source, load it with "
                    f"load_policy(path, trust_pickle=True) and save it again"
                ) from None
            raise ValueError(
                f"{path} is not a readable IALE policy file ({type(exc).__name__}: "
                f"{' '.join(str(exc).split())[:200]}); it may be truncated or corrupted"
            ) from None
        saved = torch.load(path, map_location="cpu", weights_only=False)
        return dict(saved["data"]), saved["state_dict"]
    if not isinstance(saved, dict) or "meta" not in saved or "state_dict" not in saved:
        raise ValueError(f"{path} is not an IALE policy file (no policy description in it)")
    try:
        meta = json.loads(saved["meta"])
    except (TypeError, ValueError):
        meta = None
    if not isinstance(meta, dict):
        raise ValueError(f"{path} is corrupted: its policy description is not a JSON object")
    check_policy_digest(path, meta, saved["state_dict"])
    check_recorded_sha256(path)  # a pretrained policy: the whole file, as source.json records
    n, row = meta["observation_shape"]
    obs_space = gym.spaces.Box(-np.inf, np.inf, (n, row), np.float32)
    if meta["action"] == "scores":
        from iale_env.wrappers import score_space

        act_space: gym.Space = score_space(n)
    else:
        act_space = gym.spaces.MultiBinary(n)
    data = {
        "observation_space": obs_space,
        "action_space": act_space,
        "lr_schedule": _placeholder_schedule,
        # a setting newer than the file (score_columns) takes its default
        **{key: meta[key] for key in _SAVED_SETTINGS if key in meta},
    }
    return data, saved["state_dict"]


def _placeholder_schedule(progress_remaining: float) -> float:
    """The learning rate a loaded policy's own optimizer is built with (training code that
    continues from a file makes its own optimizer)."""
    return 1e-3


def load_policy(
    path: str,
    env: gym.Env | None = None,
    device: torch.device | str = "cpu",
    trust_pickle: bool = False,
) -> IALEPolicy:
    """Load a trained :class:`IALEPolicy`, optionally rebound to ``env``'s spaces.

    With ``env`` (any IALE env, e.g. another dataset or sub-pool size) the policy takes that
    env's observation/action spaces and acquisition size, keeping the trained row-wise weights.
    The file is read with ``torch.load(weights_only=True)`` and its weights are checked against
    their stored digest; files of the older pickle-based format load only with
    ``trust_pickle=True`` (pickle can run code: only for files you trust).

    Raises:
        ValueError: the file is missing, corrupted, of another format, or does not fit ``env``.
    """
    from stable_baselines3.common.utils import get_device

    device = get_device(device)
    data, state_dict = _read_policy_file(str(path), trust_pickle)
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
    policy.load_state_dict(state_dict)
    return policy.to(device).eval()
