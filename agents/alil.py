"""ALIL (Liu et al., 2018, "Learning How to Actively Learn") on the IALE environment.

The published comparison ran ALIL with another network and training protocol than IALE, which
made it unfair. Here ALIL uses the **same** classifier, training protocol and Eq. 2 state as
everything else and differs only where the method does:

- acquisition size 1 from ``n = 10`` random candidates per step (:data:`ALIL_ENV`);
- the oracle retrains a fresh model on labeled + each candidate alone and takes the best on the
  scoring set (:meth:`iale_env.ActiveLearningEnv.lookahead_oracle_action`);
- the policy is the row-wise MLP with **one softmax over the candidates**
  (``IALEPolicy(selection="softmax")``), trained with cross-entropy;
- DAgger with the coin (probability 0.5 of executing the oracle's pick) flipped at every step.
"""

from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING, Any

import gymnasium as gym
from stable_baselines3.common.vec_env import VecEnv

from agents.oracle import env_attr

if TYPE_CHECKING:  # training needs imitation (the dagger extra); ALIL_ENV does not
    from agents.dagger import DAggerConfig, DAggerResult

#: Environment settings of ALIL: label 1 of 10 random candidates per step.
ALIL_ENV: dict[str, int] = {"acquisition_size": 1, "subpool_size": 10}


def alil_config(**overrides: Any) -> DAggerConfig:
    """ALIL's DAgger settings (softmax policy, lookahead oracle, per-step coin 0.5)."""
    from agents.dagger import DAggerConfig

    settings: dict[str, Any] = {"beta": 0.5, "coin": "step", **overrides}
    settings.update(selection="softmax", oracle="lookahead")
    return DAggerConfig(**settings)


def train_alil(
    env: gym.Env | VecEnv,
    cfg: DAggerConfig | None = None,
    out_dir: str | os.PathLike = "runs/alil",
    **kwargs: Any,
) -> DAggerResult:
    """Train an ALIL policy with DAgger; ``kwargs`` go to :func:`agents.dagger.train_dagger`.

    ``cfg`` must use ``selection="softmax"`` and ``oracle="lookahead"`` (see :func:`alil_config`).
    An env with another acquisition or sub-pool size than :data:`ALIL_ENV` trains a variant and
    gives a warning.
    """
    from agents.dagger import train_dagger

    cfg = cfg or alil_config()
    if cfg.selection != "softmax" or cfg.oracle != "lookahead":
        raise ValueError(
            "ALIL needs selection='softmax' and oracle='lookahead'; build the config with "
            "agents.alil.alil_config(...)"
        )
    al = env_attr(env, "config")[0] if isinstance(env, VecEnv) else env.unwrapped.config
    actual = {"acquisition_size": al.acquisition_size, "subpool_size": al.subpool_size}
    if actual != ALIL_ENV:
        warnings.warn(f"ALIL is defined with {ALIL_ENV}; this env has {actual}", stacklevel=2)
    return train_dagger(env, cfg, out_dir, **kwargs)
