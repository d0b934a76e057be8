"""Batch-mode pool-based active learning as a Gymnasium environment (IALE, Loeffler et al.).

One episode: hold out a labeled scoring set, draw a class-balanced initial labeled set from the
pool, then repeat until the budget: train the classifier M from scratch on the labeled set, draw
a sub-pool of n candidates, let the agent choose k of them (the action), label them.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from iale_env import oracles
from iale_env.actions import parse_selection
from iale_env.classifier import Classifier, classifier_spec
from iale_env.config import ALConfig, from_kwargs
from iale_env.data import CUSTOM, ALDataset, load_data_file
from iale_env.datasets import load_dataset
from iale_env.episode import Episode
from iale_env.experts import Expert, SelectionContext
from iale_env.oracles import OracleResult
from iale_env.split import check_data_fits, draw_split
from iale_env.state import state_columns, state_space
from iale_env.validation import check_state_rows


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
        #: Column slices of an observation row, by block name (Eq. 2 order).
        self.columns = state_columns(
            self.classifier_spec, cfg.subpool_mean_embedding, cfg.state_scores
        )
        self.observation_space = state_space(self.columns, cfg.subpool_size)
        self.action_space = spaces.MultiBinary(cfg.subpool_size)
        self._experts: dict[str, Expert] = {}  # made on first use, from the registry
        self._ep: Episode | None = None
        self._terminated = False

    # ------------------------------------------------------------------ gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Draw the scoring set, pool and initial labeled set, train M, draw the first sub-pool."""
        super().reset(seed=seed)
        cfg, rng = self.config, self.np_random
        episode_seed = int(rng.integers(2**62))
        split = draw_split(
            rng,
            self._train_labels,
            self.classifier_spec.num_classes,
            cfg.scoring_size,
            self._pool_n,
            cfg.initial_labeled,
        )
        unlabeled = np.zeros(len(self.data.train_y), dtype=bool)
        unlabeled[split.pool] = True
        unlabeled[split.labeled] = False
        ep = Episode(
            cfg,
            self.data,
            self.classifier_spec,
            episode_seed,
            split.scoring,
            split.labeled,
            unlabeled,
            (self._test_x, self._test_y),
            self._experts,
        )
        ep.set_model(*ep.fit(ep.labeled))
        self._ep = ep
        self._step = 0
        self._terminated = False
        self._curve = [(len(ep.labeled), ep.test_accuracy)]
        self._acted: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        ep.draw_subpool(self.np_random)
        return self._observation(), self._info()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Label the selected candidates, retrain M from scratch, draw the next sub-pool."""
        self._require_running()
        rng_state = self.np_random.bit_generator.state  # a repaired action draws from it
        positions, repaired = self._parse_action(action)
        try:
            return self._acquire(self._ep.subpool[positions], repaired)
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
        unlabeled = self._ep.unlabeled
        in_range = (idx >= 0) & (idx < len(unlabeled))
        if not in_range.all() or not unlabeled[idx].all():
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
        ep = self._ep
        decision = ep.cache.get("oracle")  # the oracle's decision for the state acted on
        fitted = ep.fit(np.concatenate([ep.labeled, selected]))
        previous = ep.scoring_accuracy
        ep.label(selected)
        self._step += 1
        ep.set_model(*fitted)
        self._curve.append((len(ep.labeled), ep.test_accuracy))
        oracle_positions = (
            np.flatnonzero(decision.action) if decision is not None else np.zeros(0, np.int64)
        )
        self._acted = (
            ep.subpool.copy(),
            np.flatnonzero(np.isin(ep.subpool, selected)),
            oracle_positions,
        )
        reward = ep.scoring_accuracy - previous
        self._terminated = len(ep.labeled) >= self.config.budget
        ep.draw_subpool(self.np_random)
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
        from iale_env.render import episode_picture, render_frame

        self._require_state()
        frame = render_frame(episode_picture(self._ep, self._step, self._acted, self._curve))
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
        ep = self.episode
        expert = ep.expert(name)
        pool = self.unlabeled_indices
        ctx = ep.selection_context(ep.expert_seed(name, 1), pool)
        positions = np.asarray(expert.select(ctx))
        return pool[positions].astype(np.int64)

    def score_selections(self, selections: list[np.ndarray]) -> list[float]:
        """Scoring-set accuracy of a fresh model trained on labeled + each selection
        (positions into the current sub-pool); see :func:`iale_env.oracles.score_selections`."""
        return oracles.score_selections(self.episode, selections)

    def lookahead_oracle_action(self) -> np.ndarray:
        """The candidate-wise lookahead oracle of ALIL (Liu et al., 2018), as a 0/1 action
        (see :func:`iale_env.oracles.lookahead`). Cached per state; neither changes the
        environment nor draws from its RNG."""
        ep = self.episode
        if ep.cache.get("lookahead") is None:
            ep.cache["lookahead"] = self._to_action(oracles.lookahead(ep))
        return ep.cache["lookahead"].copy()

    def oracle_action(self) -> np.ndarray:
        """The best-expert oracle's selection (0/1 ``int8``, exactly k ones).

        Every configured expert selects from the current sub-pool, a fresh model is trained on
        labeled + each selection from one seed and scored on the scoring set, and the best
        expert's selection wins (:func:`iale_env.oracles.best_expert`). The decision is cached
        for the current state and available as :attr:`last_oracle`. Neither changes the
        environment nor draws from its RNG.
        """
        ep = self.episode
        if ep.cache.get("oracle") is None:
            ep.cache["oracle"] = oracles.best_expert(ep)
        return ep.cache["oracle"].action.copy()

    @property
    def last_oracle(self) -> OracleResult | None:
        """The oracle's decision at the current state, if :meth:`oracle_action` was called."""
        return self._ep.cache.get("oracle") if self._ep is not None else None

    @property
    def oracle_seed(self) -> int:
        """The seed every model an oracle retrains at this state starts from."""
        return self.episode.oracle_seed

    def scoring_accuracies(self, models: list[Classifier]) -> list[float]:
        """Each model's accuracy on the labeled scoring set."""
        return self.episode.scoring_accuracies(models)

    def expert_positions(self, name: str) -> np.ndarray:
        """The named expert's k picks as positions into the current sub-pool (cached per
        state; unknown names raise ``ValueError``)."""
        return self.episode.expert_positions(name)

    def selection_context(
        self, seed: int, candidates: np.ndarray | None = None, k: int | None = None
    ) -> SelectionContext:
        """The :class:`SelectionContext` an expert sees now (default: the current sub-pool).

        ``candidates`` (dataset indices) lets a heuristic select from another candidate set,
        e.g. the whole unlabeled pool (:attr:`unlabeled_indices`).
        """
        return self.episode.selection_context(seed, candidates, k)

    # ------------------------------------------------------------------ state accessors
    @property
    def episode(self) -> Episode:
        """The current episode's state (:class:`~iale_env.episode.Episode`), which the oracles
        and experts read; change it only through :meth:`reset` and :meth:`step`."""
        self._require_state()
        return self._ep  # type: ignore[return-value]

    @property
    def labeled_indices(self) -> np.ndarray:
        """Dataset indices (into the training split) of the labeled set, in labeling order."""
        return self.episode.labeled.copy()

    @property
    def subpool_indices(self) -> np.ndarray:
        """Dataset indices of the current candidates (row i of the observation is candidate i)."""
        return self.episode.subpool.copy()

    @property
    def unlabeled_indices(self) -> np.ndarray:
        """Dataset indices of the unlabeled pool."""
        return np.flatnonzero(self.episode.unlabeled)

    @property
    def scoring_indices(self) -> np.ndarray:
        """Dataset indices of the held-out labeled scoring set."""
        return self.episode.scoring.copy()

    @property
    def model(self) -> Classifier:
        """The current classifier M (trained on the current labeled set)."""
        return self.episode.model  # type: ignore[return-value]

    @property
    def pairing_key(self) -> str:
        """A short digest of what paired runs share: episode seed, scoring set, initial set.

        Two episodes with equal keys start from the same split, the same initial labeled set
        and the same classifier initialisation, whatever their agents select.
        """
        ep = self.episode
        n0 = self.config.initial_labeled
        parts = (
            np.int64(ep.seed).tobytes(),
            ep.scoring.tobytes(),
            ep.labeled[:n0].tobytes(),
        )
        return hashlib.sha256(b"".join(parts)).hexdigest()[:12]

    def observation_digest(self) -> str:
        """SHA-256 of the current observation's bytes (to check an observation matches the env)."""
        return hashlib.sha256(self.episode.cache["obs"].tobytes()).hexdigest()

    # ------------------------------------------------------------------ internals
    def _require_state(self) -> None:
        if self._ep is None:
            raise RuntimeError("call reset() first")

    def _require_running(self) -> None:
        """A state to act on: reset and not yet terminated."""
        if self._ep is None:
            raise RuntimeError("call reset() before step()")
        if self._terminated:
            raise RuntimeError("the episode has terminated (budget reached); call reset()")

    def _observation(self) -> np.ndarray:
        ep = self.episode
        rows = ep.state_rows()
        check_state_rows(rows, *self.observation_space.shape, ep.model)
        ep.cache["obs"] = rows
        return rows.copy()

    def _info(self) -> dict[str, Any]:
        return {
            "labeled": len(self._ep.labeled),
            "step": self._step,
            "scoring_accuracy": self._ep.scoring_accuracy,
            "test_accuracy": self._ep.test_accuracy,
        }

    def _to_action(self, positions: np.ndarray) -> np.ndarray:
        action = np.zeros(self.config.subpool_size, dtype=np.int8)
        action[positions] = 1
        return action

    def _parse_action(self, action: np.ndarray) -> tuple[np.ndarray, bool]:
        cfg = self.config
        return parse_selection(
            action, cfg.subpool_size, cfg.acquisition_size, cfg.action_mode, self.np_random
        )
