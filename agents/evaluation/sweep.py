"""Paired active-learning curves for any selection method, with a resumable CSV log.

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
- a trained policy: ``iale:PATH``, ``alil:PATH``, ``ppo:PATH``, ``a2c:PATH`` (``PATH`` is a
  ``policy.zip`` or the run folder holding it); ``LABEL=iale:PATH`` names the curve ``LABEL``.

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

import dataclasses
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agents import faults
from agents.evaluation.out_folder import (
    Existing,
    append_sweep_rows,
    check_unrecorded_sweep,
    remove_sweep_files,
)
from agents.files import changed_settings, file_sha256, read_csv, read_json, rewrite_csv
from agents.locking import exclusive_folder
from agents.pretrained import available as available_pretrained
from agents.pretrained import pretrained_path, state_env_kwargs
from iale_env import EXPERTS, ActiveLearningEnv, ALConfig, ALDataset, load_dataset

CURVES_CSV = "curves.csv"
OVERLAP_CSV = "overlap.csv"
ORACLE_CSV = "oracle.csv"
CONFIG_JSON = "config.json"

#: Learned-policy families (``family:PATH``).
POLICY_FAMILIES = ("iale", "alil", "ppo", "a2c")
#: Heuristics the learned policies' selections are compared with by default (Fig. 5).
DEFAULT_OVERLAP = ("random", "mc_dropout", "ensemble", "coreset")

CURVE_FIELDS = [
    "dataset",
    "method",
    "seed",
    "step",
    "labeled",
    "test_accuracy",
    "scoring_accuracy",
    "step_seconds",
    "run_seconds",
    "pairing_key",
    "points",
]
OVERLAP_FIELDS = ["dataset", "method", "seed", "step", "labeled", "heuristic", "overlap"]
ORACLE_FIELDS = ["dataset", "method", "seed", "step", "labeled", "winner", "scores"]
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
            sweep's own ``experts``).
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


def policy_env_overrides(spec: MethodSpec) -> dict[str, Any]:
    """Env settings a learned policy needs: its state layout, and ALIL's 1-of-10 acquisition.

    Read from the ``config.json`` that the training scripts write next to ``policy.zip``.
    """
    if not spec.learned:
        return {}
    from agents.alil import ALIL_ENV

    overrides: dict[str, Any] = dict(ALIL_ENV) if spec.family == "alil" else {}
    config = Path(spec.path).with_name(CONFIG_JSON)  # type: ignore[arg-type]
    if config.is_file():
        env = read_json(config).get("env", {})
        overrides.update(state_env_kwargs(env))  # the state's extra columns, as trained
        if spec.family == "alil":
            for key in ALIL_ENV:
                overrides[key] = env.get(key, overrides[key])
    return overrides


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
    """

    datasets: tuple[str, ...]
    methods: tuple[str, ...]
    seeds: tuple[int, ...] = (0, 1, 2)
    env: ALConfig = field(default_factory=ALConfig)
    overlap_with: tuple[str, ...] = DEFAULT_OVERLAP
    overlap_families: tuple[str, ...] = ("iale",)

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

    @property
    def specs(self) -> list[MethodSpec]:
        """The parsed methods."""
        return [parse_method(m) for m in self.methods]

    def settings(self) -> dict[str, Any]:
        """What must not change when a sweep is resumed (the shared env settings)."""
        return sweep_settings(self.env)


def sweep_settings(env: ALConfig) -> dict[str, Any]:
    """The env settings a sweep records in ``config.json`` (all but the per-run dataset and
    where/how the runs compute)."""
    settings = dataclasses.asdict(env)
    for key in (
        "dataset",
        "data_dir",
        "device",
        "fit_mode",
        "cuda_graphs",
        "deterministic",
        "rewards",
        "test_every_step",
    ):
        settings.pop(key)
    settings["experts"] = list(settings["experts"])
    return settings


def file_digest(path: str | os.PathLike | None) -> str:
    """SHA-256 of a file's bytes (identifies a trained policy in a sweep)."""
    return file_sha256(path)  # type: ignore[arg-type]


def _same_policies(saved: dict[str, str], now: dict[str, str], where: object) -> dict[str, str]:
    """The union of two label -> policy-digest maps; a label bound to two files raises."""
    clash = sorted(label for label in set(saved) & set(now) if saved[label] != now[label])
    if clash:
        raise ValueError(
            f"{where} holds runs of {', '.join(clash)} with another policy file; name the new "
            f"policy's curve differently (LABEL=FAMILY:PATH) or use another --out"
        )
    return {**saved, **now}


@dataclass
class RunResult:
    """One episode's learning curve, the policy/heuristic overlaps (learned methods) and the
    oracle's decisions (the ``oracle`` method)."""

    curve: list[dict[str, Any]]
    overlap: list[dict[str, Any]]
    decisions: list[dict[str, Any]] = field(default_factory=list)


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
    from agents.policy import load_policy

    policy = load_policy(spec.path, env=env, device=device)  # type: ignore[arg-type]
    return lambda e, obs: ("action", policy.select(obs))


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


# ---------------------------------------------------------------------- CSV log and resume
def finished_runs(rows: Iterable[dict[str, str]]) -> set[tuple[str, str, int]]:
    """``(dataset, method, seed)`` of every run whose points are all in ``rows``: as many rows
    as each of them says the run has, with distinct steps."""
    counts: dict[tuple[str, str, int], list[tuple[int, int]]] = {}
    for r in rows:
        try:
            key = (r["dataset"], r["method"], int(r["seed"]))
            counts.setdefault(key, []).append((int(r["points"]), int(r["step"])))
        except (KeyError, TypeError, ValueError):
            continue  # a torn row from a killed write
    return {
        key
        for key, pts in counts.items()
        if {p for p, _ in pts} == {len(pts)} and len({s for _, s in pts}) == len(pts)
    }


def _run_key(row: dict[str, str]) -> tuple[str, str, int] | None:
    """``(dataset, method, seed)`` of a CSV row, or ``None`` for a torn row."""
    try:
        return (row["dataset"], row["method"], int(row["seed"]))
    except (KeyError, TypeError, ValueError):
        return None


def _torn_tail(path: Path) -> bool:
    """Whether ``path``'s last line lost its line ending (a write cut short)."""
    if not path.exists() or path.stat().st_size == 0:
        return False
    with path.open("rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) != b"\n"


def _clean_logs(out: Path) -> set[tuple[str, str, int]]:
    """Drop rows of unfinished runs (a kill mid-run or mid-write) and a torn last line; return
    the finished runs."""
    tables = {}
    for name in (CURVES_CSV, OVERLAP_CSV, ORACLE_CSV):
        rows = read_csv(out / name)
        torn = bool(rows) and _torn_tail(out / name)
        # a last line cut short is never counted and never appended to
        tables[name] = (rows[:-1] if torn else rows, torn)
    done = finished_runs(tables[CURVES_CSV][0])

    def keep(r: dict[str, str]) -> bool:
        return _run_key(r) in done

    for name, fields in (
        (CURVES_CSV, CURVE_FIELDS),
        (OVERLAP_CSV, OVERLAP_FIELDS),
        (ORACLE_CSV, ORACLE_FIELDS),
    ):
        rows, torn = tables[name]
        kept = [r for r in rows if keep(r) and None not in r and None not in r.values()]
        if (out / name).exists() and (torn or len(kept) != len(rows)):
            rewrite_csv(out / name, fields, kept)
    return done


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
            :func:`agents.files.changed_settings`) or another policy file under a label, or
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
    config_path.write_text(json.dumps({"env": settings, "policies": policies}, indent=2))
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


def merge_sweeps(sources: Sequence[str | os.PathLike], out_dir: str | os.PathLike) -> Path:
    """Merge the finished runs of several sweep folders into ``out_dir`` (e.g. sweeps that ran
    in parallel, one per dataset or method group).

    All sources (and ``out_dir``, if it already holds a sweep) must have the same env settings
    (``config.json``). A (dataset, method, seed) run found in two places must have identical
    rows there (a repeated merge), else ``ValueError``: a run is never counted twice and never
    silently replaced. Unfinished runs are left out. Returns the merged folder.
    """
    out = Path(out_dir)
    folders = [Path(s) for s in sources]
    if (out / CURVES_CSV).exists():
        folders = [out, *[f for f in folders if f.resolve() != out.resolve()]]
    configs: dict[Path, dict[str, Any]] = {}
    policies: dict[str, str] = {}
    for folder in folders:
        path = folder / CONFIG_JSON
        if not path.exists():
            raise ValueError(
                f"{folder} is not a sweep folder (no {CONFIG_JSON}); give evaluate.py --out folders"
            )
        full = read_json(path)
        configs[folder] = full["env"]
        policies = _same_policies(policies, full.get("policies", {}), folder)
    settings = configs[folders[0]]
    defaults = {"env": sweep_settings(ALConfig())}  # settings a later version added
    differ = [
        str(f)
        for f, c in configs.items()
        if changed_settings({"env": settings}, {"env": c}, defaults)
        or changed_settings({"env": c}, {"env": settings}, defaults)
    ]
    if differ:
        raise ValueError(
            f"sweeps with other env settings than {folders[0]} cannot be merged: {differ}"
        )
    names = (CURVES_CSV, OVERLAP_CSV, ORACLE_CSV)
    merged: dict[tuple[str, str, int], tuple[Path, dict[str, list[dict[str, str]]]]] = {}
    for folder in folders:
        tables = {name: read_csv(folder / name) for name in names}
        done = finished_runs(tables[CURVES_CSV])
        order = dict.fromkeys(_run_key(r) for r in tables[CURVES_CSV])  # runs in file order
        runs: dict[tuple[str, str, int], dict[str, list[dict[str, str]]]] = {
            run: {name: [] for name in names} for run in order if run in done
        }
        for name, rows in tables.items():
            for r in rows:
                key = _run_key(r)
                if key in runs:
                    runs[key][name].append(r)
        for key, rows in runs.items():
            if key in merged and merged[key][1][CURVES_CSV] != rows[CURVES_CSV]:
                raise ValueError(
                    f"run {key} differs between {merged[key][0]} and {folder}; keep one of them"
                )
            merged.setdefault(key, (folder, rows))
    out.mkdir(parents=True, exist_ok=True)
    (out / CONFIG_JSON).write_text(json.dumps({"env": settings, "policies": policies}, indent=2))
    for name, fields in zip(names, (CURVE_FIELDS, OVERLAP_FIELDS, ORACLE_FIELDS)):
        rewrite_csv(out / name, fields, [r for _, rows in merged.values() for r in rows[name]])
    return out
