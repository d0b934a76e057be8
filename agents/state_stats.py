"""Statistics read off an Eq. 2 state (``(..., n, row)``, one row per candidate): the
uncertainties of M's softmax block, the experts' score columns, each expert's top k as far as
the state holds it, and summaries of a selection of candidates.

Pure NumPy on the state's layout (``iale_env.state``): the diagnostics of
:mod:`agents.diagnostics` and the expert selector of :mod:`agents.selector` read states with it.
"""

from __future__ import annotations

import numpy as np

from iale_env.actions import top_k_selection as top_k  # 0/1 selections of the k highest scores

__all__ = [
    "SELECTION_FEATURES",
    "expert_selections",
    "selection_features",
    "statistic_scores",
    "top_k",
]

#: The summaries of a selection that :func:`selection_features` returns, in order.
SELECTION_FEATURES = (
    "mean entropy",
    "mean least confidence",
    "mean margin",
    "pairwise distance over the sub-pool's",
    "labeled share of the predicted classes",
)

#: Experts whose ranking is a statistic of M's softmax block (:func:`statistic_scores`' key).
_STATISTIC_OF_EXPERT = {"margin": "smallest margin", "entropy": "entropy"}


def statistic_scores(
    states: np.ndarray,
    num_classes: int = 10,
    embedding_dim: int = 128,
    state_scores: tuple[str, ...] = (),
) -> dict[str, np.ndarray]:
    """Scores read off one statistic of the state (higher = select): least confidence, smallest
    margin and entropy of the state's softmax block (M's softmax on the candidate, the fifth
    block of an Eq. 2 row), and each of the experts' score columns that end the rows
    (``state_scores``, in their order), ties broken by least confidence (the experts break the
    ties of their variation ratios by a mean-probability uncertainty)."""
    start = 2 * embedding_dim + 2 * num_classes
    probs = states[..., start : start + num_classes].astype(np.float64)
    top = np.sort(probs, axis=-1)[..., ::-1]
    least_confidence = 1.0 - top[..., 0]
    scores = {
        "least confidence": least_confidence,
        "smallest margin": -(top[..., 0] - top[..., 1]),
        "entropy": -(probs * np.log(np.clip(probs, 1e-12, None))).sum(-1),
    }
    for i, name in enumerate(state_scores):  # variation ratios: steps of at least 1 / passes
        column = states[..., states.shape[-1] - len(state_scores) + i].astype(np.float64)
        scores[f"{name} score column"] = column + 1e-3 * least_confidence
    return scores


def expert_selections(
    states: np.ndarray,
    k: int,
    experts: tuple[str, ...],
    state_scores: tuple[str, ...] = (),
    num_classes: int = 10,
    embedding_dim: int = 128,
) -> np.ndarray | None:
    """Each expert's top ``k`` of every state (``(states, n, row)``), read from the state:
    margin and entropy from M's softmax block, the others from their score columns
    (``state_scores``). Returns a ``(states, experts, n)`` 0/1 ``int8`` array, or ``None`` when an
    expert's ranking is not in the state (random, CoreSet, BADGE, or a score column the state
    lacks)."""
    stats = statistic_scores(states, num_classes, embedding_dim, state_scores)
    keys = [
        _STATISTIC_OF_EXPERT.get(e, f"{e} score column" if e in state_scores else None)
        for e in experts
    ]
    if None in keys:
        return None
    return np.stack([top_k(stats[key], k) for key in keys], axis=1)


def selection_features(
    states: np.ndarray,
    selections: np.ndarray,
    num_classes: int = 10,
    embedding_dim: int = 128,
) -> tuple[tuple[str, ...], np.ndarray]:
    """Summaries of each selection (``(states, experts, n)`` booleans) of every state
    (``(states, n, row)``): the selected candidates' mean entropy, least confidence and margin
    of M's softmax, their mean pairwise embedding distance over the sub-pool's, and how common
    their predicted classes are in the labeled set (the histogram's mean share). Returns the
    names and a ``(states, experts, features)`` array."""
    d, c = embedding_dim, num_classes
    probs = states[..., 2 * d + 2 * c : 2 * d + 3 * c].astype(np.float64)
    emb = states[..., d + 2 * c : 2 * d + 2 * c].astype(np.float64)
    labeled = states[:, 0, d : d + c].astype(np.float64)
    top = np.sort(probs, axis=-1)[..., ::-1]
    per_candidate = np.stack(
        [
            -(probs * np.log(np.clip(probs, 1e-12, None))).sum(-1),
            1.0 - top[..., 0],
            top[..., 0] - top[..., 1],
            np.take_along_axis(labeled, probs.argmax(-1), axis=1),
        ],
        axis=-1,
    )  # (states, n, 4)
    sel = selections.astype(np.float64)  # (states, experts, n)
    k = sel.sum(-1, keepdims=True)
    means = sel @ per_candidate / k  # (states, experts, 4)
    sq = (emb**2).sum(-1)
    dist = np.sqrt(
        np.clip(sq[:, :, None] + sq[:, None] - 2 * emb @ emb.transpose(0, 2, 1), 0, None)
    )
    n = dist.shape[-1]
    dist[:, np.arange(n), np.arange(n)] = 0.0
    pool = dist.sum((1, 2)) / (n * (n - 1))  # the sub-pool's mean pairwise distance
    pairs = k[..., 0] * (k[..., 0] - 1)  # a selection of one image has no spread: 0
    within = np.einsum("sei,sij,sej->se", sel, dist, sel) / np.clip(pairs, 1, None)
    spread = within / np.clip(pool, 1e-12, None)[:, None]
    features = np.concatenate([means[..., :3], spread[..., None], means[..., 3:]], axis=-1)
    return SELECTION_FEATURES, features
