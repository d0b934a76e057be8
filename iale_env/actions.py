"""The env's action: a 0/1 selection of k of the n candidates, checked and (in ``"repair"``
mode) fixed."""

from __future__ import annotations

import numpy as np


def top_k_selection(scores: np.ndarray, k: int) -> np.ndarray:
    """0/1 ``int8`` selections of the ``k`` highest scores along the last axis, ties broken by
    the lower position (a stable sort): one state's ``(n,)`` scores or a batch's ``(..., n)``."""
    scores = np.asarray(scores)
    out = np.zeros(scores.shape, dtype=np.int8)
    np.put_along_axis(out, np.argsort(-scores, axis=-1, kind="stable")[..., :k], 1, axis=-1)
    return out


def parse_selection(
    action: np.ndarray, n: int, k: int, mode: str, rng: np.random.Generator
) -> tuple[np.ndarray, bool]:
    """The selected positions of a 0/1 ``action`` over ``n`` candidates, and whether it was
    repaired.

    Wrong shapes and non-binary values raise ``ValueError``. An action with another number of
    ones than ``k`` raises in ``"strict"`` mode; in ``"repair"`` mode it is fixed by keeping or
    adding candidates uniformly at random from ``rng`` (the env's).
    """
    a = np.asarray(action)
    if a.shape != (n,):
        raise ValueError(
            f"action must be a 0/1 array of shape ({n},) selecting {k} of the {n} "
            f"candidates, got shape {a.shape}"
        )
    if a.dtype == object or not np.all((a == 0) | (a == 1)):
        raise ValueError(
            f"action must contain only 0 and 1 (a selection over the {n} candidates), got "
            f"values {np.unique(a)[:10]}; to act with scores, wrap the env in "
            f"iale_env.TopKScoreAction"
        )
    ones = np.flatnonzero(a == 1)
    if len(ones) == k:
        return ones, False
    if mode == "strict":
        raise ValueError(
            f"action selects {len(ones)} candidates but acquisition_size is {k}; select "
            f"exactly {k} (or use action_mode='repair' to fix such actions at random)"
        )
    if len(ones) > k:
        keep = rng.choice(ones, size=k, replace=False)
    else:
        zeros = np.flatnonzero(a == 0)
        keep = np.concatenate([ones, rng.choice(zeros, size=k - len(ones), replace=False)])
    return np.sort(keep), True
