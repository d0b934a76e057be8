"""The paper's Eq. 2 state: one row per candidate, computed from the classifier M.

The env builds its observation with :func:`eq2_state`, and so does the labeling loop
(:mod:`agents.query`), so a policy sees the same kind of rows in simulation and on a user's data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces

from iale_env.classifier import Classifier, ClassifierSpec
from iale_env.inference import predict_models
from iale_env.training import InferencePrecision


@dataclass(frozen=True)
class Eq2State:
    """The Eq. 2 rows and the model outputs they were computed from.

    Attributes:
        rows: ``(n, 2 * D + 3 * K)`` float32 rows (``3 * D + 3 * K`` with the sub-pool mean
            embedding): mean labeled embedding | labeled class histogram | histogram of M's
            predictions on the labeled set | candidate embedding | M's softmax on the candidate.
        labeled_logits, labeled_embedding: M's outputs on the labeled images.
        candidate_logits, candidate_embedding: M's outputs on the candidates.
    """

    rows: np.ndarray
    labeled_logits: torch.Tensor
    labeled_embedding: torch.Tensor
    candidate_logits: torch.Tensor
    candidate_embedding: torch.Tensor


@torch.no_grad()
def eq2_state(
    model: Classifier,
    labeled_x: torch.Tensor,
    labeled_y: torch.Tensor,
    candidates_x: torch.Tensor,
    num_classes: int,
    subpool_mean_embedding: bool = False,
    precision: InferencePrecision = "fp32",
) -> Eq2State:
    """The Eq. 2 state of ``candidates_x`` given the labeled set and M (one forward pass).

    Histograms are fractions of the labeled set (``minlength=num_classes``, so a class never
    seen or never predicted gives a 0, not a shorter row). ``precision``: the arithmetic of
    M's forward pass (:func:`~iale_env.inference.predict_models`).
    """
    n_lab, n = len(labeled_x), len(candidates_x)
    logits, emb = predict_models([model], torch.cat([labeled_x, candidates_x]), precision=precision)
    logits, emb = logits[0], emb[0]
    k = num_classes
    shared = torch.cat(
        [
            emb[:n_lab].mean(0),
            torch.bincount(labeled_y, minlength=k).float() / n_lab,
            torch.bincount(logits[:n_lab].argmax(-1), minlength=k).float() / n_lab,
        ]
    )
    blocks = [shared.expand(n, -1), emb[n_lab:], F.softmax(logits[n_lab:], dim=-1)]
    if subpool_mean_embedding:
        blocks.append(emb[n_lab:].mean(0).expand(n, -1))
    rows = torch.cat(blocks, dim=1).detach().cpu().numpy().astype(np.float32)
    return Eq2State(rows, logits[:n_lab], emb[:n_lab], logits[n_lab:], emb[n_lab:])


def state_columns(
    spec: ClassifierSpec, subpool_mean_embedding: bool = False, state_scores: tuple[str, ...] = ()
) -> dict[str, slice]:
    """The column slices of a state row, by block name, in order: the five Eq. 2 blocks, the
    sub-pool's mean embedding (if configured), then ``score:<expert>`` per state score column."""
    k, d = spec.num_classes, spec.embedding_dim
    bounds = [0, d, d + k, d + 2 * k, 2 * d + 2 * k, 2 * d + 3 * k]
    names = [
        "labeled_mean_embedding",
        "labeled_class_hist",
        "labeled_pred_hist",
        "candidate_embedding",
        "candidate_probs",
    ]
    if subpool_mean_embedding:
        bounds.append(bounds[-1] + d)
        names.append("subpool_mean_embedding")
    for expert in state_scores:
        bounds.append(bounds[-1] + 1)
        names.append(f"score:{expert}")
    return {name: slice(bounds[i], bounds[i + 1]) for i, name in enumerate(names)}


#: Blocks of a state row that are fractions in [0, 1].
_FRACTIONS = ("labeled_class_hist", "labeled_pred_hist", "candidate_probs")


def state_space(columns: dict[str, slice], subpool_size: int) -> spaces.Box:
    """The observation space of states with ``columns`` (:func:`state_columns`), one row per
    candidate. Histograms, softmax and expert scores are fractions in [0, 1]; embeddings are
    ReLU outputs, bounded only by float32 itself (a finite bound, as Gymnasium's checker asks).
    """
    width = max(c.stop for c in columns.values())
    high = np.full((subpool_size, width), np.finfo(np.float32).max, np.float32)
    for name, cols in columns.items():
        if name in _FRACTIONS or name.startswith("score:"):
            high[:, cols] = 1.0
    return spaces.Box(low=0.0, high=high, dtype=np.float32)
