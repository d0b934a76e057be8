"""Fit a row-wise policy to a value teacher's targets (:mod:`agents.values.collect`).

The policy's per-candidate score ``f(row)`` is read as the candidate's additive share of the
retrained accuracy: a selection ``B``'s predicted value is ``sum(f(row_i) for i in B)``. At
every state the predicted and the measured values are centred over the state's selections (a
state's common level, which the labeled set decides, is not the policy's to predict; and all
of a state's models share one seed, so centring also removes most of the seed's effect), and
the loss is their squared difference, in percentage points of accuracy. The deterministic
action of the fitted :class:`~agents.policy.IALEPolicy` is then the top-k of the candidates'
predicted shares, the selection of highest predicted value under the additive model, and it
saves, loads and evaluates like any IALE policy (``iale:PATH``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from agents.policy import IALEPolicy
from agents.schedules import ConstantLR
from agents.values.collect import EpisodeValues

#: The columns of a fit's ``log.csv``: one row per epoch.
LOG_FIELDS = (
    "epoch",
    "train_loss",
    "heldout_loss",
    "heldout_corr",
    "heldout_pick",
    "heldout_choice",
    "heldout_best_expert",
)


@dataclass(frozen=True)
class ValueFitConfig:
    """How a policy is regressed on a value teacher's targets.

    Attributes:
        view: The policy's input view (:data:`agents.policy.views.VIEWS`).
        normalize: Standardise the view's features with statistics of the training states.
        hidden_dim: Width of the policy's two hidden layers.
        epochs: Passes over the training states.
        batch_states: States per gradient step.
        lr: Adam's learning rate.
        weight_decay: Adam's L2 penalty.
        heldout_episodes: Episodes (the last, by seed) kept out of training and scored each
            epoch; 0 trains on all.
        seed: Seed of the policy's initial weights and of the order of the states.
    """

    view: str = "rank"
    normalize: bool = True
    hidden_dim: int = 128
    epochs: int = 60
    batch_states: int = 8
    lr: float = 1e-3
    weight_decay: float = 0.0
    heldout_episodes: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_states", "hidden_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.heldout_episodes < 0:
            raise ValueError(f"heldout_episodes must be >= 0, got {self.heldout_episodes}")


@dataclass(frozen=True)
class StateTargets:
    """Every state of some episodes, stacked: ``obs (N, n, row)``, ``selections (N, B, k)``,
    ``values (N, B)`` (accuracy centred over the state's selections, in percentage points),
    ``episode (N,)`` (which episode each state is of) and ``experts`` (how many of each
    state's first selections are the experts')."""

    obs: np.ndarray
    selections: np.ndarray
    values: np.ndarray
    episode: np.ndarray
    experts: int

    @classmethod
    def of(cls, episodes: Sequence[EpisodeValues]) -> StateTargets:
        """Stack ``episodes``; they must share the state's shape and the selections' count.

        Raises:
            ValueError: no episodes, or episodes of different shapes (another sub-pool, state
                or number of proposals): collect them with the same settings.
        """
        if not episodes:
            raise ValueError("no episodes to fit")
        shapes = {(e.observations.shape[1:], e.selections.shape[1:]) for e in episodes}
        if len(shapes) > 1 or len({e.experts for e in episodes}) > 1:
            raise ValueError(
                f"the episodes differ in their states, selections or experts ({sorted(shapes)}, "
                f"{sorted({e.experts for e in episodes})}); fit episodes collected with the "
                "same settings"
            )
        acc = np.concatenate([e.accuracies for e in episodes])
        return cls(
            obs=np.concatenate([e.observations for e in episodes]).astype(np.float32),
            selections=np.concatenate([e.selections for e in episodes]).astype(np.int64),
            values=100.0 * (acc - acc.mean(axis=1, keepdims=True)),
            episode=np.concatenate([np.full(len(e.accuracies), i) for i, e in enumerate(episodes)]),
            experts=len(episodes[0].experts),
        )

    def subset(self, mask: np.ndarray) -> StateTargets:
        """The states where ``mask`` is true."""
        return StateTargets(
            self.obs[mask], self.selections[mask], self.values[mask], self.episode[mask],
            self.experts,
        )  # fmt: skip


def selection_sums(scores: torch.Tensor, selections: torch.Tensor) -> torch.Tensor:
    """``(N, B)`` summed per-candidate ``scores`` ``(N, n)`` of ``selections`` ``(N, B, k)``:
    what ``pick:PATH`` and ``choice:PATH`` compare."""
    n, b, k = selections.shape
    return torch.gather(scores, 1, selections.reshape(n, b * k)).reshape(n, b, k).sum(-1)


def selection_values(scores: torch.Tensor, selections: torch.Tensor) -> torch.Tensor:
    """``(N, B)`` predicted values, centred over each state's selections, of ``selections``
    ``(N, B, k)`` under per-candidate ``scores`` ``(N, n)``."""
    picked = selection_sums(scores, selections)
    return picked - picked.mean(dim=1, keepdim=True)


def new_value_policy(
    obs_shape: tuple[int, int],
    acquisition_size: int,
    num_classes: int,
    embedding_dim: int,
    score_columns: int,
    config: ValueFitConfig,
) -> IALEPolicy:
    """A fresh :class:`IALEPolicy` for states of ``obs_shape``, initialised from
    ``config.seed``."""
    n, row = obs_shape
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return IALEPolicy(
            gym.spaces.Box(-np.inf, np.inf, (n, row), np.float32),
            gym.spaces.MultiBinary(n),
            lr_schedule=ConstantLR(config.lr),
            acquisition_size=acquisition_size,
            hidden_dim=config.hidden_dim,
            view=config.view,
            normalize=config.normalize,
            num_classes=num_classes,
            embedding_dim=embedding_dim,
            score_columns=score_columns,
        )


@torch.no_grad()
def heldout_scores(policy: IALEPolicy, targets: StateTargets) -> dict[str, float]:
    """How well ``policy`` ranks the selections of states it was not fitted on: the squared
    error of its centred values, their mean within-state correlation with the measured ones,
    and the measured value (pp over the state's mean) of the selection it rates best of all,
    of the expert's selection it rates best (what ``choice:PATH`` executes) and, for
    reference, of the best fixed expert's (the expert whose selections are worth most on
    average over these states)."""
    pred = selection_values(
        policy.logits(torch.as_tensor(targets.obs)), torch.as_tensor(targets.selections)
    )
    pred_np, y = pred.numpy(), targets.values
    corr = [
        np.corrcoef(p, v)[0, 1] if np.std(p) > 0 and np.std(v) > 0 else 0.0
        for p, v in zip(pred_np, y)
    ]
    rows, e = np.arange(len(y)), targets.experts
    best, chosen = y[rows, pred_np.argmax(axis=1)], y[rows, pred_np[:, :e].argmax(axis=1)]
    return {
        "heldout_loss": float(np.mean((pred_np - y) ** 2)),
        "heldout_corr": float(np.mean(corr)),
        "heldout_pick": float(best.mean()),
        "heldout_choice": float(chosen.mean()),
        "heldout_best_expert": float(y[:, :e].mean(axis=0).max()),
    }


def fit_value_policy(
    policy: IALEPolicy,
    targets: StateTargets,
    config: ValueFitConfig,
    heldout: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """Regress ``policy``'s scores on ``targets`` (the module's loss); returns one log row per
    epoch (:data:`LOG_FIELDS`; the held-out columns empty without held-out episodes).

    The episodes ``heldout`` (indices into the stacked episodes; default: the last
    ``config.heldout_episodes``) are left out of training and scored after every epoch.

    Raises:
        ValueError: nothing left to train on.
    """
    episodes = np.unique(targets.episode)
    if heldout is None:
        count = config.heldout_episodes
        heldout = episodes[len(episodes) - count :] if count else []
    held = np.asarray(heldout, dtype=np.int64)
    if np.isin(episodes, held).all():
        raise ValueError(
            f"{len(episodes)} episodes leave none to train on with {len(held)} held out; "
            "collect more episodes or hold out fewer"
        )
    train = targets.subset(~np.isin(targets.episode, held))
    scored = targets.subset(np.isin(targets.episode, held)) if len(held) else None
    policy.fit_normalizer(train.obs)
    optimizer = torch.optim.Adam(
        policy.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    rng = np.random.default_rng(config.seed)
    obs, sel, y = (torch.as_tensor(a) for a in (train.obs, train.selections, train.values))
    log = []
    for epoch in range(1, config.epochs + 1):
        policy.train()
        losses = []
        for batch in np.array_split(rng.permutation(len(y)), max(1, len(y) // config.batch_states)):
            idx = torch.as_tensor(batch)
            pred = selection_values(policy.logits(obs[idx]), sel[idx])
            loss = torch.mean((pred - y[idx]) ** 2)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item() * len(batch))
        policy.eval()
        row: dict[str, Any] = {"epoch": epoch, "train_loss": sum(losses) / len(y)}
        row.update(heldout_scores(policy, scored) if scored is not None else {})
        log.append(row)
    return log


def cross_validate(
    targets: StateTargets,
    config: ValueFitConfig,
    folds: int,
    new_policy: Callable[[], IALEPolicy],
) -> list[dict[str, Any]]:
    """Fit a fresh policy (``new_policy()``) ``folds`` times, each holding out every
    ``folds``-th episode (fold f: episodes f, f + folds, ...), and average the logs over the
    folds: one row per epoch, the held-out columns the folds' means (what ``--folds`` of
    ``train_value.py`` writes to ``cv.csv``, to choose the epochs and the width on the
    training source alone).

    Raises:
        ValueError: fewer than 2 folds, or more folds than episodes.
    """
    episodes = np.unique(targets.episode)
    if not 2 <= folds <= len(episodes):
        raise ValueError(f"folds must be in [2, {len(episodes)}] (the episodes), got {folds}")
    logs = [
        fit_value_policy(new_policy(), targets, config, episodes[f::folds]) for f in range(folds)
    ]
    return [
        {key: (float(np.mean([log[i][key] for log in logs])) if key != "epoch" else i + 1)
         for key in logs[0][i]}
        for i in range(config.epochs)
    ]  # fmt: skip
