"""A value teacher's targets: the retrained accuracy of many selections at every state.

The best-expert oracle compares a handful of selections (the experts') on one retrained model
each, so the label it gives a state is one winner among a few, partly decided by the
retraining's seed. A value teacher asks a denser question: at every state of an
oracle-executed episode it retrains M on the labeled set plus each of ``batches`` proposed
selections, all from one seed (common random numbers: only the selection differs between the
models), and keeps every selection with its scoring-set accuracy. A row-wise policy then learns
each candidate's additive share of that accuracy (:mod:`agents.values.fit`), a regression
target for every candidate rather than a choice among experts.

Proposals alternate between uniform draws from the sub-pool and perturbed expert selections
(half of one expert's picks kept, the rest drawn uniformly), so the targets cover the whole
sub-pool and, more densely, the candidates the experts would pick; the experts' own selections
come first at every state.

One ``values-<episode seed>.npz`` per episode, written atomically when the episode ends;
:func:`collect` with ``resume`` keeps the finished episodes and runs the others.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agents.runs.write_errors import write_atomically
from iale_env import ActiveLearningEnv, ALConfig, ALDataset
from iale_env.oracles import score_selections


@dataclass(frozen=True)
class ValueSampling:
    """How a value teacher's selections are proposed at every state.

    Attributes:
        batches: Proposed selections per state, besides the experts' own.
        keep: Share of an expert's selection a perturbed proposal keeps.
        seed: Seed of the proposals (mixed with the episode seed).
    """

    batches: int = 40
    keep: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.batches < 2:
            raise ValueError(f"batches must be >= 2, got {self.batches}")
        if not 0.0 <= self.keep < 1.0:
            raise ValueError(f"keep must be in [0, 1), got {self.keep}")


def proposal_batches(
    rng: np.random.Generator,
    subpool_size: int,
    acquisition_size: int,
    expert_selections: Sequence[np.ndarray],
    sampling: ValueSampling,
) -> np.ndarray:
    """``(batches, k)`` sorted positions into the sub-pool: even rows uniform draws, odd rows
    an expert's selection (the experts in turn) with ``keep`` of it kept and the rest drawn
    uniformly from the other candidates."""
    n, k = subpool_size, acquisition_size
    kept_count = int(round(sampling.keep * k))
    rows = []
    for r in range(sampling.batches):
        if r % 2 == 0 or not expert_selections or kept_count == 0:
            rows.append(rng.choice(n, k, replace=False))
            continue
        base = np.asarray(expert_selections[(r // 2) % len(expert_selections)])
        kept = rng.choice(base, kept_count, replace=False)
        others = np.setdiff1d(np.arange(n), kept)
        rows.append(np.concatenate([kept, rng.choice(others, k - kept_count, replace=False)]))
    return np.sort(np.stack(rows), axis=1)


@dataclass(frozen=True)
class EpisodeValues:
    """One episode's targets (``S`` states, ``B`` selections each: the experts' then the
    proposals).

    Attributes:
        observations: ``(S, n, row_dim)`` the state the policy sees at each step.
        selections: ``(S, B, k)`` positions into each state's sub-pool.
        accuracies: ``(S, B)`` scoring-set accuracy of M retrained on labeled + the selection.
        experts: The names of the first ``len(experts)`` selections of every state.
        labeled: ``(S,)`` labeled-set size at each state.
        seeds: ``(S,)`` the seed every model of the state started from.
        subpool: ``(S, n)`` the dataset indices of each state's sub-pool (the images, and with
            them the true labels, that the selections' positions name), or ``None`` in files
            written before it was recorded.
    """

    observations: np.ndarray
    selections: np.ndarray
    accuracies: np.ndarray
    experts: tuple[str, ...]
    labeled: np.ndarray
    seeds: np.ndarray
    subpool: np.ndarray | None = None

    def save(self, path: str | os.PathLike) -> None:
        """Write the episode to ``path`` (``.npz``) atomically: a kill leaves no partial file."""

        def write(tmp: Path) -> None:
            with tmp.open("wb") as fh:
                np.savez_compressed(
                    fh,
                    observations=self.observations.astype(np.float32),
                    selections=self.selections.astype(np.int32),
                    accuracies=self.accuracies.astype(np.float64),
                    experts=np.array(self.experts),
                    labeled=self.labeled.astype(np.int64),
                    seeds=self.seeds.astype(np.int64),
                    **({} if self.subpool is None else {"subpool": self.subpool.astype(np.int64)}),
                )

        write_atomically(Path(path), write, "no finished episode is lost", tmp_suffix=".tmp.npz")

    @classmethod
    def load(cls, path: str | os.PathLike) -> EpisodeValues:
        """Read an episode written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as f:
            return cls(
                observations=f["observations"],
                selections=f["selections"].astype(np.int64),
                accuracies=f["accuracies"],
                experts=tuple(str(e) for e in f["experts"]),
                labeled=f["labeled"],
                seeds=f["seeds"],
                subpool=f["subpool"] if "subpool" in f.files else None,
            )


#: The name of one finished episode's file (:func:`episode_file`); the seed is its group.
EPISODE_NAME = re.compile(r"^values-(-?\d+)\.npz$")


def episode_file(folder: str | os.PathLike, episode_seed: int) -> Path:
    """Where :func:`collect` keeps the episode of ``episode_seed``."""
    return Path(folder) / f"values-{episode_seed}.npz"


def finished_episodes(folder: str | os.PathLike) -> list[Path]:
    """The finished episodes' files in ``folder``, by seed (not a killed write's temporary
    file)."""
    found = {
        int(m[1]): f for f in Path(folder).glob("values-*.npz") if (m := EPISODE_NAME.match(f.name))
    }
    return [found[seed] for seed in sorted(found)]


def collect(
    config: ALConfig,
    episode_seeds: Sequence[int],
    sampling: ValueSampling,
    out_dir: str | os.PathLike,
    data: ALDataset | None = None,
    resume: bool = False,
    log: Callable[[str], None] | None = None,
) -> list[Path]:
    """Run one oracle-executed episode per seed; at every state score the experts' selections
    and ``sampling.batches`` proposals on models from one seed (the oracle's), and write
    ``values-<seed>.npz`` (:class:`EpisodeValues`) when the episode ends; returns the files of
    ``episode_seeds``.

    An episode whose file exists is kept with ``resume`` and refused without it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    existing = [s for s in episode_seeds if episode_file(out, s).exists()]
    if existing and not resume:
        raise ValueError(f"{out} holds episodes {existing}; pass resume=True (--resume)")
    env = ActiveLearningEnv(config, data=data)
    experts = tuple(config.experts)
    for seed in episode_seeds:
        if episode_file(out, seed).exists():
            continue
        rng = np.random.default_rng([sampling.seed, seed])
        obs, info = env.reset(seed=seed)
        states: dict[str, list] = {
            k: []
            for k in ("observations", "selections", "accuracies", "labeled", "seeds", "subpool")
        }
        terminated = False
        while not terminated:
            episode = env.episode
            own = [np.sort(episode.expert_positions(e)) for e in experts]
            proposals = proposal_batches(
                rng, config.subpool_size, config.acquisition_size, own, sampling
            )
            selections = np.concatenate([np.stack(own), proposals])
            accuracies = score_selections(episode, list(selections), seed=episode.oracle_seed)
            states["observations"].append(np.asarray(obs, dtype=np.float32))
            states["selections"].append(selections)
            states["accuracies"].append(accuracies)
            states["labeled"].append(info["labeled"])
            states["seeds"].append(episode.oracle_seed)
            states["subpool"].append(np.asarray(env.subpool_indices))
            winner = int(np.argmax(accuracies[: len(experts)]))  # ties: the first expert
            if log is not None:
                acc = np.asarray(accuracies)
                log(
                    f"{config.dataset} episode {seed} step {info['step']:2d}: "
                    f"{len(selections)} selections, accuracy {acc.mean():.4f} ± {acc.std():.4f}, "
                    f"best expert {experts[winner]} {acc[winner]:.4f}, best {acc.max():.4f}"
                )
            action = np.zeros(config.subpool_size, dtype=np.int8)
            action[own[winner]] = 1
            obs, _, terminated, _, info = env.step(action)
        EpisodeValues(
            observations=np.stack(states["observations"]),
            selections=np.stack(states["selections"]),
            accuracies=np.asarray(states["accuracies"]),
            experts=experts,
            labeled=np.asarray(states["labeled"]),
            seeds=np.asarray(states["seeds"]),
            subpool=np.stack(states["subpool"]),
        ).save(episode_file(out, seed))
    return [episode_file(out, s) for s in episode_seeds]
