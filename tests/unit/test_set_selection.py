"""The set-aware greedy selection (agents/set_selection.py) and IALEPolicy(selection="greedy")."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from agents.policy import IALEPolicy, load_policy
from agents.policy.set_selection import GreedySetSelection, relative_log_distances
from agents.schedules import ConstantLR

K, D, N = 2, 4, 100  # classes, embedding width, candidates
ROW = 2 * D + 3 * K  # mean labeled emb | two histograms | candidate emb | softmax


def _dist(base, weights, emb, k):
    return GreedySetSelection(base.shape[-1], k).proba_distribution(
        base, weights, relative_log_distances(emb)
    )


def test_without_a_distance_weight_the_rounds_are_the_top_k_and_k1_is_cross_entropy():
    torch.manual_seed(0)
    base, emb = torch.randn(5, 30), torch.randn(5, 30, 3)
    d = _dist(base, torch.zeros(5, 30), emb, k=6)
    top = base.topk(6, -1).indices
    torch.testing.assert_close(d.mode(), torch.zeros_like(base).scatter_(-1, top, 1.0))
    assert (d.sample().sum(-1) == 6).all()
    one = _dist(base, torch.zeros(5, 30), emb, k=1)
    target = torch.tensor([3, 0, 29, 5, 7])
    torch.testing.assert_close(
        -one.log_prob(F.one_hot(target, 30).float()),
        F.cross_entropy(base, target, reduction="none"),
    )
    # the set loss is 0 only when every round puts all its mass on the target set
    sure = _dist(torch.where(F.one_hot(target, 30).bool(), 50.0, -50.0), torch.zeros(5, 30), emb, 1)
    assert sure.log_prob(F.one_hot(target, 30).float()).abs().max() < 1e-6
    assert (d.log_prob(d.mode()) < 0).all()


def test_a_positive_distance_weight_spreads_the_selection_over_clusters():
    """Ten clusters of near-duplicates, the best ten scores all in one cluster: top-k takes
    that cluster, the greedy rounds with a distance weight take one of each."""
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(10, D, generator=g) * 3
    emb = (centres.repeat_interleave(10, 0) + 0.01 * torch.randn(N, D, generator=g))[None]
    base = torch.zeros(1, N)
    base[0, :10] = 1.0  # cluster 0 looks best row by row
    cluster = torch.arange(N) // 10
    row_wise = _dist(base, torch.zeros(1, N), emb, 10).mode()[0].bool()
    assert cluster[row_wise].unique().numel() == 1
    greedy = _dist(base, torch.ones(1, N), emb, 10).mode()[0].bool()
    assert cluster[greedy].unique().numel() == 10


def _clustered_states(batch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """States of 10 clusters x 10 near-duplicates; the teacher picks one random member of each."""
    g = torch.Generator().manual_seed(seed)
    obs = torch.zeros(batch, N, ROW)
    centres = torch.randn(batch, 10, D, generator=g) * 3
    emb = centres.repeat_interleave(10, 1) + 0.01 * torch.randn(batch, N, D, generator=g)
    obs[..., D + 2 * K : 2 * D + 2 * K] = emb
    obs[..., 2 * D + 2 * K :] = 0.5
    pick = torch.randint(0, 10, (batch, 10), generator=g) + torch.arange(0, N, 10)
    acts = torch.zeros(batch, N).scatter_(1, pick, 1.0)
    return obs, acts


def _policy(selection: str) -> IALEPolicy:
    space = gym.spaces.Box(-np.inf, np.inf, (N, ROW), np.float32)
    torch.manual_seed(0)
    return IALEPolicy(
        space,
        gym.spaces.MultiBinary(N),
        ConstantLR(1e-2),
        acquisition_size=10,
        hidden_dim=16,
        selection=selection,
        num_classes=K,
        embedding_dim=D,
    )


@pytest.mark.parametrize("selection", ["greedy", "bernoulli"])
def test_imitating_a_diverse_teacher_needs_the_set_aware_policy(selection, tmp_path):
    """Trained on its own loss to imitate a teacher that takes one candidate per cluster, the
    greedy policy covers every cluster on new states; the row-wise policy cannot tell
    near-duplicates apart and covers fewer. Saved and loaded, it selects the same."""
    policy = _policy(selection)
    obs, acts = _clustered_states(64, seed=1)
    for _ in range(150):
        _, log_prob, _ = policy.evaluate_actions(obs, acts)
        loss = -log_prob.mean()
        policy.optimizer.zero_grad()
        loss.backward()
        policy.optimizer.step()
    test_obs, _ = _clustered_states(16, seed=2)
    chosen = policy.select(test_obs.numpy())
    assert (chosen.sum(1) == 10).all()
    covered = [np.unique(np.flatnonzero(c) // 10).size for c in chosen]
    if selection == "greedy":
        assert min(covered) == 10
        policy.save(str(tmp_path / "p.zip"))
        loaded = load_policy(tmp_path / "p.zip")
        assert loaded.selection == "greedy"
        np.testing.assert_array_equal(loaded.select(test_obs.numpy()), chosen)
    else:
        assert np.mean(covered) < 9


def test_greedy_selection_refuses_score_actions_and_class_weights():
    space = gym.spaces.Box(-np.inf, np.inf, (N, ROW), np.float32)
    with pytest.raises(ValueError, match="needs MultiBinary actions"):
        IALEPolicy(space, gym.spaces.Box(0, 1, (N,)), ConstantLR(1e-3), selection="greedy")
    with pytest.raises(ValueError, match="no class weights"):
        IALEPolicy(
            space,
            gym.spaces.MultiBinary(N),
            ConstantLR(1e-3),
            selection="greedy",
            class_weights=(0.9, 0.1),
            num_classes=K,
            embedding_dim=D,
        )


@pytest.mark.dagger
def test_dagger_trains_a_greedy_policy_that_runs_an_episode(make_env, tmp_path):
    from agents.dagger import DAggerConfig, train_dagger

    env = make_env(experts=("mc_dropout", "coreset"))
    cfg = DAggerConfig(episodes=1, bc_batch_size=4, bc_epochs=2, selection="greedy")
    res = train_dagger(env, cfg, tmp_path / "g", progress=False)
    assert res.policy.selection == "greedy"
    policy = load_policy(tmp_path / "g" / "policy.zip", env=env)
    obs, _ = env.reset(seed=3)
    done = False
    while not done:
        action = policy.select(obs)
        assert action.sum() == env.unwrapped.config.acquisition_size
        obs, _, done, _, info = env.step(action)
        assert not info["repaired"]
    with pytest.raises(ValueError, match="selection must be one of"):
        DAggerConfig(selection="top-k")
