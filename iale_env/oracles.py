"""The oracles that label AL states: score selections by retraining, best expert, lookahead.

Each retrains fresh classifiers on the labeled set plus a candidate selection, all from one seed
(the episode's :attr:`~iale_env.episode.Episode.oracle_seed`, so only the selection differs),
and compares their accuracy on the labeled scoring set. They read the episode's state
(:class:`~iale_env.episode.Episode`, ``env.episode``) and never change it or draw from the env's
RNG.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from iale_env.episode import Episode
from iale_env.training import fit_models


@dataclass(frozen=True)
class OracleResult:
    """The best-expert oracle's decision at one state.

    Attributes:
        winner: Name of the expert whose selection scored best (ties: first in config order).
        scores: Scoring-set accuracy of the model retrained on labeled + each expert's picks.
        selections: Each expert's selection as positions into the current sub-pool.
        seed: The seed every retrained model was initialised from (the same for all experts).
        action: The winner's selection as a 0/1 ``int8`` vector over the sub-pool.
    """

    winner: str
    scores: dict[str, float]
    selections: dict[str, np.ndarray]
    seed: int
    action: np.ndarray


def score_selections(
    episode: Episode, selections: list[np.ndarray], seed: int | None = None
) -> list[float]:
    """Scoring-set accuracy of a fresh model trained on labeled + each selection.

    ``selections`` are positions into the episode's current sub-pool. Every model starts from
    ``seed`` (default: the episode's oracle seed); identical selections are trained once. With
    ``episode.config.oracle_seeds`` = R > 1 each selection's accuracy is the mean over R models,
    from ``seed``, ``seed + 1``, ..., ``seed + R - 1``.
    """
    keys = [tuple(sorted(np.asarray(sel).tolist())) for sel in selections]
    unique: dict[tuple[int, ...], int] = {}
    for key in keys:
        unique.setdefault(key, len(unique))
    labeled = torch.as_tensor(episode.labeled, device=episode.device)
    subpool = episode.subpool
    index_sets = [
        torch.cat([labeled, torch.as_tensor(subpool[list(key)], device=episode.device)])
        for key in unique
    ]
    base = episode.oracle_seed if seed is None else seed
    repeats = episode.config.oracle_seeds
    models = fit_models(
        episode.data.train_x,
        episode.data.train_y,
        index_sets * repeats,
        [base + j for j in range(repeats) for _ in index_sets],
        episode.classifier_spec,
        episode.config.train,
    )
    accs = np.asarray(episode.scoring_accuracies(models)).reshape(repeats, len(index_sets))
    mean = accs.mean(axis=0)  # one seed: the accuracies themselves, exactly
    return [float(mean[unique[key]]) for key in keys]


def pick_winner(scores: dict[str, float]) -> str:
    """The expert with the best score (ties: the first in ``scores``' order, the config's)."""
    names = list(scores)
    return max(names, key=lambda n: (scores[n], -names.index(n)))


def best_expert(episode: Episode, seed: int | None = None) -> OracleResult:
    """The IALE oracle: every expert of ``episode.config.experts`` selects, each selection is scored
    (:func:`score_selections`, models from ``seed``, default the episode's oracle seed), and the
    best expert's selection wins (ties: the first expert in config order)."""
    seed = episode.oracle_seed if seed is None else seed
    names = list(episode.config.experts)
    selections = {n: episode.expert_positions(n) for n in names}
    scores = dict(zip(names, score_selections(episode, [selections[n] for n in names], seed)))
    winner = pick_winner(scores)
    action = np.zeros(episode.config.subpool_size, dtype=np.int8)
    action[selections[winner]] = 1
    return OracleResult(winner, scores, selections, seed, action)


def lookahead(episode: Episode) -> np.ndarray:
    """ALIL's oracle (Liu et al., 2018): a fresh model per candidate alone (n trainings), the k
    candidates whose models score best win (ties: lower position); positions, best first."""
    scores = score_selections(episode, [np.array([i]) for i in range(episode.config.subpool_size)])
    return np.argsort(-np.asarray(scores), kind="stable")[: episode.config.acquisition_size]
