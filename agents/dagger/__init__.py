"""DAgger training of the IALE policy on imitation's ``DAggerTrainer`` (Algorithm 1 of the paper).

Modules: :mod:`~agents.dagger.algorithm` (settings, the collector, imitation measures),
:mod:`~agents.dagger.run` (:func:`train_dagger`: one resumable run) and
:mod:`~agents.dagger.run_folder` (the run's files). Needs the ``dagger`` extra (imitation).
"""

from agents.extras import is_missing_imitation, missing_imitation

try:
    import imitation.algorithms.dagger  # noqa: F401
except ModuleNotFoundError as exc:  # the base install: say what to install, in one line
    if not is_missing_imitation(exc):
        raise
    raise missing_imitation("DAgger and ALIL training (agents.dagger)") from None

from agents.dagger.algorithm import (
    ConstantBeta,
    DAggerConfig,
    ExponentialBeta,
    TopKCollector,
    agreement,
    imitation_loss,
)
from agents.dagger.run import DAggerResult, DAggerRun, train_dagger
from agents.dagger.run_folder import (
    CHECKPOINT,
    DEMOS,
    HELDOUT,
    LOG_CSV,
    LOGS,
    POLICY,
    ROUND_SCALARS,
    check_out_dir,
    load_round_demos,
    load_round_trajectories,
)
from agents.schedules import ConstantLR

__all__ = [
    "CHECKPOINT",
    "DEMOS",
    "HELDOUT",
    "LOG_CSV",
    "LOGS",
    "POLICY",
    "ROUND_SCALARS",
    "ConstantBeta",
    "ConstantLR",
    "DAggerConfig",
    "DAggerResult",
    "DAggerRun",
    "ExponentialBeta",
    "TopKCollector",
    "agreement",
    "check_out_dir",
    "imitation_loss",
    "load_round_demos",
    "load_round_trajectories",
    "train_dagger",
]
