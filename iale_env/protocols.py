"""Named AL protocols: the settings that every script of one comparison shares, as data.

A protocol fixes what defines a learning curve (labeling budget, initial set, acquisition and
sub-pool sizes, the classifier's training epochs, scoring-set and test-set sizes, the pool), so
that a policy trained with ``train_dagger.py --preset cpu`` is evaluated by ``evaluate.py
--preset cpu`` on the same problem. The learners' settings trained on each protocol (DAgger's
rounds, the policy's view, RL's steps, ...) are the presets of :mod:`agents.presets`; the
scripts take a preset's settings and let explicit flags override them.

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

#: The AL settings a protocol fixes (:class:`~iale_env.ALConfig` fields), in preset order.
AL_SETTINGS = (
    "budget",
    "initial_labeled",
    "acquisition_size",
    "subpool_size",
    "epochs",
    "scoring_size",
    "test_size",
    "pool_size",
    "classifier",
)


@dataclass(frozen=True)
class Protocol:
    """An AL protocol (the AL settings by :class:`~iale_env.ALConfig`'s names and meanings).

    Attributes:
        name: The ``--preset`` name.
        budget: Labeled-set size that ends an episode.
        epochs: Classifier training epochs (full batch).
        scoring_size: Labeled images held out to score the oracle's experts and the rewards.
        test_size: Official test images of the test accuracy (``None``: all).
        initial_labeled: Class-balanced initial labeled set.
        acquisition_size: Images labeled per step (k).
        subpool_size: Candidates drawn per step (n).
        pool_size: Cap on the unlabeled pool (``None``: every training image not held out).
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
    classifier: str | None = None

    def al_config(self) -> dict[str, Any]:
        """The AL settings as :class:`~iale_env.ALConfig` keywords (what ``gym.make`` takes)."""
        return {k: getattr(self, k) for k in AL_SETTINGS}

    @property
    def steps_per_episode(self) -> int:
        """AL steps from the initial set to the budget."""
        return (self.budget - self.initial_labeled) // self.acquisition_size

    def replace(self, **changes: Any) -> Protocol:
        """A copy with ``changes``."""
        return dataclasses.replace(self, **changes)


#: The CPU protocol (chosen by measurement: docs/protocol.md).
CPU = Protocol(name="cpu", budget=200, epochs=30, scoring_size=10_000, test_size=10_000)

#: The IALE paper's protocol (the authors' 10,000-image scoring set; full test split).
PAPER = Protocol(name="paper", budget=1000, epochs=100, scoring_size=10_000, test_size=None)

#: The same pipeline as the paper at a size a 2-core CPU runs in minutes (a check, not a result).
SMOKE = Protocol(name="smoke", budget=80, epochs=20, scoring_size=500, test_size=2000)

#: Heuristic sweeps at a size a 2-core CPU runs in tens of minutes (``evaluate.py``).
REDUCED = Protocol(
    name="reduced", budget=100, epochs=30, scoring_size=500, test_size=2000, pool_size=5000
)

#: The fast track: the ``cpu`` protocol with the small MLP (chosen by measurement:
#: ``docs/fast_track.md``).
FAST = CPU.replace(name="fast", classifier="mlp")

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (SMOKE, REDUCED, CPU, FAST, PAPER)}
