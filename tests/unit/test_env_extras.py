"""Env features used by the evaluation harness: pool-level selection, the lookahead oracle,
the sub-pool mean-embedding state ablation, the pairing key."""

from __future__ import annotations

import numpy as np
import pytest

from iale_env.inference import accuracy_of
from iale_env.training import fit_models


def test_pool_level_expert_selects_unlabeled_images_and_step_indices_labels_them(make_env):
    env = make_env()
    env.reset(seed=0)
    before = env.unlabeled_indices
    picks = env.expert_pool_indices("mc_dropout")
    assert picks.shape == (5,) and len(set(picks)) == 5 and np.isin(picks, before).all()
    # deterministic and side-effect free
    np.testing.assert_array_equal(picks, env.expert_pool_indices("mc_dropout"))
    _, _, _, _, info = env.step_indices(picks)
    np.testing.assert_array_equal(env.labeled_indices[-5:], picks)
    assert info["labeled"] == 15 and not np.isin(picks, env.unlabeled_indices).any()


@pytest.mark.parametrize(
    "bad, match",
    [
        (lambda e: e.unlabeled_indices[:4], "5 integer"),
        (lambda e: np.repeat(e.unlabeled_indices[:1], 5), "distinct"),
        (lambda e: e.labeled_indices[:5], "not all unlabeled"),
        (lambda e: np.array([10**7, 1, 2, 3, 4]), "not all unlabeled"),
        (lambda e: e.unlabeled_indices[:5].astype(float), "integer"),
    ],
)
def test_step_indices_rejects_bad_indices_and_changes_nothing(make_env, bad, match):
    env = make_env()
    env.reset(seed=0)
    labeled = env.labeled_indices
    with pytest.raises(ValueError, match=match):
        env.step_indices(bad(env))
    np.testing.assert_array_equal(env.labeled_indices, labeled)


def test_lookahead_oracle_picks_the_candidates_whose_retrain_scores_best(make_env, tiny_data):
    env = make_env(acquisition_size=1, subpool_size=6, budget=13, initial_labeled=10)
    env.reset(seed=3)
    scores = env.score_selections([np.array([i]) for i in range(6)])
    action = env.lookahead_oracle_action()
    assert action.sum() == 1 and action[int(np.argmax(scores))] == 1
    # recompute one score independently: same seed, labeled + that candidate
    i = int(np.argmax(scores))
    idx = np.concatenate([env.labeled_indices, env.subpool_indices[[i]]])
    import torch

    model = fit_models(
        env.data.train_x,
        env.data.train_y,
        [torch.as_tensor(idx)],
        [env.oracle_seed],
        env.classifier_spec,
        env.config.train,
    )
    sc = env.scoring_indices
    acc = accuracy_of(model, env.data.train_x[sc], env.data.train_y[sc])[0]
    assert acc == pytest.approx(scores[i], abs=1e-9)


def test_subpool_mean_embedding_adds_a_block(make_env):
    env = make_env(subpool_mean_embedding=True)
    obs, _ = env.reset(seed=0)
    cols = env.columns["subpool_mean_embedding"]
    assert obs.shape == (20, 286 + 128) and cols == slice(286, 414)
    emb = obs[:, env.columns["candidate_embedding"]]
    np.testing.assert_allclose(obs[:, cols], np.broadcast_to(emb.mean(0), emb.shape), atol=1e-5)


def test_pairing_key_depends_on_seed_and_split_only(make_env):
    a, b = make_env(), make_env(acquisition_size=10, subpool_size=30)
    a.reset(seed=1)
    b.reset(seed=1)
    assert a.pairing_key == b.pairing_key
    a.reset(seed=2)
    assert a.pairing_key != b.pairing_key


def test_state_scores_append_each_experts_own_score_to_every_row(make_env):
    """With state_scores the rows end in the experts' per-candidate scores, the very scores
    they select by (their picks hold the highest ones); without, the state is Eq. 2 alone."""
    plain, scored = make_env(), make_env(state_scores=("mc_dropout", "ensemble"))
    obs, _ = plain.reset(seed=3)
    rich, _ = scored.reset(seed=3)
    assert rich.shape == (obs.shape[0], obs.shape[1] + 2)
    np.testing.assert_array_equal(rich[:, : obs.shape[1]], obs)
    assert scored.observation_space.contains(rich)
    for name in ("mc_dropout", "ensemble"):
        score = rich[:, scored.columns[f"score:{name}"]].ravel()
        picks = scored.expert_positions(name)
        assert score[picks].min() >= np.delete(score, picks).max()
        assert 0.0 <= score.min() and score.max() <= 1.0
    # stepping keeps the columns (the scores of the next state)
    rich, *_ = scored.step(scored.expert_action("random"))
    assert rich.shape[1] == obs.shape[1] + 2
    for bad in (("random",), ("mc_dropout", "mc_dropout"), ("nope",)):
        with pytest.raises(ValueError, match="state_scores must name distinct experts"):
            make_env(state_scores=bad)
