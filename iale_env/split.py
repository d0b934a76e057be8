"""An episode's split of the training images: the scoring set, the pool, the initial set.

A pure function of the env's RNG and the training labels, so an episode's split is fixed by its
seed, and paired runs (same seed) share it whatever their agents do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from iale_env.config import ALConfig
    from iale_env.data import ALDataset


@dataclass(frozen=True)
class Split:
    """Dataset indices of one episode's held-out scoring set, unlabeled pool (the initial set
    included) and class-balanced initial labeled set."""

    scoring: np.ndarray
    pool: np.ndarray
    labeled: np.ndarray


def initial_quota(initial: int, num_classes: int) -> int:
    """The most images of one class a class-balanced initial set of ``initial`` takes."""
    return -(-initial // num_classes)


def check_class_sizes(labels: np.ndarray, num_classes: int, initial: int, name: str) -> None:
    """Refuse, independent of any seed, a dataset with a class too small for the initial set."""
    per_class = np.bincount(labels, minlength=num_classes)
    quota = initial_quota(initial, num_classes)
    if per_class.min() < quota:
        rare = {int(c): int(per_class[c]) for c in np.flatnonzero(per_class < quota)}
        raise ValueError(
            f"{name}: the class-balanced initial set of {initial} needs up to {quota} training "
            f"images of every class, but class(es) {rare} (class: images) have fewer; lower "
            f"initial_labeled or add images of those classes"
        )


def draw_split(
    rng: np.random.Generator,
    labels: np.ndarray,
    num_classes: int,
    scoring_size: int,
    pool_size: int,
    initial: int,
) -> Split:
    """Permute the training images into the scoring set and the pool, then draw the initial set
    (``initial // num_classes`` of every class, one more for ``initial % num_classes`` random
    classes) from the pool."""
    perm = rng.permutation(len(labels))
    scoring = perm[:scoring_size]
    pool = perm[scoring_size : scoring_size + pool_size]
    scoring, pool = _ensure_initial_classes(labels, num_classes, initial, scoring, pool, perm)
    quota = np.full(num_classes, initial // num_classes)
    quota[rng.choice(num_classes, size=initial % num_classes, replace=False)] += 1
    pool_labels = labels[pool]
    picks = []
    for c in range(num_classes):
        members = pool[pool_labels == c]
        picks.append(rng.choice(members, size=quota[c], replace=False))
    return Split(scoring, pool, np.concatenate(picks).astype(np.int64))


def _ensure_initial_classes(
    labels: np.ndarray,
    num_classes: int,
    initial: int,
    scoring: np.ndarray,
    pool: np.ndarray,
    perm: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Make the pool hold enough images of every class for the initial set, whatever the seed:
    a class short in the random split gets the images it lacks from the scoring set (swapped for
    the last pool images of other classes) or from the images left out of a capped pool, in
    permutation order. Splits that need nothing are returned unchanged."""
    need = initial_quota(initial, num_classes)
    counts = np.bincount(labels[pool], minlength=num_classes)
    short = np.flatnonzero(counts < need)
    if len(short) == 0:
        return scoring, pool
    pool_list, scoring_list = list(pool), list(scoring)
    outside = perm[len(scoring_list) + len(pool_list) :]
    for c in short:
        missing = need - int(counts[c])
        for source in (scoring_list, list(outside)):
            for idx in [i for i in source if labels[i] == c][:missing]:
                if source is scoring_list:
                    j = next(
                        j
                        for j in reversed(range(len(pool_list)))
                        if labels[pool_list[j]] not in short
                    )
                    scoring_list[scoring_list.index(idx)] = pool_list[j]
                    pool_list[j] = idx
                else:
                    pool_list.append(idx)
                missing -= 1
    return np.asarray(scoring_list, dtype=perm.dtype), np.asarray(pool_list, dtype=perm.dtype)


def check_data_fits(cfg: ALConfig, data: ALDataset) -> int:
    """Refuse settings under which no episode can run on ``data``, before any training: a pool
    (the training images not held out for scoring) too small for the budget plus a last
    sub-pool, or a class too small for the class-balanced initial set. Returns the pool size.

    Raises:
        ValueError: what does not fit, and which setting to lower.
    """
    n_train = len(data.train_y)
    pool = n_train - cfg.scoring_size
    if cfg.pool_size is not None:
        pool = min(pool, cfg.pool_size)
    if pool - cfg.budget < cfg.subpool_size:
        raise ValueError(
            f"{data.name} has {n_train} training images; after holding out scoring_size="
            f"{cfg.scoring_size} the pool has {pool}, too few for budget={cfg.budget} plus a "
            f"last sub-pool of {cfg.subpool_size}: lower scoring_size, budget or subpool_size"
        )
    labels = data.train_y.cpu().numpy()
    check_class_sizes(labels, data.num_classes, cfg.initial_labeled, data.name)
    return pool
