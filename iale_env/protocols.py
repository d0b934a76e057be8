"""Named AL protocols: the settings that every script of one comparison shares, as data.

A protocol fixes what defines a learning curve (labeling budget, initial set, acquisition and
sub-pool sizes, the classifier's training epochs, scoring-set and test-set sizes, the pool), so
that a policy trained with ``train_dagger.py --preset cpu`` is evaluated by ``evaluate.py
--preset cpu`` on the same problem. The scripts take a protocol's settings as their preset and
let explicit flags override them.

- ``cpu``: the paper's method at a size a 2-core CPU runs (budget 200, the 10,000-image
  scoring set); its learned policies read the Eq. 2 state extended by the experts' scores, in
  the ``relative`` view. ``docs/protocol.md`` has how it was chosen, ``docs/transfer.md`` why
  the state.
- ``fast``: the ``cpu`` protocol with the small MLP classifier (``classifier="mlp"``), for
  learning research and RL at scale (``docs/fast_track.md``). Env ids: ``IALE-MNIST-fast-v0``
  and the like.
- ``paper``: the IALE paper's protocol (budget 1000, 100 epochs), for a GPU.
- ``smoke`` and ``reduced``: small checks of the whole pipeline, not results.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Protocol:
    """An AL protocol (the AL settings by :class:`~iale_env.ALConfig`'s names and meanings).

    Attributes:
        name: The ``--preset`` name.
        budget: Labeled-set size that ends an episode.
        initial_labeled: Class-balanced initial labeled set.
        acquisition_size: Images labeled per step (k).
        subpool_size: Candidates drawn per step (n).
        epochs: Classifier training epochs (full batch).
        scoring_size: Labeled images held out to score the oracle's experts and the rewards.
        test_size: Official test images of the test accuracy (``None``: all).
        pool_size: Cap on the unlabeled pool (``None``: every training image not held out).
        dagger_episodes: DAgger rounds (one AL episode each) of ``train_dagger.py``.
        bc_batch_size: States per minibatch of the policy's training.
        bc_batches: Minibatch updates per DAgger round (``None``: ``--bc-epochs`` epochs).
        view: The IALE policy's input view (``"eq2"``, ``"invariant"`` or ``"relative"``).
        state_scores: Experts whose per-candidate scores extend the learned policies' state
            (comma-separated; ``""``: the paper's Eq. 2 state). Evaluation reads it from each
            policy's ``config.json``, so heuristic sweeps never pay for it.
        normalize: Standardise the policy's input features.
        heldout_episodes: Oracle-labeled held-out episodes whose agreement DAgger logs.
        rl_timesteps: AL steps of PPO/A2C training (``train_rl.py``). The ``cpu`` protocol
            gives RL as many AL steps (environment interactions) as DAgger's episodes hold;
            an RL step costs less than a DAgger step, which also asks the oracle.
        alil_episodes: DAgger rounds of ALIL (``train_alil.py``; 1 of 10 per step).
        alil_budget: ALIL's labeling budget in training (``None``: ``budget``).
        alil_scoring_size: The scoring set of ALIL's lookahead oracle in training (``None``:
            ``scoring_size``). ALIL labels one image per step and its oracle trains and scores
            ten models per label, so on a CPU its training needs a smaller set; the policy is
            still evaluated at ``budget`` and ``scoring_size``, paired with every other method.
        experts: The experts the best-expert oracle chooses from (comma-separated).
        beta: DAgger's probability of executing the oracle's selection.
        train_dataset: The dataset the learned policies train on.
        classifier: The classifier M (``None``: the CNN; ``"mlp"``: the fast track's MLP).
    """

    name: str
    budget: int
    epochs: int
    scoring_size: int
    test_size: int | None
    initial_labeled: int = 20
    acquisition_size: int = 10
    subpool_size: int = 100
    pool_size: int | None = None
    dagger_episodes: int = 100
    bc_batch_size: int = 32
    bc_batches: int | None = None
    view: str = "eq2"
    state_scores: str = ""
    normalize: bool = False
    heldout_episodes: int = 0
    rl_timesteps: int = 9800
    alil_episodes: int = 100
    alil_budget: int | None = None
    alil_scoring_size: int | None = None
    experts: str = "mc_dropout,ensemble"
    beta: float = 0.5
    train_dataset: str = "MNIST"
    classifier: str | None = None

    def env_settings(self) -> dict[str, Any]:
        """The AL settings (:class:`~iale_env.ALConfig` keywords) of the scripts' presets."""
        keys = "budget initial_labeled acquisition_size subpool_size epochs scoring_size".split()
        keys += ["test_size", "pool_size", "classifier"]
        return {k: getattr(self, k) for k in keys}

    def al_config(self) -> dict[str, Any]:
        """The AL settings as :class:`~iale_env.ALConfig` keywords (what ``gym.make`` takes)."""
        return self.env_settings()

    @property
    def steps_per_episode(self) -> int:
        """AL steps from the initial set to the budget."""
        return (self.budget - self.initial_labeled) // self.acquisition_size

    def dagger_settings(self, variant: str = "iale") -> dict[str, Any]:
        """The settings of ``train_dagger.py`` (``variant="alil"``: ``train_alil.py``)."""
        settings: dict[str, Any] = dict(
            dataset=self.train_dataset,
            episodes=self.dagger_episodes,
            **self.env_settings(),
            experts=self.experts,
            beta=self.beta,
            bc_batch_size=self.bc_batch_size,
            view=self.view,
            state_scores=self.state_scores,
            normalize=self.normalize,
            bc_batches=self.bc_batches,
            heldout_episodes=self.heldout_episodes,
        )
        if variant == "alil":  # 1 of 10 candidates per step, the lookahead oracle
            settings.update(
                episodes=self.alil_episodes,
                budget=self.alil_budget or self.budget,
                scoring_size=self.alil_scoring_size or self.scoring_size,
                acquisition_size=1,
                subpool_size=10,
                experts="mc_dropout",
                bc_batches=None,
                state_scores="",
                # the held-out agreement is IALE's diagnostic: with the lookahead oracle at
                # every step it would cost ALIL as much as its training
                heldout_episodes=0,
            )
        elif variant != "iale":
            raise ValueError(f"variant must be 'iale' or 'alil', got {variant!r}")
        return settings

    def rl_settings(self) -> dict[str, Any]:
        """The settings of ``train_rl.py`` (PPO/A2C with the IALE policy's input view)."""
        return dict(
            dataset=self.train_dataset,
            timesteps=self.rl_timesteps,
            **self.env_settings(),
            view=self.view,
            state_scores=self.state_scores,
        )

    def replace(self, **changes: Any) -> Protocol:
        """A copy with ``changes``."""
        return dataclasses.replace(self, **changes)


#: The CPU protocol (chosen by measurement: see the module docs and docs/protocol.md).
CPU = Protocol(
    name="cpu",
    budget=200,
    epochs=30,
    scoring_size=10_000,
    test_size=10_000,
    dagger_episodes=40,
    bc_batch_size=8,
    bc_batches=300,
    # the experts' own scores in the state, every quantity relative to the sub-pool: what an
    # MNIST policy needs to imitate the oracle and read another dataset (docs/transfer.md)
    view="relative",
    state_scores="mc_dropout,ensemble",
    normalize=True,
    heldout_episodes=3,
    rl_timesteps=40 * (200 - 20) // 10,  # as many AL steps as DAgger's 40 episodes hold
    # ALIL labels 1 image per step and trains and scores 10 models per label: on a CPU, 3
    # episodes of 80 labels with a 2,000-image lookahead scoring set (evaluated as above)
    alil_episodes=3,
    alil_budget=100,
    alil_scoring_size=2000,
)

#: The IALE paper's protocol (the authors' 10,000-image scoring set; full test split).
PAPER = Protocol(
    name="paper",
    budget=1000,
    epochs=100,
    scoring_size=10_000,
    test_size=None,
    dagger_episodes=100,
    bc_batch_size=32,
)

#: The same pipeline as the paper at a size a 2-core CPU runs in minutes (a check, not a result).
SMOKE = Protocol(
    name="smoke",
    budget=80,
    epochs=20,
    scoring_size=500,
    test_size=2000,
    dagger_episodes=4,
    bc_batch_size=4,
    rl_timesteps=48,
    alil_episodes=4,
    alil_budget=30,
)

#: Heuristic sweeps at a size a 2-core CPU runs in tens of minutes (``evaluate.py``).
REDUCED = Protocol(
    name="reduced", budget=100, epochs=30, scoring_size=500, test_size=2000, pool_size=5000
)

#: The fast track: the ``cpu`` protocol with the small MLP (chosen by measurement:
#: ``docs/fast_track.md``). An AL step costs a small fraction of the CNN's, so its learners
#: get far more AL steps: 100 DAgger episodes, 50,000 RL steps.
FAST = CPU.replace(
    name="fast",
    classifier="mlp",
    dagger_episodes=100,
    rl_timesteps=50_000,
    alil_episodes=20,
)

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (SMOKE, REDUCED, CPU, FAST, PAPER)}
