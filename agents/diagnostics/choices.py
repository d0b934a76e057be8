"""Scoring per-state choices among experts, leaving one group of states out at a time.

A group is a DAgger round or an episode: its states are not independent, so each group's
choices are made by a model fitted on the other groups, the fixed expert it is compared with is
the best on average over the other groups, and intervals are over the groups' means. Pure
NumPy (no ``imitation``): the decision tables of :mod:`agents.diagnostics.decisions` and the
measurements of :mod:`agents.diagnostics.oracle_labels` and
:mod:`agents.diagnostics.oracle_noise` share it.
"""

from __future__ import annotations

import numpy as np

from agents.selector import fit_conditional_logit


def held_out_choices(
    features: np.ndarray,
    winners: np.ndarray,
    groups: np.ndarray,
    l2: float = 1e-2,
    iterations: int = 500,
) -> np.ndarray:
    """Each state's expert (an index) named by a conditional logit
    (:func:`~agents.selector.fit_conditional_logit`) on ``(states, experts, features)``,
    fitted to the winners of the other groups' states.

    Raises:
        ValueError: fewer than 2 groups.
    """
    if len(np.unique(groups)) < 2:
        raise ValueError("predicting the winner needs states from at least 2 rounds or episodes")
    chosen = np.zeros_like(winners)
    for held in np.unique(groups):
        test = groups == held
        model = fit_conditional_logit(features[~test], winners[~test], l2, iterations)
        chosen[test] = model.logits(features[test]).argmax(1)
    return chosen


def gain_over_fixed(scores: np.ndarray, chosen: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per group (in sorted order), the mean of ``scores`` (``(states, experts)``) gained by
    taking each state's ``chosen`` expert instead of the expert with the best mean score over
    the other groups."""
    gains = []
    for held in np.unique(groups):
        test = groups == held
        fixed = scores[~test].mean(0).argmax()
        rows = np.flatnonzero(test)
        gains.append(np.mean(scores[rows, chosen[rows]] - scores[rows, fixed]))
    return np.array(gains)


def normal_interval(means: np.ndarray) -> str:
    """``mean ± half-width`` of a 95% normal interval over groups' means (``± n/a`` with one
    group)."""
    if len(means) < 2:
        return f"{means.mean():+.4f} ± n/a"
    return f"{means.mean():+.4f} ± {1.96 * means.std(ddof=1) / np.sqrt(len(means)):.4f}"
