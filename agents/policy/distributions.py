"""Action distributions of the IALE policy: Bernoulli per candidate with a top-k mode, and one
softmax over the candidates (ALIL's)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from stable_baselines3.common.distributions import (
    BernoulliDistribution,
)


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
        """The summed per-candidate log-likelihood of ``actions`` (class-weighted if set).

        ``actions`` may be soft labels in [0, 1] (:func:`agents.oracle.soft_labels`): the
        result is then the BCE with soft targets, the label-weighted mean of the hard actions'
        log-likelihoods (as ``torch.distributions.Bernoulli.log_prob`` computes it, without
        its check that the values are 0 or 1).
        """
        actions = actions.float()
        ll = -F.binary_cross_entropy_with_logits(
            self.distribution.logits, actions, reduction="none"
        )
        if self.class_weights is None:
            return ll.sum(dim=1)
        pos, neg = self.class_weights
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
