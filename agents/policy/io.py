"""Policy files: reading a saved IALE policy, checked, and rebinding it to any IALE env."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from agents.policy.digest import (
    check_policy_digest,
    check_recorded_sha256,
)
from agents.policy.network import SAVED_SETTINGS, IALEPolicy


def _read_policy_file(path: str, trust_pickle: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(constructor data, state dict)`` of a policy file, checked."""
    if not Path(path).is_file():
        raise ValueError(f"no policy file at {path}; expected a policy.zip written by IALE-Gym")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for unreadable files
        if not trust_pickle:
            legacy = "Unsupported global" in str(exc) or "weights_only" in str(exc)
            if legacy and zipfile.is_zipfile(path):
                raise ValueError(
                    f"{path} is a policy file of an older format that stores pickled objects, "
                    f"which can run code when loaded; if you trust its source, load it with "
                    f"load_policy(path, trust_pickle=True) and save it again"
                ) from None
            raise ValueError(
                f"{path} is not a readable IALE policy file ({type(exc).__name__}: "
                f"{' '.join(str(exc).split())[:200]}); it may be truncated or corrupted"
            ) from None
        saved = torch.load(path, map_location="cpu", weights_only=False)
        return dict(saved["data"]), saved["state_dict"]
    if not isinstance(saved, dict) or "meta" not in saved or "state_dict" not in saved:
        raise ValueError(f"{path} is not an IALE policy file (no policy description in it)")
    try:
        meta = json.loads(saved["meta"])
    except (TypeError, ValueError):
        meta = None
    if not isinstance(meta, dict):
        raise ValueError(f"{path} is corrupted: its policy description is not a JSON object")
    check_policy_digest(path, meta, saved["state_dict"])
    check_recorded_sha256(path)  # a pretrained policy: the whole file, as source.json records
    n, row = meta["observation_shape"]
    obs_space = gym.spaces.Box(-np.inf, np.inf, (n, row), np.float32)
    if meta["action"] == "scores":
        from iale_env.wrappers import score_space

        act_space: gym.Space = score_space(n)
    else:
        act_space = gym.spaces.MultiBinary(n)
    data = {
        "observation_space": obs_space,
        "action_space": act_space,
        "lr_schedule": _placeholder_schedule,
        # a setting newer than the file (score_columns) takes its default
        **{key: meta[key] for key in SAVED_SETTINGS if key in meta},
    }
    return data, saved["state_dict"]


def _placeholder_schedule(progress_remaining: float) -> float:
    """The learning rate a loaded policy's own optimizer is built with (training code that
    continues from a file makes its own optimizer)."""
    return 1e-3


def load_policy(
    path: str,
    env: gym.Env | None = None,
    device: torch.device | str = "cpu",
    trust_pickle: bool = False,
) -> IALEPolicy:
    """Load a trained :class:`IALEPolicy`, optionally rebound to ``env``'s spaces.

    With ``env`` (any IALE env, e.g. another dataset or sub-pool size) the policy takes that
    env's observation/action spaces and acquisition size, keeping the trained row-wise weights.
    The file is read with ``torch.load(weights_only=True)`` and its weights are checked against
    their stored digest; files of the older pickle-based format load only with
    ``trust_pickle=True`` (pickle can run code: only for files you trust).

    Raises:
        ValueError: the file is missing, corrupted, of another format, or does not fit ``env``.
    """
    from stable_baselines3.common.utils import get_device

    device = get_device(device)
    data, state_dict = _read_policy_file(str(path), trust_pickle)
    if env is not None:
        obs_space, act_space = env.observation_space, env.action_space
        if obs_space.shape[-1] != data["observation_space"].shape[-1]:
            raise ValueError(
                f"the policy was trained on rows of {data['observation_space'].shape[-1]} "
                f"features but the env's rows have {obs_space.shape[-1]} (another embedding size "
                f"or number of classes); it cannot be transferred"
            )
        if isinstance(data["action_space"], gym.spaces.Box):  # a score-action (RL) policy
            from iale_env.wrappers import score_space

            act_space = score_space(int(obs_space.shape[0]))
        data.update(
            observation_space=obs_space,
            action_space=act_space,
            acquisition_size=env.unwrapped.config.acquisition_size,
        )
    policy = IALEPolicy(**data)
    policy.load_state_dict(state_dict)
    return policy.to(device).eval()
