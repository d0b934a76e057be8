"""One AL episode's state, and what is derived from it at the current step.

:class:`Episode` holds the split (scoring set, pool), the labeled set, the current sub-pool,
the classifier M with its lazily trained ensemble members, and the per-state caches (M's
outputs, the experts' picks, the oracle's decision). The env
(:class:`~iale_env.ActiveLearningEnv`) owns one per episode and changes it through
:meth:`Episode.fit`, :meth:`Episode.label` and :meth:`Episode.draw_subpool`; the experts, the
oracles (:mod:`iale_env.oracles`) and the state builder (:meth:`Episode.state_rows`) only read
it. Every model and expert seed derives from the episode seed (:meth:`Episode.derive_seed`),
never from the env's RNG, so reading the episode never changes what happens next.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from iale_env.classifier import Classifier, ClassifierSpec
from iale_env.config import ALConfig
from iale_env.data import ALDataset
from iale_env.experts import Expert, SelectionContext, make_expert
from iale_env.inference import accuracy_of
from iale_env.state import eq2_state
from iale_env.training import fit_models

# Roles in the derivation of model seeds from the episode seed (see :meth:`Episode.derive_seed`).
_MAIN, _ENSEMBLE, _ORACLE, _EXPERT = 0, 1, 2, 3


class Episode:
    """The state of one AL episode (see the module docs).

    Attributes:
        config: The env's settings.
        data: The dataset, on the env's device.
        classifier_spec: The classifier M's architecture.
        device: Where M and the images live.
        seed: The episode seed, drawn by the env at reset.
        scoring: Dataset indices of the held-out labeled scoring set.
        labeled: Dataset indices of the labeled set, in labeling order.
        unlabeled: Boolean mask over the training split: the unlabeled pool.
        subpool: Dataset indices of the current candidates (row i of the state is candidate i).
        model: M, trained on ``labeled`` (``None`` until :meth:`fit`'s result is set).
        members: The ensemble's members beyond M, trained on ``labeled`` (kept per state).
        scoring_accuracy, test_accuracy: M's accuracies (NaN where the settings skip them).
        cache: Per-state values: M's outputs (``lab``, ``cand``), the state (``obs``), the
            experts' picks (``expert:<name>``), the oracles' decisions; cleared by
            :meth:`draw_subpool`.
    """

    def __init__(
        self,
        config: ALConfig,
        data: ALDataset,
        classifier_spec: ClassifierSpec,
        seed: int,
        scoring: np.ndarray,
        labeled: np.ndarray,
        unlabeled: np.ndarray,
        test_xy: tuple[torch.Tensor, torch.Tensor],
        experts: dict[str, Expert] | None = None,
    ) -> None:
        self.config, self.data, self.classifier_spec = config, data, classifier_spec
        self.device = torch.device(config.device)
        self.seed = seed
        self.scoring, self.labeled, self.unlabeled = scoring, labeled, unlabeled
        self.subpool = np.zeros(0, dtype=np.int64)
        self.model: Classifier | None = None
        self.members: list[Classifier] = []
        self.scoring_accuracy = self.test_accuracy = float("nan")
        self.cache: dict[str, Any] = {}
        self._experts = {} if experts is None else experts  # made on first use
        self._test_xy = test_xy
        self._scoring_xy: tuple[torch.Tensor, torch.Tensor] | None = None

    # ------------------------------------------------------------------ seeds
    def derive_seed(self, role: int, *keys: int) -> int:
        """A model/expert seed derived from the episode seed; never draws from the env RNG."""
        ss = np.random.SeedSequence([self.seed, role, *keys])
        # In float64, as numpy 1 computed ``uint64 % int`` (numpy 2 keeps uint64): the same
        # seeds, and so the same episodes, on numpy 1 and 2
        return int(np.float64(ss.generate_state(1, dtype=np.uint64)[0]) % 2.0**62)

    @property
    def oracle_seed(self) -> int:
        """The seed every model an oracle retrains at this state starts from."""
        return self.derive_seed(_ORACLE, len(self.labeled))

    def expert_seed(self, name: str, *keys: int) -> int:
        """The seed of the named expert's randomness at this state."""
        return self.derive_seed(_EXPERT, len(self.labeled), zlib.crc32(name.encode()), *keys)

    # ------------------------------------------------------------------ M and its accuracy
    def fit(self, labeled_idx: np.ndarray) -> tuple[Classifier, list[Classifier], float, float]:
        """Train M on ``labeled_idx`` (with the ensemble's members, if eager) and score it;
        changes nothing. Returns M, the members, the scoring and the test accuracy.

        Eager members are not trained for the terminal state (no further selection there;
        they are still trained on first use if an expert is asked for). The scoring and test
        accuracies are NaN where ``rewards`` / ``test_every_step`` skip them.
        """
        cfg, n_lab = self.config, len(labeled_idx)
        labeled = torch.as_tensor(labeled_idx, device=self.device)
        seeds = [self.derive_seed(_MAIN, n_lab)]
        if cfg.eager_ensemble and "ensemble" in cfg.experts and n_lab < cfg.budget:
            seeds += [self.derive_seed(_ENSEMBLE, n_lab, i) for i in range(cfg.ensemble_size - 1)]
        models = fit_models(
            self.data.train_x,
            self.data.train_y,
            [labeled] * len(seeds),
            seeds,
            self.classifier_spec,
            cfg.train,
        )
        nan = float("nan")
        scoring = self.scoring_accuracies([models[0]])[0] if cfg.rewards else nan
        test = nan
        if cfg.test_every_step or n_lab >= cfg.budget:
            test = self.test_accuracies([models[0]])[0]
        return models[0], models[1:], scoring, test

    def set_model(
        self, model: Classifier, members: list[Classifier], scoring: float, test: float
    ) -> None:
        """Make a result of :meth:`fit` the episode's M."""
        self.model, self.members = model, members
        self.scoring_accuracy, self.test_accuracy = scoring, test

    def label(self, selected: np.ndarray) -> None:
        """Add ``selected`` (dataset indices) to the labeled set."""
        self.labeled = np.concatenate([self.labeled, selected])
        self.unlabeled[selected] = False

    def scoring_accuracies(self, models: list[Classifier]) -> list[float]:
        """Each model's accuracy on the labeled scoring set."""
        if self._scoring_xy is None:  # gathered once per episode
            idx = torch.as_tensor(self.scoring, device=self.device)
            self._scoring_xy = (self.data.train_x[idx], self.data.train_y[idx])
        return self._accuracy(models, self._scoring_xy)

    def test_accuracies(self, models: list[Classifier]) -> list[float]:
        """Each model's accuracy on the test images."""
        return self._accuracy(models, self._test_xy)

    def _accuracy(
        self, models: list[Classifier], xy: tuple[torch.Tensor, torch.Tensor]
    ) -> list[float]:
        return accuracy_of(models, xy[0], xy[1], self.config.inference_precision)

    # ------------------------------------------------------------------ the state
    def draw_subpool(self, rng: np.random.Generator) -> None:
        """Draw the next candidates from the unlabeled pool with ``rng``; a new state."""
        self.subpool = rng.choice(
            np.flatnonzero(self.unlabeled), size=self.config.subpool_size, replace=False
        )
        self.cache = {}

    def state_rows(self) -> np.ndarray:
        """The state of the current sub-pool: the Eq. 2 rows, the sub-pool's mean embedding if
        configured, then each ``state_scores`` expert's score of every candidate (computed on
        the context that expert selects on)."""
        lab = torch.as_tensor(self.labeled, device=self.device)
        cand = torch.as_tensor(self.subpool, device=self.device)
        state = eq2_state(
            self.model,  # type: ignore[arg-type]
            self.data.train_x[lab],
            self.data.train_y[lab],
            self.data.train_x[cand],
            self.classifier_spec.num_classes,
            self.config.subpool_mean_embedding,
            self.config.inference_precision,
        )
        self.cache["lab"] = (state.labeled_logits, state.labeled_embedding)
        self.cache["cand"] = (state.candidate_logits, state.candidate_embedding)
        rows = state.rows
        if self.config.state_scores:
            scores = [
                self.expert(name).scores(self.selection_context(seed=self.expert_seed(name)))
                for name in self.config.state_scores
            ]
            extra = torch.stack(scores, dim=1).float().cpu().numpy()
            rows = np.concatenate([rows, extra], axis=1).astype(np.float32)
        return rows

    # ------------------------------------------------------------------ experts
    def expert(self, name: str) -> Expert:
        """The named expert (unknown names raise ``ValueError``)."""
        if name not in self._experts:
            cfg = self.config
            self._experts[name] = make_expert(  # unknown names raise ValueError
                name, mc_dropout_passes=cfg.mc_dropout_passes, ensemble_size=cfg.ensemble_size
            )
        return self._experts[name]

    def expert_positions(self, name: str) -> np.ndarray:
        """The named expert's k picks as positions into the current sub-pool (cached per
        state; unknown names raise ``ValueError``)."""
        expert = self.expert(name)
        key = f"expert:{name}"
        if key not in self.cache:
            ctx = self.selection_context(seed=self.expert_seed(name))
            positions = np.asarray(expert.select(ctx), dtype=np.int64)
            k = self.config.acquisition_size
            if positions.shape != (k,) or len(np.unique(positions)) != k:
                raise RuntimeError(f"expert {name!r} returned {positions}, not {k} distinct picks")
            self.cache[key] = positions
        return self.cache[key].copy()

    def selection_context(
        self, seed: int, candidates: np.ndarray | None = None, k: int | None = None
    ) -> SelectionContext:
        """The :class:`SelectionContext` an expert sees now (default: the current sub-pool;
        ``candidates``, dataset indices, for another candidate set such as the whole pool)."""
        cand = self.subpool if candidates is None else np.asarray(candidates)
        ctx = SelectionContext(
            model=self.model,  # type: ignore[arg-type]
            x=self.data.train_x,
            labeled=torch.as_tensor(self.labeled, device=self.device),
            candidates=torch.as_tensor(cand, device=self.device),
            k=self.config.acquisition_size if k is None else k,
            seed=seed,
            ensemble=self.ensemble,
            precision=self.config.inference_precision,
        )
        if candidates is None:
            ctx.outputs.update(cand=self.cache["cand"], lab=self.cache["lab"])
        return ctx

    def ensemble(self, size: int) -> list[Classifier]:
        """``size`` models trained on the labeled set: M, then extra members (kept per state)."""
        return grow_ensemble(
            self.model,  # type: ignore[arg-type]
            self.members,
            size,
            lambda seeds: fit_models(
                self.data.train_x,
                self.data.train_y,
                [torch.as_tensor(self.labeled, device=self.device)] * len(seeds),
                seeds,
                self.classifier_spec,
                self.config.train,
            ),
            lambda j: self.derive_seed(_ENSEMBLE, len(self.labeled), j),
        )


def grow_ensemble(
    model: Classifier,
    members: list[Classifier],
    size: int,
    train: Callable[[list[int]], list[Classifier]],
    member_seed: Callable[[int], int],
) -> list[Classifier]:
    """``[model, *members]`` grown to ``size`` models: the missing members (the j-th from
    ``member_seed(j)``, j counted from 0 after ``model``) are trained together by ``train`` and
    appended to ``members``, which keeps them for the state."""
    missing = size - 1 - len(members)
    if missing > 0:
        members.extend(train([member_seed(len(members) + i) for i in range(missing)]))
    return [model, *members[: size - 1]]
