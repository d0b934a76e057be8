"""Soft targets: every expert's selection, weighted by the softmax of its retrained accuracy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from agents.oracle import soft_labels
from agents.policy.distributions import TopKBernoulli
from iale_env.oracles import OracleResult, pick_winner


def _result(scores: dict[str, float], selections: dict[str, list[int]], n: int = 8):
    winner = pick_winner(scores)
    action = np.zeros(n, dtype=np.int8)
    action[selections[winner]] = 1
    sel = {k: np.array(v) for k, v in selections.items()}
    return OracleResult(winner, scores, sel, 0, action)


RESULT = _result(
    {"margin": 0.80, "coreset": 0.79, "random": 0.75},
    {"margin": [0, 1, 2], "coreset": [0, 3, 4], "random": [0, 5, 1]},
)


def test_soft_labels_weight_each_experts_selection_by_its_softmax():
    labels = soft_labels(RESULT, 0.01)
    w = np.exp(np.array([0.80, 0.79, 0.75]) / 0.01)
    w /= w.sum()
    expected = np.zeros(8)
    expected[[0, 1, 2]] += w[0]
    expected[[0, 3, 4]] += w[1]
    expected[[0, 5, 1]] += w[2]
    assert labels.dtype == np.float32
    np.testing.assert_allclose(labels, expected, rtol=1e-6)
    assert labels.sum() == pytest.approx(3)  # k
    assert labels[0] == pytest.approx(1)  # every expert selects candidate 0
    assert labels[6] == labels[7] == 0  # no expert selects them
    # the better expert weighs more: one point of accuracy is a factor e at temperature 0.01
    assert labels[2] / labels[3] == pytest.approx(math.e, rel=1e-4)


def test_soft_labels_become_the_winners_action_as_the_temperature_falls():
    np.testing.assert_array_equal(soft_labels(RESULT, 1e-5), RESULT.action)
    # at a high temperature every expert weighs the same
    flat = soft_labels(RESULT, 1e3)
    assert flat[3] == pytest.approx(flat[5], rel=1e-3) and flat[1] == pytest.approx(2 / 3, rel=1e-3)


def test_tied_winners_share_the_weight():
    tied = _result({"a": 0.8, "b": 0.8}, {"a": [0, 1], "b": [2, 3]}, n=4)
    np.testing.assert_allclose(soft_labels(tied, 1e-4), [0.5, 0.5, 0.5, 0.5])


@pytest.mark.parametrize("temperature", [0.0, -0.01, float("nan"), float("inf")])
def test_soft_labels_refuse_a_temperature_that_is_not_positive(temperature):
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        soft_labels(RESULT, temperature)


def _dist(logits: torch.Tensor, k: int = 3) -> TopKBernoulli:
    return TopKBernoulli(logits.shape[1], k).proba_distribution(logits)


def test_the_bce_on_soft_labels_is_the_weighted_mean_over_the_experts_actions():
    """What training on soft labels means: the expected loss over the experts' actions."""
    logits = torch.randn(1, 8, generator=torch.Generator().manual_seed(0))
    names = list(RESULT.scores)
    w = torch.softmax(torch.tensor([RESULT.scores[n] for n in names]) / 0.01, 0)
    per_expert = []
    for name in names:
        action = torch.zeros(1, 8)
        action[0, RESULT.selections[name]] = 1
        per_expert.append(_dist(logits).log_prob(action))
    mixture = sum(wi * lp for wi, lp in zip(w, per_expert))
    soft = _dist(logits).log_prob(torch.as_tensor(soft_labels(RESULT, 0.01))[None])
    torch.testing.assert_close(soft, mixture)


def test_the_log_likelihood_of_hard_actions_is_bernoullis_exactly():
    logits = torch.randn(4, 8, generator=torch.Generator().manual_seed(1))
    actions = (torch.rand(4, 8, generator=torch.Generator().manual_seed(2)) > 0.6).float()
    expected = torch.distributions.Bernoulli(logits=logits).log_prob(actions).sum(1)
    assert torch.equal(_dist(logits).log_prob(actions), expected)


@pytest.mark.dagger
def test_agreement_with_soft_labels_weighs_each_experts_agreement():
    from agents.dagger.algorithm import agreement

    labels = soft_labels(RESULT, 0.01)[None]
    w = np.exp(np.array([0.80, 0.79, 0.75]) / 0.01)
    w /= w.sum()
    for name in RESULT.scores:
        pred = np.zeros((1, 8), dtype=np.int8)
        pred[0, RESULT.selections[name]] = 1
        # the mean of the agreement with each expert's selection, weighted as the labels weigh
        own = [len(set(RESULT.selections[name]) & set(s)) / 3 for s in RESULT.selections.values()]
        assert agreement(pred, labels) == pytest.approx(float(np.dot(w, own)), rel=1e-5)
    # hard targets: the fraction of the target's selections predicted, as before
    assert agreement(np.array([[1, 0, 0, 1]]), np.array([[1, 1, 0, 0]])) == 0.5


@pytest.mark.dagger
@pytest.mark.parametrize(
    "settings, message",
    [
        ({"soft_targets": 0.0}, "finite number > 0"),
        ({"soft_targets": 0.01, "selection": "greedy"}, "soft targets need the best-expert"),
        ({"soft_targets": 0.01, "oracle": "lookahead"}, "soft targets need the best-expert"),
        ({"soft_targets": 0.01, "class_weights": (0.9, 0.1)}, "do not combine"),
    ],
)
def test_dagger_refuses_soft_targets_it_cannot_learn(settings, message):
    from agents.dagger import DAggerConfig

    with pytest.raises(ValueError, match=message):
        DAggerConfig(**settings)


@pytest.mark.dagger
def test_dagger_with_soft_targets_stores_and_learns_the_soft_labels(make_env, tmp_path):
    """The demonstrations hold soft labels (k per state, some strictly between 0 and 1), the
    executed oracle action stays the winner's, and BC fits them."""
    from agents.dagger import DAggerConfig, train_dagger
    from agents.dagger.run_folder import load_round_demos

    env = make_env(eager_ensemble=True)
    cfg = DAggerConfig(episodes=2, bc_batch_size=4, bc_epochs=5, soft_targets=0.01, beta=1.0)
    res = train_dagger(env, cfg, tmp_path, progress=False)
    states, labels = np.concatenate([p[0] for p in load_round_demos(tmp_path, 2)]), res.actions
    assert labels.dtype == np.float32 and len(labels) == len(states) == 12
    np.testing.assert_allclose(labels.sum(1), env.config.acquisition_size, rtol=1e-5)
    assert ((labels > 0.01) & (labels < 0.99)).any()  # the experts disagree somewhere
    # beta = 1: the oracle's winner is executed (hard), its selection is in every label's mass
    answers = np.stack([a for _, a in res.oracle.answers])
    assert set(np.unique(answers)) == {0, 1}
    assert (labels[answers == 1] > 0).all()
    # BC fits them: below the loss of knowing nothing (every logit 0: n ln 2 per state)
    assert res.log[-1]["loss"] < env.config.subpool_size * math.log(2)


@pytest.mark.dagger
def test_soft_labels_stay_with_their_states_when_several_envs_collect(make_env, tmp_path):
    """Two envs per round: every stored state's label is the soft label of the oracle's
    decision at that state (its winner's picks carry at least the winner's weight)."""
    import hashlib

    from stable_baselines3.common.vec_env import DummyVecEnv

    from agents.dagger import DAggerConfig, train_dagger

    venv = DummyVecEnv([lambda: make_env(eager_ensemble=True) for _ in range(2)])
    cfg = DAggerConfig(episodes=1, bc_batch_size=4, bc_epochs=1, soft_targets=0.01)
    res = train_dagger(venv, cfg, tmp_path, progress=False)
    winners = dict(res.oracle.answers)  # observation digest -> the winner's selection
    experts = len(venv.envs[0].unwrapped.config.experts)
    assert len(res.states) == len(winners) == 12
    for state, label in zip(res.states, res.actions):
        winner = winners[hashlib.sha256(np.ascontiguousarray(state).tobytes()).hexdigest()]
        assert (label[winner == 1] >= 1 / experts - 1e-6).all()
        assert label.sum() == pytest.approx(5, rel=1e-5)
