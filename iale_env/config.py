"""Configuration of an active-learning episode (keyword names are the ``gym.make`` overrides)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

from iale_env.training import FitMode, InferencePrecision, Precision, TrainConfig

ActionMode = Literal["repair", "strict"]


@dataclass(frozen=True)
class ALConfig:
    """Settings of one batch-mode pool-based AL problem; defaults follow the IALE paper.

    Attributes:
        dataset: ``"MNIST"``, ``"FashionMNIST"`` or ``"KMNIST"`` (ignored when the env is given
            a user's :class:`~iale_env.data.ALDataset`).
        data_dir: Data root; ``None`` = ``$IALE_DATA_DIR`` or a per-user cache folder.
        budget: Labeled-set size at which the episode terminates.
        initial_labeled: Size of the class-balanced initial labeled set.
        acquisition_size: Candidates labeled per step (k).
        subpool_size: Candidates drawn from the pool per step (n).
        epochs, batch_size, lr: The classifier's training protocol (Adam, full batch).
        scoring_size: Labeled training images held out of the pool; rewards and the oracle's
            expert comparison are measured on them (the authors' code used 10,000).
        experts: Names of the heuristics the best-expert oracle chooses from.
        oracle_seeds: Models per selection that the oracles (best-expert and lookahead) train,
            from the oracle seed, + 1, ..., and average the scoring-set accuracy over. 1 (the
            paper's): one model per selection, the same seed for all selections. More label a
            state by the selection that is better in expectation over the retraining's seed,
            not for one seed; each costs one more model per selection at every oracle call.
        action_mode: ``"repair"``: a binary action with the wrong number of ones is fixed by
            keeping or adding candidates at random; ``"strict"``: it raises ``ValueError``.
        device: Torch device for all data and models.
        test_size: Official test images used for the test accuracy (``None`` = all).
        pool_size: Cap on the unlabeled pool (``None`` = every training image not held out).
        mc_dropout_passes: Stochastic passes of the MC-Dropout expert.
        ensemble_size: Ensemble members, the current model included.
        fit_mode: ``"batched"`` (all models of a step trained together) or ``"sequential"``
            classifier fitting; both give the same models.
        cuda_graphs: Replay each batched full-batch fit as a CUDA graph (``None``: whenever
            ``device`` is CUDA; ``True`` requires it); see
            :class:`~iale_env.training.TrainConfig`.
        deterministic: Deterministic cuDNN algorithms on CUDA (default; the same seed gives
            the same episode). ``False`` is faster on a GPU but not bit-reproducible.
        eager_ensemble: Train the ensemble's extra members together with M in every
            ``reset``/``step`` (one batched fit), for runs that query the oracle at every step
            (DAgger; not at the terminal state). Otherwise they are trained on first use and
            cached per state.
        precision: Classifier training arithmetic, ``"fp32"`` (default), ``"tf32"`` or
            ``"bf16"`` (see :class:`~iale_env.training.TrainConfig`).
        classifier: ``None`` or ``"cnn"``: the Gal & Ghahramani CNN; ``"mlp"``: the fast
            track's MLP (pixels, 256, 128, classes; see :mod:`iale_env.classifier`); or a
            user's classifier as ``"package.module:function"`` (contract:
            :func:`~iale_env.classifier.build_classifier`). The state's width follows its
            embedding (2 * D + 3 * K).
        inference_precision: The arithmetic of every prediction (state, experts, scoring and
            test accuracy): ``"fp32"`` (default, exact) or ``"bf16"`` (autocast; faster on
            CPUs with AVX-512 BF16 and on GPUs, not bit-identical; ``docs/benchmarks.md``
            measures how often it changes the oracle's decision).
        rewards: Score M on the scoring set after every step (the reward). ``False``: the
            reward and ``info["scoring_accuracy"]`` are NaN, for runs that read only the test
            curve (evaluation sweeps). The oracles score their own models either way.
        test_every_step: Measure M's test accuracy after every step (the learning curve).
            ``False``: only at the episode's end (``info["test_accuracy"]`` is NaN before), for
            training runs (DAgger, RL), which log only an episode's final accuracy.
        subpool_mean_embedding: Append the sub-pool's mean embedding (D columns, the same on
            every row) to the Eq. 2 state: the paper's state ablation.
        state_scores: Experts whose per-candidate scores are appended to every row, one column
            each, after the Eq. 2 blocks (e.g. ``("mc_dropout", "ensemble")``: the variation
            ratios the oracle's experts rank by). An extension of the paper's state: it lets a
            policy see the experts' disagreement, which M's softmax does not carry.
    """

    dataset: str = "MNIST"
    data_dir: str | None = None
    budget: int = 1000
    initial_labeled: int = 20
    acquisition_size: int = 10
    subpool_size: int = 100
    epochs: int = 100
    batch_size: int = 2048
    lr: float = 1e-3
    scoring_size: int = 1000
    experts: tuple[str, ...] = ("mc_dropout", "ensemble")
    oracle_seeds: int = 1
    action_mode: ActionMode = "repair"
    device: str = "cpu"
    test_size: int | None = None
    pool_size: int | None = None
    mc_dropout_passes: int = 20
    ensemble_size: int = 5
    fit_mode: FitMode = "batched"
    eager_ensemble: bool = False
    subpool_mean_embedding: bool = False
    state_scores: tuple[str, ...] = ()
    precision: Precision = "fp32"
    cuda_graphs: bool | None = None
    deterministic: bool = True
    classifier: str | None = None
    inference_precision: InferencePrecision = "fp32"
    rewards: bool = True
    test_every_step: bool = True

    def __post_init__(self) -> None:
        for name in ("experts", "state_scores"):  # a comma string (CLI, JSON) or a sequence
            value = getattr(self, name)
            if isinstance(value, str):
                value = tuple(e for e in value.split(",") if e)
            object.__setattr__(self, name, tuple(value))
        self._check_sizes()
        self._check_experts()
        self._check_options()
        self.train  # noqa: B018 - validates fit_mode and precision

    def _check_sizes(self) -> None:
        """Positive sizes and an episode that ends exactly at the budget."""
        positive = (
            "budget initial_labeled acquisition_size subpool_size epochs batch_size "
            "scoring_size mc_dropout_passes oracle_seeds"
        ).split()
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if self.acquisition_size > self.subpool_size:
            raise ValueError(
                f"acquisition_size ({self.acquisition_size}) cannot exceed subpool_size "
                f"({self.subpool_size}): the action picks k of the n candidates"
            )
        if self.budget <= self.initial_labeled:
            raise ValueError(
                f"budget ({self.budget}) must exceed initial_labeled ({self.initial_labeled})"
            )
        if (self.budget - self.initial_labeled) % self.acquisition_size:
            raise ValueError(
                f"budget - initial_labeled ({self.budget - self.initial_labeled}) must be a "
                f"multiple of acquisition_size ({self.acquisition_size}) so the episode ends "
                f"exactly at the budget"
            )

    def _check_experts(self) -> None:
        """Registered experts, and state score columns of experts that score candidates."""
        # late import: experts import the training module
        from iale_env.experts import EXPERTS, ScoringExpert

        if not self.experts:
            raise ValueError("experts must name at least one expert")
        unknown = [e for e in self.experts if e not in EXPERTS]
        if unknown:
            raise ValueError(f"unknown expert(s) {unknown}; choose from {sorted(EXPERTS)}")
        unscored = [
            e for e in self.state_scores if not issubclass(EXPERTS.get(e, object), ScoringExpert)
        ]
        if unscored or len(set(self.state_scores)) != len(self.state_scores):
            scored = sorted(n for n, c in EXPERTS.items() if issubclass(c, ScoringExpert))
            raise ValueError(
                f"state_scores must name distinct experts with a per-candidate score "
                f"({', '.join(scored)}), got {list(self.state_scores)}"
            )

    def _check_options(self) -> None:
        """The remaining options: modes, optional sizes, device features, the classifier."""
        if self.action_mode not in ("repair", "strict"):
            raise ValueError(f"action_mode must be 'repair' or 'strict', got {self.action_mode!r}")
        if self.ensemble_size < 2:
            raise ValueError(f"ensemble_size must be >= 2, got {self.ensemble_size}")
        for name in ("test_size", "pool_size"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
        if self.cuda_graphs and not self.device.startswith("cuda"):
            raise ValueError(
                f"cuda_graphs=True needs a CUDA device, got device={self.device!r}; leave "
                f"cuda_graphs=None (on for CUDA) or set device='cuda'"
            )
        if self.inference_precision not in ("fp32", "bf16"):
            raise ValueError(
                f"inference_precision must be 'fp32' or 'bf16', got {self.inference_precision!r}"
            )
        for name in ("rewards", "test_every_step"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.classifier is not None:
            from iale_env.classifier import BUILTIN_CLASSIFIERS, resolve_factory

            if self.classifier not in BUILTIN_CLASSIFIERS:
                if ":" not in self.classifier:
                    raise ValueError(
                        f"classifier must be 'package.module:function' or a built-in "
                        f"{BUILTIN_CLASSIFIERS}, got {self.classifier!r}"
                    )
                resolve_factory(self.classifier)  # importable now, not after the data has loaded

    @property
    def train(self) -> TrainConfig:
        """The classifier's training protocol."""
        return TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            mode=self.fit_mode,
            precision=self.precision,
            cuda_graphs=self.cuda_graphs,
            deterministic=self.deterministic,
        )

    @property
    def steps_per_episode(self) -> int:
        """Acquisitions from the initial set to the budget."""
        return (self.budget - self.initial_labeled) // self.acquisition_size

    def replace(self, **changes: Any) -> ALConfig:
        """A copy with ``changes`` applied (and validated); unknown names raise ``ValueError``."""
        return from_kwargs(self, **changes)


def from_kwargs(base: ALConfig | None = None, **overrides: Any) -> ALConfig:
    """``base`` (or the defaults) with keyword overrides; unknown keywords raise ``ValueError``."""
    names = {f.name for f in dataclasses.fields(ALConfig)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown}; valid names: {sorted(names)}")
    return dataclasses.replace(base or ALConfig(), **overrides)
