"""Batch-mode pool-based active learning as a Gymnasium environment (IALE, Loeffler et al.).

One episode: hold out a labeled scoring set, draw a class-balanced initial labeled set from the
pool, then repeat until the budget: train the classifier M from scratch on the labeled set, draw
a sub-pool of n candidates, let the agent choose k of them (the action), label them.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from iale_env import oracles
from iale_env.classifier import Classifier, classifier_spec
from iale_env.config import ALConfig, from_kwargs
from iale_env.data import CUSTOM, ALDataset, load_data_file, load_dataset
from iale_env.experts import Expert, SelectionContext, make_expert
from iale_env.oracles import OracleResult
from iale_env.split import check_class_sizes, draw_split
from iale_env.state import eq2_state
from iale_env.training import accuracy_of, fit_models
from iale_env.validation import check_state_rows

# Roles in the derivation of model seeds from the episode seed (see ``ActiveLearningEnv._seed``).
_MAIN, _ENSEMBLE, _ORACLE, _EXPERT = 0, 1, 2, 3


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


class ActiveLearningEnv(gym.Env[np.ndarray, np.ndarray]):
    """Batch-mode pool-based active learning (the IALE paper's setting) as a Gymnasium env.

    Observation (Eq. 2 of the paper): a ``(subpool_size, 2 * D + 3 * K)`` float32 array, one row
    per candidate: mean labeled embedding (D) | labeled class histogram (K) | histogram of M's
    predictions on the labeled set (K) | candidate embedding (D) | M's softmax on the candidate
    (K). The first three blocks repeat on every row; :attr:`columns` names the column slices.
    With ``subpool_mean_embedding=True`` the sub-pool's mean embedding (D) is appended to every
    row (the paper's state ablation).

    Action: ``MultiBinary(subpool_size)`` with exactly ``acquisition_size`` ones. In ``"repair"``
    mode (default) a 0/1 action with another number of ones is fixed by keeping or adding
    candidates uniformly at random from the env's RNG (``info["repaired"]``); in ``"strict"``
    mode it raises ``ValueError``. Wrong shapes or non-binary values always raise, before any
    state changes.

    Reward: the change in M's accuracy on the scoring set after labeling the selection and
    retraining M from scratch. The episode terminates when the labeled set reaches the budget.
    Runs that need no reward (``rewards=False``) or test accuracy before the episode's end
    (``test_every_step=False``) skip those evaluations; the values are then NaN.

    Args:
        config: Settings; defaults to :class:`ALConfig` ().
        data: A user's dataset: an :class:`ALDataset`, or the path of an ``.npz`` file or image
            folder (see :func:`~iale_env.data.load_data_file`; a path keeps ``env.spec``
            serialisable). Defaults to loading ``config.dataset`` from the data root.
        **overrides: Keyword overrides of ``config`` fields (what ``gym.make(id, **kw)`` passes).
    """

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": 2}

    def __init__(
        self,
        config: ALConfig | None = None,
        data: ALDataset | str | os.PathLike | None = None,
        render_mode: str | None = None,
        **overrides: Any,
    ):
        super().__init__()
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']} or None, got "
                f"{render_mode!r}"
            )
        self.render_mode = render_mode
        self._window: Any = None
        self.config = from_kwargs(config, **overrides) if overrides or config is None else config
        cfg = self.config
        self.device = torch.device(cfg.device)
        if data is None:
            if cfg.dataset == CUSTOM:
                raise ValueError(
                    "IALE-Custom-v0 needs data=: a path to an .npz file (train_x, train_y, "
                    "test_x, test_y), an image folder with train/<class>/ and test/<class>/, or "
                    "an iale_env.ALDataset"
                )
            data = load_dataset(cfg.dataset, cfg.data_dir)
        elif not isinstance(data, ALDataset):
            data = load_data_file(data)
        pool = check_data_fits(cfg, data)
        self._train_labels = data.train_y.cpu().numpy()
        test_n = len(data.test_y) if cfg.test_size is None else min(cfg.test_size, len(data.test_y))
        self.data = data.to(self.device)
        self._test_x, self._test_y = self.data.test_x[:test_n], self.data.test_y[:test_n]
        self.classifier_spec = classifier_spec(cfg.classifier, data.image_shape, data.num_classes)
        self._pool_n = pool
        k, d = self.classifier_spec.num_classes, self.classifier_spec.embedding_dim
        bounds = [0, d, d + k, d + 2 * k, 2 * d + 2 * k, 2 * d + 3 * k]
        names = [
            "labeled_mean_embedding",
            "labeled_class_hist",
            "labeled_pred_hist",
            "candidate_embedding",
            "candidate_probs",
        ]
        if cfg.subpool_mean_embedding:
            bounds.append(bounds[-1] + d)
            names.append("subpool_mean_embedding")
        for expert in cfg.state_scores:
            bounds.append(bounds[-1] + 1)
            names.append(f"score:{expert}")
        #: Column slices of an observation row, by block name (Eq. 2 order).
        self.columns: dict[str, slice] = {
            name: slice(bounds[i], bounds[i + 1]) for i, name in enumerate(names)
        }
        # Histograms and softmax are fractions in [0, 1]; embeddings are ReLU outputs, bounded
        # only by float32 itself (a finite bound, as Gymnasium's checker asks).
        high = np.full((cfg.subpool_size, bounds[-1]), np.finfo(np.float32).max, np.float32)
        for name in ("labeled_class_hist", "labeled_pred_hist", "candidate_probs"):
            high[:, self.columns[name]] = 1.0
        for expert in cfg.state_scores:
            high[:, self.columns[f"score:{expert}"]] = 1.0
        self.observation_space = spaces.Box(low=0.0, high=high, dtype=np.float32)
        self.action_space = spaces.MultiBinary(cfg.subpool_size)
        self._experts: dict[str, Expert] = {}  # made on first use, from the registry
        self._model: Classifier | None = None
        self._terminated = False

    # ------------------------------------------------------------------ gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Draw the scoring set, pool and initial labeled set, train M, draw the first sub-pool."""
        super().reset(seed=seed)
        cfg, rng = self.config, self.np_random
        self._episode_seed = int(rng.integers(2**62))
        split = draw_split(
            rng,
            self._train_labels,
            self.classifier_spec.num_classes,
            cfg.scoring_size,
            self._pool_n,
            cfg.initial_labeled,
        )
        self._scoring, pool, self._labeled = split.scoring, split.pool, split.labeled
        self._scoring_xy: tuple[torch.Tensor, torch.Tensor] | None = None
        self._unlabeled = np.zeros(len(self.data.train_y), dtype=bool)
        self._unlabeled[pool] = True
        self._unlabeled[self._labeled] = False
        self._step = 0
        self._terminated = False
        self._fit_main()
        self._curve = [(len(self._labeled), self._test_accuracy)]
        self._acted: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._draw_subpool()
        return self._observation(), self._info()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Label the selected candidates, retrain M from scratch, draw the next sub-pool."""
        self._require_running()
        rng_state = self.np_random.bit_generator.state  # a repaired action draws from it
        positions, repaired = self._parse_action(action)
        try:
            return self._acquire(self._subpool[positions], repaired)
        except BaseException:
            self.np_random.bit_generator.state = rng_state
            raise

    def step_indices(
        self, indices: np.ndarray
    ) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Like :meth:`step`, but label ``acquisition_size`` images chosen from the whole pool.

        ``indices`` are dataset indices of unlabeled pool images (:attr:`unlabeled_indices`),
        e.g. a heuristic's pick from the whole pool (:meth:`expert_pool_indices`), as the
        paper's baselines did. The next sub-pool is drawn as after :meth:`step`, so runs stay
        comparable.
        """
        self._require_running()
        idx = np.asarray(indices)
        k = self.config.acquisition_size
        if idx.shape != (k,) or not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(
                f"indices must be {k} integer dataset indices of unlabeled pool images, got "
                f"shape {idx.shape} and dtype {idx.dtype}"
            )
        if len(np.unique(idx)) != k:
            raise ValueError(f"indices must be {k} distinct images, got {idx.tolist()}")
        in_range = (idx >= 0) & (idx < len(self._unlabeled))
        if not in_range.all() or not self._unlabeled[idx].all():
            raise ValueError(
                f"indices {idx.tolist()} are not all unlabeled pool images; choose from "
                f"unlabeled_indices"
            )
        return self._acquire(idx.astype(np.int64), False)

    def _acquire(
        self, selected: np.ndarray, repaired: bool
    ) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Label ``selected`` and retrain M. Transactional: the new model is trained before any
        state changes, so an exception (Ctrl-C, out of memory, ...) leaves the env as it was."""
        decision = self._cache.get("oracle")  # the oracle's decision for the state acted on
        labeled = np.concatenate([self._labeled, selected])
        fitted = self._fit(labeled)
        previous = self._scoring_accuracy
        self._labeled = labeled
        self._unlabeled[selected] = False
        self._step += 1
        self._set_model(*fitted)
        self._curve.append((len(self._labeled), self._test_accuracy))
        oracle_positions = (
            np.flatnonzero(decision.action) if decision is not None else np.zeros(0, np.int64)
        )
        self._acted = (
            self._subpool.copy(),
            np.flatnonzero(np.isin(self._subpool, selected)),
            oracle_positions,
        )
        reward = self._scoring_accuracy - previous
        self._terminated = len(self._labeled) >= self.config.budget
        self._draw_subpool()
        info = self._info()
        info.update(selected=selected.copy(), repaired=repaired)
        if decision is not None:  # plain types, so that loggers and demo files can store it
            info["oracle"] = {
                "winner": decision.winner,
                "scores": {name: float(v) for name, v in decision.scores.items()},
                "positions": oracle_positions.tolist(),
            }
        return self._observation(), float(reward), self._terminated, False, info

    def render(self) -> np.ndarray | None:
        """A picture of the step just taken (before the first step: of the current state).

        ``render_mode="rgb_array"`` returns it as a ``uint8`` RGB array; ``"human"`` shows it in
        a matplotlib window. See :mod:`iale_env.render` for what it shows.
        """
        if self.render_mode is None:
            gym.logger.warn("render() without a render_mode; make the env with render_mode=...")
            return None
        from iale_env.render import StepPicture, render_frame

        self._require_state()
        if self._acted is not None:
            candidates, selected, oracle = self._acted
        else:  # before the first step: the current candidates, nothing labeled from them yet
            decision = self._cache.get("oracle")
            candidates, selected = self._subpool, np.zeros(0, dtype=np.int64)
            oracle = np.flatnonzero(decision.action) if decision is not None else selected.copy()
        idx = torch.as_tensor(candidates, device=self.device)
        labels = self.data.train_y[torch.as_tensor(self._labeled, device=self.device)]
        k = self.classifier_spec.num_classes
        frame = render_frame(
            StepPicture(
                title=(
                    f"{self.data.name}: step {self._step}, {len(self._labeled)} labeled, "
                    f"test accuracy {self._test_accuracy:.3f}"
                ),
                images=self.data.train_x[idx].cpu().numpy(),
                selected=selected.tolist(),
                oracle=np.asarray(oracle).tolist(),
                class_counts=torch.bincount(labels, minlength=k).cpu().numpy(),
                curve=list(self._curve),
            )
        )
        if self.render_mode == "rgb_array":
            return frame
        import matplotlib.pyplot as plt  # "human": a window, only when asked for

        if self._window is None:
            self._window = plt.figure(figsize=(8, 4.5))
            self._window.add_axes((0, 0, 1, 1)).set_axis_off()
        self._window.axes[0].imshow(frame)
        plt.pause(1.0 / self.metadata["render_fps"])
        return None

    def close(self) -> None:
        """Close the ``"human"`` render window, if one is open."""
        if self._window is not None:
            import matplotlib.pyplot as plt

            plt.close(self._window)
            self._window = None
        super().close()

    # ------------------------------------------------------------------ experts and oracle
    def expert_action(self, name: str) -> np.ndarray:
        """The named expert's selection on the current sub-pool, as a 0/1 ``int8`` vector.

        Neither changes the environment nor draws from its RNG (the expert's randomness comes
        from a seed derived from the episode seed, the step and the expert's name).
        """
        return self._to_action(self.expert_positions(name))

    def expert_pool_indices(self, name: str) -> np.ndarray:
        """The named expert's k picks from the whole unlabeled pool, as dataset indices.

        For pool-level baselines (use with :meth:`step_indices`). Like :meth:`expert_action`
        it neither changes the environment nor draws from its RNG.
        """
        expert = self._expert(name)
        pool = self.unlabeled_indices
        ctx = self.selection_context(self._expert_seed(name, 1), pool)
        positions = np.asarray(expert.select(ctx))
        return pool[positions].astype(np.int64)

    def score_selections(self, selections: list[np.ndarray]) -> list[float]:
        """Scoring-set accuracy of a fresh model trained on labeled + each selection
        (positions into the current sub-pool); see :func:`iale_env.oracles.score_selections`."""
        self._require_state()
        return oracles.score_selections(self, selections)

    def lookahead_oracle_action(self) -> np.ndarray:
        """The candidate-wise lookahead oracle of ALIL (Liu et al., 2018), as a 0/1 action
        (see :func:`iale_env.oracles.lookahead`). Cached per state; neither changes the
        environment nor draws from its RNG."""
        self._require_state()
        if self._cache.get("lookahead") is None:
            self._cache["lookahead"] = self._to_action(oracles.lookahead(self))
        return self._cache["lookahead"].copy()

    def oracle_action(self) -> np.ndarray:
        """The best-expert oracle's selection (0/1 ``int8``, exactly k ones).

        Every configured expert selects from the current sub-pool, a fresh model is trained on
        labeled + each selection from one seed and scored on the scoring set, and the best
        expert's selection wins (:func:`iale_env.oracles.best_expert`). The decision is cached
        for the current state and available as :attr:`last_oracle`. Neither changes the
        environment nor draws from its RNG.
        """
        self._require_state()
        if self._cache.get("oracle") is None:
            self._cache["oracle"] = oracles.best_expert(self)
        return self._cache["oracle"].action.copy()

    @property
    def last_oracle(self) -> OracleResult | None:
        """The oracle's decision at the current state, if :meth:`oracle_action` was called."""
        return self._cache.get("oracle") if self._model is not None else None

    @property
    def oracle_seed(self) -> int:
        """The seed every model an oracle retrains at this state starts from."""
        self._require_state()
        return self._seed(_ORACLE, len(self._labeled))

    def scoring_accuracies(self, models: list[Classifier]) -> list[float]:
        """Each model's accuracy on the labeled scoring set."""
        return self._accuracy(models, self._scoring_x())

    def _expert(self, name: str) -> Expert:
        """The named expert, once the env has a state (unknown names raise ``ValueError``)."""
        self._require_state()
        if name not in self._experts:
            cfg = self.config
            self._experts[name] = make_expert(  # unknown names raise ValueError
                name, mc_dropout_passes=cfg.mc_dropout_passes, ensemble_size=cfg.ensemble_size
            )
        return self._experts[name]

    def _expert_seed(self, name: str, *keys: int) -> int:
        return self._seed(_EXPERT, len(self._labeled), zlib.crc32(name.encode()), *keys)

    def expert_positions(self, name: str) -> np.ndarray:
        """The named expert's k picks as positions into the current sub-pool (cached per
        state; unknown names raise ``ValueError``)."""
        expert = self._expert(name)
        key = f"expert:{name}"
        if key not in self._cache:
            ctx = self.selection_context(seed=self._expert_seed(name))
            positions = np.asarray(expert.select(ctx), dtype=np.int64)
            k = self.config.acquisition_size
            if positions.shape != (k,) or len(np.unique(positions)) != k:
                raise RuntimeError(f"expert {name!r} returned {positions}, not {k} distinct picks")
            self._cache[key] = positions
        return self._cache[key].copy()

    def selection_context(
        self, seed: int, candidates: np.ndarray | None = None, k: int | None = None
    ) -> SelectionContext:
        """The :class:`SelectionContext` an expert sees now (default: the current sub-pool).

        ``candidates`` (dataset indices) lets a heuristic select from another candidate set,
        e.g. the whole unlabeled pool (:attr:`unlabeled_indices`).
        """
        self._require_state()
        cand = self._subpool if candidates is None else np.asarray(candidates)
        ctx = SelectionContext(
            model=self._model,  # type: ignore[arg-type]
            x=self.data.train_x,
            labeled=torch.as_tensor(self._labeled, device=self.device),
            candidates=torch.as_tensor(cand, device=self.device),
            k=self.config.acquisition_size if k is None else k,
            seed=seed,
            ensemble=self._ensemble,
            precision=self.config.inference_precision,
        )
        if candidates is None:
            ctx.outputs.update(cand=self._cache["cand"], lab=self._cache["lab"])
        return ctx

    def _ensemble(self, size: int) -> list[Classifier]:
        """``size`` models trained on the labeled set: M, then extra members (kept per state)."""
        missing = size - 1 - len(self._members)
        if missing > 0:
            n_lab = len(self._labeled)
            labeled = torch.as_tensor(self._labeled, device=self.device)
            seeds = [self._seed(_ENSEMBLE, n_lab, len(self._members) + i) for i in range(missing)]
            self._members.extend(
                fit_models(
                    self.data.train_x,
                    self.data.train_y,
                    [labeled] * missing,
                    seeds,
                    self.classifier_spec,
                    self.config.train,
                )
            )
        return [self._model, *self._members[: size - 1]]  # type: ignore[list-item]

    # ------------------------------------------------------------------ state accessors
    @property
    def labeled_indices(self) -> np.ndarray:
        """Dataset indices (into the training split) of the labeled set, in labeling order."""
        self._require_state()
        return self._labeled.copy()

    @property
    def subpool_indices(self) -> np.ndarray:
        """Dataset indices of the current candidates (row i of the observation is candidate i)."""
        self._require_state()
        return self._subpool.copy()

    @property
    def unlabeled_indices(self) -> np.ndarray:
        """Dataset indices of the unlabeled pool."""
        self._require_state()
        return np.flatnonzero(self._unlabeled)

    @property
    def scoring_indices(self) -> np.ndarray:
        """Dataset indices of the held-out labeled scoring set."""
        self._require_state()
        return self._scoring.copy()

    @property
    def model(self) -> Classifier:
        """The current classifier M (trained on the current labeled set)."""
        self._require_state()
        return self._model  # type: ignore[return-value]

    @property
    def pairing_key(self) -> str:
        """A short digest of what paired runs share: episode seed, scoring set, initial set.

        Two episodes with equal keys start from the same split, the same initial labeled set
        and the same classifier initialisation, whatever their agents select.
        """
        self._require_state()
        n0 = self.config.initial_labeled
        parts = (
            np.int64(self._episode_seed).tobytes(),
            self._scoring.tobytes(),
            self._labeled[:n0].tobytes(),
        )
        return hashlib.sha256(b"".join(parts)).hexdigest()[:12]

    def observation_digest(self) -> str:
        """SHA-256 of the current observation's bytes (to check an observation matches the env)."""
        return hashlib.sha256(self._cache["obs"].tobytes()).hexdigest()

    # ------------------------------------------------------------------ internals
    def _require_state(self) -> None:
        if self._model is None:
            raise RuntimeError("call reset() first")

    def _require_running(self) -> None:
        """A state to act on: reset and not yet terminated."""
        if self._model is None:
            raise RuntimeError("call reset() before step()")
        if self._terminated:
            raise RuntimeError("the episode has terminated (budget reached); call reset()")

    def _seed(self, role: int, *keys: int) -> int:
        """A model/expert seed derived from the episode seed; never draws from the env RNG."""
        ss = np.random.SeedSequence([self._episode_seed, role, *keys])
        # In float64, as numpy 1 computed ``uint64 % int`` (numpy 2 keeps uint64): the same
        # seeds, and so the same episodes, on numpy 1 and 2
        return int(np.float64(ss.generate_state(1, dtype=np.uint64)[0]) % 2.0**62)

    def _fit_main(self) -> None:
        """Train M on the current labeled set and make it the env's model."""
        self._set_model(*self._fit(self._labeled))

    def _fit(self, labeled_idx: np.ndarray) -> tuple[Classifier, list[Classifier], float, float]:
        """Train M on ``labeled_idx`` (with the ensemble's members, if eager) and score it;
        changes nothing. Returns M, the members, the scoring and the test accuracy.

        Eager members are not trained for the terminal state (no further selection there;
        they are still trained on first use if an expert is asked for). The scoring and test
        accuracies are NaN where ``rewards`` / ``test_every_step`` skip them.
        """
        cfg, n_lab = self.config, len(labeled_idx)
        labeled = torch.as_tensor(labeled_idx, device=self.device)
        seeds = [self._seed(_MAIN, n_lab)]
        if cfg.eager_ensemble and "ensemble" in cfg.experts and n_lab < cfg.budget:
            seeds += [self._seed(_ENSEMBLE, n_lab, i) for i in range(cfg.ensemble_size - 1)]
        models = fit_models(
            self.data.train_x,
            self.data.train_y,
            [labeled] * len(seeds),
            seeds,
            self.classifier_spec,
            cfg.train,
        )
        nan = float("nan")
        scoring = self._accuracy([models[0]], self._scoring_x())[0] if cfg.rewards else nan
        test = nan
        if cfg.test_every_step or n_lab >= cfg.budget:
            test = self._accuracy([models[0]], (self._test_x, self._test_y))[0]
        return models[0], models[1:], scoring, test

    def _set_model(
        self, model: Classifier, members: list[Classifier], scoring: float, test: float
    ) -> None:
        self._model, self._members = model, members
        self._scoring_accuracy, self._test_accuracy = scoring, test

    def _scoring_x(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The scoring set's images and labels (gathered once per episode)."""
        if self._scoring_xy is None:
            idx = torch.as_tensor(self._scoring, device=self.device)
            self._scoring_xy = (self.data.train_x[idx], self.data.train_y[idx])
        return self._scoring_xy

    def _accuracy(
        self, models: list[Classifier], xy: tuple[torch.Tensor, torch.Tensor]
    ) -> list[float]:
        return accuracy_of(models, xy[0], xy[1], self.config.inference_precision)

    def _draw_subpool(self) -> None:
        self._subpool = self.np_random.choice(
            np.flatnonzero(self._unlabeled), size=self.config.subpool_size, replace=False
        )
        self._cache: dict[str, Any] = {}

    def _observation(self) -> np.ndarray:
        lab = torch.as_tensor(self._labeled, device=self.device)
        cand = torch.as_tensor(self._subpool, device=self.device)
        state = eq2_state(
            self._model,  # type: ignore[arg-type]
            self.data.train_x[lab],
            self.data.train_y[lab],
            self.data.train_x[cand],
            self.classifier_spec.num_classes,
            self.config.subpool_mean_embedding,
            self.config.inference_precision,
        )
        self._cache["lab"] = (state.labeled_logits, state.labeled_embedding)
        self._cache["cand"] = (state.candidate_logits, state.candidate_embedding)
        rows = state.rows
        if self.config.state_scores:  # the experts' own scores, on the context they select on
            scores = [
                self._expert(name).scores(self.selection_context(seed=self._expert_seed(name)))
                for name in self.config.state_scores
            ]
            extra = torch.stack(scores, dim=1).float().cpu().numpy()
            rows = np.concatenate([rows, extra], axis=1).astype(np.float32)
        check_state_rows(rows, *self.observation_space.shape, self._model)
        self._cache["obs"] = rows
        return rows.copy()

    def _info(self) -> dict[str, Any]:
        return {
            "labeled": len(self._labeled),
            "step": self._step,
            "scoring_accuracy": self._scoring_accuracy,
            "test_accuracy": self._test_accuracy,
        }

    def _to_action(self, positions: np.ndarray) -> np.ndarray:
        action = np.zeros(self.config.subpool_size, dtype=np.int8)
        action[positions] = 1
        return action

    def _parse_action(self, action: np.ndarray) -> tuple[np.ndarray, bool]:
        n, k = self.config.subpool_size, self.config.acquisition_size
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
        if self.config.action_mode == "strict":
            raise ValueError(
                f"action selects {len(ones)} candidates but acquisition_size is {k}; select "
                f"exactly {k} (or use action_mode='repair' to fix such actions at random)"
            )
        if len(ones) > k:
            keep = self.np_random.choice(ones, size=k, replace=False)
        else:
            zeros = np.flatnonzero(a == 0)
            keep = np.concatenate(
                [ones, self.np_random.choice(zeros, size=k - len(ones), replace=False)]
            )
        return np.sort(keep), True
