"""How stable are the best-expert oracle's labels? Its decisions retrained from other seeds.

The oracle trains one fresh model per expert's selection, all from one seed, and labels the
state with the selection whose model scores best on the scoring set. :func:`measure` runs
oracle-executed episodes and, at every state, makes the same decision again with models from
``reseeds`` other seeds. If another seed often names another winner, the label that DAgger
imitates depends on the retraining's randomness as much as on the state, and no policy reading
the state can follow it closely.

Rows go to a CSV as each state is measured (``measure(..., resume=True)`` redoes only the
episodes that did not finish); :func:`noise_markdown` summarises them.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from agents.diagnostics.choices import normal_interval
from agents.runs.files import append_csv, finished_rows, rewrite_csv, whole_episodes
from iale_env import ActiveLearningEnv, ALConfig, ALDataset
from iale_env.oracles import OracleResult, best_expert, pick_winner

#: The columns of the measurement's CSV: one row per (state, seed); ``own_seed`` is 1 on the
#: row of the oracle's own seed (the decision it executes).
FIELDS = ("dataset", "episode_seed", "step", "labeled", "seed", "own_seed", "winner", "scores")


def reseeded_decisions(env: ActiveLearningEnv, reseeds: int) -> list[OracleResult]:
    """The oracle's decision at the env's current state from its own seed, then from each of
    ``reseeds`` other seeds (the oracle seed + R, + 2 R, ... with R = ``oracle_seeds``, so that
    an averaging oracle's seed groups do not overlap); the experts' selections are the same in
    all, only the retrained models differ."""
    env.oracle_action()
    own = env.last_oracle
    assert own is not None
    step = env.config.oracle_seeds
    return [own] + [
        best_expert(env.episode, seed=own.seed + j * step) for j in range(1, reseeds + 1)
    ]


def measure(
    config: ALConfig,
    episode_seeds: Sequence[int],
    reseeds: int,
    out_csv: str | os.PathLike,
    data: ALDataset | None = None,
    resume: bool = False,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, str]]:
    """Run one oracle-executed episode per seed and write every state's decisions from the
    oracle's seed and ``reseeds`` others to ``out_csv`` (see :data:`FIELDS`); returns all rows.

    An existing ``out_csv`` needs ``resume``: its finished episodes are kept, an unfinished
    one's rows are dropped and the episode is run again."""
    if reseeds < 1:
        raise ValueError(f"reseeds must be >= 1, got {reseeds}")
    path = Path(out_csv)
    done: list[dict[str, str]] = []
    if path.exists():
        if not resume:
            raise ValueError(f"{path} exists; pass resume=True (--resume) to continue it")
        rows = finished_rows(path)
        first = (rows[0]["episode_seed"], rows[0]["step"]) if rows else None
        measured = sum((r["episode_seed"], r["step"]) == first for r in rows) if rows else 0
        if rows and measured != 1 + reseeds:
            raise ValueError(
                f"{path} was measured with {measured - 1} other seeds per state; "
                f"resume it with reseeds={measured - 1} (--reseeds {measured - 1})"
            )
        done = whole_episodes(rows, config.steps_per_episode * (1 + reseeds))
    path.parent.mkdir(parents=True, exist_ok=True)
    rewrite_csv(path, FIELDS, done)
    finished = {int(r["episode_seed"]) for r in done}
    env = ActiveLearningEnv(config, data=data)
    for seed in episode_seeds:
        if seed in finished:
            continue
        _, info = env.reset(seed=seed)
        terminated = False
        while not terminated:
            decisions = reseeded_decisions(env, reseeds)
            rows = [
                {
                    "dataset": config.dataset,
                    "episode_seed": seed,
                    "step": info["step"],
                    "labeled": info["labeled"],
                    "seed": d.seed,
                    "own_seed": int(i == 0),
                    "winner": d.winner,
                    "scores": json.dumps({n: round(v, 6) for n, v in d.scores.items()}),
                }
                for i, d in enumerate(decisions)
            ]
            append_csv(path, FIELDS, rows)
            flips = sum(d.winner != decisions[0].winner for d in decisions[1:])
            if log is not None:
                log(
                    f"{config.dataset} episode {seed} step {info['step']:2d}: winner "
                    f"{decisions[0].winner}, another under {flips} of {reseeds} other seeds"
                )
            _, _, terminated, _, info = env.step(decisions[0].action)
    return finished_rows(path)


def noise_markdown(rows: Iterable[dict[str, str]], oracle_seeds: int = 1) -> str:
    """A Markdown table of a measurement's rows: how often another seed names another winner,
    the oracle's margin between the best two experts, with 4 or more seeds per state how often
    two averaging oracles over disjoint halves of them disagree, and how much one selection's
    accuracy moves between seeds (the retraining's own noise), and with 4 or more what choosing
    the expert per state is worth against the best fixed expert, on seeds the choice never saw
    (:func:`_choice_value_rows`). ``oracle_seeds``: the models
    each row's scores already average over (the measured env's ``oracle_seeds``)."""
    states: dict[tuple[str, str, str], list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        states[(row["dataset"], row["episode_seed"], row["step"])].append(row)
    if not states:
        raise ValueError("no measured states")
    flips, unanimous, margins, spreads, halves = [], [], [], [], []
    split: list[tuple[tuple[str, str], dict, dict, dict]] = []  # (episode, own, half A, half B)
    for key, decisions in states.items():
        own = next(d for d in decisions if d["own_seed"] == "1")
        others = [d for d in decisions if d["own_seed"] != "1"]
        flips += [d["winner"] != own["winner"] for d in others]
        unanimous.append(all(d["winner"] == own["winner"] for d in others))
        best_two = sorted(json.loads(own["scores"]).values())[-2:]
        margins.append(best_two[1] - best_two[0])
        scores = [json.loads(d["scores"]) for d in decisions]
        spreads += [np.std([s[e] for s in scores], ddof=1) for e in scores[0]]
        ordered = [json.loads(d["scores"]) for d in sorted(decisions, key=lambda d: int(d["seed"]))]
        half = len(ordered) // 2
        if half >= 2:  # an averaging oracle from each half of the seeds: do they agree?
            means = [
                {e: np.mean([s[e] for s in group]) for e in group[0]}
                for group in (ordered[:half], ordered[-half:])
            ]
            halves.append(pick_winner(means[0]) != pick_winner(means[1]))
            split.append((key[:2], json.loads(own["scores"]), means[0], means[1]))
    episodes = {(d, e) for d, e, _ in states}
    reseeds = len(next(iter(states.values()))) - 1
    lines = [
        "| quantity | value |",
        "|---|---:|",
        f"| states (episodes) | {len(states)} ({len(episodes)}) |",
        f"| other seeds per state | {reseeds} |",
        f"| another seed names another winner: share of (state, seed) | {np.mean(flips):.3f} |",
        f"| states whose winner is the same under every seed | {np.mean(unanimous):.3f} |",
        f"| the oracle's margin between the best two experts: median | {np.median(margins):.4f} |",
    ]
    if halves:
        lines.append(
            f"| two oracles averaging {half * oracle_seeds} models each (disjoint seeds) name "
            f"different winners: share of states | {np.mean(halves):.3f} |"
        )
    lines += [
        "| one selection's scoring-set accuracy over seeds, SD: median | "
        f"{np.median(spreads):.4f} |",
    ]
    if split:
        lines += _choice_value_rows(split, half * oracle_seeds)
    return "\n".join(lines) + "\n"


def _choice_value_rows(
    split: list[tuple[tuple[str, str], dict, dict, dict]], models: int
) -> list[str]:
    """What choosing the expert per state is worth, beside always taking the best fixed expert.

    Each state's seeds are split in two halves (A holds the oracle's own seed). The fixed expert
    is the one with the best mean half-A accuracy over all states. A per-state choice is scored
    by how much its selection's accuracy beats the fixed expert's: on the models it was chosen
    with (what the oracle's margin looks like) and on half B's models, which it never saw (what
    the choice is worth in expectation, free of the winner's curse). Intervals: 95%, normal,
    over episodes (states of one episode are not independent)."""
    experts = list(split[0][2])
    fixed = max(experts, key=lambda e: (np.mean([a[e] for _, _, a, _ in split]), -experts.index(e)))
    own_in = [(ep, own[pick_winner(own)] - own[fixed]) for ep, own, _, _ in split]
    own_out = [(ep, b[pick_winner(own)] - b[fixed]) for ep, own, _, b in split]
    avg_out = [(ep, b[pick_winner(a)] - b[fixed]) for ep, _, a, b in split]
    return [
        f"| best fixed expert (mean over states, half A) | {fixed} |",
        "| the oracle's winner over the fixed expert, on the winner's own model | "
        f"{_episode_interval(own_in)} |",
        "| the oracle's winner over the fixed expert, on other seeds' models (half B) | "
        f"{_episode_interval(own_out)} |",
        f"| the winner of {models} models averaged (half A) over the fixed expert, on half B | "
        f"{_episode_interval(avg_out)} |",
    ]


def _episode_interval(values: list[tuple[tuple[str, str], float]]) -> str:
    """``mean ± half-width`` of a 95% normal interval over the episodes' mean values (±
    ``n/a`` with one episode)."""
    per_episode: dict[tuple[str, str], list[float]] = defaultdict(list)
    for episode, value in values:
        per_episode[episode].append(value)
    return normal_interval(np.array([np.mean(v) for v in per_episode.values()]))
