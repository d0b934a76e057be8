"""The value teacher (agents.values): its targets, the policy fitted to them, and the CLIs."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from agents.cli import collect_values, score_value, train_value
from agents.evaluation import EvalConfig, evaluate, parse_method, read_csv
from agents.evaluation.methods import ValueChoiceRun, make_selector
from agents.policy import load_policy
from agents.values.collect import (
    EpisodeValues,
    ValueSampling,
    collect,
    episode_file,
    proposal_batches,
)
from agents.values.fit import (
    StateTargets,
    ValueFitConfig,
    cross_validate,
    fit_value_policy,
    new_value_policy,
)
from agents.values.report import report_markdown, state_report, summarize_report
from iale_env import ActiveLearningEnv, ALConfig
from iale_env.oracles import best_expert
from tests.conftest import TINY

pytestmark = [
    pytest.mark.filterwarnings("ignore:MNIST:UserWarning"),
    pytest.mark.filterwarnings("ignore:FashionMNIST:UserWarning"),
]


def test_proposals_alternate_uniform_draws_and_perturbed_expert_selections():
    rng = np.random.default_rng(0)
    experts = [np.arange(10), np.arange(50, 60)]
    rows = proposal_batches(rng, 100, 10, experts, ValueSampling(batches=40, keep=0.3))
    assert rows.shape == (40, 10)
    assert all(len(set(r)) == 10 and list(r) == sorted(r) for r in rows)  # k distinct, sorted
    for r, row in enumerate(rows):
        if r % 2:  # the experts in turn, 3 of each selection's 10 kept
            base = experts[(r // 2) % 2]
            assert len(np.intersect1d(row, base)) >= 3
    odd_overlap = np.mean([len(np.intersect1d(row, experts[(r // 2) % 2])) for r, row in
                           enumerate(rows) if r % 2])  # fmt: skip
    even_overlap = np.mean([len(np.intersect1d(row, experts[0])) for row in rows[::2]])
    assert odd_overlap > even_overlap + 2  # uniform draws hold about 1 of an expert's 10
    with pytest.raises(ValueError, match="keep"):
        ValueSampling(keep=1.0)


@pytest.mark.slow
def test_collect_scores_the_experts_like_the_oracle_follows_it_and_resumes(
    make_env, tiny_data, tmp_path
):
    cfg = ALConfig(**TINY)
    sampling = ValueSampling(batches=4)
    files = collect(cfg, [0, 1], sampling, tmp_path, data=tiny_data)
    values = EpisodeValues.load(files[0])
    steps, n, k = cfg.steps_per_episode, cfg.subpool_size, cfg.acquisition_size
    experts = len(cfg.experts)
    assert values.selections.shape == (steps, experts + 4, k)
    assert values.accuracies.shape == (steps, experts + 4)
    assert values.experts == cfg.experts and list(values.labeled) == list(
        range(cfg.initial_labeled, cfg.budget, k)
    )
    env = make_env()  # the episode is the best-expert oracle's, state by state
    obs, _ = env.reset(seed=0)
    for step in range(steps):
        decision = best_expert(env.episode)
        np.testing.assert_array_equal(values.observations[step], obs)
        np.testing.assert_array_equal(values.subpool[step], env.subpool_indices)
        assert values.seeds[step] == decision.seed
        scores = [decision.scores[e] for e in cfg.experts]
        np.testing.assert_allclose(values.accuracies[step, :experts], scores, atol=1e-7)
        for e, name in enumerate(cfg.experts):
            assert set(values.selections[step, e]) == set(decision.selections[name])
        assert values.selections[step].max() < n
        obs, *_ = env.step(decision.action)
    # a kill before the second episode was written: resume runs it again, the same
    second = episode_file(tmp_path, 1).read_bytes()
    first = episode_file(tmp_path, 0).stat().st_mtime_ns
    episode_file(tmp_path, 1).unlink()
    with pytest.raises(ValueError, match="resume"):
        collect(cfg, [0, 1], sampling, tmp_path, data=tiny_data)
    collect(cfg, [0, 1], sampling, tmp_path, data=tiny_data, resume=True)
    assert episode_file(tmp_path, 0).stat().st_mtime_ns == first  # kept, not collected again
    again = EpisodeValues.load(episode_file(tmp_path, 1))
    with np.load(__import__("io").BytesIO(second)) as before:
        np.testing.assert_array_equal(again.accuracies, before["accuracies"])
        np.testing.assert_array_equal(again.selections, before["selections"])


def _synthetic_episodes(count: int, weights: np.ndarray, seed: int = 0) -> list[EpisodeValues]:
    """Episodes of random states whose selections' accuracy is the sum of a linear function
    of their candidates' rows, plus noise."""
    rng = np.random.default_rng(seed)
    episodes = []
    for _ in range(count):
        obs = rng.normal(size=(12, 20, len(weights))).astype(np.float32)
        sel = np.stack([np.stack([rng.choice(20, 5, replace=False) for _ in range(16)])
                        for _ in range(12)])  # fmt: skip
        value = obs @ weights  # (states, candidates)
        acc = 0.5 + 0.01 * np.take_along_axis(value, sel.reshape(12, -1), 1).reshape(12, 16, 5)
        acc = acc.sum(-1) + rng.normal(0, 0.002, size=(12, 16))
        episodes.append(
            EpisodeValues(obs, sel, acc, ("a", "b"), np.arange(12), np.zeros(12, dtype=np.int64))
        )
    return episodes


def test_the_fit_learns_each_candidates_share_and_the_policy_selects_by_it():
    weights = np.array([1.0, -0.5, 0.0, 0.0, 0.0, 0.0])
    targets = StateTargets.of(_synthetic_episodes(8, weights))
    config = ValueFitConfig(view="eq2", normalize=False, epochs=40, heldout_episodes=2)
    policy = new_value_policy((20, 6), 5, 10, 128, 0, config)
    log = fit_value_policy(policy, targets, config)
    assert log[-1]["heldout_corr"] > 0.9 and log[-1]["heldout_loss"] < 0.3 * log[0]["heldout_loss"]
    assert log[-1]["heldout_pick"] > 0.8 * targets.values.max(axis=1).mean()
    held = targets.values[targets.episode >= 6, :2]  # choosing per state beats a fixed expert
    assert log[-1]["heldout_choice"] > log[-1]["heldout_best_expert"] == held.mean(0).max()
    fresh = _synthetic_episodes(1, weights, seed=1)[0]  # new states: the top-5 by true value
    for obs in fresh.observations:
        chosen = np.flatnonzero(policy.select(obs))
        best = np.argsort(-(obs @ weights))[:5]
        assert len(np.intersect1d(chosen, best)) >= 4
    with pytest.raises(ValueError, match="none to train on"):
        fit_value_policy(policy, targets, ValueFitConfig(heldout_episodes=8))
    cv = cross_validate(  # every episode held out once: the folds agree on a learnable value
        targets, config, 4, lambda: new_value_policy((20, 6), 5, 10, 128, 0, config)
    )
    assert [r["epoch"] for r in cv] == list(range(1, 41)) and cv[-1]["heldout_corr"] > 0.9
    with pytest.raises(ValueError, match="folds must be in"):
        cross_validate(targets, config, 1, lambda: policy)
    mixed = _synthetic_episodes(1, np.ones(4)) + _synthetic_episodes(1, weights)
    with pytest.raises(ValueError, match="same settings"):
        StateTargets.of(mixed)


def test_the_state_report_values_what_pick_and_choice_would_execute():
    """Per state, the measured value of the selection a policy rates best (of all, and of the
    experts'), and the summary over episodes, paired per state."""
    weights = np.array([1.0, -0.5, 0.0, 0.0, 0.0, 0.0])
    episodes = _synthetic_episodes(3, weights)
    oracle = SimpleNamespace(logits=lambda obs: obs.float() @ torch.as_tensor(weights).float())
    rows = state_report(oracle, episodes, ["a", "b", "c"])
    assert len(rows) == 36 and set(rows[0]) == {
        "episode", "labeled", "pick", "pick_from", "choice", "best", "value_a", "value_b"
    }  # fmt: skip
    for row, (ep, s) in zip(rows, [(e, s) for e in episodes for s in range(12)]):
        y = 100 * (ep.accuracies[s] - ep.accuracies[s].mean())
        rated = (ep.observations[s] @ weights)[ep.selections[s]].sum(axis=1)
        assert row["pick"] == pytest.approx(y[np.argmax(rated)])
        assert row["choice"] == pytest.approx(y[np.argmax(rated[:2])])
        assert row["pick_from"] == ("a", "b", *["proposal"] * 14)[np.argmax(rated)]
        assert (row["value_a"], row["best"]) == (pytest.approx(y[0]), pytest.approx(y.max()))
    summary = {r["quantity"]: r for r in summarize_report(rows)}
    per_episode = [np.mean([r["pick"] - r["value_b"] for r in rows if r["episode"] == e])
                   for e in "abc"]  # fmt: skip
    assert summary["pick - b"]["mean"] == pytest.approx(np.mean(per_episode))
    assert summary["pick - b"]["episodes"] == 3 and summary["pick"]["mean"] > 0
    # the true values rate the selections: the pick is nearly always the best one measured
    assert summary["pick"]["mean"] > 0.9 * summary["best"]["mean"]
    with pytest.raises(ValueError, match="3 episodes but 2 names"):
        state_report(oracle, episodes, ["a", "b"])
    other = EpisodeValues(*(getattr(episodes[0], f) for f in ("observations", "selections",
                          "accuracies")), ("a", "c"), episodes[0].labeled, episodes[0].seeds)  # fmt: skip
    with pytest.raises(ValueError, match="other experts"):
        state_report(oracle, [episodes[0], other], ["a", "b"])
    # ties go to the experts, as pick:PATH breaks them: a proposal equal to the best selection
    obs, sel = episodes[0].observations[0], episodes[0].selections[0]
    sel[0] = sel[2] = np.sort(np.argsort(-(obs @ weights))[:5])  # expert a's and a proposal's
    assert state_report(oracle, episodes[:1], ["a"])[0]["pick_from"] == "a"
    sel[0] = np.sort(np.argsort(obs @ weights)[:5])  # now only the proposal is the best
    assert state_report(oracle, episodes[:1], ["a"])[0]["pick_from"] == "proposal"


TINY_FLAGS = [
    "--preset", "fast", "--dataset", "MNIST", "--budget", "20", "--initial-labeled", "10",
    "--acquisition-size", "5", "--subpool-size", "20", "--epochs", "3", "--scoring-size", "60",
    "--test-size", "60",
]  # fmt: skip


@pytest.mark.slow
def test_the_clis_collect_fit_and_the_policy_evaluates_and_bad_input_is_refused(
    idx_root, tmp_path, capsys
):
    data = ["--data-dir", str(idx_root)]
    targets = tmp_path / "targets"
    args = [*TINY_FLAGS, *data, "--experts", "margin,ensemble", "--batches", "4"]
    assert collect_values.main([*args, "--seeds", "0,1,2", "--out", str(targets)]) == 0
    config = json.loads((targets / "config.json").read_text())
    assert config["sampling"]["batches"] == 4 and config["env"]["state_scores"] == [
        "mc_dropout",
        "ensemble",
    ]  # the fast preset's state, as its DAgger runs see it
    assert collect_values.main([*args, "--seeds", "0", "--out", str(targets)]) == 2
    assert "--resume" in capsys.readouterr().err
    fit = tmp_path / "fit"
    (targets / "values" / "values-2.npz.tmp.npz").write_bytes(b"a killed write")  # ignored
    flags = ["--epochs", "3", "--heldout-episodes", "1", "--folds", "3", *data, "--out", str(fit)]
    assert train_value.main([str(targets), *flags]) == 0
    cv = (fit / "cv.csv").read_text().splitlines()
    assert len(cv) == 4 and cv[0].startswith("epoch,train_loss,heldout_loss")
    log = (fit / "log.csv").read_text().splitlines()
    assert len(log) == 4 and log[0].startswith("epoch,train_loss,heldout_loss")
    fitted = json.loads((fit / "config.json").read_text())
    assert fitted["env"] == config["env"]
    assert fitted["episodes"] == [str(targets / "values" / f"values-{s}.npz") for s in (0, 1, 2)]
    policy = load_policy(str(fit / "policy.zip"))
    assert (policy.view, policy.score_columns) == ("rank", 2)
    env = ALConfig(**{**TINY, "budget": 20, "classifier": "mlp", "data_dir": str(idx_root)})
    sweep = EvalConfig(("MNIST",), (f"value=iale:{fit / 'policy.zip'}",), (0,), env, ())
    rows = evaluate(sweep, tmp_path / "eval", log=None)
    assert [r["method"] for r in rows] == ["value"] * 3
    # choice: at each step the selection of the expert whose picks the policy values most
    spec = parse_method(f"choice:{fit}")
    assert (spec.family, spec.experts, spec.label) == ("choice", ("margin", "ensemble"), "choice")
    sweep = EvalConfig(("MNIST",), ("margin", "ensemble", spec.label + "=choice:" + str(fit)),
                       (0,), env, ())  # fmt: skip
    rows = evaluate(sweep, tmp_path / "choice", log=None)
    choices = [d for d in read_csv(tmp_path / "choice" / "oracle.csv") if d["method"] == "choice"]
    assert len(choices) == 2
    for d in choices:  # the expert valued most is the one executed
        values = json.loads(d["scores"])
        assert set(values) == {"margin", "ensemble"} and d["winner"] == max(values, key=values.get)
    executed = {d["winner"] for d in choices}
    if len(executed) == 1:  # one expert all along: its curve, bit for bit
        curves = {m: [r["test_accuracy"] for r in rows if r["method"] == m] for m in
                  ("choice", *executed)}  # fmt: skip
        assert curves["choice"] == curves[executed.pop()]
    run = ValueChoiceRun(load_policy(str(fit / "policy.zip")), ("margin", "ensemble"))
    live = ActiveLearningEnv(env.replace(state_scores=("mc_dropout", "ensemble")))
    obs, _ = live.reset(seed=3)
    kind, action = run(live, obs)
    logits = run.policy.logits(torch.as_tensor(obs[None]))[0].detach().numpy()
    best = max(("margin", "ensemble"), key=lambda e: logits[live.expert_action(e) > 0].sum())
    assert kind == "action" and run.drawn == best
    np.testing.assert_array_equal(action, live.expert_action(best))
    # pick: the experts' selections and the teacher's proposals, the one valued most executed
    fitted_sampling = json.loads((fit / "config.json").read_text())["sampling"]
    assert fitted_sampling == config["sampling"]  # recorded from the folders it was fitted to
    picker = make_selector(parse_method(f"pick:{fit}"), live)
    assert picker.sampling == ValueSampling(**fitted_sampling)
    n, k = live.config.subpool_size, live.config.acquisition_size

    def experts_and_proposals() -> tuple[list[np.ndarray], np.ndarray]:
        """The experts' picks and the teacher's proposals at ``live``'s state, drawn here."""
        rng = np.random.default_rng([picker.sampling.seed, live.oracle_seed])
        own = [np.flatnonzero(live.expert_action(e)) for e in ("margin", "ensemble")]
        return own, proposal_batches(rng, n, k, own, picker.sampling)

    for seed in (3, 4, 5):
        obs, _ = live.reset(seed=seed)
        kind, action = picker(live, obs)
        logits = picker.candidate_scores(obs)
        own, proposals = experts_and_proposals()
        rated = logits[np.concatenate([np.stack(own), proposals])].sum(axis=1)
        assert kind == "action" and action.sum() == k
        assert logits[action > 0].sum() == pytest.approx(rated.max())
        batches = picker.sampling.batches
        source = ("margin", "ensemble", *["proposal"] * batches)[int(np.argmax(rated))]
        assert picker.drawn == source and picker.probabilities["proposal"] == pytest.approx(
            rated[2:].max(), abs=1e-5
        )
    # a proposal valued above the experts' selections is executed: a policy that values only
    # the candidates no expert picks (a uniform proposal holds some, the experts none)
    expert_picks = sum(live.expert_action(e) for e in ("margin", "ensemble")) > 0
    only_others = SimpleNamespace(
        device="cpu", logits=lambda batch: torch.as_tensor(~expert_picks, dtype=torch.float32)[None]
    )
    kind, action = ValueChoiceRun(only_others, ("margin", "ensemble"), picker.sampling)(live, obs)
    _, proposals = experts_and_proposals()
    best = proposals[int(np.argmax((~expert_picks)[proposals].sum(axis=1)))]
    assert kind == "action" and (~expert_picks)[best].sum() > 0
    np.testing.assert_array_equal(np.flatnonzero(action), np.sort(best))
    sweep = EvalConfig(("MNIST",), (f"pick:{fit}",), (0,), env, ())
    evaluate(sweep, tmp_path / "pick", log=None)
    picks = read_csv(tmp_path / "pick" / "oracle.csv")
    assert len(picks) == 2 and {d["method"] for d in picks} == {"pick"}
    for d in picks:
        values = json.loads(d["scores"])
        assert set(values) == {"margin", "ensemble", "proposal"}
        assert d["winner"] == max(values, key=values.get)
    body = json.loads((fit / "config.json").read_text())
    (fit / "config.json").write_text(json.dumps({**body, "sampling": None}))
    with pytest.raises(ValueError, match="drew their proposals differently"):
        parse_method(f"pick:{fit}")  # before any episode
    (fit / "config.json").write_text(json.dumps({k: v for k, v in body.items() if k != "sampling"}))
    with pytest.raises(ValueError, match=r"no sampling\); fit it again"):
        parse_method(f"pick:{fit}")  # a fit made before the sampling was recorded
    (fit / "config.json").write_text(json.dumps({**body, "method": "dagger"}))
    with pytest.raises(ValueError, match="not a train_value.py fit"):
        parse_method(f"pick:{fit}")
    (fit / "config.json").write_text(json.dumps({**body, "env": {"experts": ["margin", "nope"]}}))
    with pytest.raises(ValueError, match=r"names experts \['nope'\]"):
        parse_method(f"choice:{fit}")
    (fit / "config.json").write_text(json.dumps(body))
    (fit / "config.json").rename(fit / "moved.json")
    with pytest.raises(ValueError, match="needs the experts to choose among"):
        parse_method(f"choice:{fit}")
    (fit / "moved.json").rename(fit / "config.json")
    # score_value.py: the fit's choices on measured targets, one row per state
    scored = tmp_path / "scored"
    assert score_value.main([str(fit), str(targets), "--out", str(scored)]) == 0
    states = read_csv(scored / "states.csv")
    episode = EpisodeValues.load(episode_file(targets / "values", 0))
    assert len(states) == 3 * len(episode.accuracies)
    rated = policy.logits(torch.as_tensor(episode.observations)).detach().numpy()
    for row, s in zip(states, range(len(episode.accuracies))):
        values = rated[s][episode.selections[s]].sum(axis=1)
        y = 100 * (episode.accuracies[s] - episode.accuracies[s].mean())
        assert float(row["pick"]) == pytest.approx(y[np.argmax(values)], abs=1e-6)
        assert float(row["choice"]) == pytest.approx(y[np.argmax(values[:2])], abs=1e-6)
        source = ("margin", "ensemble", *["proposal"] * 4)[np.argmax(values)]
        assert row["pick_from"] == source
    summary = read_csv(scored / "scores.csv")
    assert {r["quantity"]: float(r["episodes"]) for r in summary}["pick"] == 3
    table = report_markdown(summarize_report(states), "fit on MNIST")
    assert (scored / "scores.md").read_text() == table and "| pick - choice |" in table
    scored_config = json.loads((scored / "config.json").read_text())
    assert scored_config["episodes"] == fitted["episodes"]
    # refused before any work, with what to do
    other = tmp_path / "other"
    assert (
        collect_values.main([*args, "--seeds", "0", "--subpool-size", "10", "--out", str(other)])
        == 0
    )
    for sources, flag, message in [
        ([targets], [], "exists; choose a new --out"),
        ([tmp_path], [], "not a collect_values.py --out folder"),
        ([targets, other], [], "other env settings than"),
        ([targets], ["--view", "nope"], "--view must be one of"),
        ([targets], ["--folds", "4"], "--folds must be in [2, 3]"),
        ([targets], ["--heldout-episodes", "3"], "leaves none of the folders' 3 episodes"),
    ]:
        out = fit if "exists" in message else tmp_path / "new"
        code = train_value.main([*map(str, sources), *flag, *data, "--out", str(out)])
        assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
    fashion, batches6 = tmp_path / "fashion", tmp_path / "batches6"
    fm = [a if a != "MNIST" else "FashionMNIST" for a in args]
    assert collect_values.main([*fm, "--seeds", "5", "--out", str(fashion)]) == 0
    assert (
        collect_values.main([*args, "--seeds", "5", "--batches", "6", "--out", str(batches6)]) == 0
    )
    for argv, message in [
        ([str(fit), str(targets), "--out", str(scored)], "exists; choose a new --out"),
        (
            [str(fit), str(targets), str(fashion), "--out", str(tmp_path / "s2")],
            "different datasets",
        ),
        ([str(fit), str(batches6), "--out", str(tmp_path / "s2")], "drew their proposals with"),
        ([str(fit), str(targets), str(targets), "--out", str(tmp_path / "s2")], "given twice"),
        ([str(targets), str(targets), "--out", str(tmp_path / "s2")], "holds no policy.zip"),
        ([str(fit), str(other), "--out", str(tmp_path / "s2")], "another state or experts"),
    ]:
        assert score_value.main(argv) == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "s2").exists()
