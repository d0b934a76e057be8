"""What makes the policy learn and transfer: input views, stored feature scaling, held-out
agreement, the oracle as an evaluated method, comparisons with the oracle and the best
heuristic, merged sweeps, the shared ``cpu`` protocol."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.evaluation import (
    CURVES_CSV,
    ORACLE_CSV,
    EvalConfig,
    evaluate,
    merge_sweeps,
    parse_method,
    policy_env_overrides,
    read_csv,
)
from agents.evaluation.metrics import fieller_ratio
from agents.evaluation.summary import summarize, summary_markdown
from agents.policy import (
    IALEPolicy,
    InvariantRowFeatures,
    RankRowFeatures,
    RelativeRowFeatures,
    load_policy,
)
from agents.schedules import ConstantLR
from iale_env import ActiveLearningEnv, ALConfig
from iale_env.protocols import CPU
from tests.conftest import TINY, curve_rows

pytestmark = pytest.mark.filterwarnings("ignore:MNIST:UserWarning")


def _eq2_states(rng: np.random.Generator, batch: int = 4, n: int = 20, k: int = 10, d: int = 128):
    """Random but well-formed Eq. 2 observations: histograms and softmaxes sum to 1."""
    mean_emb = np.repeat(rng.random((batch, 1, d)), n, axis=1)
    lab_hist = np.repeat(rng.dirichlet(np.ones(k), size=(batch, 1)), n, axis=1)
    pred_hist = np.repeat(rng.dirichlet(np.ones(k), size=(batch, 1)), n, axis=1)
    emb = rng.random((batch, n, d)) * 2
    probs = rng.dirichlet(np.ones(k) * 0.5, size=(batch, n))
    return np.concatenate([mean_emb, lab_hist, pred_hist, emb, probs], -1).astype(np.float32)


@pytest.mark.parametrize("extractor", [InvariantRowFeatures, RelativeRowFeatures, RankRowFeatures])
def test_invariant_views_ignore_class_order_and_embedding_basis(extractor):
    """Relabeling the classes or rotating the embedding (what differs between datasets and
    classifier runs) leaves the invariant features unchanged; the Eq. 2 row itself changes."""
    k, d = 10, 128
    rng = np.random.default_rng(0)
    obs = _eq2_states(rng)
    view = extractor(__import__("gymnasium").spaces.Box(0, 1, obs.shape[1:], np.float32), k, d)
    feats = view(torch.as_tensor(obs))
    assert feats.shape == (4, 20, len(extractor.NAMES))
    assert torch.isfinite(feats).all()
    if extractor is RelativeRowFeatures:  # every feature relative to the sub-pool
        torch.testing.assert_close(feats.mean(1), torch.zeros(4, 12), atol=1e-5, rtol=0)
        spread = feats.std(1, unbiased=False)
        assert ((spread - 1).abs() < 1e-3).all()
    if extractor is RankRowFeatures:  # every feature a rank within the sub-pool, in [-1, 1]
        assert feats.min() >= -1 and feats.max() <= 1
        torch.testing.assert_close(feats.mean(1), torch.zeros(4, 12), atol=1e-5, rtol=0)
    perm = rng.permutation(k)
    rotation, _ = np.linalg.qr(rng.normal(size=(d, d)))
    moved = obs.copy()
    for start in (d, d + k, 2 * d + 2 * k):  # the three class-ordered blocks
        moved[..., start : start + k] = obs[..., start : start + k][..., perm]
    for start in (0, d + 2 * k):  # the two embeddings, in a rotated basis
        moved[..., start : start + d] = obs[..., start : start + d] @ rotation.astype(np.float32)
    assert not np.allclose(moved, obs)
    torch.testing.assert_close(view(torch.as_tensor(moved)), feats, atol=1e-4, rtol=1e-4)
    # a changed state (another candidate ranking) changes the features
    assert not torch.allclose(view(torch.as_tensor(obs[:, ::-1].copy())), feats)
    with pytest.raises(ValueError, match="num_classes, embedding_dim"):
        extractor(__import__("gymnasium").spaces.Box(0, 1, (20, 100)), 10, 128)


def test_rank_view_keeps_only_each_features_order_within_the_subpool():
    """The rank view of a state is the candidates' order in every quantity: an increasing
    transformation of one quantity (what shifts from dataset to dataset) changes the relative
    view but not the rank view, tied candidates share their mean rank, and the top-k of a rank
    column is the top-k of the quantity it ranks (so it can represent any such heuristic)."""
    k, d, n = 10, 128, 20
    rng = np.random.default_rng(1)
    obs = _eq2_states(rng, n=n)
    obs = np.concatenate([obs, rng.normal(size=(4, n, 1)).astype(np.float32)], -1)  # a score
    space = __import__("gymnasium").spaces.Box(-np.inf, np.inf, obs.shape[1:], np.float32)
    rank = RankRowFeatures(space, k, d, score_columns=1)
    relative = RelativeRowFeatures(space, k, d, score_columns=1)
    feats = rank(torch.as_tensor(obs))
    assert feats.shape == (4, n, 13)
    score = obs[..., -1]
    expected = 2 * np.argsort(np.argsort(score, -1), -1) / (n - 1) - 1
    np.testing.assert_allclose(feats[..., -1].numpy(), expected, atol=1e-6)
    for state in range(4):  # the top 5 of the rank column are the top 5 of the score
        top = set(np.argsort(-feats[state, :, -1].numpy())[:5])
        assert top == set(np.argsort(-score[state])[:5])
    warped = obs.copy()
    warped[..., -1] = np.exp(3 * obs[..., -1])  # increasing, changes the distribution's shape
    torch.testing.assert_close(rank(torch.as_tensor(warped)), feats)
    assert not torch.allclose(relative(torch.as_tensor(warped)), relative(torch.as_tensor(obs)))
    tied = obs.copy()
    tied[0, :, -1] = 0.0
    tied[0, :2, -1] = 1.0  # two tied largest, the rest tied smallest
    col = rank(torch.as_tensor(tied))[0, :, -1]
    torch.testing.assert_close(col[:2], torch.full((2,), (n - 1.5) * 2 / (n - 1) - 1))
    torch.testing.assert_close(col[2:], torch.full((n - 2,), (n - 3) / (n - 1) - 1))
    one = np.concatenate([_eq2_states(rng, n=1), np.ones((4, 1, 1), np.float32)], -1)
    single = RankRowFeatures(space.__class__(-np.inf, np.inf, one.shape[1:]), k, d, 1)
    assert torch.equal(single(torch.as_tensor(one)), torch.zeros(4, 1, 13))  # nothing to rank


@pytest.mark.parametrize("view", ["invariant", "rank"])
def test_feature_standardisation_is_fitted_saved_and_reloaded(view, make_env, tmp_path):
    env = make_env()
    obs, _ = env.reset(seed=0)
    policy = IALEPolicy(
        env.observation_space,
        env.action_space,
        ConstantLR(1e-3),
        acquisition_size=5,
        view=view,
        normalize=True,
    )
    states = np.stack([obs, obs * 0.5])
    policy.fit_normalizer(states)
    feats = policy.features(torch.as_tensor(states)).reshape(-1, policy.normalizer.mean.numel())
    np.testing.assert_allclose(feats.mean(0).numpy(), 0.0, atol=1e-4)
    policy.save(str(tmp_path / "policy.zip"))
    loaded = load_policy(str(tmp_path / "policy.zip"), env=env)
    assert loaded.view == view and loaded.normalize
    torch.testing.assert_close(loaded.normalizer.std, policy.normalizer.std)
    assert np.array_equal(loaded.select(obs), policy.select(obs))
    with pytest.raises(ValueError, match="view must be one of"):
        IALEPolicy(env.observation_space, env.action_space, ConstantLR(1e-3), 5, view="pixels")


@pytest.mark.slow
@pytest.mark.dagger
def test_dagger_logs_held_out_agreement_and_trains_a_fixed_number_of_updates(make_env, tmp_path):
    from agents.dagger import DAggerConfig, agreement, train_dagger

    env = make_env()
    cfg = DAggerConfig(
        episodes=2,
        bc_batch_size=4,
        bc_batches=7,
        view="invariant",
        normalize=True,
        heldout_episodes=1,
    )
    res = train_dagger(env, cfg, tmp_path, progress=False)
    with np.load(tmp_path / "heldout.npz") as held:
        states, actions = held["states"], held["actions"]
    steps = env.config.steps_per_episode
    assert states.shape == (steps, 20, 286) and (actions.sum(1) == 5).all()
    # the held-out episode is not one of the training rounds
    assert not any(np.array_equal(states[0], s) for s in res.states)
    logged = [row["heldout_agreement"] for row in res.log]
    assert logged[-1] == pytest.approx(agreement(res.policy.select(states), actions))
    assert all(0.0 <= a <= 1.0 for a in logged)
    header = (tmp_path / "log.csv").read_text().splitlines()[0].split(",")
    assert "heldout_agreement" in header
    # bc_batches: the policy's optimizer made exactly that many updates per round
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert int(ckpt["optimizer"]["state"][0]["step"]) == 2 * 7
    # the held-out set is reused on resume, and an older checkpoint without the new settings
    # resumes with their defaults
    mtime = (tmp_path / "heldout.npz").stat().st_mtime_ns
    more = dataclasses.replace(cfg, episodes=3)
    res3 = train_dagger(env, more, tmp_path, resume=True, progress=False)
    assert len(res3.log) == 3 and (tmp_path / "heldout.npz").stat().st_mtime_ns == mtime
    # the offline imitability table reads the run: one-statistic scorers recomputed by hand
    from agents.diagnostics.imitability import VARIANTS, compare_scorers, markdown, top_k

    rows = compare_scorers(tmp_path, steps=3)
    least = next(r for r in rows if str(r["scorer"]).startswith("least confidence"))
    probs = states[..., 276:286]  # M's softmax block of the Eq. 2 row (D=128, K=10)
    assert least["heldout"] == pytest.approx(agreement(top_k(1 - probs.max(-1), 5), actions))
    assert sum(str(r["scorer"]).startswith("policy:") for r in rows) == len(VARIANTS)
    assert "| chance (k / n) | 0 | 0.250 | 0.250 |" in markdown(rows)
    # the imitation curve: the logged rounds against the same scorers, plotted by the CLI
    from agents.cli.imitability import main as imitability_main
    from agents.diagnostics.imitability import imitation_curve

    curve = imitation_curve(tmp_path)
    assert list(curve.rounds) == [1, 2, 3]
    assert list(curve.heldout) == pytest.approx(logged + [res3.log[-1]["heldout_agreement"]])
    assert list(curve.new_states) == pytest.approx([row["agreement"] for row in res3.log])
    assert curve.references["least confidence"] == pytest.approx(least["heldout"])
    assert curve.references["chance (k / n)"] == 0.25
    png = tmp_path / "figs" / "curve.png"
    assert imitability_main([str(tmp_path), "--curve", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="--heldout-episodes"):
        imitation_curve(tmp_path / "figs")
    # the first round's pairs only, each policy saved where evaluate.py runs it
    first = compare_scorers(tmp_path, VARIANTS[-1:], steps=3, rounds=1, save_dir=tmp_path / "p")
    assert first[-1]["trained_on"] == rows[-1]["trained_on"] // 3  # 1 of 3 rounds
    spec = parse_method(f"iale:{tmp_path / 'p' / VARIANTS[-1].slug}")
    assert load_policy(spec.path, env=env).view == VARIANTS[-1].view
    with pytest.raises(ValueError, match="exists"):
        compare_scorers(tmp_path, VARIANTS[-1:], steps=3, rounds=1, save_dir=tmp_path / "p")
    with pytest.raises(ValueError, match="--rounds 4"):
        compare_scorers(tmp_path, VARIANTS[-1:], steps=3, rounds=4)
    plain = DAggerConfig(episodes=1, bc_batch_size=4, bc_epochs=1)
    train_dagger(env, plain, tmp_path / "old", progress=False)
    ckpt = torch.load(tmp_path / "old" / "checkpoint.pt", weights_only=False)
    for key in ("view", "normalize", "bc_batches", "heldout_episodes"):
        del ckpt["settings"]["dagger"][key]
    torch.save(ckpt, tmp_path / "old" / "checkpoint.pt")
    plain = dataclasses.replace(plain, episodes=2)
    assert len(train_dagger(env, plain, tmp_path / "old", resume=True, progress=False).log) == 2


@pytest.mark.slow
def test_oracle_method_executes_the_oracle_and_logs_the_winner(idx_root, tmp_path, tiny_data):
    assert parse_method("oracle").family == "oracle"
    env = ALConfig(**{**TINY, "data_dir": str(idx_root)})
    cfg = EvalConfig(("MNIST",), ("random", "oracle"), (0,), env, ())
    rows = evaluate(cfg, tmp_path, log=None)
    decisions = read_csv(tmp_path / ORACLE_CSV)
    steps = env.steps_per_episode
    assert len(decisions) == steps and {d["winner"] for d in decisions} <= set(env.experts)
    for d in decisions:
        scores = json.loads(d["scores"])
        assert scores[d["winner"]] == max(scores.values())
    # the oracle's first selection is what the env's oracle picks at that state
    from iale_env import ActiveLearningEnv, load_dataset

    e = ActiveLearningEnv(env.replace(dataset="MNIST"), data=load_dataset("MNIST", str(idx_root)))
    e.reset(seed=0)
    first = e.oracle_action()
    winner = e.last_oracle.winner
    _, _, _, _, info = e.step(first)
    oracle_rows = [r for r in rows if r["method"] == "oracle"]
    assert float(oracle_rows[1]["test_accuracy"]) == pytest.approx(info["test_accuracy"])
    assert decisions[0]["winner"] == winner


def test_fieller_interval_of_a_ratio_of_paired_means():
    t2 = 4.302652729911275  # Student t, 97.5%, 2 degrees of freedom
    # a constant denominator: the interval is the numerator's t-interval divided by it
    ratio, low, high = fieller_ratio([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])
    half = t2 * 1.0 / math.sqrt(3) / 2  # sd 1, sem 1/sqrt(3), divided by 2
    assert ratio == pytest.approx(1.0)
    assert (low, high) == (pytest.approx(1.0 - half), pytest.approx(1.0 + half))
    # a denominator indistinguishable from 0: no bounded interval
    ratio, low, high = fieller_ratio([1.0, 2.0, 3.0], [1.0, -1.0, 0.5])
    assert math.isnan(low) and math.isnan(high) and ratio == pytest.approx(2.0 / (0.5 / 3))


def test_summary_compares_with_the_best_heuristic_and_the_oracle():
    curves = {("random", s): [0.5, 0.6 + 0.01 * s, 0.7] for s in range(3)}
    curves.update({("entropy", s): [0.5, 0.64 + 0.01 * s, 0.72] for s in range(3)})
    curves.update({("coreset", s): [0.5, 0.61, 0.7] for s in range(3)})
    curves.update({("oracle", s): [0.5, 0.68 + 0.01 * s + 0.002 * s * s, 0.74] for s in range(3)})
    curves.update({("iale", s): [0.5, 0.64 + 0.011 * s, 0.72] for s in range(3)})

    def mean_acc(method: str, seed: int) -> float:  # trapezoid over 20, 60, 100 labels
        a = curves[(method, seed)]
        return (a[0] + 2 * a[1] + a[2]) / 4

    summary = {(r.method, r.metric): r for r in summarize(curve_rows(curves))}
    best = summary[("iale", "vs_best_heuristic")]
    assert best.reference == "entropy"  # the heuristic with the highest mean accuracy
    diffs = [mean_acc("iale", s) - mean_acc("entropy", s) for s in range(3)]
    assert best.mean == pytest.approx(np.mean(diffs)) and best.n == 3
    share = summary[("iale", "oracle_share")]
    num = [mean_acc("iale", s) - mean_acc("random", s) for s in range(3)]
    den = [mean_acc("oracle", s) - mean_acc("random", s) for s in range(3)]
    assert share.mean == pytest.approx(np.mean(num) / np.mean(den))
    assert share.low < share.mean < share.high
    assert ("random", "oracle_share") not in summary
    assert ("entropy", "vs_best_heuristic") not in summary
    md = summary_markdown(list(summarize(curve_rows(curves))))
    assert "best heuristic (entropy)" in md and "| iale |" in md


def _one_run_sweep(idx_root, out, seed, method="random"):
    env = ALConfig(**{**TINY, "data_dir": str(idx_root)})
    return evaluate(EvalConfig(("MNIST",), (method,), (seed,), env, ()), out, log=None)


def test_merged_sweeps_count_every_run_once(idx_root, tmp_path):
    _one_run_sweep(idx_root, tmp_path / "a", 0)
    _one_run_sweep(idx_root, tmp_path / "b", 1)
    merged = merge_sweeps([tmp_path / "a", tmp_path / "b"], tmp_path / "m")
    rows = read_csv(merged / CURVES_CSV)
    assert {r["seed"] for r in rows} == {"0", "1"}
    merge_sweeps([tmp_path / "a", tmp_path / "b"], tmp_path / "m")  # a repeated merge: same
    assert read_csv(merged / CURVES_CSV) == rows
    # the same run with other results in two folders is refused, not double-counted
    _one_run_sweep(idx_root, tmp_path / "c", 0)
    curves = (tmp_path / "c" / CURVES_CSV).read_text().replace(",0.", ",0.0", 1)
    (tmp_path / "c" / CURVES_CSV).write_text(curves)
    with pytest.raises(ValueError, match="differs between"):
        merge_sweeps([tmp_path / "a", tmp_path / "c"], tmp_path / "m2")
    # a sweep of an older version lacks a setting added since: it counts as its default
    older = json.loads((tmp_path / "b" / "config.json").read_text())
    del older["env"]["classifier"]
    (tmp_path / "b" / "config.json").write_text(json.dumps(older))
    merge_sweeps([tmp_path / "a", tmp_path / "b"], tmp_path / "m4")
    other = json.loads((tmp_path / "b" / "config.json").read_text())
    other["env"]["epochs"] = 99
    (tmp_path / "b" / "config.json").write_text(json.dumps(other))
    with pytest.raises(ValueError, match="other env settings"):
        merge_sweeps([tmp_path / "a", tmp_path / "b"], tmp_path / "m3")


def _script_module(name: str):
    """The module of the command ``scripts/<name>`` (``agents.cli.<stem>``)."""
    return importlib.import_module(f"agents.cli.{name.removesuffix('.py')}")


def test_cpu_protocol_is_one_definition_shared_by_every_script():
    from agents.presets import PRESETS
    from iale_env.protocols import PROTOCOLS

    dagger = _script_module("train_dagger.py")
    rl = _script_module("train_rl.py")
    ev = _script_module("evaluate.py")
    # every preset of every script is its protocol's settings, the AL protocol included
    for presets in (dagger.IALE_PRESETS, rl.PRESETS, ev.PRESETS):
        for name, preset in presets.items():
            env = PROTOCOLS[name].al_config()
            assert {k: preset[k] for k in env} == env, name
    for name, preset in dagger.ALIL_PRESETS.items():
        p, proto = PRESETS[name], PROTOCOLS[name]
        assert p.protocol is proto and preset["epochs"] == proto.epochs
        assert preset["scoring_size"] == (p.alil_scoring_size or proto.scoring_size)
        assert preset["budget"] == (p.alil_budget or proto.budget)
        assert preset["heldout_episodes"] == 0
    assert dagger.IALE_PRESETS["cpu"]["episodes"] == PRESETS["cpu"].dagger_episodes >= 30
    alil = dagger.ALIL_PRESETS["cpu"]
    assert (alil["acquisition_size"], alil["subpool_size"]) == (1, 10)
    # on the CPU, ALIL trains on shorter episodes with a smaller lookahead scoring set; it is
    # evaluated, like every method, at the protocol's budget and scoring set (the loop above)
    assert alil["budget"] < CPU.budget and alil["scoring_size"] < CPU.scoring_size
    # the method is the paper's: classifier epochs aside, k=10 of n=100, both experts
    assert (CPU.acquisition_size, CPU.subpool_size) == (10, 100)
    assert dagger.IALE_PRESETS["cpu"]["experts"] == "mc_dropout,ensemble"
    # the learned policies (IALE, PPO/A2C) read the same state: Eq. 2 + the experts' scores
    for preset in (dagger.IALE_PRESETS["cpu"], rl.PRESETS["cpu"]):
        assert (preset["view"], preset["state_scores"]) == ("relative", "mc_dropout,ensemble")
    # ALIL keeps its paper state; evaluation reads the state from each policy's config.json
    assert alil["state_scores"] == "" and "state_scores" not in ev.PRESETS["cpu"]


def test_reproduce_pipeline_commands_are_valid_script_invocations(tmp_path):
    """Every command that reproduce_cpu.py runs parses with its script's own argument parser,
    trains into its own folder, and every trained policy is evaluated on every dataset."""
    pipeline = _script_module("reproduce_cpu.py")
    parsers = {
        "agents.cli.train_dagger": _script_module("train_dagger.py").build_parser(),
        "agents.cli.train_alil": _script_module("train_dagger.py").build_parser("alil"),
        "agents.cli.train_rl": _script_module("train_rl.py").build_parser(),
        "agents.cli.evaluate": _script_module("evaluate.py").build_parser(),
    }
    for quick, ablations in ((False, True), (True, True), (False, False)):
        jobs = pipeline.build_jobs(tmp_path, "cpu", "0,1", quick, ablations)
        outs = []
        for job in jobs:
            assert job.args[1] == "-m"
            args = parsers[job.args[2]].parse_args(job.args[3:])
            assert args.preset == "cpu" and args.device == "cpu"
            outs.append(args.out)
        assert len(set(outs)) == len(outs)  # no two processes share an output folder
        trained = [j for j in jobs if j.name.startswith("train_")]
        evals = [j for j in jobs if j.stage == 2]
        assert len(evals) == len(trained) * len(pipeline.DATASETS)
    # a dataset too small for the protocol's scoring set: its own size, its own results folder
    jobs = pipeline.build_jobs(tmp_path, "cpu", "0", False, False, {"KMNIST": 3000})
    for job in (j for j in jobs if j.name.startswith("eval_")):
        args = parsers[job.args[2]].parse_args(job.args[3:])
        assert args.scoring_size == (3000 if args.datasets == ("KMNIST",) else None), job.name
        folder = pipeline.result_folder(Path(args.out).name, {"KMNIST": 3000})
        assert folder == ("results_KMNIST" if args.datasets == ("KMNIST",) else "results")
    assert pipeline.parse_scoring_sizes("KMNIST=3000") == {"KMNIST": 3000}
    for bad in ("KMNIST", "CIFAR=10", "KMNIST=-1"):
        with pytest.raises(ValueError, match="DATASET=N"):
            pipeline.parse_scoring_sizes(bad)


@pytest.mark.dagger
def test_the_experts_score_columns_are_one_statistic_scorers():
    """Each score column of the state ranks the candidates, its ties (variation ratios take few
    values) broken by least confidence."""
    from agents.diagnostics.imitability import statistic_scores

    states = np.zeros((1, 4, 2 * 128 + 3 * 10 + 2), np.float32)
    for i, p1 in enumerate((0.9, 0.5, 0.7, 0.6)):  # least confidence 0.1, 0.5, 0.3, 0.4
        states[0, i, 276:286] = [p1] + [(1 - p1) / 9] * 9
    states[0, :, -2] = [0.2, 0.2, 0.4, 0.0]  # mc_dropout's variation ratios
    states[0, :, -1] = [0.0, 0.0, 0.0, 0.2]  # the ensemble's
    scores = statistic_scores(states, state_scores=("mc_dropout", "ensemble"))
    rank = {name: list(np.argsort(-s[0], kind="stable")) for name, s in scores.items()}
    assert rank["mc_dropout score column"] == [2, 1, 0, 3]
    assert rank["ensemble score column"] == [3, 1, 2, 0]
    assert rank["least confidence"] == [1, 3, 2, 0]


@pytest.mark.slow
@pytest.mark.dagger
@pytest.mark.parametrize("view", ["invariant", "relative"])
def test_a_policy_reading_expert_scores_trains_and_is_evaluated_with_them(idx_root, tmp_path, view):
    """DAgger on a state extended by the experts' scores; evaluate.py runs the policy in an env
    with the same extension (read from the run's config.json), next to a plain heuristic."""
    from agents.cli.common import write_run_config
    from agents.dagger import DAggerConfig, train_dagger

    al = ALConfig(**{**TINY, "data_dir": str(idx_root), "state_scores": ("mc_dropout",)})
    cfg = DAggerConfig(
        episodes=1, bc_batch_size=4, bc_epochs=1, view=view, normalize=True, heldout_episodes=1
    )
    res = train_dagger(ActiveLearningEnv(al), cfg, tmp_path / "run", progress=False)
    width = 16 + 2 if view == "invariant" else 12 + 1
    assert res.policy.score_columns == 1
    assert res.policy.features_extractor.features_dim == width
    write_run_config(tmp_path / "run", "iale", al, dagger=cfg)
    reloaded = load_policy(str(tmp_path / "run" / "policy.zip"))
    assert reloaded.score_columns == 1 and reloaded.features_extractor.features_dim == width
    sweep = EvalConfig(
        ("MNIST",), ("random", f"iale:{tmp_path / 'run'}"), (0,), al.replace(state_scores=()), ()
    )
    rows = evaluate(sweep, tmp_path / "eval", log=None)
    assert {r["method"] for r in rows} == {"random", "iale"}
    assert len({r["pairing_key"] for r in rows}) == 1  # the extension does not change the split
    # offline policies trained on the run's states read the same columns, and say so to evaluate
    from agents.diagnostics.imitability import VARIANTS, compare_scorers

    variant = next(v for v in VARIANTS if v.view == view)
    compare_scorers(tmp_path / "run", (variant,), steps=2, save_dir=tmp_path / "offline")
    saved = tmp_path / "offline" / variant.slug
    assert load_policy(str(saved / "policy.zip")).score_columns == 1
    assert policy_env_overrides(parse_method(f"iale:{saved}"))["state_scores"] == ("mc_dropout",)


@pytest.mark.slow
@pytest.mark.dagger
def test_the_oracles_decisions_are_read_from_a_runs_demonstrations(idx_root, tmp_path, capsys):
    """Each training state's winner and experts' scores come from the env's infos, agree with
    the per-round wins of log.csv, and the table follows the score columns of the state."""
    from agents.cli.imitability import main as imitability_main
    from agents.dagger import DAggerConfig, train_dagger
    from agents.diagnostics.decisions import decisions_markdown, oracle_decisions

    scores = ("mc_dropout", "ensemble")
    al = ALConfig(**{**TINY, "data_dir": str(idx_root), "state_scores": scores})
    cfg = DAggerConfig(episodes=2, bc_batch_size=4, bc_epochs=1, view="relative")
    from agents.cli.common import write_run_config

    res = train_dagger(ActiveLearningEnv(al), cfg, tmp_path, progress=False)
    write_run_config(tmp_path, "iale", al, dagger=cfg)
    d = oracle_decisions(tmp_path)
    steps = al.steps_per_episode
    assert d.experts == scores and list(d.rounds) == [1] * steps + [2] * steps
    for rnd, row in enumerate(res.log, start=1):
        won = np.bincount(d.winners[d.rounds == rnd], minlength=2)
        assert dict(zip(scores, won)) == {e: json.loads(row["wins"]).get(e, 0) for e in scores}
    assert (d.scores.argmax(1) == d.winners).all()  # ties go to the first expert
    assert d.column_agreement.shape == (2 * steps, 2)
    assert ((0 <= d.column_agreement) & (d.column_agreement <= 1)).all()
    assert len(oracle_decisions(tmp_path, rounds=1).winners) == steps
    with pytest.raises(ValueError, match="--rounds 3"):
        oracle_decisions(tmp_path, rounds=3)
    table = decisions_markdown(d)
    assert f"| states (rounds) | {2 * steps} (2) |" in table
    assert "the winner's score column (the winner known)" in table
    # both experts are score columns of the state: their selections are read and summarised
    assert d.selections.shape == (2 * steps, 2, len(d.selection_names))
    assert "| winner predicted from the experts' selections" in table
    assert "Selection features: mean entropy," in table
    out = tmp_path / "decisions.md"
    assert imitability_main([str(tmp_path), "--decisions", str(out)]) == 0
    assert out.read_text() == table
    # the exported decisions give the same tables without the demonstrations
    exported = tmp_path / "decisions.npz"
    assert imitability_main([str(tmp_path), "--export-decisions", str(exported)]) == 0
    assert (
        imitability_main([str(tmp_path), "--export-decisions", str(exported)]) == 2
    )  # no overwrite
    assert decisions_markdown(oracle_decisions(exported)) == table
    first, first_exported = oracle_decisions(tmp_path, 1), oracle_decisions(exported, 1)
    for field in ("rounds", "winners", "scores", "features", "column_agreement", "selections"):
        np.testing.assert_array_equal(getattr(first_exported, field), getattr(first, field))
    with pytest.raises(ValueError, match="--rounds 3"):
        oracle_decisions(exported, rounds=3)
    assert imitability_main([str(tmp_path / "nothing"), "--decisions", str(out)]) == 2
    # a selector is fitted to the same decisions from the run or from the exported file
    from agents.cli.train_selector import main as selector_main
    from agents.selector import ExpertSelector

    assert selector_main([str(tmp_path), "--out", str(tmp_path / "sel")]) == 0
    capsys.readouterr()
    for argv, message in [
        ([str(tmp_path), "--out", str(tmp_path / "sel")], "selector.json exists"),  # no overwrite
        ([str(tmp_path), "--out", str(tmp_path)], "config.json exists"),  # nor the run's config
        ([str(exported), "--out", str(tmp_path / "sel2")], "pass --env-config"),
    ]:
        assert selector_main(argv) == 2
        assert message in capsys.readouterr().err
    config = str(tmp_path / "config.json")
    assert (
        selector_main([str(exported), "--env-config", config, "--out", str(tmp_path / "s2")]) == 0
    )
    a, b = ExpertSelector.load(tmp_path / "sel"), ExpertSelector.load(tmp_path / "s2")
    assert a.experts == scores and a.feature_names == d.selection_names
    np.testing.assert_array_equal(a.model.logits(d.selections), b.model.logits(d.selections))
    fitted = json.loads((tmp_path / "sel" / "config.json").read_text())
    assert fitted["env"]["state_scores"] == list(scores)


def test_each_experts_selection_is_read_from_the_state_and_summarised():
    """Margin's top k from M's softmax block, the ensemble's from its score column; each
    selection's margin, spread (pairwise distance over the sub-pool's) and labeled share."""
    from agents.state_stats import expert_selections, selection_features

    # rows: labeled mean embedding (2) | labeled histogram (2) | predictions' histogram (2) |
    # candidate embedding (2) | softmax (2) | ensemble score (1)
    emb = [(0, 0), (0, 0), (3, 4), (0, 0)]
    probs = [(0.5, 0.5), (0.9, 0.1), (0.6, 0.4), (0.01, 0.99)]
    states = np.array(
        [[[0, 0, 0.75, 0.25, 0.5, 0.5, *e, *p, s] for e, p, s in zip(emb, probs, (0, 1, 0, 1))]]
    )
    kw = {"num_classes": 2, "embedding_dim": 2}
    sel = expert_selections(states, 2, ("margin", "ensemble"), ("ensemble",), **kw)
    np.testing.assert_array_equal(sel[0], [[1, 0, 1, 0], [0, 1, 0, 1]])
    assert expert_selections(states, 2, ("margin", "coreset"), ("ensemble",), **kw) is None
    names, f = selection_features(states, sel, **kw)
    got = dict(zip(names, f[0].T))
    np.testing.assert_allclose(got["mean margin"], [0.1, 0.89])
    np.testing.assert_allclose(got["pairwise distance over the sub-pool's"], [2.0, 0.0])
    np.testing.assert_allclose(got["labeled share of the predicted classes"], [0.75, 0.5])


@pytest.mark.dagger
def test_predicting_the_winner_from_the_experts_selections():
    """A selection feature that decides the winner is learned from the other rounds (it names
    the winner, whatever the expert), features that carry nothing leave the majority winner, and
    the gain over the best fixed expert is taken per held-out round."""
    from agents.diagnostics.decisions import (
        OracleDecisions,
        gain_over_fixed_expert,
        predict_from_selections,
    )

    rng = np.random.default_rng(0)
    rounds = np.repeat(np.arange(1, 6), 30)
    signal = rng.normal(size=(150, 3))
    winners = signal.argmax(1)
    # the winner scores 0.8, "c" 0.75 when it does not win, the others 0.7: "c" is the best
    # fixed expert, though it wins no more often than the others
    scores = np.where(np.eye(3)[winners] == 1, 0.8, np.array([0.7, 0.7, 0.75]))

    def decisions(selections: np.ndarray | None) -> OracleDecisions:
        return OracleDecisions(
            ("a", "b", "c"),
            rounds,
            winners,
            scores,
            ("f",),
            np.zeros((150, 1)),
            selection_names=("s", "noise"),
            selections=selections,
        )

    both = np.stack([signal, rng.normal(size=(150, 3))], axis=-1)
    assert (predict_from_selections(decisions(both)) == winners).mean() >= 0.95
    constant = predict_from_selections(decisions(np.ones((150, 3, 2))))
    for held in range(1, 6):  # the other rounds' most frequent winner
        majority = np.bincount(winners[rounds != held], minlength=3).argmax()
        assert (constant[rounds == held] == majority).all()
    # over "c", the winner gains 0.05 wherever another expert wins
    gains = gain_over_fixed_expert(decisions(both), winners)
    expected = [0.05 * np.mean(winners[rounds == r] != 2) for r in range(1, 6)]
    np.testing.assert_allclose(gains, expected)
    np.testing.assert_allclose(gain_over_fixed_expert(decisions(both), np.full(150, 2)), 0)
    with pytest.raises(ValueError, match="--state-scores"):
        predict_from_selections(decisions(None))


@pytest.mark.dagger
def test_predicting_the_winner_from_state_features():
    """Leave-one-round-out: a feature that decides the winner is learned from the other rounds;
    features that carry nothing leave the majority winner."""
    from agents.diagnostics.decisions import OracleDecisions, predict_winners

    rng = np.random.default_rng(0)
    rounds = np.repeat(np.arange(1, 6), 20)
    signal = rng.normal(size=100)
    winners = (signal > 0).astype(int)

    def decisions(features: np.ndarray) -> OracleDecisions:
        return OracleDecisions(
            ("a", "b"), rounds, winners, np.zeros((100, 2)), ("f",), features[:, None]
        )

    predicted, majority = predict_winners(decisions(signal))
    assert (predicted == winners).mean() >= 0.95
    constant, _ = predict_winners(decisions(np.ones(100)))
    for held in range(1, 6):  # the other rounds' more frequent winner
        others = winners[rounds != held]
        assert (majority[rounds == held] == int(others.mean() > 0.5)).all()
    assert (constant == majority).all()
    with pytest.raises(ValueError, match="at least 2 rounds"):
        one = OracleDecisions(
            ("a", "b"), np.ones(4, int), np.zeros(4, int), np.zeros((4, 2)), ("f",), np.ones((4, 1))
        )
        predict_winners(one)
