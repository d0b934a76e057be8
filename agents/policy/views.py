"""The policy's input views: how the Eq. 2 rows reach the row-wise MLP (``eq2``, ``invariant``,
``relative``, ``rank``), and the optional standardisation of the row features."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

#: Input views of the policy: how the Eq. 2 rows are presented to the row-wise MLP.
VIEWS = ("eq2", "invariant", "relative", "rank")


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
        return self._over_candidates(base.transpose(-1, -2)).transpose(-1, -2)

    @staticmethod
    def _over_candidates(values: torch.Tensor) -> torch.Tensor:
        """Each quantity relative to the other candidates (last dim): its z-score."""
        return _zscore(values)


class RankRowFeatures(RelativeRowFeatures):
    """The ``"rank"`` view: each candidate's rank among the n candidates of the sub-pool, for
    every quantity of :class:`RelativeRowFeatures` (and every expert score).

    A heuristic takes the top k of one such quantity, so its selection depends only on the
    candidates' order in that quantity. The ``"relative"`` view keeps the order but also the
    shape of each quantity's distribution over the sub-pool, which shifts from dataset to
    dataset (a z-score of 2 is a rare candidate on one and a common one on another). This view
    keeps only the order: each feature is the candidate's rank, ties sharing their mean rank,
    scaled to [-1, 1] (-1 the smallest, 1 the largest). It is unchanged by any increasing
    transformation of a quantity within a state, so every per-quantity top-k heuristic reads the
    same on every dataset.
    """

    NAMES = tuple(f"rank_{name}" for name in InvariantRowFeatures.NAMES[:12])

    @staticmethod
    def _over_candidates(values: torch.Tensor) -> torch.Tensor:
        """Each quantity relative to the other candidates (last dim): its centred rank."""
        return _centred_ranks(values)


def view_extractor(
    view: str, num_classes: int, embedding_dim: int, score_columns: int
) -> tuple[type[BaseFeaturesExtractor], dict[str, int]]:
    """The features extractor class of ``view`` and its keyword arguments (beside the
    observation space): what :class:`~agents.policy.IALEPolicy` and SAC's observation build."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    if view == "eq2":
        return RowFeatures, {}
    extractor = {
        "invariant": InvariantRowFeatures,
        "relative": RelativeRowFeatures,
        "rank": RankRowFeatures,
    }[view]
    kwargs = {
        "num_classes": num_classes,
        "embedding_dim": embedding_dim,
        "score_columns": score_columns,
    }
    return extractor, kwargs


def _zscore(values: torch.Tensor) -> torch.Tensor:
    """Standardise over the candidates (last dim)."""
    mean = values.mean(-1, keepdim=True)
    std = values.std(-1, keepdim=True, unbiased=False)
    return (values - mean) / (std + 1e-6)


def _centred_ranks(values: torch.Tensor) -> torch.Tensor:
    """Each value's rank over the candidates (last dim), ties sharing their mean rank, scaled to
    [-1, 1]; 0 everywhere when there is a single candidate. O(n log n) per row (a whole pool
    can be ranked, not only a sub-pool)."""
    n = values.shape[-1]
    if n < 2:
        return torch.zeros_like(values)
    values = values.contiguous()
    ordered = values.sort(dim=-1).values
    below = torch.searchsorted(ordered, values)  # how many are smaller
    not_above = torch.searchsorted(ordered, values, right=True)  # how many are not larger
    rank = (below + not_above - 1).float() / 2.0  # 0 .. n - 1, ties at their mean rank
    return 2.0 * rank / (n - 1) - 1.0


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
