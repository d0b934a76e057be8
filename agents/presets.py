"""The ``--preset`` of the training commands and ``evaluate.py``: an AL protocol
(:mod:`iale_env.protocols`) and the learners' settings trained on it.

``train_dagger.py``, ``train_alil.py`` and ``train_rl.py`` take :meth:`Preset.dagger_settings`
and :meth:`Preset.rl_settings`, ``evaluate.py`` the protocol's AL settings, so a policy trained
with ``--preset cpu`` is evaluated on the same problem; explicit flags override a preset.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from iale_env.protocols import CPU, FAST, PAPER, REDUCED, SMOKE, Protocol


@dataclass(frozen=True)
class Preset:
    """A protocol and the learners' settings on it.

    Attributes:
        protocol: The AL protocol (budget, sizes, epochs, classifier).
        dagger_episodes: DAgger rounds (one AL episode each) of ``train_dagger.py``.
        bc_batch_size: States per minibatch of the policy's training.
        bc_batches: Minibatch updates per DAgger round (``None``: ``--bc-epochs`` epochs).
        view: The IALE policy's input view (``"eq2"``, ``"invariant"``, ``"relative"`` or ``"rank"``).
        state_scores: Experts whose per-candidate scores extend the learned policies' state
            (comma-separated; ``""``: the paper's Eq. 2 state). Evaluation reads it from each
            policy's ``config.json``, so heuristic sweeps never pay for it.
        normalize: Standardise the policy's input features.
        heldout_episodes: Oracle-labeled held-out episodes whose agreement DAgger logs.
        rl_timesteps: AL steps of PPO/A2C training (``train_rl.py``).
        alil_episodes: DAgger rounds of ALIL (``train_alil.py``; 1 of 10 per step).
        alil_budget: ALIL's labeling budget in training (``None``: the protocol's budget).
        alil_scoring_size: The scoring set of ALIL's lookahead oracle in training (``None``:
            the protocol's). ALIL labels one image per step and its oracle trains and scores
            ten models per label, so on a CPU its training needs a smaller set; the policy is
            still evaluated with the protocol's budget and scoring set.
        experts: The experts the best-expert oracle chooses from (comma-separated).
        beta: DAgger's probability of executing the oracle's selection.
        train_dataset: The dataset the learned policies train on.
    """

    protocol: Protocol
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

    @property
    def name(self) -> str:
        """The ``--preset`` name (the protocol's)."""
        return self.protocol.name

    def dagger_settings(self, variant: str = "iale") -> dict[str, Any]:
        """The settings of ``train_dagger.py`` (``variant="alil"``: ``train_alil.py``)."""
        settings: dict[str, Any] = dict(
            dataset=self.train_dataset,
            episodes=self.dagger_episodes,
            **self.protocol.al_config(),
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
                budget=self.alil_budget or self.protocol.budget,
                scoring_size=self.alil_scoring_size or self.protocol.scoring_size,
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
            **self.protocol.al_config(),
            view=self.view,
            state_scores=self.state_scores,
        )

    def replace(self, **changes: Any) -> Preset:
        """A copy with ``changes``."""
        return dataclasses.replace(self, **changes)


_CPU = Preset(
    CPU,
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

#: The presets by name. ``fast``: the ``cpu`` learners on the MLP, where an AL step costs a small
#: fraction of the CNN's, so they get far more AL steps (100 DAgger episodes, 50,000 RL steps).
PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            SMOKE,
            dagger_episodes=4,
            bc_batch_size=4,
            rl_timesteps=48,
            alil_episodes=4,
            alil_budget=30,
        ),
        Preset(REDUCED),
        _CPU,
        _CPU.replace(protocol=FAST, dagger_episodes=100, rl_timesteps=50_000, alil_episodes=20),
        Preset(PAPER, dagger_episodes=100, bc_batch_size=32),
    )
}
