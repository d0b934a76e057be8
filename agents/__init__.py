"""Agents for IALE-Gym: the IALE imitation policy, the best-expert oracle, DAgger training."""

from agents.dagger import DAggerConfig, DAggerResult, train_dagger
from agents.oracle import BestExpertOracle
from agents.policy import IALEPolicy, load_policy

__all__ = [
    "BestExpertOracle",
    "DAggerConfig",
    "DAggerResult",
    "IALEPolicy",
    "load_policy",
    "train_dagger",
]
