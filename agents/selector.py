"""A learned expert selector: at every AL step, execute one expert's own selection, chosen by
what the experts' selections look like.

The best-expert oracle picks, state by state, the expert whose selection trains the best model.
A row-wise policy imitating it scores candidates, and lands at a blend of the experts'
rankings (``docs/beyond_paper.md``). The selector keeps the experts' selections intact and
learns only the choice among them: a conditional logit on summaries of each expert's selection
(:func:`agents.state_stats.selection_features`: its uncertainty, its spread over the sub-pool,
how common its predicted classes are in the labeled set), one weight per feature shared by the
experts and one intercept per expert, fitted to the oracle's winners on a DAgger run's states
(``scripts/train_selector.py``). It reads every expert's selection from the state, so each
expert must be margin, entropy or one of the state's score columns (``--state-scores``).

Evaluate it as ``selector:PATH`` (``scripts/evaluate.py``); PATH is a ``selector.json`` or the
folder holding it with the ``config.json`` of the state it was fitted on.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agents.state_stats import SELECTION_FEATURES, expert_selections, selection_features

#: The file a selector is saved in (``selector:FOLDER`` reads ``FOLDER/selector.json``).
SELECTOR_FILE = "selector.json"


@dataclass(frozen=True, eq=False)
class ConditionalLogit:
    """``P(expert e) ∝ exp(w · (x_e - mean) / std + b_e)`` over the experts of one state.

    Attributes:
        mean: Per-feature mean of the training rows (every state's every expert).
        std: Per-feature standard deviation (plus 1e-9) of the training rows.
        weights: One weight per feature, shared by the experts.
        intercepts: One intercept per expert.
    """

    mean: np.ndarray
    std: np.ndarray
    weights: np.ndarray
    intercepts: np.ndarray

    def logits(self, features: np.ndarray) -> np.ndarray:
        """``(..., experts)`` logits of ``(..., experts, features)`` summaries."""
        return (features - self.mean) / self.std @ self.weights + self.intercepts


def fit_conditional_logit(
    features: np.ndarray, winners: np.ndarray, l2: float = 1e-2, iterations: int = 500
) -> ConditionalLogit:
    """Fit a :class:`ConditionalLogit` to ``(states, experts, features)`` summaries and each
    state's winner (an index into the experts) by full-batch gradient descent on the
    L2-regularised log loss (convex, so deterministic and independent of a seed)."""
    states, experts, width = features.shape
    if len(winners) != states or states == 0:
        raise ValueError(f"{states} states of features but {len(winners)} winners")
    flat = features.reshape(-1, width)
    mean, std = flat.mean(0), flat.std(0) + 1e-9
    x = (features - mean) / std
    onehot = np.eye(experts)[winners]
    w, b = np.zeros(width), np.zeros(experts)
    for _ in range(iterations):
        logits = x @ w + b
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        w -= 0.5 * (np.einsum("se,sef->f", p - onehot, x) / states + l2 * w)
        b -= 0.5 * (p - onehot).mean(0)
    return ConditionalLogit(mean, std, w, b)


@dataclass(frozen=True, eq=False)
class ExpertSelector:
    """Chooses, on a state, the expert whose selection to execute.

    Attributes:
        experts: The experts it chooses among, in the order of the model's intercepts.
        feature_names: The selection summaries it reads (:func:`selection_features`).
        model: The fitted conditional logit.
    """

    experts: tuple[str, ...]
    feature_names: tuple[str, ...]
    model: ConditionalLogit

    def probabilities(
        self,
        obs: np.ndarray,
        k: int,
        state_scores: tuple[str, ...] = (),
        num_classes: int = 10,
        embedding_dim: int = 128,
    ) -> np.ndarray:
        """Each expert's probability of being the oracle's winner on the state ``obs``
        (``(n, row)``, whose rows end with the ``state_scores`` columns; the classifier's
        ``num_classes`` and ``embedding_dim`` place the Eq. 2 blocks), its selection being its
        top ``k`` as read from the state.

        Raises:
            ValueError: an expert's ranking is not in the state; the message says what to do.
        """
        layout = {"num_classes": num_classes, "embedding_dim": embedding_dim}
        selected = expert_selections(obs[None], k, self.experts, tuple(state_scores), **layout)
        if selected is None:
            raise ValueError(
                f"the selector reads each of {list(self.experts)} from the state, whose score "
                f"columns are {list(state_scores)}: run it on the state it was fitted on (the "
                f"env of the config.json beside selector.json)"
            )
        logits = self.model.logits(selection_features(obs[None], selected, **layout)[1])[0]
        p = np.exp(logits - logits.max())
        return p / p.sum()

    def choose(self, obs: np.ndarray, k: int, state_scores: tuple[str, ...] = ()) -> str:
        """The expert most likely to be the oracle's winner on ``obs`` (:meth:`probabilities`
        with the default layout; ties go to the first)."""
        return self.experts[int(np.argmax(self.probabilities(obs, k, state_scores)))]

    def save(self, path: str | os.PathLike) -> Path:
        """Write the selector as JSON to ``path`` (a file, or a folder for
        :data:`SELECTOR_FILE`); never overwrites."""
        out = Path(path)
        if out.is_dir():
            out = out / SELECTOR_FILE
        if out.exists():
            raise FileExistsError(f"{out} exists; remove it or choose another path")
        m = self.model
        body = {
            "experts": list(self.experts),
            "feature_names": list(self.feature_names),
            "mean": m.mean.tolist(),
            "std": m.std.tolist(),
            "weights": m.weights.tolist(),
            "intercepts": m.intercepts.tolist(),
        }
        out.write_text(json.dumps(body, indent=2) + "\n")
        return out

    @classmethod
    def load(cls, path: str | os.PathLike) -> ExpertSelector:
        """Read a selector written by :meth:`save` (a file, or the folder holding it).

        Raises:
            ValueError: the file is missing or is not a selector; the message says what to do.
        """
        file = Path(path)
        if file.is_dir():
            file = file / SELECTOR_FILE
        try:
            body = json.loads(file.read_text())
            model = ConditionalLogit(
                *(np.asarray(body[k], np.float64) for k in ("mean", "std", "weights", "intercepts"))
            )
            selector = cls(tuple(body["experts"]), tuple(body["feature_names"]), model)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"{file} is not a selector ({type(exc).__name__}: {exc}); fit one with "
                f"scripts/train_selector.py"
            ) from exc
        from iale_env import EXPERTS

        width = len(SELECTION_FEATURES)
        if selector.feature_names != SELECTION_FEATURES or any(
            a.shape != (width,) for a in (model.mean, model.std, model.weights)
        ):
            raise ValueError(
                f"{file} reads the selection features {list(selector.feature_names)}, this "
                f"version computes {list(SELECTION_FEATURES)}: fit it again with "
                f"scripts/train_selector.py"
            )
        unknown = [e for e in selector.experts if e not in EXPERTS]
        if unknown or model.intercepts.shape != (len(selector.experts),):
            raise ValueError(
                f"{file} is not a selector of registered experts (unknown {unknown}, or one "
                f"intercept per expert missing); fit one with scripts/train_selector.py"
            )
        return selector
