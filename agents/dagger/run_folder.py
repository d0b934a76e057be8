"""A DAgger run's folder: file names, the atomic checkpoint, the round's log and policy, the
demonstrations (imitation's format) and the refusal to overwrite a run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from imitation.algorithms.dagger import (
    DAggerTrainer,
)
from imitation.data import serialize, types
from imitation.util import logger as imit_logger

from agents.dagger import imitation_adapter
from agents.policy import IALEPolicy
from agents.runs.files import SNAPSHOTS, rewrite_csv
from agents.runs.locking import check_run_folder
from agents.runs.write_errors import write_atomically

CHECKPOINT = "checkpoint.pt"
POLICY = "policy.zip"
LOG_CSV = "log.csv"
#: The run's logger folder (SB3/imitation: ``progress-<round>.csv`` and TensorBoard events).
LOGS = "logs"
#: Demonstrations, one folder per round: ``demos/round-NNN/*.npz`` (imitation's format).
DEMOS = "demos"
HELDOUT = "heldout.npz"
#: Seed-derivation key of the held-out episodes (training rounds use ``(seed, round, ...)``).
_HELDOUT_KEY = 0x4E1D


def _atomic_torch_save(obj: Any, path: Path) -> None:
    """Save ``obj`` to ``path`` atomically; a failed write (disk full) is a :class:`RunWriteError`
    that says the previous checkpoint is intact."""
    survives = (
        f"the previous {path.name} is intact, so the run resumes from its last finished round"
        if path.exists()
        else "nothing was lost"
    )
    write_atomically(path, lambda tmp: torch.save(obj, tmp), survives)


def _restore_demos(
    trainer: DAggerTrainer, states: np.ndarray, actions: np.ndarray, rounds: int
) -> None:
    """Put the checkpoint's aggregated pairs where imitation's trainer loads them from.

    They become one trajectory of round 0 (rounds 1..rounds-1 stay empty); imitation then
    concatenates them before the new round's pairs, in the same order as an uninterrupted run.
    """
    obs = np.concatenate([states, states[-1:]])  # a trajectory has one more obs than acts
    traj = types.TrajectoryWithRew(
        obs=obs, acts=actions, infos=None, terminal=True, rews=np.zeros(len(actions), np.float32)
    )
    for r in range(rounds):
        imitation_adapter.demo_dir(trainer, r).mkdir(parents=True, exist_ok=True)
    serialize.save(imitation_adapter.demo_dir(trainer, 0) / "restored.npz", [traj])
    imitation_adapter.set_round(trainer, rounds)


def _run_logger(folder: Path, start: int) -> imit_logger.HierarchicalLogger:
    """SB3/imitation's logger of a run: CSV (one file per (re)start, ``progress-<round>.csv``,
    so a resume overwrites nothing) and TensorBoard, in ``folder``."""
    from stable_baselines3.common import logger as sb_logger

    folder.mkdir(parents=True, exist_ok=True)
    formats = [
        sb_logger.make_output_format("csv", str(folder), f"-{start}"),
        sb_logger.make_output_format("tensorboard", str(folder)),
    ]
    return imit_logger.HierarchicalLogger(sb_logger.Logger(str(folder), formats), ["csv"])


#: The per-round values that go to the run's logger (TensorBoard and CSV) as ``dagger/<key>``.
ROUND_SCALARS = (
    "pairs",
    "loss",
    "agreement",
    "heldout_agreement",
    "expert_executed",
    "beta",
    "final_test_accuracy",
    "wall_s",
)


def _write_round(out: Path, log: list[dict[str, Any]], logger, policy: IALEPolicy) -> None:
    """Rewrite ``log.csv`` from the whole log, log the round's scalars, save ``policy.zip``."""
    fields = list(dict.fromkeys(k for row in log for k in row))  # rows of older versions lack some
    rewrite_csv(out / LOG_CSV, fields, log, then="rerun with --resume")
    row = log[-1]
    for key in ROUND_SCALARS:
        logger.record(f"dagger/{key}", row[key])
    logger.dump(step=row["episode"])
    write_atomically(
        out / POLICY,
        lambda tmp: policy.save(str(tmp)),
        f"{POLICY} and {CHECKPOINT} of the last finished round are intact",
        tmp_suffix=".tmp.zip",
    )


def load_round_demos(
    out: str | os.PathLike, rounds: int, first: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Rounds ``first`` to ``rounds - 1``'s ``(states, oracle labels)`` from ``out/demos``.

    The demonstrations are imitation's format (``imitation.data.serialize.load`` reads every
    file: one trajectory per AL episode, with its rewards and infos), in the order imitation's
    DAgger trainer aggregates them.
    """
    return [
        (
            np.concatenate([t.obs[:-1] for t in trajs]).astype(np.float32),
            _labels(np.concatenate([t.acts for t in trajs])),
        )
        for trajs in load_round_trajectories(out, rounds, first)
    ]


def _labels(acts: np.ndarray) -> np.ndarray:
    """0/1 actions (stored as integers) as ``int8``; soft labels (floats) as ``float32``."""
    return acts.astype(np.float32) if acts.dtype.kind == "f" else acts.astype(np.int8)


def load_round_trajectories(
    out: str | os.PathLike, rounds: int, first: int = 0
) -> list[list[types.TrajectoryWithRew]]:
    """Rounds ``first`` to ``rounds - 1``'s demonstrations from ``out/demos``, one list of
    trajectories (AL episodes, with the env's infos) per round, in aggregation order."""
    per_round = []
    for r in range(first, rounds):
        folder = Path(out) / DEMOS / f"round-{r:03d}"
        paths = sorted(p for p in folder.glob("*.npz")) if folder.is_dir() else []
        if not paths:
            raise ValueError(
                f"{folder} holds no demonstrations, but the checkpoint says round {r + 1} "
                f"finished; the run folder is incomplete: restore it, or start over elsewhere"
            )
        per_round.append([t for p in paths for t in _load_demo_file(p)])
    return per_round


def _load_demo_file(path: Path) -> list[types.TrajectoryWithRew]:
    try:
        return list(serialize.load(path))
    except Exception as exc:  # noqa: BLE001 - HF datasets/zipfile raise many kinds
        raise ValueError(
            f"{path} cannot be read ({type(exc).__name__}); the demonstrations of a finished "
            f"round are lost: restore the file from a copy, or start the run over elsewhere"
        ) from None


def _read_checkpoint(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - a truncated/corrupted file raises many kinds
        raise ValueError(
            f"{path} cannot be read ({type(exc).__name__}: {str(exc)[:120]}); it is "
            f"truncated or corrupted: restore a copy, or move the folder away to start over"
        ) from None


def check_out_dir(out: Path, resume: bool) -> None:
    """Refuse to overwrite a DAgger run (see :func:`~agents.runs.locking.check_run_folder`)."""
    check_run_folder(out, resume, CHECKPOINT, (POLICY, LOG_CSV, SNAPSHOTS))
