"""Policies that ship with the package.

Each pretrained policy is a folder of this package holding the files its training run wrote:
``policy.zip`` (the weights), ``config.json`` (the env and DAgger settings it was trained with),
``log.csv`` (its per-round training log) and ``source.json`` (the run it was exported from)::

    import gymnasium as gym
    import iale_env
    from agents.pretrained import load_pretrained, pretrained_env_kwargs

    state = pretrained_env_kwargs("iale-mnist-cpu")
    env = gym.make("IALE-FashionMNIST-v0", budget=200, epochs=30, **state)  # the cpu protocol
    policy = load_pretrained("iale-mnist-cpu", env=env)
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(policy.select(obs))

``evaluate.py --methods iale:iale-mnist-cpu`` evaluates it like any trained policy. Importing this
module does not import stable-baselines3 or imitation (only :func:`load_pretrained` does).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.runs.files import file_sha256

if TYPE_CHECKING:
    import gymnasium as gym
    import torch

    from agents.policy import IALEPolicy

#: The folder holding one sub-folder per pretrained policy.
PRETRAINED_ROOT = Path(__file__).resolve().parent
#: The files of a pretrained policy, all copied from its training run but ``source.json``.
RUN_FILES = ("policy.zip", "config.json", "log.csv")
SOURCE_JSON = "source.json"
#: Env settings that shape the state a policy reads (the rest of the protocol is the user's).
STATE_SETTINGS = ("state_scores", "subpool_mean_embedding")


def available() -> list[str]:
    """The names of the pretrained policies that ship with this package."""
    return sorted(p.name for p in PRETRAINED_ROOT.iterdir() if (p / "policy.zip").is_file())


def pretrained_path(name: str) -> Path:
    """The folder of the pretrained policy ``name`` (``policy.zip`` and ``config.json`` in it).

    Raises:
        ValueError: no pretrained policy has that name.
    """
    folder = PRETRAINED_ROOT / name
    if name not in available():
        raise ValueError(
            f"no pretrained policy named {name!r}; the package ships {available() or 'none'}"
        )
    return folder


def pretrained_config(name: str) -> dict[str, Any]:
    """The settings the pretrained policy ``name`` was trained with (its ``config.json``)."""
    return json.loads((pretrained_path(name) / "config.json").read_text())


def state_env_kwargs(env_settings: dict[str, Any]) -> dict[str, Any]:
    """The env keywords, among a run's recorded env settings, that make the state it was
    trained on: the experts' score columns and the sub-pool mean embedding."""
    kwargs: dict[str, Any] = {}
    for key in STATE_SETTINGS:
        if key in env_settings:
            value = env_settings[key]
            kwargs[key] = tuple(value) if isinstance(value, list) else value
    return kwargs


def pretrained_env_kwargs(name: str) -> dict[str, Any]:
    """Keywords for ``gym.make`` that give an env the state layout the policy ``name`` reads.

    Only the state is fixed (its columns and the classifier that computes them: a fast-track
    policy reads the MLP's); the dataset, budget, epochs and the rest of the protocol are yours
    to choose (the training protocol is in :func:`pretrained_config`).
    """
    env = pretrained_config(name)["env"]
    kwargs = state_env_kwargs(env)
    if env.get("classifier") not in (None, "cnn"):  # the embeddings and softmax of its own M
        kwargs["classifier"] = env["classifier"]
    return kwargs


def load_pretrained(
    name: str, env: gym.Env | None = None, device: torch.device | str = "cpu"
) -> IALEPolicy:
    """Load the pretrained policy ``name``, rebound to ``env``'s spaces when given.

    The policy file is checked against the SHA-256 its ``source.json`` records (by
    :func:`agents.policy.load_policy`), so an edited or corrupted file is refused.

    Raises:
        ValueError: no such policy, its file differs from what ``source.json`` records, ``env``
            is not an IALE env, or its state is not the one the policy reads (make it with
            ``**pretrained_env_kwargs(name)``).
    """
    from agents.policy import load_policy
    from iale_env import ActiveLearningEnv

    folder = pretrained_path(name)
    if env is not None:
        if not isinstance(env.unwrapped, ActiveLearningEnv):
            raise ValueError(f"load_pretrained needs an IALE env, got {env.unwrapped!r}")
        wanted = pretrained_env_kwargs(name)
        config = env.unwrapped.config
        wrong = {k: v for k, v in wanted.items() if getattr(config, k) != v}
        if config.classifier not in (None, "cnn") and "classifier" not in wanted:
            wrong["classifier"] = "cnn"  # a CNN policy on another classifier's state
        if wrong:
            got = {k: getattr(config, k) for k in wrong}
            raise ValueError(
                f"the pretrained policy {name!r} reads a state made with {wrong}, but the env "
                f"has {got}; make the env with gym.make(..., **pretrained_env_kwargs({name!r}))"
            )
    return load_policy(str(folder / "policy.zip"), env=env, device=device)


def export_pretrained(run_dir: str | Path, name: str, root: str | Path | None = None) -> Path:
    """Copy a DAgger run's policy into the pretrained folder ``name`` (under ``root``, default
    this package). ``source.json`` records the run (relative to the working directory when it
    lies inside it: export from the repository's root), its number of finished rounds and the
    SHA-256 of the exported ``policy.zip``.

    Raises:
        ValueError: ``name`` is not a plain folder name, the run folder lacks a file, or
            ``name`` already exists (remove it first: nothing is overwritten).
    """
    if not name or Path(name).name != name or name in (".", ".."):
        raise ValueError(f"a pretrained policy's name must be a plain folder name, got {name!r}")
    run_dir = Path(run_dir)
    missing = [f for f in RUN_FILES if not (run_dir / f).is_file()]
    if missing:
        raise ValueError(f"{run_dir} is not a finished training run: it has no {missing}")
    folder = Path(root or PRETRAINED_ROOT) / name
    if folder.exists():
        raise ValueError(f"{folder} exists; remove it first to export a new {name!r}")
    with open(run_dir / "log.csv", newline="") as f:
        rounds = sum(1 for _ in csv.DictReader(f))
    folder.mkdir(parents=True)
    for file in RUN_FILES:
        shutil.copyfile(run_dir / file, folder / file)
    where = Path(os.path.relpath(run_dir.resolve()))
    run = where.as_posix() if not where.as_posix().startswith("..") else run_dir.resolve()
    source = {
        "run": str(run),
        "rounds": rounds,
        "policy_sha256": file_sha256(folder / "policy.zip"),
    }
    (folder / SOURCE_JSON).write_text(json.dumps(source, indent=2) + "\n")
    return folder
