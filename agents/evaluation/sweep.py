"""Paired active-learning curves for any selection method, with a resumable CSV log.

A *method* is a heuristic, the oracle, the bandit or a trained policy, named as on the command
line of ``scripts/evaluate.py`` (:mod:`agents.evaluation.methods` lists them).

**Pairing.** For one dataset and seed every method's episode is ``env.reset(seed=seed)`` of an
env with the same scoring-set, pool and initial-set settings, so all methods start from the same
split, the same initial labeled set and the same classifier initialisation (the main model's
seed depends only on the episode seed and the labeled-set size); :attr:`pairing_key
<iale_env.ActiveLearningEnv.pairing_key>` is logged to check it. Differences are due to the
selections only.

**Resume.** Each finished run appends all its points to ``curves.csv`` in one write (flushed and
synced); a rerun of the same sweep skips the (dataset, method, seed) runs already there, so a
killed sweep continues where it stopped and loses at most the run in progress.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agents.evaluation.methods import (
    MethodSpec,
    check_policy_classifier,
    check_selector_state,
    make_selector,
    method_env_overrides,
    parse_method,
    policy_classifier,
)
from agents.evaluation.out_folder import (
    Existing,
    append_sweep_rows,
    check_unrecorded_sweep,
    remove_sweep_files,
)
from agents.evaluation.sweep_files import (
    CONFIG_JSON,
    CURVE_FIELDS,
    CURVES_CSV,
    ORACLE_CSV,
    ORACLE_FIELDS,
    OVERLAP_CSV,
    OVERLAP_FIELDS,
    _clean_logs,
    _same_policies,
    file_digest,
    sweep_record,
    sweep_settings,
)
from agents.runs import faults
from agents.runs.files import changed_settings, read_csv, read_json
from agents.runs.locking import exclusive_folder
from iale_env import EXPERTS, ActiveLearningEnv, ALConfig, ALDataset, load_dataset

#: Heuristics the learned policies' selections are compared with by default (Fig. 5).
DEFAULT_OVERLAP = ("random", "mc_dropout", "ensemble", "coreset")


@dataclass(frozen=True)
class EvalConfig:
    """A sweep: every method on every dataset and seed.

    Attributes:
        datasets: Dataset names.
        methods: Method texts (see :func:`parse_method`).
        seeds: Episode seeds; runs with the same dataset and seed are paired.
        env: The AL settings shared by all runs (``dataset`` is set per run; ALIL overrides
            the acquisition and sub-pool sizes).
        overlap_with: Heuristics whose selections on the learned policies' states are logged
            (``overlap.csv``, Fig. 5); empty to skip.
        overlap_families: The learned-policy families whose runs log the overlap (each
            heuristic costs its own selection, e.g. the ensemble's training, at every step).
        classifier_transfer: Evaluate learned policies on another classifier's states than
            they were trained on (a transfer experiment, recorded in ``config.json`` and kept
            there when the sweep is extended without it); by default such a policy is refused
            (:func:`check_policy_classifier`), and the flag is refused when no method
            transfers.
    """

    datasets: tuple[str, ...]
    methods: tuple[str, ...]
    seeds: tuple[int, ...] = (0, 1, 2)
    env: ALConfig = field(default_factory=ALConfig)
    overlap_with: tuple[str, ...] = DEFAULT_OVERLAP
    overlap_families: tuple[str, ...] = ("iale",)
    classifier_transfer: bool = False

    def __post_init__(self) -> None:
        if not self.datasets or not self.methods or not self.seeds:
            raise ValueError("a sweep needs at least one dataset, one method and one seed")
        for what, values in (("datasets", self.datasets), ("seeds", self.seeds)):
            if len(set(values)) != len(values):
                raise ValueError(f"{what} must be distinct, got {list(values)}")
        specs = [parse_method(m) for m in self.methods]
        labels = [s.label for s in specs]
        if len(set(labels)) != len(labels):
            raise ValueError(f"method labels must be unique, got {labels}; name them LABEL=...")
        unknown = [h for h in self.overlap_with if h not in EXPERTS]
        if unknown:
            raise ValueError(f"unknown overlap heuristic(s) {unknown}; use {sorted(EXPERTS)}")
        for spec in specs:
            if not self.classifier_transfer:
                check_policy_classifier(spec, self.env.classifier)
            check_selector_state(spec, tuple(self.env.state_scores))
        ran = self.env.classifier or "cnn"
        if self.classifier_transfer and all(policy_classifier(s) in (None, ran) for s in specs):
            raise ValueError(
                f"--classifier-transfer, but no learned method of this sweep was trained on "
                f"another classifier than its {ran}: drop the flag"
            )

    @property
    def specs(self) -> list[MethodSpec]:
        """The parsed methods."""
        return [parse_method(m) for m in self.methods]

    def settings(self) -> dict[str, Any]:
        """What must not change when a sweep is resumed (the shared env settings)."""
        return sweep_settings(self.env)


@dataclass
class RunResult:
    """One episode's learning curve, the policy/heuristic overlaps (learned methods) and the
    oracle's decisions (the ``oracle`` method)."""

    curve: list[dict[str, Any]]
    overlap: list[dict[str, Any]]
    decisions: list[dict[str, Any]] = field(default_factory=list)


def run_episode(
    env: ActiveLearningEnv,
    spec: MethodSpec,
    seed: int,
    dataset: str,
    overlap_with: Sequence[str] = (),
    device: str = "cpu",
) -> RunResult:
    """One AL episode of ``spec`` from ``env.reset(seed=seed)`` to the budget.

    The curve has a point at the initial set and after every acquisition, the last one at the
    budget. For learned methods each heuristic in ``overlap_with`` also selects on every state
    the policy sees; ``overlap`` is the fraction of the policy's k picks it shares.
    """
    select = make_selector(spec, env, device)
    start = time.perf_counter()
    obs, info = env.reset(seed=seed)
    key = env.pairing_key
    curve = [_point(dataset, spec.label, seed, info, 0.0, time.perf_counter() - start, key)]
    overlap: list[dict[str, Any]] = []
    decisions: list[dict[str, Any]] = []
    k = env.config.acquisition_size
    bandit = getattr(select, "bandit", None)  # a bandit learns from each step's reward
    done = False
    while not done:
        t0 = time.perf_counter()
        kind, value = select(env, obs)
        select_s = time.perf_counter() - t0
        where = dict(
            dataset=dataset,
            method=spec.label,
            seed=seed,
            step=info["step"],
            labeled=info["labeled"],
        )
        if spec.family == "oracle":
            decision = env.last_oracle
            scores = {n: round(v, 6) for n, v in decision.scores.items()}
            decisions.append(dict(where, winner=decision.winner, scores=json.dumps(scores)))
        elif bandit is not None:  # the expert drawn, and every expert's probability
            probs = dict(zip(bandit.config.experts, np.round(bandit.probabilities(), 6).tolist()))
            decisions.append(dict(where, winner=bandit.drawn, scores=json.dumps(probs)))
        elif spec.family in ("selector", "choice", "pick"):  # the expert (or proposal) chosen,
            # and every expert's probability (selector) or predicted value (choice, pick)
            chosen, probs = select.drawn, select.probabilities  # type: ignore[attr-defined]
            decisions.append(dict(where, winner=chosen, scores=json.dumps(probs)))
        if spec.learned:
            for name in overlap_with:
                shared = int(np.sum((value > 0) & (env.expert_action(name) > 0)))
                overlap.append(dict(where, heuristic=name, overlap=shared / k))
        t1 = time.perf_counter()
        if kind == "indices":
            obs, reward, done, _, info = env.step_indices(value)
        else:
            obs, reward, done, _, info = env.step(value)
        if bandit is not None:
            bandit.observe(reward)
        step_s = select_s + time.perf_counter() - t1  # selection + retraining, not the overlap
        curve.append(
            _point(dataset, spec.label, seed, info, step_s, time.perf_counter() - start, key)
        )
    for row in curve:
        row["points"] = len(curve)
    return RunResult(curve, overlap, decisions)


def _point(
    dataset: str, method: str, seed: int, info: dict, step_s: float, run_s: float, key: str
) -> dict[str, Any]:
    return dict(
        dataset=dataset,
        method=method,
        seed=seed,
        step=info["step"],
        labeled=info["labeled"],
        test_accuracy=info["test_accuracy"],
        scoring_accuracy=info["scoring_accuracy"],
        step_seconds=round(step_s, 4),
        run_seconds=round(run_s, 3),
        pairing_key=key,
    )


@dataclass(frozen=True)
class RunTask:
    """One (dataset, method, seed) episode of a sweep, with everything needed to run it in
    another process or on another machine (see :mod:`agents.evaluation.parallel`).

    Attributes:
        dataset: The dataset's name.
        spec: The method.
        seed: The episode seed (pairs the methods).
        env: The episode's AL settings (dataset and the policy's overrides applied).
        overlap_with: Heuristics whose selections are compared with a learned policy's.
        device: Where the policy network runs.
    """

    dataset: str
    spec: MethodSpec
    seed: int
    env: ALConfig
    overlap_with: tuple[str, ...]
    device: str

    @property
    def key(self) -> tuple[str, str, int]:
        """``(dataset, method label, seed)``, the run's key in ``curves.csv``."""
        return (self.dataset, self.spec.label, self.seed)


def run_task(task: RunTask, data: ALDataset) -> RunResult:
    """Run ``task``'s episode on ``data`` (the loaded ``task.dataset``)."""
    env = ActiveLearningEnv(task.env, data=data)
    return run_episode(env, task.spec, task.seed, task.dataset, task.overlap_with, task.device)


#: ``runner(tasks, load) -> iterator of (task, result)``: runs a sweep's tasks, in any order;
#: ``load(name)`` returns a dataset. :func:`sequential_runs` (default) or
#: :class:`agents.evaluation.parallel.RayRunner`.
Runner = Callable[
    [Sequence[RunTask], Callable[[str], ALDataset]], Iterator[tuple[RunTask, RunResult]]
]


def sequential_runs(
    tasks: Sequence[RunTask], load: Callable[[str], ALDataset]
) -> Iterator[tuple[RunTask, RunResult]]:
    """Run ``tasks`` one after another in this process (one dataset in memory at a time)."""
    loaded: tuple[str, ALDataset] | None = None
    for task in tasks:
        if loaded is None or loaded[0] != task.dataset:
            loaded = (task.dataset, load(task.dataset))
        yield task, run_task(task, loaded[1])


def sweep_tasks(
    cfg: EvalConfig, done: set[tuple[str, str, int]] = frozenset(), device: str | None = None
) -> list[RunTask]:
    """The runs of ``cfg`` not in ``done``, dataset by dataset, method by method, seed by seed."""
    tasks = []
    for dataset in cfg.datasets:
        for spec in cfg.specs:
            env = cfg.env.replace(dataset=dataset, **method_env_overrides(spec))
            overlap_with = cfg.overlap_with if spec.family in cfg.overlap_families else ()
            for seed in cfg.seeds:
                if (dataset, spec.label, seed) not in done:
                    tasks.append(
                        RunTask(dataset, spec, seed, env, overlap_with, device or cfg.env.device)
                    )
    return tasks


def evaluate(
    cfg: EvalConfig,
    out_dir: str | os.PathLike,
    device: str | None = None,
    log: Callable[[str], None] | None = print,
    datasets: Mapping[str, ALDataset] | None = None,
    runner: Runner = sequential_runs,
    existing: Existing = "refuse",
) -> list[dict[str, str]]:
    """Run every (dataset, method, seed) of ``cfg`` not yet in ``out_dir/curves.csv``.

    Writes ``curves.csv``, ``overlap.csv`` and ``config.json`` (the shared env settings; a
    resumed sweep must use the same ones, or it raises ``ValueError``). Each run's rows are
    written as soon as it finishes, whatever ``runner`` runs it. Returns all curve rows.

    Args:
        cfg: The sweep.
        out_dir: Its folder (locked while the sweep runs).
        device: Where policy networks run (default: ``cfg.env.device``).
        log: Called with one line per finished run (``None``: silent).
        datasets: Datasets already loaded, by name (the others are loaded when needed).
        runner: How the runs are executed: :func:`sequential_runs` (this process) or
            :class:`agents.evaluation.parallel.RayRunner` (Ray tasks, locally or on a cluster).
        existing: What to do with sweep files in ``out_dir`` that no ``config.json`` records
            (:mod:`agents.evaluation.out_folder`): ``"refuse"``, ``"adopt"`` or ``"overwrite"``
            (which also starts over a recorded sweep of other settings; one of the same
            settings is resumed, so rerunning the command after a kill loses nothing).
    """
    with exclusive_folder(out_dir):
        out = Path(out_dir)
        if existing == "overwrite":  # only what would be refused: a rerun still resumes
            try:
                check_sweep(cfg, out)
            except ValueError:
                remove_sweep_files(out)
        return _evaluate(cfg, out, device, log, dict(datasets or {}), runner, existing)


def check_sweep(
    cfg: EvalConfig, out_dir: str | os.PathLike, existing: Existing = "refuse"
) -> dict[str, str]:
    """Check that ``cfg`` can run into ``out_dir`` (quick, writes nothing); return the policy
    digests of its learned methods by label.

    Raises:
        ValueError: ``out_dir`` holds a sweep with other settings (by the one resume rule,
            :func:`agents.runs.files.changed_settings`) or another policy file under a label, or
            sweep files without ``config.json`` that ``existing`` does not adopt or overwrite.
    """
    out = Path(out_dir)
    config_path = out / CONFIG_JSON
    if existing == "overwrite":  # the folder's sweep is discarded: nothing to match
        return {spec.label: file_digest(spec.path) for spec in cfg.specs if spec.learned}
    check_unrecorded_sweep(out, cfg, existing)
    policies = {spec.label: file_digest(spec.path) for spec in cfg.specs if spec.learned}
    if config_path.exists():
        saved_config = read_json(config_path)
        policies = _same_policies(saved_config.get("policies", {}), policies, out)
        defaults = sweep_settings(ALConfig())
        changed = changed_settings(
            {"env": saved_config["env"]}, {"env": cfg.settings()}, {"env": defaults}
        )
        if changed:
            raise ValueError(
                f"{out} holds a sweep with other env settings ({', '.join(changed)}); rerun "
                f"with the same settings to resume it, or use another --out"
            )
    return policies


def _evaluate(
    cfg: EvalConfig,
    out: Path,
    device: str | None,
    log: Callable[[str], None] | None,
    datasets: dict[str, ALDataset],
    runner: Runner,
    existing: Existing,
) -> list[dict[str, str]]:
    settings = cfg.settings()
    config_path = out / CONFIG_JSON
    policies = check_sweep(cfg, out, existing)
    saved = read_json(config_path) if config_path.exists() and existing != "overwrite" else {}
    # the record is kept when the sweep is extended (e.g. by heuristics) without the flag
    transfer = cfg.classifier_transfer or bool(saved.get("classifier_transfer"))
    config_path.write_text(json.dumps(sweep_record(settings, policies, transfer), indent=2))
    done = _clean_logs(out)

    def load(name: str) -> ALDataset:
        return datasets[name] if name in datasets else load_dataset(name, cfg.env.data_dir)

    written = 0
    for task, result in runner(sweep_tasks(cfg, done, device), load):
        written += 1
        append_sweep_rows(out / OVERLAP_CSV, OVERLAP_FIELDS, result.overlap)
        append_sweep_rows(out / ORACLE_CSV, ORACLE_FIELDS, result.decisions)
        faults.reached(f"evaluate:overlap-appended:{written}")
        append_sweep_rows(out / CURVES_CSV, CURVE_FIELDS, result.curve)
        faults.reached(f"evaluate:curves-appended:{written}")
        if log is not None:
            first, last = result.curve[0], result.curve[-1]
            log(
                f"{task.dataset:>12} {task.spec.label:>16} seed {task.seed}: test acc "
                f"{first['test_accuracy']:.4f} -> {last['test_accuracy']:.4f} at "
                f"{last['labeled']} labels ({last['run_seconds']:.1f} s)"
            )
    return read_csv(out / CURVES_CSV)
