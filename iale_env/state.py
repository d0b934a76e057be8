"""The paper's Eq. 2 state: one row per candidate, computed from the classifier M.

The env builds its observation with :func:`eq2_state`, and so does the labeling loop
(:mod:`agents.query`), so a policy sees the same kind of rows in simulation and on a user's data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from iale_env.classifier import Classifier
from iale_env.training import InferencePrecision, predict_models


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
    M's forward pass (:func:`~iale_env.training.predict_models`).
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
