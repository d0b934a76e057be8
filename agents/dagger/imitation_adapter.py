"""Every use of imitation's internals, in one place (written for imitation 1.0.x).

IALE-Gym trains with imitation's public DAgger classes, but resuming a run and executing the
policy's top-k need a few of their internals: where a round's demonstrations go, setting the
round counter, and the collector's last observation. They are read and written only here, and
:func:`check_version` refuses an imitation version they were not written for, with a message
that says what to install, instead of failing deep inside a run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

#: The imitation versions whose internals this module was written for (version prefixes).
SUPPORTED_VERSIONS = ("1.0.",)


def check_version(version: str | None = None) -> None:
    """Raise ``ImportError`` if the installed imitation (or ``version``) is not supported."""
    if version is None:
        import imitation

        version = imitation.__version__
    if not version.startswith(SUPPORTED_VERSIONS):
        raise ImportError(
            f"IALE-Gym's DAgger uses internals of imitation {', '.join(SUPPORTED_VERSIONS)}x, "
            f"but imitation {version} is installed; install a supported version "
            f"(pip install 'imitation>=1.0.1,<1.1')"
        )


def demo_dir(trainer: Any, round_num: int | None = None) -> Path:
    """The folder of a round's demonstrations (``scratch_dir/demos/round-NNN``)."""
    return Path(trainer._demo_dir_path_for_round(round_num))


def set_round(trainer: Any, round_num: int) -> None:
    """Continue a DAggerTrainer at ``round_num`` (its earlier rounds' demos are on disk)."""
    trainer.round_num = round_num


def last_observation(collector: Any) -> np.ndarray:
    """The observation an InteractiveTrajectoryCollector's next action answers."""
    if not collector._is_reset or collector._last_obs is None:
        raise RuntimeError("call reset() on the collector before step()")
    return collector._last_obs


def record_expert_actions(collector: Any, actions: np.ndarray) -> None:
    """Tell the collector which actions to store as the expert's (the demonstration labels)."""
    collector._last_user_actions = actions
