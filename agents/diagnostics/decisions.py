"""What decides the best-expert oracle's choices, and could a policy reading the state tell?

:func:`oracle_decisions` reads the oracle's decision on every state of a DAgger run (the winner
and every expert's retrained accuracy, which the env's infos record), :func:`predict_winners`
asks whether state-level features predict the winner, :func:`predict_from_selections` whether
features of each expert's selection do, and :func:`decisions_markdown` tabulates them.
:func:`export_decisions` keeps the decisions of a run in one small ``.npz``, so the tables can
be recomputed without the run's demonstrations.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from agents.dagger import CHECKPOINT, agreement, load_round_trajectories
from agents.diagnostics.choices import gain_over_fixed, held_out_choices, normal_interval
from agents.diagnostics.imitability import _recorded_state_scores, _rounds_to_read
from agents.state_stats import expert_selections, selection_features, statistic_scores, top_k


@dataclass(frozen=True)
class OracleDecisions:
    """The best-expert oracle's decisions on a DAgger run's training states.

    Attributes:
        experts: The oracle's experts, in the order of ``scores``' columns.
        rounds: Each state's DAgger round (1, 2, ...).
        winners: Each state's winning expert, an index into ``experts``.
        scores: Scoring-set accuracy of the model retrained on each expert's selection.
        feature_names: Names of ``features``' columns.
        features: State-level summaries that a policy reading the state could compute
            (:func:`state_features`), one row per state.
        column_agreement: Agreement with the oracle's selection of the top k of each expert's
            score column in the state (``(states, experts)``; ``None`` when the state holds no
            score column for every expert): the winner's column is what the oracle executes,
            up to the ties that the expert breaks with information the state does not hold.
        selection_names: Names of ``selections``' last axis.
        selections: Summaries of each expert's selection as read from the state
            (:func:`selection_features`, ``(states, experts, features)``; ``None`` when an
            expert's ranking cannot be read from the state).
    """

    experts: tuple[str, ...]
    rounds: np.ndarray
    winners: np.ndarray
    scores: np.ndarray
    feature_names: tuple[str, ...]
    features: np.ndarray
    column_agreement: np.ndarray | None = None
    selection_names: tuple[str, ...] = ()
    selections: np.ndarray | None = None


def state_features(
    states: np.ndarray,
    steps: np.ndarray,
    k: int,
    state_scores: tuple[str, ...] = (),
    num_classes: int = 10,
    embedding_dim: int = 128,
) -> tuple[tuple[str, ...], np.ndarray]:
    """Summaries of whole states (``(states, n, row)``): the AL step, M's mean least
    confidence, the entropy of the labeled class histogram, each expert score column's mean and
    spread over the sub-pool and, with two or more columns, the overlap of the first two
    columns' top ``k``. Returns the names and a ``(states, features)`` array."""
    stats = statistic_scores(states, num_classes, embedding_dim, state_scores)
    hist = states[:, 0, embedding_dim : embedding_dim + num_classes].astype(np.float64)
    names = ["AL step", "mean least confidence", "labeled class entropy"]
    cols = [
        np.asarray(steps, np.float64),
        stats["least confidence"].mean(-1),
        -(hist * np.log(np.clip(hist, 1e-12, None))).sum(-1),
    ]
    columns = [stats[f"{name} score column"] for name in state_scores]
    for name, column in zip(state_scores, columns):
        names += [f"mean {name} score", f"spread of {name} scores"]
        cols += [column.mean(-1), column.std(-1)]
    if len(columns) >= 2:
        names.append(f"top-k overlap of {state_scores[0]} and {state_scores[1]}")
        cols.append((top_k(columns[0], k) & top_k(columns[1], k)).sum(-1) / k)
    return tuple(names), np.stack(cols, axis=1)


def oracle_decisions(run_dir: str | os.PathLike, rounds: int | None = None) -> OracleDecisions:
    """The oracle's decisions on every state of a ``train_dagger.py`` run's finished rounds
    (its first ``rounds``; ``None``: all), read from its demonstrations (the env's infos record
    the winner and every expert's score), or from a file of :func:`export_decisions`."""
    run = Path(run_dir)
    if run.is_file():
        return load_decisions(run, rounds)
    if not (run / CHECKPOINT).exists():
        raise ValueError(f"{run} needs {CHECKPOINT}: a train_dagger.py run folder")
    finished = torch.load(run / CHECKPOINT, map_location="cpu", weights_only=False)["round"]
    if not finished or not (run / "demos").is_dir():
        raise ValueError(f"{run} has no finished DAgger round with demonstrations to read")
    read = _rounds_to_read(run, finished, rounds)
    state_scores = _recorded_state_scores(run)
    experts: tuple[str, ...] = ()
    round_of, steps, winners, scores, states, acts = [], [], [], [], [], []
    for rnd, trajs in enumerate(load_round_trajectories(run, read), start=1):
        for traj in trajs:
            for step, info in enumerate(traj.infos or ()):
                oracle = info.get("oracle")
                if not oracle:
                    raise ValueError(
                        f"{run}'s demonstrations hold no best-expert oracle decision "
                        f"(round {rnd}, step {step}): --decisions reads train_dagger.py runs"
                    )
                experts = experts or tuple(oracle["scores"])
                round_of.append(rnd)
                steps.append(step)
                winners.append(experts.index(oracle["winner"]))
                scores.append([oracle["scores"][e] for e in experts])
                states.append(traj.obs[step])
                acts.append(traj.acts[step])
    k = int(np.rint(np.asarray(trajs[0].acts[0]).sum()))  # soft labels: k up to rounding
    stacked = np.stack(states)
    names, features = state_features(stacked, np.array(steps), k, state_scores)
    column_agreement = None
    if set(experts) <= set(state_scores):
        stats = statistic_scores(stacked, state_scores=state_scores)
        column_agreement = np.stack(
            [
                [
                    agreement(sel, act)
                    for sel, act in zip(top_k(stats[f"{e} score column"], k), acts)
                ]
                for e in experts
            ],
            axis=1,
        )
    selected = expert_selections(stacked, k, experts, state_scores)
    selection_names, selections = (
        selection_features(stacked, selected) if selected is not None else ((), None)
    )
    return OracleDecisions(
        experts=experts,
        rounds=np.array(round_of),
        winners=np.array(winners),
        scores=np.array(scores, dtype=np.float64),
        feature_names=names,
        features=features,
        column_agreement=column_agreement,
        selection_names=selection_names,
        selections=selections,
    )


def predict_winners(
    decisions: OracleDecisions, l2: float = 1e-2, iterations: int = 500
) -> tuple[np.ndarray, np.ndarray]:
    """Can the state tell which expert the oracle will pick? Leave-one-round-out predictions
    of the winner of every state: by a multinomial logistic regression on the state-level
    features (standardised on the other rounds), and by the other rounds' most frequent winner.

    The oracle decides by retraining; a policy could follow it only as far as the state tells
    the winner."""
    x, y, rounds = decisions.features, decisions.winners, decisions.rounds
    classes = len(decisions.experts)
    if len(np.unique(rounds)) < 2:
        raise ValueError("predicting the winner needs states from at least 2 rounds")
    predicted, majority = np.zeros_like(y), np.zeros_like(y)
    for held in np.unique(rounds):
        train, test = rounds != held, rounds == held
        mean, std = x[train].mean(0), x[train].std(0) + 1e-9
        xt, xs = (x[train] - mean) / std, (x[test] - mean) / std
        onehot = np.eye(classes)[y[train]]
        w, b = np.zeros((x.shape[1], classes)), np.zeros(classes)
        for _ in range(iterations):  # full-batch gradient descent on the convex loss
            logits = xt @ w + b
            p = np.exp(logits - logits.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            w -= 0.5 * (xt.T @ (p - onehot) / len(xt) + l2 * w)
            b -= 0.5 * (p - onehot).mean(0)
        predicted[test] = (xs @ w + b).argmax(1)
        majority[test] = np.bincount(y[train], minlength=classes).argmax()
    return predicted, majority


def predict_from_selections(
    decisions: OracleDecisions, l2: float = 1e-2, iterations: int = 500
) -> np.ndarray:
    """Can each expert's selection tell which one the oracle will pick? Leave-one-round-out
    predictions of the winner of every state by a conditional logit on the features of the
    experts' selections (:func:`selection_features`, standardised on the other rounds): one
    weight per feature, shared by the experts, and one intercept per expert, so that it starts
    from the other rounds' most frequent winner and moves from it as far as the selections
    tell."""
    if decisions.selections is None:
        raise ValueError(
            "the decisions hold no expert selections: every expert's ranking must be read from "
            "the state (margin, entropy, or a --state-scores column)"
        )
    return held_out_choices(
        decisions.selections, decisions.winners, decisions.rounds, l2, iterations
    )


def gain_over_fixed_expert(decisions: OracleDecisions, chosen: np.ndarray) -> np.ndarray:
    """Per round, the mean scoring-set accuracy gained by taking each state's ``chosen`` expert
    (an index per state) instead of the fixed expert with the best mean score over the other
    rounds (leave one round out, like the predictions). On the retraining seed of the
    decisions, so a choice made with hindsight of that seed (the oracle's) is favoured."""
    return gain_over_fixed(decisions.scores, chosen, decisions.rounds)


def decisions_markdown(decisions: OracleDecisions) -> str:
    """A Markdown table of the oracle's decisions: each expert's share of wins, the winner's
    margin over the runner-up, how well the state-level features predict the winner, (with
    the experts' score columns in the state) the agreement with the oracle of following each
    column, or the winner's, and (with every expert's selection in the state) how well the
    selections' features predict the winner, and what following each prediction, or the
    winner, gains over the best fixed expert."""
    d = decisions
    top2 = np.sort(d.scores, axis=1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    q25, q50, q75 = np.quantile(margin, [0.25, 0.5, 0.75])
    predicted, majority = predict_winners(d)
    lines = [
        "| quantity | value |",
        "|---|---:|",
        f"| states (rounds) | {len(d.winners)} ({len(np.unique(d.rounds))}) |",
    ]
    lines += [
        f"| share of wins: {e} | {np.mean(d.winners == i):.3f} |" for i, e in enumerate(d.experts)
    ]
    lines += [
        "| winner's margin in scoring-set accuracy: quartiles | "
        f"{q25:.4f} / {q50:.4f} / {q75:.4f} |",
        "| winner predicted from the state (leave one round out): accuracy | "
        f"{np.mean(predicted == d.winners):.3f} |",
        f"| winner = the other rounds' most frequent winner: accuracy | "
        f"{np.mean(majority == d.winners):.3f} |",
    ]
    if d.column_agreement is not None:
        lines += [
            f"| agreement with the oracle: the {e} score column | "
            f"{d.column_agreement[:, i].mean():.3f} |"
            for i, e in enumerate(d.experts)
        ]
        rows = np.arange(len(d.winners))
        lines += [
            "| agreement with the oracle: the predicted winner's score column | "
            f"{d.column_agreement[rows, predicted].mean():.3f} |",
            "| agreement with the oracle: the winner's score column (the winner known) | "
            f"{d.column_agreement[rows, d.winners].mean():.3f} |",
        ]
    notes = f"\n\nState features: {', '.join(d.feature_names)}.\n"
    if d.selections is not None:
        chosen = predict_from_selections(d)
        gain = "scoring-set accuracy over the other rounds' best fixed expert, per round"
        lines += [
            "| winner predicted from the experts' selections (leave one round out): accuracy | "
            f"{np.mean(chosen == d.winners):.3f} |",
            f"| {gain}: the winner predicted from the selections | "
            f"{normal_interval(gain_over_fixed_expert(d, chosen))} |",
            f"| {gain}: the winner predicted from the state | "
            f"{normal_interval(gain_over_fixed_expert(d, predicted))} |",
            f"| {gain}: the oracle's winner (hindsight) | "
            f"{normal_interval(gain_over_fixed_expert(d, d.winners))} |",
        ]
        notes += f"\nSelection features: {', '.join(d.selection_names)}.\n"
    return "\n".join(lines) + notes


def export_decisions(run_dir: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Write the oracle's decisions on every state of a DAgger run (all its finished rounds) to
    one compressed ``.npz`` (tens of kB), which :func:`oracle_decisions` reads like the run."""
    d = oracle_decisions(run_dir)
    arrays = {
        "experts": np.array(d.experts),
        "rounds": d.rounds,
        "winners": d.winners,
        "scores": d.scores,
        "feature_names": np.array(d.feature_names),
        "features": d.features,
    }
    if d.column_agreement is not None:
        arrays["column_agreement"] = d.column_agreement
    if d.selections is not None:
        arrays["selection_names"] = np.array(d.selection_names)
        arrays["selections"] = d.selections
    out = Path(path)
    if out.exists():
        raise FileExistsError(f"{out} exists; remove it or choose another file")
    np.savez_compressed(out, **arrays)
    return out


def load_decisions(path: str | os.PathLike, rounds: int | None = None) -> OracleDecisions:
    """The decisions of a file of :func:`export_decisions`: of its first ``rounds`` rounds
    (``None``: all), the same as :func:`oracle_decisions` of the run with ``rounds``."""
    file = Path(path)
    with np.load(file) as data:
        missing = [
            k for k in ("experts", "rounds", "winners", "scores", "features") if k not in data
        ]
        if missing:
            raise ValueError(
                f"{file} is not a decisions file of export_decisions (lacks {missing})"
            )
        arrays = {k: data[k] for k in data.files}
    keep = slice(None)
    if rounds is not None:
        keep = arrays["rounds"] <= _rounds_to_read(file, int(arrays["rounds"].max()), rounds)
    column, selections = arrays.get("column_agreement"), arrays.get("selections")
    return OracleDecisions(
        experts=tuple(str(e) for e in arrays["experts"]),
        rounds=arrays["rounds"][keep],
        winners=arrays["winners"][keep],
        scores=arrays["scores"][keep],
        feature_names=tuple(str(f) for f in arrays["feature_names"]),
        features=arrays["features"][keep],
        column_agreement=None if column is None else column[keep],
        selection_names=tuple(str(f) for f in arrays.get("selection_names", ())),
        selections=None if selections is None else selections[keep],
    )
