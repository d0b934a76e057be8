"""Active-learning heuristics ("experts"): each selects k of the given candidates.

An expert sees a :class:`SelectionContext` (the current model M, the labeled set, the candidate
indices, a seed for its own randomness and access to ensemble members) and returns the positions
of its k picks among the candidates. Experts never touch an environment's RNG.

:data:`EXPERTS` is the one registry of expert names: configs, the env, the best-expert oracle
and the evaluation harness all look names up there, so an expert added with
:func:`register_expert` works everywhere a built-in one does.

Ties in the uncertainty scores (variation ratios are multiples of 1/passes, so ties are common)
are broken by the mean predictive distribution's own uncertainty, then by candidate position.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from iale_env.classifier import Classifier, make_generator
from iale_env.inference import mc_dropout_probs, predict_models
from iale_env.training import InferencePrecision


@dataclass
class SelectionContext:
    """What an expert sees at one AL step.

    Attributes:
        model: The current classifier M (trained on the labeled set).
        x: All training images (on the device).
        labeled: Dataset indices of the labeled set.
        candidates: Dataset indices of the candidates to choose from.
        k: How many candidates to select.
        seed: Seed for the expert's own randomness (derived from the episode, never the env RNG).
        ensemble: ``ensemble(size)`` returns ``size`` models trained on the labeled set, M first.
        outputs: M's ``(logits, embeddings)`` on the candidates (``"cand"``) and the labeled
            set (``"lab"``), computed on first use; a caller that has them already (the env,
            from building the state) passes them in.
        precision: The arithmetic of the experts' forward passes (``"fp32"`` or ``"bf16"``).
    """

    model: Classifier
    x: torch.Tensor
    labeled: torch.Tensor
    candidates: torch.Tensor
    k: int
    seed: int
    ensemble: Callable[[int], list[Classifier]]
    outputs: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict, repr=False)
    precision: InferencePrecision = "fp32"

    def _model_outputs(self, which: str) -> tuple[torch.Tensor, torch.Tensor]:
        if which not in self.outputs:
            idx = self.candidates if which == "cand" else self.labeled
            logits, emb = predict_models([self.model], self.x[idx], precision=self.precision)
            self.outputs[which] = (logits[0], emb[0])
        return self.outputs[which]

    @property
    def candidate_probs(self) -> torch.Tensor:
        """M's softmax outputs on the candidates ``(n, K)``."""
        return F.softmax(self._model_outputs("cand")[0], dim=-1)

    @property
    def candidate_embeddings(self) -> torch.Tensor:
        """M's embeddings of the candidates ``(n, D)``."""
        return self._model_outputs("cand")[1]

    @property
    def labeled_embeddings(self) -> torch.Tensor:
        """M's embeddings of the labeled set ``(L, D)``."""
        return self._model_outputs("lab")[1]


class Expert:
    """Base class: ``select(ctx)`` returns ``ctx.k`` distinct positions into ``ctx.candidates``.

    Subclasses set ``name`` and are made by :meth:`from_settings` (override it to read the
    env's settings, as MC-Dropout reads its number of passes).
    """

    name: ClassVar[str] = "expert"

    @classmethod
    def from_settings(cls, *, mc_dropout_passes: int = 20, ensemble_size: int = 5) -> Expert:
        """The expert for an env with these settings (default: ``cls()``)."""
        return cls()

    def select(self, ctx: SelectionContext) -> np.ndarray:
        """Positions (``int64``, length ``ctx.k``, distinct) of the selected candidates."""
        raise NotImplementedError

    def scores(self, ctx: SelectionContext) -> torch.Tensor:
        """Per-candidate acquisition scores ``(n,)``, higher = wanted more, in ``[0, 1]``
        (experts that rank candidates by a score; the env can put them in its state)."""
        raise NotImplementedError(f"the {self.name!r} expert has no per-candidate score")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ScoringExpert(Expert):
    """An expert that selects the k highest of a per-candidate score: ``_ranking(ctx)`` gives
    the score and a tie-breaker; :meth:`select` and :meth:`scores` share it."""

    def _ranking(self, ctx: SelectionContext) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def select(self, ctx: SelectionContext) -> np.ndarray:
        return top_k_uncertain(*self._ranking(ctx), ctx.k)

    def scores(self, ctx: SelectionContext) -> torch.Tensor:
        return self._ranking(ctx)[0]


def top_k_uncertain(primary: torch.Tensor, secondary: torch.Tensor, k: int) -> np.ndarray:
    """Positions of the k largest ``primary`` scores, ties broken by ``secondary``, then position."""
    p = primary.detach().double().cpu().numpy()
    s = secondary.detach().double().cpu().numpy()
    order = np.lexsort((np.arange(len(p)), -s, -p))  # last key is the primary sort key
    return order[:k].astype(np.int64)


def variation_ratio(votes: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``1 - m / N`` per column of ``votes`` ``(N, n)``: m = count of the modal class (Eq. 4-5)."""
    counts = F.one_hot(votes, num_classes).sum(0)  # (n, K)
    return 1.0 - counts.max(-1).values.float() / votes.shape[0]


class RandomExpert(Expert):
    """Uniformly random selection (seeded by the context, not the env RNG)."""

    name = "random"

    def select(self, ctx: SelectionContext) -> np.ndarray:
        rng = np.random.default_rng(ctx.seed)
        return np.sort(rng.choice(len(ctx.candidates), size=ctx.k, replace=False)).astype(np.int64)


class MCDropoutExpert(ScoringExpert):
    """MC-Dropout (Gal et al., 2017): variation ratio over ``passes`` dropout-on forward passes."""

    name = "mc_dropout"

    def __init__(self, passes: int = 20) -> None:
        self.passes = passes

    @classmethod
    def from_settings(cls, *, mc_dropout_passes: int = 20, ensemble_size: int = 5) -> Expert:
        return cls(mc_dropout_passes)

    def _ranking(self, ctx: SelectionContext) -> tuple[torch.Tensor, torch.Tensor]:
        g = make_generator(ctx.seed, ctx.x.device)
        probs = mc_dropout_probs(
            ctx.model, ctx.x[ctx.candidates], self.passes, g, precision=ctx.precision
        )
        vr = variation_ratio(probs.argmax(-1), probs.shape[-1])
        return vr, 1.0 - probs.mean(0).max(-1).values


class EnsembleExpert(ScoringExpert):
    """Deep ensemble (Beluch et al., 2018): variation ratio of the members' argmax votes."""

    name = "ensemble"

    def __init__(self, size: int = 5) -> None:
        self.size = size

    @classmethod
    def from_settings(cls, *, mc_dropout_passes: int = 20, ensemble_size: int = 5) -> Expert:
        return cls(ensemble_size)

    def _ranking(self, ctx: SelectionContext) -> tuple[torch.Tensor, torch.Tensor]:
        members = ctx.ensemble(self.size)
        logits, _ = predict_models(members, ctx.x[ctx.candidates], precision=ctx.precision)
        probs = F.softmax(logits, dim=-1)
        vr = variation_ratio(probs.argmax(-1), probs.shape[-1])
        return vr, 1.0 - probs.mean(0).max(-1).values


class CoreSetExpert(Expert):
    """CoreSet (Sener & Savarese, 2018): greedy k-center on M's embeddings.

    The labeled points are the initial centers; each pick is the candidate farthest from its
    nearest center, which then becomes a center.
    """

    name = "coreset"

    def select(self, ctx: SelectionContext) -> np.ndarray:
        cand = ctx.candidate_embeddings
        dist = torch.cdist(cand, ctx.labeled_embeddings).min(1).values
        picks: list[int] = []
        for _ in range(ctx.k):
            if picks:
                dist[picks] = -1.0  # never pick a point twice, even if it duplicates a center
            i = int(torch.argmax(dist))
            picks.append(i)
            dist = torch.minimum(dist, torch.cdist(cand, cand[i : i + 1]).squeeze(1))
        return np.asarray(picks, dtype=np.int64)


class EntropyExpert(Expert):
    """Maximum predictive entropy of M's softmax."""

    name = "entropy"

    def select(self, ctx: SelectionContext) -> np.ndarray:
        p = ctx.candidate_probs
        ent = -(p * p.clamp_min(1e-12).log()).sum(-1)
        return top_k_uncertain(ent, ent, ctx.k)


class MarginExpert(Expert):
    """Smallest margin between M's two most probable classes."""

    name = "margin"

    def select(self, ctx: SelectionContext) -> np.ndarray:
        top2 = ctx.candidate_probs.topk(2, dim=-1).values
        neg_margin = top2[:, 1] - top2[:, 0]
        return top_k_uncertain(neg_margin, neg_margin, ctx.k)


class BadgeExpert(Expert):
    """BADGE (Ash et al., 2020): k-means++ seeding on gradient embeddings.

    The gradient embedding of a candidate is ``(p - onehot(argmax p)) (x) embedding``, the
    gradient of the loss at the predicted label with respect to the last layer's weights.
    """

    name = "badge"

    def select(self, ctx: SelectionContext) -> np.ndarray:
        p = ctx.candidate_probs
        onehot = F.one_hot(p.argmax(-1), p.shape[-1]).to(p.dtype)
        g = ((p - onehot).unsqueeze(2) * ctx.candidate_embeddings.unsqueeze(1)).flatten(1)
        g = g.double().cpu()
        rng = np.random.default_rng(ctx.seed)
        norms = g.norm(dim=1)
        picks = [int(torch.argmax(norms))]
        d2 = ((g - g[picks[0]]) ** 2).sum(1)
        while len(picks) < ctx.k:
            w = d2.clamp_min(0).numpy()
            w[picks] = 0.0
            total = w.sum()
            if total <= 0:  # all remaining points coincide with a center: take any unpicked one
                rest = np.setdiff1d(np.arange(len(g)), picks)
                i = int(rng.choice(rest))
            else:
                i = int(rng.choice(len(g), p=w / total))
            picks.append(i)
            d2 = torch.minimum(d2, ((g - g[i]) ** 2).sum(1))
        return np.asarray(picks, dtype=np.int64)


#: Registry of expert names to classes; configs name experts by these keys.
EXPERTS: dict[str, type[Expert]] = {
    cls.name: cls
    for cls in (
        RandomExpert,
        MCDropoutExpert,
        EnsembleExpert,
        CoreSetExpert,
        EntropyExpert,
        MarginExpert,
        BadgeExpert,
    )
}


def register_expert(cls: type[Expert]) -> type[Expert]:
    """Add an :class:`Expert` subclass to :data:`EXPERTS` under its ``name`` (a decorator).

    Register before making the env or config that names it; a name that is taken raises
    ``ValueError`` (built-in experts cannot be replaced by accident).
    """
    if not (isinstance(cls, type) and issubclass(cls, Expert)):
        raise ValueError(f"register_expert takes an Expert subclass, got {cls!r}")
    if not cls.name or cls.name == Expert.name or not cls.name.isidentifier():
        raise ValueError(f"{cls.__name__}.name must be an identifier of its own, got {cls.name!r}")
    if cls.name in EXPERTS and EXPERTS[cls.name] is not cls:
        raise ValueError(f"an expert named {cls.name!r} is already registered")
    EXPERTS[cls.name] = cls
    return cls


def make_expert(name: str, *, mc_dropout_passes: int = 20, ensemble_size: int = 5) -> Expert:
    """Instantiate a registered expert by name."""
    if name not in EXPERTS:
        raise ValueError(f"unknown expert {name!r}; choose from {sorted(EXPERTS)}")
    return EXPERTS[name].from_settings(
        mc_dropout_passes=mc_dropout_passes, ensemble_size=ensemble_size
    )
