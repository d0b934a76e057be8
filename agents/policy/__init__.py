"""The IALE policy: a row-wise MLP scorer over the candidates as a stable-baselines3
``ActorCriticPolicy`` (:class:`IALEPolicy`), and its files (:func:`load_policy`).

Modules: :mod:`~agents.policy.network` (the policy), :mod:`~agents.policy.views` (input views),
:mod:`~agents.policy.distributions` (selection distributions), :mod:`~agents.policy.io`
(loading). Policy files name these classes as ``agents.policy.<Name>``, so they are exported
here.
"""

from agents.policy.distributions import SoftmaxTopK, TopKBernoulli
from agents.policy.io import load_policy
from agents.policy.network import SELECTIONS, IALEPolicy
from agents.policy.views import (
    VIEWS,
    InvariantRowFeatures,
    RankRowFeatures,
    RelativeRowFeatures,
    RowFeatures,
    RowNormalizer,
)

__all__ = [
    "SELECTIONS",
    "VIEWS",
    "IALEPolicy",
    "InvariantRowFeatures",
    "RankRowFeatures",
    "RelativeRowFeatures",
    "RowFeatures",
    "RowNormalizer",
    "SoftmaxTopK",
    "TopKBernoulli",
    "load_policy",
]
