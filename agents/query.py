"""The learned policy in a real labeling loop: which of *your* unlabeled images to label next.

One round of pool-based active learning outside the simulation: train the classifier M from
scratch on the images labeled so far (labels come from the user), draw a sub-pool of candidates
from the unlabeled pool, build the Eq. 2 state exactly as the env does
(:func:`iale_env.state.eq2_state`, with the experts' score columns for a policy trained on
them), and return the k candidates the policy scores highest::

    from agents.query import query

    result = query("runs/iale/policy.zip", labeled_x, labeled_y, pool_x)
    result.picks    # positions into pool_x, best first; label these and call query again
    result.scores   # the policy's scores of the picks

``iale-query`` (``scripts/query.py``) is the same for an ``.npz`` file or an image folder with a
labels CSV.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.policy import IALEPolicy, load_policy
from agents.runs.files import RUN_CONFIG, read_json
from iale_env.classifier import Classifier, ClassifierSpec, classifier_spec
from iale_env.data import _images, _labels
from iale_env.episode import grow_ensemble
from iale_env.experts import SelectionContext, make_expert
from iale_env.state import eq2_state
from iale_env.training import TrainConfig, fit_models
from iale_env.validation import check_state_rows


@dataclass(frozen=True)
class QueryConfig:
    """Settings of one query round.

    Attributes:
        acquisition_size: Images to pick (k); ``None``: the policy's own k.
        subpool_size: Candidates drawn from the pool for the policy to rank (n); ``None``: the
            sub-pool size the policy was trained with (the paper's protocol); ``0``: the whole
            pool. The draw is uniform and fixed by ``seed``.
        epochs: M's training epochs (Adam, full batch); ``None``: those of the run that
            trained the policy (its ``config.json``), else 100 (the paper's).
        lr: M's learning rate.
        seed: Seeds M's initialisation and dropout and the sub-pool draw.
        device: Torch device of M and the policy.
        state_scores: The experts whose scores end the state's rows, for a policy trained on
            them; ``None``: those of the run that trained the policy (its ``config.json``).
        mc_dropout_passes: MC-Dropout's forward passes for its score column.
        ensemble_size: The ensemble's members (M and ``ensemble_size - 1`` more, trained on
            the labeled images) for its score column.
        classifier: M (``ALConfig.classifier``'s names: ``"cnn"``, ``"mlp"`` or
            ``"package.module:function"``); ``None``: the one the run that trained the policy
            recorded in its ``config.json``, else the CNN.
    """

    acquisition_size: int | None = None
    subpool_size: int | None = None
    epochs: int | None = None
    lr: float = 1e-3
    seed: int = 0
    device: str = "cpu"
    state_scores: tuple[str, ...] | None = None
    mc_dropout_passes: int = 20
    ensemble_size: int = 5
    classifier: str | None = None

    def __post_init__(self) -> None:
        for name in ("acquisition_size", "epochs"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
        if self.subpool_size is not None and (
            not isinstance(self.subpool_size, int) or self.subpool_size < 0
        ):
            raise ValueError(
                f"subpool_size must be an integer >= 0 (0: the whole pool) or None, got "
                f"{self.subpool_size!r}"
            )
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")


@dataclass(frozen=True)
class QueryResult:
    """The policy's choice for one round.

    Attributes:
        picks: Positions into the pool of the images to label next, highest score first.
        scores: The policy's scores (in (0, 1)) of ``picks``.
        candidates: Positions into the pool of every candidate the policy ranked.
        candidate_scores: The policy's score of each candidate.
        train_accuracy: M's accuracy on the labeled set it was trained on.
    """

    picks: np.ndarray
    scores: np.ndarray
    candidates: np.ndarray
    candidate_scores: np.ndarray
    train_accuracy: float


def query(
    policy: IALEPolicy | str | os.PathLike,
    labeled_x: np.ndarray | torch.Tensor,
    labeled_y: np.ndarray | torch.Tensor,
    pool_x: np.ndarray | torch.Tensor,
    config: QueryConfig | None = None,
) -> QueryResult:
    """Pick the next images to label from ``pool_x`` with a trained IALE policy.

    Args:
        policy: A policy, or the path of a ``policy.zip`` written by the training scripts.
        labeled_x: The labeled images so far, ``(N, H, W)`` or ``(N, C, H, W)`` (uint8 0..255
            or float in [0, 1], as :meth:`iale_env.ALDataset.from_arrays`).
        labeled_y: Their labels, integers in ``[0, K)`` where K is the policy's class count.
        pool_x: The unlabeled images, the same layout.
        config: Round settings (defaults: the policy's k and n, the training run's epochs).

    Raises:
        ValueError: inputs that do not fit each other or the policy; the message says which.
    """
    cfg = config or QueryConfig()
    path = None if isinstance(policy, IALEPolicy) else Path(policy)
    pol = load_policy(str(path), device=cfg.device) if path is not None else policy
    run_env = _run_env(path)
    recorded = tuple(run_env.get("state_scores") or ())
    experts = recorded if cfg.state_scores is None else tuple(cfg.state_scores)
    if len(experts) != pol.score_columns:
        raise ValueError(
            f"the policy reads {pol.score_columns} expert score column(s) in its state but "
            f"{len(experts)} are known ({list(experts)}); pass the experts it was trained with "
            f"(its run's config.json records them) as QueryConfig(state_scores=...), or "
            f"iale-query --state-scores mc_dropout,ensemble,..."
        )
    lab_x, pool = _images(labeled_x, "labeled_x"), _images(pool_x, "pool_x")
    lab_y = _labels(labeled_y, "labeled_y")
    k_classes, n_trained = pol.num_classes, int(pol.observation_space.shape[0])
    k = cfg.acquisition_size or pol.acquisition_size
    if len(lab_x) != len(lab_y):
        raise ValueError(f"labeled_x has {len(lab_x)} images but labeled_y {len(lab_y)} labels")
    if lab_x.shape[1:] != pool.shape[1:]:
        raise ValueError(
            f"labeled and pool images differ in shape: {tuple(lab_x.shape[1:])} vs "
            f"{tuple(pool.shape[1:])}"
        )
    if int(lab_y.min()) < 0 or int(lab_y.max()) >= k_classes:
        raise ValueError(
            f"labels must lie in [0, {k_classes - 1}] (the policy was trained with "
            f"{k_classes} classes); got [{int(lab_y.min())}, {int(lab_y.max())}]"
        )
    if len(pool) < k:
        raise ValueError(f"the pool has {len(pool)} images, fewer than the {k} to pick")
    n = n_trained if cfg.subpool_size is None else (cfg.subpool_size or len(pool))
    n = min(n, len(pool))
    if n < k:
        raise ValueError(f"subpool_size {n} is smaller than the {k} images to pick")
    name = cfg.classifier if cfg.classifier is not None else run_env.get("classifier")
    spec = classifier_spec(name, tuple(lab_x.shape[1:]), k_classes)  # the policy's own M
    if pol.embedding_dim != spec.embedding_dim:
        raise ValueError(
            f"the policy expects {pol.embedding_dim}-d embeddings, the classifier gives "
            f"{spec.embedding_dim}"
        )
    trained = run_env.get("epochs")  # M's epochs in the run that trained the policy
    epochs = cfg.epochs or (trained if isinstance(trained, int) and trained > 0 else 100)
    device = torch.device(cfg.device)
    train = TrainConfig(epochs=epochs, lr=cfg.lr)
    lab_x, lab_y, pool = lab_x.to(device), lab_y.to(device), pool.to(device)
    (model,) = fit_models(lab_x, lab_y, [torch.arange(len(lab_x))], [cfg.seed], spec, train)
    rng = np.random.default_rng(cfg.seed)
    candidates = np.sort(rng.choice(len(pool), size=n, replace=False))
    state = eq2_state(model, lab_x, lab_y, pool[torch.as_tensor(candidates)], k_classes)
    rows = state.rows
    check_state_rows(rows, n, rows.shape[1], model)  # finite: NaN logits are refused
    if experts:  # the experts' own scores of the candidates, as the env appends them
        columns = _expert_scores(experts, cfg, model, lab_x, lab_y, pool, candidates, spec, train)
        rows = np.concatenate([rows, columns], axis=1).astype(np.float32)
    if rows.shape[1] != pol.observation_space.shape[1]:
        raise ValueError(
            f"the policy was trained on rows of {pol.observation_space.shape[1]} features but "
            f"these images give rows of {rows.shape[1]}; it cannot score them"
        )
    with torch.no_grad():
        obs = torch.as_tensor(rows, device=pol.device)[None]
        scores = pol.scores(obs)[0].cpu().numpy().astype(np.float64)
    order = np.argsort(-scores, kind="stable")[:k]
    accuracy = float((state.labeled_logits.argmax(-1) == lab_y).float().mean())
    return QueryResult(candidates[order], scores[order], candidates, scores, accuracy)


def _expert_scores(
    experts: tuple[str, ...],
    cfg: QueryConfig,
    model: Classifier,
    lab_x: torch.Tensor,
    lab_y: torch.Tensor,
    pool: torch.Tensor,
    candidates: np.ndarray,
    spec: ClassifierSpec,
    train: TrainConfig,
) -> np.ndarray:
    """``(n, len(experts))``: each expert's per-candidate score (the env's state columns)."""
    x = torch.cat([lab_x, pool])
    labeled = torch.arange(len(lab_x), device=x.device)
    members: list[Classifier] = []

    def ensemble(size: int) -> list[Classifier]:  # trained on the labeled images like M
        return grow_ensemble(
            model,
            members,
            size,
            lambda seeds: fit_models(lab_x, lab_y, [labeled] * len(seeds), seeds, spec, train),
            lambda j: cfg.seed + 1 + j,
        )

    ctx = SelectionContext(
        model=model,
        x=x,
        labeled=labeled,
        candidates=torch.as_tensor(candidates + len(lab_x), device=x.device),
        k=1,
        seed=cfg.seed,
        ensemble=ensemble,
    )
    settings = dict(mc_dropout_passes=cfg.mc_dropout_passes, ensemble_size=cfg.ensemble_size)
    scores = [make_expert(name, **settings).scores(ctx) for name in experts]
    return torch.stack(scores, dim=1).float().cpu().numpy()


def _run_env(policy_path: Path | None) -> dict[str, Any]:
    """The env settings recorded by the run that trained the policy (its ``config.json``);
    empty if there is none.

    Raises:
        ValueError: the ``config.json`` cannot be read (its classifier and state columns would
            silently fall back to defaults); the message names it.
    """
    if policy_path is None or not policy_path.with_name(RUN_CONFIG).is_file():
        return {}
    env = read_json(policy_path.with_name(RUN_CONFIG)).get("env", {})
    if not isinstance(env, dict):
        raise ValueError(f"{policy_path.with_name(RUN_CONFIG)} has no 'env' settings object")
    return env
