"""The active-learning environment: state, determinism, actions, oracle, termination, checkers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from iale_env import EXPERTS, TopKScoreAction, fit_models
from iale_env.inference import accuracy_of
from tests.conftest import TINY


def _rng_state(env):
    return env.np_random.bit_generator.state


def test_observation_layout_and_values(make_env, tiny_data):
    env = make_env()
    obs, info = env.reset(seed=0)
    n, k, d = TINY["subpool_size"], 10, 128
    assert obs.shape == (n, 2 * d + 3 * k) and obs.dtype == np.float32
    assert env.observation_space.contains(obs)
    cols = env.columns
    assert [c.stop - c.start for c in cols.values()] == [d, k, k, d, k]
    for name in ("labeled_mean_embedding", "labeled_class_hist", "labeled_pred_hist"):
        block = obs[:, cols[name]]
        assert np.array_equal(block, np.broadcast_to(block[0], block.shape)), name
    assert obs[0, cols["labeled_class_hist"]].sum() == pytest.approx(1.0)
    assert obs[0, cols["labeled_pred_hist"]].sum() == pytest.approx(1.0)
    np.testing.assert_allclose(obs[:, cols["candidate_probs"]].sum(1), 1.0, atol=1e-5)
    # The class histogram is the labeled set's (class-balanced: 10 initial over 10 classes).
    labels = tiny_data.train_y[env.labeled_indices].numpy()
    expected = np.bincount(labels, minlength=k) / len(labels)
    np.testing.assert_allclose(obs[0, cols["labeled_class_hist"]], expected)
    assert np.array_equal(expected, np.full(k, 0.1))
    # Embedding blocks are M's own embeddings.
    with torch.no_grad():
        _, emb = env.model.forward_with_embedding(tiny_data.train_x[env.subpool_indices])
        _, lab = env.model.forward_with_embedding(tiny_data.train_x[env.labeled_indices])
    np.testing.assert_allclose(obs[:, cols["candidate_embedding"]], emb.numpy(), atol=1e-5)
    np.testing.assert_allclose(
        obs[0, cols["labeled_mean_embedding"]], lab.mean(0).numpy(), atol=1e-5
    )
    assert info["labeled"] == TINY["initial_labeled"] and 0.0 <= info["test_accuracy"] <= 1.0
    # Scoring set, pool and labeled set are disjoint.
    scoring, labeled, sub = env.scoring_indices, env.labeled_indices, env.subpool_indices
    assert not set(scoring) & set(labeled) and not set(scoring) & set(sub)
    assert not set(labeled) & set(sub)


def test_same_seed_same_episode_bit_for_bit(make_env):
    a, b = make_env(), make_env()
    oa, _ = a.reset(seed=5)
    ob, _ = b.reset(seed=5)
    assert np.array_equal(oa, ob)
    action = a.expert_action("coreset")
    ra = a.step(action)
    rb = b.step(action)
    assert np.array_equal(ra[0], rb[0]) and ra[1] == rb[1]
    oc, _ = make_env().reset(seed=6)
    assert not np.array_equal(oa, oc)


@pytest.mark.parametrize("name", sorted(EXPERTS))
def test_each_expert_picks_k_distinct_candidates(make_env, name):
    env = make_env()
    env.reset(seed=1)
    action = env.expert_action(name)
    assert action.dtype == np.int8 and action.shape == (TINY["subpool_size"],)
    assert action.sum() == TINY["acquisition_size"] and set(np.unique(action)) <= {0, 1}
    assert np.array_equal(action, env.expert_action(name))  # deterministic per state


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mc_dropout", "ensemble", "entropy", "margin"])
def test_uncertainty_experts_prefer_uncertain_candidates(make_env, tiny_data, name):
    """Candidates that blend two classes must be preferred over clean, well-learned ones."""
    env = make_env(epochs=25, initial_labeled=30, budget=50)
    env.reset(seed=0)
    data = env.data
    y = data.train_y
    # Rewrite the second half of the sub-pool as 50/50 blends of two different classes.
    sub = env.subpool_indices
    saved = data.train_x[sub].clone()
    try:
        for j, i in enumerate(sub[10:]):
            other = int(torch.nonzero(y != y[i])[j, 0])
            data.train_x[i] = 0.5 * data.train_x[i] + 0.5 * data.train_x[other]
        env.episode.cache.clear()  # recompute M's outputs on the rewritten candidates
        env._observation()
        picks = np.flatnonzero(env.expert_action(name))
    finally:
        data.train_x[sub] = saved
    assert np.sum(picks >= 10) >= 4, f"{name} picked {picks}"


def test_oracle_picks_expert_whose_retrained_model_scores_best(make_env):
    env = make_env(experts=("mc_dropout", "ensemble", "coreset", "random"))
    env.reset(seed=2)
    state, obs_digest = _rng_state(env), env.observation_digest()
    labeled = env.labeled_indices
    action = env.oracle_action()
    result = env.last_oracle
    assert action.sum() == TINY["acquisition_size"] and action.dtype == np.int8
    assert result.scores[result.winner] == max(result.scores.values())
    first_best = next(
        n for n in env.config.experts if result.scores[n] == max(result.scores.values())
    )
    assert result.winner == first_best
    assert np.array_equal(action, env.expert_action(result.winner))
    # Recompute every expert's score independently: retrain on labeled + its picks, same seed.
    x, y = env.data.train_x, env.data.train_y
    scoring = torch.as_tensor(env.scoring_indices)
    for name in env.config.experts:
        picks = env.subpool_indices[np.flatnonzero(env.expert_action(name))]
        (m,) = fit_models(
            x,
            y,
            [torch.as_tensor(np.concatenate([labeled, picks]))],
            [result.seed],
            env.classifier_spec,
            env.config.train,
        )
        (acc,) = accuracy_of([m], x[scoring], y[scoring])
        assert acc == pytest.approx(result.scores[name], abs=1e-6), name
    # The oracle changed nothing: same RNG, same observation, same labeled set.
    assert _rng_state(env) == state and env.observation_digest() == obs_digest
    assert np.array_equal(env.labeled_indices, labeled)


def test_oracle_does_not_change_the_trajectory(make_env):
    """An env that consulted the oracle continues exactly like one that did not."""
    a, b = make_env(), make_env()
    a.reset(seed=3)
    b.reset(seed=3)
    a.oracle_action()
    a.expert_action("random")
    action = np.r_[np.ones(3, np.int8), np.zeros(17, np.int8)]  # repair draws from the env RNG
    step_a, step_b = a.step(action), b.step(action)
    assert np.array_equal(step_a[4]["selected"], step_b[4]["selected"])
    assert np.array_equal(step_a[0], step_b[0]) and step_a[1] == step_b[1]


@pytest.mark.parametrize(
    "action, match",
    [
        (np.ones(7, dtype=np.int8), r"shape \(20,\)"),
        (np.ones((2, 20), dtype=np.int8), r"shape \(20,\)"),
        (np.full(20, 0.5), "only 0 and 1"),
        (np.r_[np.full(5, 2), np.zeros(15)], "only 0 and 1"),
        (np.r_[np.full(5, np.nan), np.zeros(15)], "only 0 and 1"),
    ],
)
def test_malformed_actions_raise_and_leave_env_unchanged(make_env, action, match):
    env = make_env()
    env.reset(seed=0)
    state, digest, labeled = _rng_state(env), env.observation_digest(), env.labeled_indices
    with pytest.raises(ValueError, match=match):
        env.step(action)
    assert _rng_state(env) == state and env.observation_digest() == digest
    assert np.array_equal(env.labeled_indices, labeled)


def test_strict_mode_rejects_wrong_count(make_env):
    env = make_env(action_mode="strict")
    env.reset(seed=0)
    labeled = env.labeled_indices
    with pytest.raises(ValueError, match="selects 3 candidates but acquisition_size is 5"):
        env.step(np.r_[np.ones(3, np.int8), np.zeros(17, np.int8)])
    assert np.array_equal(env.labeled_indices, labeled)
    _, _, _, _, info = env.step(np.r_[np.ones(5, np.int8), np.zeros(15, np.int8)])
    assert not info["repaired"] and info["labeled"] == 15


@pytest.mark.parametrize("ones", [0, 3, 12, 20])
def test_repair_mode_fixes_count_and_keeps_chosen_when_possible(make_env, ones):
    env = make_env()
    env.reset(seed=0)
    sub = env.subpool_indices
    action = np.r_[np.ones(ones, np.int8), np.zeros(20 - ones, np.int8)]
    _, _, _, _, info = env.step(action)
    assert info["repaired"] and len(info["selected"]) == 5 and info["labeled"] == 15
    chosen = set(sub[:ones])
    if ones < 5:
        assert chosen <= set(info["selected"])
    else:
        assert set(info["selected"]) <= chosen
    assert len(set(info["selected"])) == 5


def test_episode_terminates_exactly_at_budget(make_env):
    env = make_env()
    _, info = env.reset(seed=4)
    steps, done, labeled_so_far = 0, False, set(env.labeled_indices)
    prev = info["scoring_accuracy"]
    while not done:
        obs, reward, done, truncated, info = env.step(env.expert_action("random"))
        steps += 1
        assert not truncated and np.isfinite(reward)
        assert not set(info["selected"]) & labeled_so_far  # never labels an image twice
        labeled_so_far |= set(info["selected"])
        assert info["labeled"] == TINY["initial_labeled"] + 5 * steps
        assert reward == pytest.approx(info["scoring_accuracy"] - prev)
        prev = info["scoring_accuracy"]
    assert info["labeled"] == TINY["budget"] and steps == env.config.steps_per_episode
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(env.expert_action("random"))


def test_step_before_reset_raises(make_env):
    with pytest.raises(RuntimeError, match="reset"):
        make_env().step(np.zeros(20, np.int8))


def test_score_wrapper_turns_scores_into_top_k(make_env):
    env = TopKScoreAction(make_env())
    env.reset(seed=0)
    scores = np.arange(20, dtype=np.float32)
    assert np.array_equal(np.flatnonzero(env.action(scores)), np.arange(15, 20))
    sub = env.unwrapped.subpool_indices
    _, _, _, _, info = env.step(scores)
    assert not info["repaired"]
    assert set(info["selected"]) == set(sub[15:20])
    with pytest.raises(ValueError, match="finite scores"):
        env.step(np.full(20, np.nan))


def test_gymnasium_env_checker_passes_without_warnings(make_env):
    from gymnasium.utils.env_checker import check_env

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(make_env(), skip_render_check=True)
    assert [str(w.message) for w in caught] == []


def test_observation_bounds_are_finite_and_hold(make_env):
    env = make_env()
    space = env.observation_space
    assert np.all(np.isfinite(space.high)) and np.all(space.low == 0)
    obs, _ = env.reset(seed=0)
    assert space.contains(obs)
    for name in ("labeled_class_hist", "labeled_pred_hist", "candidate_probs"):
        assert np.all(space.high[:, env.columns[name]] == 1.0)


def test_sb3_env_checker_warns_only_about_the_documented_row_matrix_shape(make_env):
    from stable_baselines3.common.env_checker import check_env

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(make_env(), warn=True)
    messages = [str(w.message) for w in caught]
    # The (n, features) observation is one row per candidate on purpose (IALEPolicy applies a
    # row-wise MLP); docs/environment.md's "Standard flows" explains this one warning.
    assert len(messages) == 1 and "unconventional shape" in messages[0], messages


def test_batched_and_sequential_envs_follow_the_same_episode(make_env):
    a = make_env(fit_mode="batched", eager_ensemble=True)
    b = make_env(fit_mode="sequential")
    oa, _ = a.reset(seed=9)
    ob, _ = b.reset(seed=9)
    np.testing.assert_allclose(oa, ob, atol=1e-3)
    assert np.array_equal(a.oracle_action(), b.oracle_action())
    assert a.last_oracle.scores == pytest.approx(b.last_oracle.scores, abs=1e-9)


def test_eager_ensemble_trains_members_for_every_state_but_the_terminal_one(make_env, monkeypatch):
    import iale_env.episode as env_module

    trained: list[int] = []
    real_fit = env_module.fit_models

    def counting_fit(x, y, index_sets, *args, **kwargs):
        trained.append(len(index_sets))
        return real_fit(x, y, index_sets, *args, **kwargs)

    monkeypatch.setattr(env_module, "fit_models", counting_fit)
    env = make_env(eager_ensemble=True, budget=20)  # initial 10, two steps of 5
    lazy = make_env(budget=20)
    env.reset(seed=4)
    lazy.reset(seed=4)
    members = env.config.ensemble_size - 1
    assert trained == [1 + members, 1]  # reset: M + members; lazy reset: M only
    trained.clear()
    env.step(env.expert_action("random"))
    assert trained == [1 + members]
    trained.clear()
    _, _, terminated, _, _ = env.step(env.expert_action("random"))
    assert terminated and trained == [1]  # no members for a state nobody selects from
    trained.clear()
    for _ in range(2):
        lazy.step(lazy.expert_action("random"))
    # asked for anyway, the terminal ensemble is trained on use and matches the lazy env's
    assert np.array_equal(env.expert_action("ensemble"), lazy.expert_action("ensemble"))


def test_gym_make_vec_and_record_episode_statistics_as_users_write_them(tiny_data, tmp_path):
    import gymnasium as gym

    path = str(tiny_data.save(tmp_path / "data.npz"))
    n, k = TINY["subpool_size"], TINY["acquisition_size"]
    venv = gym.make_vec("IALE-Custom-v0", num_envs=2, vectorization_mode="sync", data=path, **TINY)
    obs, _ = venv.reset(seed=[0, 1])
    assert obs.shape == (2, n, 286)
    action = np.zeros((2, n), dtype=np.int8)
    action[:, :k] = 1
    obs, reward, terminated, truncated, info = venv.step(action)
    assert obs.shape == (2, n, 286) and reward.shape == (2,) and not terminated.any()
    assert list(info["labeled"]) == [TINY["initial_labeled"] + k] * 2

    env = gym.wrappers.RecordEpisodeStatistics(gym.make("IALE-Custom-v0", data=path, **TINY))
    env.reset(seed=0)
    total, done, steps = 0.0, False, 0
    while not done:
        _, reward, done, _, info = env.step(env.unwrapped.expert_action("margin"))
        total, steps = total + reward, steps + 1
    assert info["episode"]["l"] == steps == env.unwrapped.config.steps_per_episode
    assert info["episode"]["r"] == pytest.approx(total, abs=1e-5)
