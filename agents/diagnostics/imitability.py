"""How well can a policy imitate the oracle? Offline comparisons on oracle-labeled states.

A DAgger run stores every state it visited with the oracle's selection (``checkpoint.pt``) and,
with ``heldout_episodes``, a held-out set of oracle-labeled states from other episodes
(``heldout.npz``). :func:`compare_scorers` trains the IALE policy offline on the first with each
input view, feature scaling and loss weighting, and reports each one's agreement with the oracle
on the second, next to scorers that read one statistic off the state (least confidence, margin,
entropy of M's softmax) and to chance (k / n). This separates "the policy cannot represent what
the oracle does" from "DAgger did not train it enough".
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from agents.dagger import (
    CHECKPOINT,
    HELDOUT,
    LOG_CSV,
    ConstantLR,
    agreement,
    load_round_demos,
)
from agents.policy import IALEPolicy
from agents.runs.files import read_json
from agents.state_stats import statistic_scores, top_k


@dataclass(frozen=True)
class Variant:
    """One offline-trained policy: its input view, feature scaling and loss weights."""

    name: str
    view: str = "eq2"
    normalize: bool = False
    class_weights: tuple[float, float] | None = None

    @property
    def slug(self) -> str:
        """The name as a folder name (``invariant, standardised`` -> ``invariant_standardised``)."""
        return "".join(c if c.isalnum() else "_" for c in self.name).strip("_").replace("__", "_")


#: The variants compared by default.
VARIANTS = (
    Variant("eq2 (paper)"),
    Variant("eq2, standardised", normalize=True),
    Variant("invariant", view="invariant"),
    Variant("invariant, standardised", view="invariant", normalize=True),
    Variant("invariant, standardised, 0.9/0.1", "invariant", True, (0.9, 0.1)),
    Variant("relative", view="relative"),
)


#: Keys of an exported pairs file (:func:`export_pairs`).
PAIR_KEYS = ("train_states", "train_actions", "heldout_states", "heldout_actions")


def export_pairs(run_dir: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Write a DAgger run's oracle-labeled pairs (training and held-out) to one compressed
    ``.npz`` (a few MB, small enough to commit), readable by :func:`load_run`."""
    arrays = dict(zip(PAIR_KEYS, load_run(run_dir)))
    out = Path(path)
    np.savez_compressed(out, **arrays)
    return out


def load_run(
    run_dir: str | os.PathLike, rounds: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(train_states, train_actions, heldout_states, heldout_actions)`` of a DAgger run folder
    (its first ``rounds`` finished rounds; ``None``: all) or of a file written by
    :func:`export_pairs`."""
    run = Path(run_dir)
    if run.is_file():
        with np.load(run) as data:
            missing = [k for k in PAIR_KEYS if k not in data]
            if missing:
                raise ValueError(f"{run} is not a pairs file of export_pairs (lacks {missing})")
            return tuple(data[k] for k in PAIR_KEYS)  # type: ignore[return-value]
    if not (run / CHECKPOINT).exists() or not (run / HELDOUT).exists():
        raise ValueError(
            f"{run} needs {CHECKPOINT} and {HELDOUT}: a train_dagger.py run with "
            f"--heldout-episodes > 0 that finished at least one round"
        )
    ckpt = torch.load(run / CHECKPOINT, map_location="cpu", weights_only=False)
    if "states" in ckpt:  # an older checkpoint holds the pairs itself
        states, actions = ckpt["states"], ckpt["actions"]
    elif ckpt["round"]:
        pairs = load_round_demos(run, _rounds_to_read(run, ckpt["round"], rounds))
        states = np.concatenate([p[0] for p in pairs])
        actions = np.concatenate([p[1] for p in pairs])
    else:
        states = np.zeros(0)
    if len(states) == 0:
        raise ValueError(f"{run} has not finished a DAgger round yet")
    with np.load(run / HELDOUT) as held:
        return states, actions, held["states"], held["actions"]


def load_heldout(source: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """``(heldout_states, heldout_actions)``: the oracle-labeled held-out states of a DAgger run
    folder (its ``heldout.npz``, all a finished run needs to keep for this) or of a file written
    by :func:`export_pairs`."""
    path = Path(source)
    if path.is_file():
        return load_run(path)[2:]  # type: ignore[return-value]
    if not (path / HELDOUT).exists():
        raise ValueError(
            f"{path} has no {HELDOUT}: a train_dagger.py run with --heldout-episodes > 0"
        )
    with np.load(path / HELDOUT) as held:
        return held["states"], held["actions"]


def _rounds_to_read(run: Path, finished: int, rounds: int | None) -> int:
    """How many of a run's ``finished`` rounds to read: ``rounds`` (``None``: all), which must
    be among them."""
    if rounds is None:
        return finished
    if not 1 <= rounds <= finished:
        raise ValueError(
            f"{run} has finished {finished} rounds; --rounds {rounds} is not among them"
        )
    return rounds


def _recorded_state_scores(run: Path) -> tuple[str, ...]:
    """The experts' score columns of a run's states, as its ``config.json`` records them (none
    without one)."""
    config = run / "config.json"
    env = read_json(config).get("env", {}) if config.is_file() else {}
    return tuple(env.get("state_scores", []))


def train_offline(
    variant: Variant,
    states: np.ndarray,
    actions: np.ndarray,
    steps: int = 2000,
    batch_size: int = 8,
    lr: float = 1e-3,
    seed: int = 0,
    score_columns: int = 0,
) -> IALEPolicy:
    """Train an :class:`IALEPolicy` with the loss of DAgger's updates (Eq. 3, or the weighted
    variant) on ``(states, actions)`` for ``steps`` minibatch updates (``score_columns``: the
    experts' scores that end each row, the run's ``state_scores``)."""
    import gymnasium as gym

    n, row = states.shape[1:]
    k = int(np.rint(actions[0].sum()))  # soft labels sum to k up to rounding
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        policy = IALEPolicy(
            gym.spaces.Box(-np.inf, np.inf, (n, row), np.float32),
            gym.spaces.MultiBinary(n),
            ConstantLR(lr),
            acquisition_size=k,
            class_weights=variant.class_weights,
            view=variant.view,
            normalize=variant.normalize,
            score_columns=score_columns,
        )
    policy.fit_normalizer(states)
    opt = torch.optim.Adam(policy.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    obs, acts = torch.as_tensor(states), torch.as_tensor(actions).float()
    for _ in range(steps):
        idx = torch.as_tensor(rng.choice(len(states), size=min(batch_size, len(states))))
        loss = -policy.evaluate_actions(obs[idx], acts[idx])[1].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return policy.eval()


def compare_scorers(
    run_dir: str | os.PathLike,
    variants: tuple[Variant, ...] = VARIANTS,
    steps: int = 2000,
    seed: int = 0,
    rounds: int | None = None,
    save_dir: str | os.PathLike | None = None,
) -> list[dict[str, object]]:
    """Held-out (and training) agreement with the oracle of every scorer; rows for a table.

    ``rounds`` limits the training pairs to the run's first rounds; with ``save_dir`` each
    variant's policy is saved as ``save_dir/<slug>/policy.zip`` (with a ``config.json``), so that
    ``evaluate.py`` can run it (``iale:save_dir/<slug>``)."""
    train_s, train_a, held_s, held_a = load_run(run_dir, rounds)
    state_scores = list(_recorded_state_scores(Path(run_dir)))
    k, n = int(held_a[0].sum()), held_a.shape[1]
    rows: list[dict[str, object]] = [
        dict(scorer="chance (k / n)", trained_on=0, train=k / n, heldout=k / n)
    ]
    named = tuple(state_scores)
    stats_train = statistic_scores(train_s, state_scores=named)
    stats_held = statistic_scores(held_s, state_scores=named)
    for name in stats_held:
        rows.append(
            dict(
                scorer=f"{name} (one statistic of the state)",
                trained_on=0,
                train=agreement(top_k(stats_train[name], k), train_a),
                heldout=agreement(top_k(stats_held[name], k), held_a),
            )
        )
    for variant in variants:
        policy = train_offline(
            variant, train_s, train_a, steps=steps, seed=seed, score_columns=len(state_scores)
        )
        if save_dir is not None:
            _save_policy(policy, Path(save_dir) / variant.slug, state_scores)
        rows.append(
            dict(
                scorer=f"policy: {variant.name}",
                trained_on=len(train_s),
                train=agreement(policy.select(train_s), train_a),
                heldout=agreement(policy.select(held_s), held_a),
            )
        )
    return rows


@dataclass(frozen=True)
class ImitationCurve:
    """A DAgger run's imitation quality over its rounds, next to scorers that need no training.

    Attributes:
        rounds: The finished rounds, 1, 2, ...
        heldout: Agreement with the oracle on the run's held-out states after each round's update.
        new_states: Agreement on each round's newly visited states, before the round's update
            (the policy meets them for the first time, so this is a second held-out measure).
        references: Held-out agreement of chance and of each one-statistic scorer
            (:func:`statistic_scores`), which the policy's curve can be read against.
    """

    rounds: np.ndarray
    heldout: np.ndarray
    new_states: np.ndarray
    references: dict[str, float]


def imitation_curve(run_dir: str | os.PathLike) -> ImitationCurve:
    """The :class:`ImitationCurve` of a ``train_dagger.py`` run folder (its ``log.csv``,
    ``heldout.npz`` and ``config.json``); no training."""
    run = Path(run_dir)
    if not (run / LOG_CSV).is_file() or not (run / HELDOUT).is_file():
        raise ValueError(
            f"{run} needs {LOG_CSV} and {HELDOUT}: a train_dagger.py run with "
            f"--heldout-episodes > 0 that finished at least one round"
        )
    with open(run / LOG_CSV, newline="") as f:
        log = list(csv.DictReader(f))
    if not log or math.isnan(float(log[0].get("heldout_agreement") or "nan")):
        raise ValueError(
            f"{run / LOG_CSV} logs no held-out agreement (run with --heldout-episodes)"
        )
    with np.load(run / HELDOUT) as held:
        states, actions = held["states"], held["actions"]
    k, n = int(actions[0].sum()), actions.shape[1]
    references = {"chance (k / n)": k / n}
    for name, scores in statistic_scores(states, state_scores=_recorded_state_scores(run)).items():
        references[name] = agreement(top_k(scores, k), actions)
    return ImitationCurve(
        rounds=np.array([int(r["episode"]) for r in log]),
        heldout=np.array([float(r["heldout_agreement"]) for r in log]),
        new_states=np.array([float(r["agreement"]) for r in log]),
        references=references,
    )


def _save_policy(policy: IALEPolicy, folder: Path, state_scores: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "policy.zip").exists():
        raise ValueError(f"{folder / 'policy.zip'} exists; save into another folder")
    policy.save(str(folder / "policy.zip"))
    env = {"subpool_mean_embedding": False, "state_scores": state_scores}
    (folder / "config.json").write_text(json.dumps({"env": env}))


def markdown(rows: list[dict[str, object]]) -> str:
    """A Markdown table of :func:`compare_scorers`' rows."""
    lines = [
        "| scorer | training states | agreement (training) | agreement (held out) |",
        "|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['scorer']} | {r['trained_on']} | {r['train']:.3f} | {r['heldout']:.3f} |"
        )
    return "\n".join(lines) + "\n"
