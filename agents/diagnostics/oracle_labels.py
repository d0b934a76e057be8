"""What decides the best-expert oracle's choice: what a policy can see, or the selections' labels?

The oracle retrains a model on each expert's selection *with its true labels* and keeps the best.
:func:`measure` runs oracle-executed episodes and, at every state, summarises each expert's
selection three ways: by what a policy reading the state could compute
(:func:`agents.state_stats.selection_features`), by the class coverage that M's softmax expects
of it, and by its true labels, which only the oracle uses. :func:`labels_markdown` asks how
well each set of summaries predicts the oracle's winner (a conditional logit, leave one episode
out) and what following its prediction gains over the best fixed expert. If the true labels
tell the winner where nothing a policy sees does, imitation from the state cannot follow the
oracle's choice however it is trained.

Rows go to a CSV as each state is measured (``measure(..., resume=True)`` redoes only the
episodes that did not finish).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from agents.diagnostics.choices import gain_over_fixed, held_out_choices, normal_interval
from agents.runs.files import append_csv, finished_rows, rewrite_csv, whole_episodes
from agents.state_stats import SELECTION_FEATURES, selection_features
from iale_env import ActiveLearningEnv, ALConfig, ALDataset

#: The CSV's columns, one row per state: ``scores`` and ``features`` are JSON objects keyed by
#: expert (``features``: each feature set's name -> its values, in :data:`FEATURE_SETS` order).
FIELDS = ("dataset", "episode_seed", "step", "labeled", "winner", "scores", "features")

#: The summaries of one selection that M's softmax expects of its classes (no labels needed).
EXPECTED_COVERAGE = (
    "expected labeled share of its classes",
    "entropy of its expected class mix",
    "expected number of its classes",
)
#: The summaries that need the selection's true labels (only the oracle has them).
TRUE_LABELS = (
    "share that M misclassifies",
    "labeled share of its true classes",
    "entropy of its true classes",
    "number of its true classes",
    "M's mean probability of the true class",
)
#: Feature sets, in the order of the summary's rows.
FEATURE_SETS = {
    "what a policy sees": SELECTION_FEATURES,
    "expected class coverage": EXPECTED_COVERAGE,
    "true labels": TRUE_LABELS,
}


def state_summaries(env: ActiveLearningEnv, obs: np.ndarray) -> dict[str, dict[str, list]]:
    """Every expert's selection at the env's current state, summarised by each of
    :data:`FEATURE_SETS` (expert -> set -> values)."""
    spec = env.classifier_spec
    c, d = spec.num_classes, spec.embedding_dim
    probs = obs[:, 2 * d + 2 * c : 2 * d + 3 * c].astype(np.float64)
    labels = np.asarray(env.episode.data.train_y)
    hist = np.bincount(labels[env.labeled_indices], minlength=c) / len(env.labeled_indices)
    experts = env.config.experts
    chosen = np.zeros((1, len(experts), len(obs)), np.int8)
    out: dict[str, dict[str, list]] = {}
    for i, name in enumerate(experts):
        pos = env.expert_positions(name)
        chosen[0, i, pos] = 1
        p, y = probs[pos], labels[env.subpool_indices[pos]]
        mix = p.mean(0)
        true_mix = np.bincount(y, minlength=c) / len(y)
        out[name] = {
            "expected class coverage": [
                float(np.mean(p @ hist)),
                _entropy(mix),
                float((1 - np.prod(1 - p, axis=0)).sum()),
            ],
            "true labels": [
                float(np.mean(p.argmax(1) != y)),
                float(np.mean(hist[y])),
                _entropy(true_mix),
                float(len(np.unique(y))),
                float(np.mean(p[np.arange(len(y)), y])),
            ],
        }
    seen = selection_features(obs[None].astype(np.float64), chosen, c, d)[1][0]
    for i, name in enumerate(experts):
        out[name] = {"what a policy sees": seen[i].tolist(), **out[name]}
    return out


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def measure(
    config: ALConfig,
    episode_seeds: Sequence[int],
    out_csv: str | os.PathLike,
    data: ALDataset | None = None,
    resume: bool = False,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, str]]:
    """Run one oracle-executed episode per seed and write every state's decision and
    :func:`state_summaries` to ``out_csv`` (see :data:`FIELDS`); returns all rows. An existing
    ``out_csv`` needs ``resume``: its finished episodes are kept, an unfinished one is rerun."""
    path = Path(out_csv)
    done: list[dict[str, str]] = []
    if path.exists():
        if not resume:
            raise ValueError(f"{path} exists; pass resume=True (--resume) to continue it")
        done = whole_episodes(finished_rows(path), config.steps_per_episode)
    path.parent.mkdir(parents=True, exist_ok=True)
    rewrite_csv(path, FIELDS, done)
    finished = {int(r["episode_seed"]) for r in done}
    env = ActiveLearningEnv(config, data=data)
    for seed in episode_seeds:
        if seed in finished:
            continue
        obs, info = env.reset(seed=seed)
        terminated = False
        while not terminated:
            action = env.oracle_action()
            decision = env.last_oracle
            assert decision is not None
            row = {
                "dataset": config.dataset,
                "episode_seed": seed,
                "step": info["step"],
                "labeled": info["labeled"],
                "winner": decision.winner,
                "scores": json.dumps({n: round(v, 6) for n, v in decision.scores.items()}),
                "features": json.dumps(state_summaries(env, obs)),
            }
            append_csv(path, FIELDS, [row])
            if log is not None:
                log(f"{config.dataset} episode {seed} step {info['step']:2d}: {decision.winner}")
            obs, _, terminated, _, info = env.step(action)
    return finished_rows(path)


def labels_markdown(rows: Iterable[dict[str, str]]) -> str:
    """A Markdown table of a measurement's rows: for each feature set, how often a conditional
    logit on it (:func:`~agents.selector.fit_conditional_logit`, fitted on the other episodes)
    names the oracle's winner, and the scoring-set accuracy gained by following it instead of
    the expert best on average over the other episodes (95% interval over episodes); next to
    the other episodes' most frequent winner and the winner itself."""
    rows = list(rows)
    if not rows:
        raise ValueError("no measured states")
    experts = list(json.loads(rows[0]["scores"]))
    episodes = np.array([f"{r['dataset']}/{r['episode_seed']}" for r in rows])
    if len(set(episodes)) < 2:
        raise ValueError("the summary needs states from at least 2 episodes")
    winners = np.array([experts.index(r["winner"]) for r in rows])
    scores = np.array([[json.loads(r["scores"])[e] for e in experts] for r in rows])
    features = [json.loads(r["features"]) for r in rows]

    def row(named_by: str, chosen: np.ndarray) -> str:
        gains = gain_over_fixed(scores, chosen, episodes)
        return f"| {named_by} | {np.mean(chosen == winners):.3f} | {normal_interval(gains)} |"

    majority = np.zeros_like(winners)
    for held in np.unique(episodes):  # the other episodes' most frequent winner
        others = winners[episodes != held]
        majority[episodes == held] = np.bincount(others, minlength=len(experts)).argmax()
    lines = [
        "| the winner named by | accuracy | gain over the best fixed expert |",
        "|---|---:|---:|",
        row("the other episodes' most frequent winner", majority),
    ]
    for name in FEATURE_SETS:
        x = np.array([[f[e][name] for e in experts] for f in features])
        lines.append(row(f"a logit on {name}", held_out_choices(x, winners, episodes)))
    lines.append(row("the oracle (hindsight)", winners))
    head = (
        f"States (episodes): {len(rows)} ({len(set(episodes))}); experts: {', '.join(experts)}.\n\n"
    )
    sets = "".join(f"\n- {name}: {', '.join(cols)}." for name, cols in FEATURE_SETS.items())
    return head + "\n".join(lines) + "\n\nFeature sets (each expert's selection):\n" + sets + "\n"
