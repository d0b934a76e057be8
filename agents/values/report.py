"""How a fitted value policy's choices fare on a value teacher's measured targets.

At every state of some :class:`~agents.values.collect.EpisodeValues`, the measured value (scoring
accuracy in percentage points over the state's mean selection) of:

- ``pick``: the selection the policy rates best of all, the experts' and the proposals' (what
  ``pick:PATH`` executes; ties go to the experts, which come first);
- ``choice``: the expert's selection it rates best (what ``choice:PATH`` executes);
- each expert's own selection;
- ``best``: the best measured selection (a ceiling no policy reaches: it knows the outcome).

Measured on targets of a dataset the policy was not fitted on, this says whether its choices
carry over, state by state, without the noise of whole learning curves: the values are paired
within each state (common random numbers), so ``pick`` minus an expert's value is the picker's
gain over that expert on the same state.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from agents.evaluation.metrics import mean_ci
from agents.values.collect import EpisodeValues
from agents.values.fit import selection_sums

#: The quantity of :func:`summarize_report` that is a share of states, not a value.
PROPOSAL_SHARE = "proposal share"

#: The per-state columns of :func:`state_report` before the experts' own (``value_<expert>``).
STATE_FIELDS = ("episode", "labeled", "pick", "pick_from", "choice", "best")


@torch.no_grad()
def state_report(
    policy: Any, episodes: Sequence[EpisodeValues], names: Sequence[str]
) -> list[dict[str, Any]]:
    """One row per state of ``episodes`` (named ``names``): :data:`STATE_FIELDS`, then
    ``value_<expert>`` for each expert. ``policy`` needs ``logits(obs) -> (N, n)`` scores.

    Raises:
        ValueError: ``names`` and ``episodes`` differ in length, or the episodes name other
            experts.
    """
    if len(names) != len(episodes):
        raise ValueError(f"{len(episodes)} episodes but {len(names)} names")
    if len({e.experts for e in episodes}) > 1:
        raise ValueError("the episodes were collected with other experts; report them apart")
    rows = []
    for name, ep in zip(names, episodes):
        y = 100.0 * (ep.accuracies - ep.accuracies.mean(axis=1, keepdims=True))
        pred = selection_sums(  # uncentred: the sums pick:PATH compares
            policy.logits(torch.as_tensor(ep.observations, dtype=torch.float32)),
            torch.as_tensor(ep.selections, dtype=torch.int64),
        ).numpy()
        e = len(ep.experts)
        for s in range(len(y)):
            pick, choice = int(pred[s].argmax()), int(pred[s, :e].argmax())  # first max wins
            row = {
                "episode": name,
                "labeled": int(ep.labeled[s]),
                "pick": float(y[s, pick]),
                "pick_from": ep.experts[pick] if pick < e else "proposal",
                "choice": float(y[s, choice]),
                "best": float(y[s].max()),
            }
            row.update({f"value_{x}": float(y[s, j]) for j, x in enumerate(ep.experts)})
            rows.append(row)
    return rows


def summarize_report(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean ± 95% interval over episodes (each episode's mean over its states: the states of
    one episode are not independent) of each value column, of ``pick`` minus ``choice`` (what
    the proposals add) and minus each expert's own selection (paired per state); plus the
    share of states whose pick is a proposal. Accepts :func:`state_report`'s rows or the same
    rows read back from ``states.csv``.

    Rows: ``quantity``, ``mean``, ``ci`` (half-width; ``nan`` with one episode), ``episodes``.

    Raises:
        ValueError: no rows.
    """
    if not rows:
        raise ValueError("no states to summarise")
    episodes = list(dict.fromkeys(r["episode"] for r in rows))
    experts = [k[len("value_") :] for k in rows[0] if k.startswith("value_")]
    quantities: dict[str, Callable[[dict[str, Any]], float]] = {
        q: (lambda r, q=q: float(r[q])) for q in ("pick", "choice", "best")
    }
    for x in experts:
        quantities[f"value_{x}"] = lambda r, x=x: float(r[f"value_{x}"])
    quantities["pick - choice"] = lambda r: float(r["pick"]) - float(r["choice"])
    for x in experts:
        quantities[f"pick - {x}"] = lambda r, x=x: float(r["pick"]) - float(r[f"value_{x}"])
    quantities[PROPOSAL_SHARE] = lambda r: float(r["pick_from"] == "proposal")
    out = []
    for name, of in quantities.items():
        per_episode = [np.mean([of(r) for r in rows if r["episode"] == e]) for e in episodes]
        mean, ci = mean_ci(per_episode)
        out.append({"quantity": name, "mean": mean, "ci": ci, "episodes": len(episodes)})
    return out


def report_markdown(summary: Sequence[dict[str, Any]], title: str) -> str:
    """:func:`summarize_report`'s rows (or the same read back from ``scores.csv``) as the
    Markdown table that the docs show; ``–`` for an interval of one episode.

    Raises:
        ValueError: no rows.
    """
    if not summary:
        raise ValueError("no quantities to tabulate")

    def shown(r: dict[str, Any]) -> str:
        mean, ci = float(r["mean"]), float(r["ci"])
        if r["quantity"] == PROPOSAL_SHARE:
            return f"{mean:.0%} ± " + ("–" if math.isnan(ci) else f"{ci:.0%}")
        return f"{mean:+.3f} ± " + ("–" if math.isnan(ci) else f"{ci:.3f}")

    lines = [
        f"{title}: measured value over the state's mean selection (pp of scoring accuracy), "
        f"mean ± 95% interval over {summary[0]['episodes']} episodes",
        "",
        "| quantity | value |",
        "|---|---:|",
    ]
    lines += [f"| {r['quantity']} | {shown(r)} |" for r in summary]
    return "\n".join(lines) + "\n"
