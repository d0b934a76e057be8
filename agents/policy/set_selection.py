"""A set-aware selection: k greedy rounds, each conditioned on the candidates already chosen.

The paper's policy scores every candidate on its own row and takes the top k, so it cannot
see that two candidates are alike; diversity-seeking experts (CoreSet, BADGE) are outside what
it can represent. :class:`GreedySetSelection` keeps the row-wise score ``base_i`` and adds a
learned term for the candidate's distance to the ones chosen so far: in round ``j``,

    z_i = base_i + w_i * log(d_i / dbar + eps),

where ``d_i`` is the Euclidean distance from candidate ``i``'s embedding (the Eq. 2 row's
candidate-embedding block) to its nearest chosen candidate, ``dbar`` the sub-pool's mean
pairwise distance (so the term is scale-free across classifiers and datasets), and ``w_i`` a
per-candidate weight the policy computes from the row (``w_i = 0`` is the row-wise policy).
Each round takes the best unchosen ``z_i``; round 0 has no chosen candidates and is the
row-wise top-1.

Imitation loss (``log_prob`` of a k-hot target ``T``): the rounds are teacher-forced in the
order the model itself would pick among ``T``, and each round scores the probability that the
model's softmax over the unchosen candidates picks any still-unchosen member of ``T``:
``sum_j log sum_{t in T minus S_j} softmax(z)_t``. It is 0 exactly when every round puts all its
mass on ``T``, needs no order of ``T`` from the teacher, and for k = 1 is the softmax
cross-entropy.
"""

from __future__ import annotations

import torch
from stable_baselines3.common.distributions import Distribution

#: Added to the relative distance before its log (a chosen candidate has distance 0).
EPS = 1e-2


def candidate_embeddings(obs: torch.Tensor, num_classes: int, embedding_dim: int) -> torch.Tensor:
    """The candidate-embedding block ``(..., n, D)`` of Eq. 2 rows ``(..., n, row_dim)``:
    after the mean labeled embedding and the two class histograms."""
    start = embedding_dim + 2 * num_classes
    if obs.shape[-1] < start + embedding_dim:
        raise ValueError(
            f"rows of width {obs.shape[-1]} hold no candidate embedding of width {embedding_dim} "
            f"after {start} columns: is embedding_dim/num_classes the env's?"
        )
    return obs[..., start : start + embedding_dim]


def relative_log_distances(embeddings: torch.Tensor) -> torch.Tensor:
    """``log(d_ij / dbar + EPS)`` for every pair of candidates ``(batch, n, n)``; ``dbar`` is
    the mean distance between distinct candidates of each sub-pool."""
    dist = torch.cdist(embeddings, embeddings)
    n = dist.shape[-1]
    mean = dist.sum((-1, -2)) / max(n * (n - 1), 1)
    return torch.log(dist / mean.clamp_min(1e-12)[..., None, None] + EPS)


class GreedySetSelection(Distribution):
    """k greedy rounds over the candidates (see the module docs); actions are k-hot vectors.

    Args:
        action_dims: n, the number of candidates.
        k: The number chosen (the acquisition size).
    """

    def __init__(self, action_dims: int, k: int, class_weights: object = None) -> None:
        super().__init__()
        if class_weights is not None:
            raise ValueError("selection='greedy' has no class weights; pass class_weights=None")
        self.action_dims, self.k = int(action_dims), int(k)

    def proba_distribution_net(self, *args: object, **kwargs: object) -> None:  # noqa: D102
        raise NotImplementedError("IALEPolicy builds the greedy selection's heads itself")

    def proba_distribution(
        self, base: torch.Tensor, weights: torch.Tensor, log_dist: torch.Tensor
    ) -> GreedySetSelection:
        """Set the row-wise scores ``base`` ``(batch, n)``, the distance weights ``weights``
        ``(batch, n)`` and the pairwise :func:`relative_log_distances` ``(batch, n, n)``."""
        self.base, self.weights, self.log_dist = base, weights, log_dist
        self.distribution = torch.distributions.Categorical(logits=base)  # round 0
        return self

    def _scores(self, chosen: torch.Tensor, nearest: torch.Tensor) -> torch.Tensor:
        """Round scores with the chosen candidates masked out."""
        z = self.base + self.weights * nearest
        return z.masked_fill(chosen, float("-inf"))

    def _rounds(self, noise: bool) -> torch.Tensor:
        chosen = torch.zeros_like(self.base, dtype=torch.bool)
        nearest = torch.zeros_like(self.base)  # round 0: no distance term
        rows = torch.arange(len(self.base), device=self.base.device)
        for j in range(self.k):
            z = self._scores(chosen, nearest)
            if noise:
                u = torch.rand_like(z).clamp(1e-20, 1.0)
                z = z - torch.log(-torch.log(u))
            pick = z.argmax(-1)
            chosen = chosen.clone()
            chosen[rows, pick] = True
            to_pick = self.log_dist[rows, pick]
            nearest = to_pick if j == 0 else torch.minimum(nearest, to_pick)
        return chosen.float()

    def mode(self) -> torch.Tensor:
        return self._rounds(noise=False)

    def sample(self) -> torch.Tensor:
        return self._rounds(noise=True)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        target = actions.bool()
        chosen = torch.zeros_like(target)
        nearest = torch.zeros_like(self.base)
        rows = torch.arange(len(self.base), device=self.base.device)
        total = torch.zeros(len(self.base), device=self.base.device)
        for j in range(self.k):
            left = target & ~chosen
            if not left.any():
                break
            z = self._scores(chosen, nearest)
            log_p = torch.log_softmax(z, -1)
            mass = torch.logsumexp(log_p.masked_fill(~left, float("-inf")), -1)
            has_left = left.any(-1)
            total = total + torch.where(has_left, mass, torch.zeros_like(mass))
            # teacher forcing: the member of T the model ranks highest comes next
            pick = z.detach().masked_fill(~left, float("-inf")).argmax(-1)
            chosen = chosen.clone()
            chosen[rows[has_left], pick[has_left]] = True
            update = torch.where(has_left[:, None], self.log_dist[rows, pick], nearest)
            nearest = update if j == 0 else torch.minimum(nearest, update)
        return total

    def entropy(self) -> torch.Tensor:
        """The entropy of the first round's softmax (the rounds' joint entropy has no closed
        form; this is what an entropy bonus can act on)."""
        return self.distribution.entropy()

    def actions_from_params(
        self,
        base: torch.Tensor,
        weights: torch.Tensor,
        log_dist: torch.Tensor,
        deterministic: bool = False,
    ) -> torch.Tensor:
        self.proba_distribution(base, weights, log_dist)
        return self.get_actions(deterministic=deterministic)

    def log_prob_from_params(
        self, base: torch.Tensor, weights: torch.Tensor, log_dist: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        actions = self.actions_from_params(base, weights, log_dist)
        return actions, self.log_prob(actions)
