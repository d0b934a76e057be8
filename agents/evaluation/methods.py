"""Selection methods of a sweep, named as on the command line of ``scripts/evaluate.py``
(:func:`parse_method`), the env settings each needs, and the selector that runs each.

A *method* is named as on the command line of ``scripts/evaluate.py``:

- a heuristic on the sub-pool of n candidates: ``random``, ``mc_dropout``, ``ensemble``,
  ``coreset``, ``entropy``, ``margin``, ``badge``;
- the same heuristic on the whole unlabeled pool (as the paper's baselines): ``mc_dropout@pool``;
- ``oracle``: the best-expert oracle's selection executed at every step (the ceiling that
  imitation can reach; the winning expert of every step goes to ``oracle.csv``);
  ``oracle@all`` or ``oracle@mc_dropout+ensemble+badge``: the oracle over other experts
  (``all``: every registered expert) than the sweep's ``experts``;
- ``bandit`` (``bandit@EXPERTS``, default ``all``): EXP3 over the experts, learning from the
  rewards of the current episode (:mod:`agents.bandit`; its draws go to ``oracle.csv``);
- a trained policy: ``iale:PATH``, ``alil:PATH``, ``ppo:PATH``, ``a2c:PATH``, ``sac:PATH`` (``PATH`` is a
  ``policy.zip``, the run folder holding it, or a pretrained policy's name); ``LABEL=iale:PATH``
  names the curve ``LABEL``;
- a fitted expert selector: ``selector:PATH`` (a ``selector.json`` of ``train_selector.py`` or
  its folder, :mod:`agents.selector`; the expert it executes at each step goes to
  ``oracle.csv``);
- a value policy choosing among its teacher's experts: ``choice:PATH`` (a ``policy.zip`` of
  ``train_value.py`` or its folder; at each step the selection of the expert, of those its
  run's ``config.json`` names, whose picks the policy values most; the expert and every
  expert's value go to ``oracle.csv``);
- a value policy picking among its teacher's proposals: ``pick:PATH`` (the same files; at each
  step the experts' selections and as many proposals as the teacher rated, drawn the way it
  drew them (:func:`agents.values.collect.proposal_batches`, the run's ``sampling``), and the one
  the policy values most is executed; ``oracle.csv`` gets its source, an expert or
  ``proposal``, and the values).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.pretrained import available as available_pretrained
from agents.pretrained import pretrained_path, state_env_kwargs
from agents.runs.files import read_json, run_config_of
from agents.selector import SELECTOR_FILE, ExpertSelector
from agents.values.collect import ValueSampling, proposal_batches
from iale_env import EXPERTS, ActiveLearningEnv
from iale_env.oracles import pick_winner

#: Learned-policy families (``family:PATH``).
POLICY_FAMILIES = ("iale", "alil", "ppo", "a2c", "sac", "selector", "choice", "pick")


#: The method that executes the best-expert oracle's selection at every step.
ORACLE_METHOD = "oracle"
#: EXP3 over the experts within each episode (:mod:`agents.bandit`).
BANDIT_METHOD = "bandit"


@dataclass(frozen=True)
class MethodSpec:
    """One method of a sweep.

    Attributes:
        label: Its name in the CSV files and plots.
        family: ``"heuristic"``, ``"oracle"`` (the best-expert oracle) or a learned-policy
            family (:data:`POLICY_FAMILIES`).
        expert: The heuristic's expert name (heuristics only).
        pool: Select from the whole unlabeled pool instead of the sub-pool (heuristics only).
        path: The trained policy's file (learned policies only).
        experts: The experts of an ``oracle@...`` or ``bandit@...`` method (``None``: the
            sweep's own ``experts``), or those a ``choice`` method chooses among.
    """

    label: str
    family: str
    expert: str | None = None
    pool: bool = False
    path: str | None = None
    experts: tuple[str, ...] | None = None

    @property
    def learned(self) -> bool:
        """Whether the method is a trained policy."""
        return self.family in POLICY_FAMILIES


def parse_method(text: str) -> MethodSpec:
    """Parse ``mc_dropout``, ``mc_dropout@pool``, ``oracle``, ``iale:PATH`` or
    ``LABEL=iale:PATH`` (PATH: a ``policy.zip``, its run folder, or the name of a pretrained
    policy, :func:`agents.pretrained.available`)."""
    text = text.strip()
    label = None
    if "=" in text.split(":", 1)[0]:
        label, text = text.split("=", 1)
    if ":" in text:
        family, path = text.split(":", 1)
        if family not in POLICY_FAMILIES:
            raise ValueError(
                f"unknown policy family {family!r} in {text!r}; use one of {POLICY_FAMILIES} "
                f"as FAMILY:PATH"
            )
        file = Path(path)
        if family == "selector":
            return _parse_selector(label, file, text)
        pretrained = path in available_pretrained()
        if pretrained and not file.exists():
            file = pretrained_path(path)
        if file.is_dir():
            file = file / "policy.zip"
        if not file.is_file():
            if pretrained:  # a local path of that name hides the pretrained policy
                raise ValueError(
                    f"{path!r} here has no policy.zip and hides the pretrained policy of that "
                    f"name; run from another folder or give the pretrained folder's path "
                    f"(agents.pretrained.pretrained_path({path!r}))"
                )
            raise ValueError(
                f"no trained policy at {path!r} (expected a policy.zip, a run folder with "
                f"one, or a pretrained policy: {available_pretrained()}); train it with "
                f"scripts/train_dagger.py, train_alil.py or train_rl.py"
            )
        if family in ("choice", "pick"):
            return _parse_choice(label, file, family)
        return MethodSpec(label or family, family, path=str(file))
    name, _, scope = text.partition("@")
    if name in (ORACLE_METHOD, BANDIT_METHOD):
        experts = _expert_set(scope or ("all" if name == BANDIT_METHOD else ""), text)
        return MethodSpec(label or text, name, experts=experts)
    if name not in EXPERTS or scope not in ("", "pool"):
        raise ValueError(
            f"unknown method {text!r}; use a heuristic ({', '.join(sorted(EXPERTS))}), "
            f"HEURISTIC@pool, {ORACLE_METHOD!r}, or FAMILY:PATH with FAMILY in {POLICY_FAMILIES}"
        )
    return MethodSpec(label or text, "heuristic", expert=name, pool=scope == "pool")


def _parse_selector(label: str | None, path: Path, text: str) -> MethodSpec:
    """``selector:PATH``: a ``selector.json`` or the folder holding it."""
    file = path / SELECTOR_FILE if path.is_dir() else path
    if not file.is_file():
        raise ValueError(
            f"no expert selector at {str(path)!r} in {text!r} (expected a {SELECTOR_FILE} or "
            f"the folder holding it); fit one with scripts/train_selector.py"
        )
    return MethodSpec(label or "selector", "selector", path=str(file))


def _expert_set(text: str, method: str) -> tuple[str, ...] | None:
    """``"all"``, ``"a+b+c"`` or ``""`` (``None``: the sweep's experts) as expert names."""
    if not text:
        return None
    names = tuple(EXPERTS) if text == "all" else tuple(n for n in text.split("+") if n)
    unknown = [n for n in names if n not in EXPERTS]
    if unknown or len(set(names)) != len(names) or len(names) < 2:
        raise ValueError(
            f"{method!r}: name two or more distinct experts joined by '+' (or 'all'), from "
            f"{', '.join(EXPERTS)}"
        )
    return names


def method_env_overrides(spec: MethodSpec) -> dict[str, Any]:
    """Env settings a method needs beyond the sweep's: a learned policy's state
    (:func:`policy_env_overrides`), an oracle's expert set, and the bandit's rewards."""
    overrides = policy_env_overrides(spec)
    if spec.family == "oracle" and spec.experts is not None:
        overrides["experts"] = spec.experts
    overrides["rewards"] = spec.family == BANDIT_METHOD  # no other method reads the reward
    return overrides


def _parse_choice(label: str | None, file: Path, family: str = "choice") -> MethodSpec:
    """``choice:PATH`` or ``pick:PATH``: a value policy and the experts its run's
    ``config.json`` names."""
    config = run_config_of(file)
    experts = read_json(config).get("env", {}).get("experts") if config.is_file() else None
    if not experts:
        raise ValueError(
            f"{family}:{file} needs the experts to choose among: the config.json that "
            f"train_value.py wrote beside {file.name} (its env's experts) is missing or names none"
        )
    unknown = [e for e in experts if e not in EXPERTS]
    if unknown:
        raise ValueError(
            f"{family}:{file}: its config.json names experts {unknown} that are not registered "
            f"({', '.join(sorted(EXPERTS))}); fit it again with collect_values.py's --experts"
        )
    if family == "pick":
        proposal_sampling(file)  # refused now, not at the first episode
    return MethodSpec(label or family, family, path=str(file), experts=tuple(experts))


def policy_env_overrides(spec: MethodSpec) -> dict[str, Any]:
    """Env settings a learned policy needs: its state layout, and ALIL's 1-of-10 acquisition.

    Read from the ``config.json`` that the training scripts write next to ``policy.zip``.
    """
    if not spec.learned:
        return {}
    from agents.alil import ALIL_ENV

    overrides: dict[str, Any] = dict(ALIL_ENV) if spec.family == "alil" else {}
    config = run_config_of(Path(spec.path))  # type: ignore[arg-type]
    if config.is_file():
        env = read_json(config).get("env", {})
        overrides.update(state_env_kwargs(env))  # the state's extra columns, as trained
        if spec.family == "alil":
            for key in ALIL_ENV:
                overrides[key] = env.get(key, overrides[key])
    return overrides


def policy_classifier(spec: MethodSpec) -> str | None:
    """The classifier (``"cnn"`` or ``"mlp"``) whose states a learned policy was trained on,
    from its run's ``config.json``; ``None`` for a heuristic or a policy without one."""
    if not spec.learned:
        return None
    config = run_config_of(Path(spec.path))  # type: ignore[arg-type]
    if not config.is_file():
        return None
    return read_json(config).get("env", {}).get("classifier") or "cnn"


def check_policy_classifier(spec: MethodSpec, classifier: str | None) -> None:
    """Refuse to evaluate a learned policy on another classifier's states than it was trained
    on (its run's ``config.json``): the MLP's and the CNN's states have the same width, so the
    policy would run, on embeddings it never saw.

    Raises:
        ValueError: the classifiers differ; the message says which flag to use.
    """
    trained = policy_classifier(spec)
    if trained is not None and trained != (classifier or "cnn"):
        raise ValueError(
            f"{spec.label} was trained on the {trained} classifier's states, this sweep "
            f"runs the {classifier or 'cnn'}: evaluate it with the preset of its training "
            f"(--preset fast runs the mlp, the others the cnn), or pass --classifier-transfer "
            f"to measure how it transfers to this classifier"
        )


def make_selector(spec: MethodSpec, env: ActiveLearningEnv, device: str = "cpu") -> Callable:
    """``select(env, obs) -> (kind, value)``: ``("action", 0/1 vector)`` or ``("indices", ...)``."""
    if spec.family == "heuristic":
        name = spec.expert
        if spec.pool:
            return lambda e, obs: ("indices", e.expert_pool_indices(name))
        return lambda e, obs: ("action", e.expert_action(name))
    if spec.family == "oracle":
        return lambda e, obs: ("action", e.oracle_action())
    if spec.family == BANDIT_METHOD:
        from agents.bandit import BanditConfig, ExpertBandit

        bandit = ExpertBandit(env, BanditConfig(spec.experts or env.config.experts))

        def draw(e: ActiveLearningEnv, obs: np.ndarray) -> tuple[str, np.ndarray]:
            return "action", bandit.select()[1]

        draw.bandit = bandit  # type: ignore[attr-defined]  # run_episode feeds it the rewards
        return draw
    if spec.family == "selector":
        return SelectorRun(ExpertSelector.load(spec.path), env)  # type: ignore[arg-type]
    if spec.family in ("choice", "pick"):
        from agents.policy import load_policy

        policy = load_policy(spec.path, env=env, device=device)  # type: ignore[arg-type]
        path = Path(spec.path)  # type: ignore[arg-type]
        sampling = proposal_sampling(path) if spec.family == "pick" else None
        return ValueChoiceRun(policy, spec.experts, sampling)  # type: ignore[arg-type]
    if spec.family == "sac":  # SB3's own policy class, not an IALEPolicy
        from agents.rl import load_sac_policy

        sac = load_sac_policy(spec.path, env=env, device=device)  # type: ignore[arg-type]
        k = env.config.acquisition_size
        return lambda e, obs: ("action", sac.select(obs, k))
    from agents.policy import load_policy

    policy = load_policy(spec.path, env=env, device=device)  # type: ignore[arg-type]
    return lambda e, obs: ("action", policy.select(obs))


class SelectorRun:
    """A sweep's selector of the ``selector`` family: executes the selection of the expert that
    an :class:`~agents.selector.ExpertSelector` chooses on each state, and keeps that choice
    (``drawn``) with every expert's probability (``probabilities``) for ``oracle.csv``.

    Raises:
        ValueError: (on construction) the env's state lacks an expert's score column.
    """

    def __init__(self, selector: ExpertSelector, env: ActiveLearningEnv) -> None:
        self.selector, self.k = selector, env.config.acquisition_size
        self.state_scores = tuple(env.config.state_scores)
        _check_selector_state(selector, self.state_scores)
        if env.config.subpool_mean_embedding:
            raise ValueError(
                "the selector reads the score columns at the end of the Eq. 2 rows; run it "
                "without subpool_mean_embedding, as it was fitted"
            )
        #: The expert executed at the last step, and every expert's probability there.
        self.drawn: str | None = None
        self.probabilities: dict[str, float] = {}

    def __call__(self, env: ActiveLearningEnv, obs: np.ndarray) -> tuple[str, np.ndarray]:
        spec = env.classifier_spec
        p = self.selector.probabilities(
            obs, self.k, self.state_scores, spec.num_classes, spec.embedding_dim
        )
        self.drawn = self.selector.experts[int(np.argmax(p))]
        self.probabilities = dict(zip(self.selector.experts, np.round(p, 6).tolist()))
        return "action", env.expert_action(self.drawn)


class ValueChoiceRun:
    """A sweep's selector of the ``choice`` and ``pick`` families.

    ``choice`` (no ``sampling``): at each step, the selection of the expert whose picks
    ``policy`` values most (the sum of its :meth:`~agents.policy.IALEPolicy.logits` over the
    picks; ties: the first expert). ``pick`` (``sampling`` given): the same, among the experts'
    selections and ``sampling.batches`` proposals drawn the way the value teacher drew them
    (:func:`~agents.values.collect.proposal_batches`, but from a generator seeded with
    ``sampling.seed`` and the env's :attr:`~iale_env.ActiveLearningEnv.oracle_seed`, so a
    step's proposals depend only on the episode seed and the labeled-set size); ties go to the
    experts, in order. What was executed (``drawn``: an expert, or ``"proposal"``) and the
    values (``probabilities``, the name ``oracle.csv``'s logging reads: every expert's, and the
    best proposal's as ``"proposal"``) are kept for ``oracle.csv``.
    """

    def __init__(
        self, policy: Any, experts: tuple[str, ...], sampling: ValueSampling | None = None
    ) -> None:
        self.policy, self.experts, self.sampling = policy, tuple(experts), sampling
        #: What was executed at the last step (an expert or ``"proposal"``), and the values.
        self.drawn: str | None = None
        self.probabilities: dict[str, float] = {}

    def candidate_scores(self, obs: np.ndarray) -> np.ndarray:
        """The policy's per-candidate scores (:meth:`~agents.policy.IALEPolicy.logits`)."""
        import torch

        with torch.no_grad():
            batch = torch.as_tensor(np.asarray(obs, dtype=np.float32)[None])
            return self.policy.logits(batch.to(self.policy.device))[0].cpu().numpy()

    def __call__(self, env: ActiveLearningEnv, obs: np.ndarray) -> tuple[str, np.ndarray]:
        actions = {e: env.expert_action(e) for e in self.experts}
        logits = self.candidate_scores(obs)
        values = {e: float(logits[a > 0].sum()) for e, a in actions.items()}
        self.drawn = pick_winner(values)  # ties: the first expert
        self.probabilities = {e: round(v, 6) for e, v in values.items()}
        if self.sampling is None:
            return "action", actions[self.drawn]
        rng = np.random.default_rng([self.sampling.seed, env.oracle_seed])
        own = [np.flatnonzero(actions[e]) for e in self.experts]
        k = env.config.acquisition_size
        proposals = proposal_batches(rng, len(logits), k, own, self.sampling)
        rated = logits[proposals].sum(axis=1)
        best = int(np.argmax(rated))  # ties: the first proposal
        self.probabilities["proposal"] = round(float(rated[best]), 6)
        if rated[best] <= values[self.drawn]:  # ties: the experts
            return "action", actions[self.drawn]
        self.drawn = "proposal"
        action = np.zeros(len(logits), dtype=np.int8)
        action[proposals[best]] = 1
        return "action", action


def proposal_sampling(policy_file: Path) -> ValueSampling:
    """How ``pick:PATH`` draws its proposals: the ``sampling`` of the value teacher the policy
    was fitted to, as ``train_value.py`` records it in its run's ``config.json``.

    Raises:
        ValueError: the file is not a ``train_value.py`` fit, its config records no sampling
            (a fit made before it was recorded), the policy was fitted to teachers that drew
            differently (``sampling`` is ``null``), or the sampling is not valid; the message
            says what to do.
    """
    config = run_config_of(policy_file)
    body = read_json(config) if config.is_file() else {}
    if body.get("method") != "value" or "sampling" not in body:
        raise ValueError(
            f"pick:{policy_file} needs the proposal sampling of the value teacher it was fitted "
            f"to, which train_value.py records in its config.json ({config}: "
            f"{'no sampling' if body.get('method') == 'value' else 'not a train_value.py fit'});"
            ' fit it again with train_value.py, or copy the "sampling" of its '
            "collect_values.py folders' config.json into it"
        )
    recorded = body["sampling"]
    if recorded is None:
        raise ValueError(
            f"pick:{policy_file} was fitted to value teachers that drew their proposals "
            f"differently ({config}: sampling null), so there is no one way to draw them; fit "
            "it to folders collected with the same --batches, --keep and --proposal-seed"
        )
    try:
        return ValueSampling(**recorded)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"pick:{policy_file}: the sampling in {config} is not valid ({exc}); fit it again "
            "with train_value.py"
        ) from exc


def _check_selector_state(selector: ExpertSelector, state_scores: tuple[str, ...]) -> None:
    """Refuse a state that lacks the score column of one of the selector's experts."""
    missing = [e for e in selector.experts if e not in ("margin", "entropy", *state_scores)]
    if missing:
        raise ValueError(
            f"the selector reads {missing} from the state's score columns, which the env "
            f"lacks (state_scores={list(state_scores)}): keep the config.json that "
            f"train_selector.py wrote beside selector.json (its env names "
            f'"state_scores": {json.dumps(missing)}), or fit it again with --env-config'
        )


def check_selector_state(spec: MethodSpec, state_scores: tuple[str, ...]) -> None:
    """Refuse, before any episode, a ``selector`` method whose file is not a selector or whose
    experts' scores the env's state (``state_scores``, with the method's overrides) lacks.

    Raises:
        ValueError: the message says what to do.
    """
    if spec.family != "selector":
        return
    overrides = policy_env_overrides(spec)
    scores = tuple(overrides.get("state_scores", state_scores))
    _check_selector_state(ExpertSelector.load(spec.path), scores)  # type: ignore[arg-type]
