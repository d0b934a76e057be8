"""Agents for IALE-Gym: the IALE imitation policy, the best-expert oracle, DAgger training.

The public names load on first use (PEP 562), so ``agents.evaluation`` and ``agents.summary``
(heuristic sweeps, statistics) import without the imitation/stable-baselines3 stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agents.dagger import DAggerConfig, DAggerResult, train_dagger
    from agents.oracle import BestExpertOracle
    from agents.policy import IALEPolicy, load_policy

_HOMES = {
    "BestExpertOracle": "agents.oracle",
    "DAggerConfig": "agents.dagger",
    "DAggerResult": "agents.dagger",
    "IALEPolicy": "agents.policy",
    "load_policy": "agents.policy",
    "train_dagger": "agents.dagger",
}

__all__ = [
    "BestExpertOracle",
    "DAggerConfig",
    "DAggerResult",
    "IALEPolicy",
    "load_policy",
    "train_dagger",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'agents' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
