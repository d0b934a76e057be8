"""Your own classifier: a small non-CNN network replaces the default CNN end to end."""

from __future__ import annotations

import numpy as np
import pytest
from torch import nn

from iale_env import ActiveLearningEnv, ALConfig
from tests.conftest import TINY

MLP = "tests.unit.test_classifier_contract:small_mlp"


class SmallMLP(nn.Module):
    """A user's classifier: flatten, dense 64, dropout, a 24-d embedding, dense K."""

    def __init__(self, image_shape, num_classes):
        super().__init__()
        self.body = nn.Sequential(
            nn.Flatten(), nn.Linear(int(np.prod(image_shape)), 64), nn.ReLU(), nn.Dropout(0.3)
        )
        self.embed = nn.Sequential(nn.Linear(64, 24), nn.ReLU())
        self.head = nn.Linear(24, num_classes)

    def forward_with_embedding(self, x):
        emb = self.embed(self.body(x))
        return self.head(emb), emb


def small_mlp(image_shape, num_classes):
    return SmallMLP(image_shape, num_classes)


def not_a_module(image_shape, num_classes):
    return "nope"


def wrong_logits(image_shape, num_classes):
    return SmallMLP(image_shape, num_classes + 1)


def _env(tiny_data, **kw):
    return ActiveLearningEnv(ALConfig(**{**TINY, "classifier": MLP, **kw}), data=tiny_data)


def test_a_users_classifier_runs_every_expert_and_the_oracle(tiny_data):
    env = _env(tiny_data, experts=("mc_dropout", "ensemble", "coreset"))
    obs, _ = env.reset(seed=4)
    assert obs.shape == (TINY["subpool_size"], 2 * 24 + 3 * 10)  # the state follows D = 24
    assert env.observation_space.contains(obs)
    for name in ("mc_dropout", "ensemble", "coreset", "badge", "entropy", "margin", "random"):
        assert env.expert_action(name).sum() == TINY["acquisition_size"], name
    action = env.oracle_action()
    assert set(env.last_oracle.scores) == {"mc_dropout", "ensemble", "coreset"}
    obs2, reward, _, _, info = env.step(action)
    assert np.isfinite(reward) and info["labeled"] == TINY["initial_labeled"] + 5
    assert type(env.model).__name__ == "SmallMLP" and not env.model.training
    again = _env(tiny_data, experts=("mc_dropout", "ensemble", "coreset"))
    np.testing.assert_array_equal(again.reset(seed=4)[0], obs)  # seeded: the same episode
    other = _env(tiny_data)
    other.reset(seed=4)
    assert np.array_equal(again.expert_action("mc_dropout"), other.expert_action("mc_dropout"))
    np.testing.assert_array_equal(again.step(action)[0], obs2)


def test_the_users_classifier_learns(tiny_data):
    env = _env(tiny_data, budget=110, acquisition_size=50, epochs=60, subpool_size=60)
    env.reset(seed=0)
    first = env.unwrapped.episode.test_accuracy
    _, _, done, _, info = env.step(env.expert_action("random"))
    _, _, done, _, info = env.step(env.expert_action("random"))
    assert done and info["test_accuracy"] > max(first, 0.5)


def test_a_policy_for_another_layout_is_refused(make_env, tiny_data, tmp_path):
    from agents.policy import IALEPolicy, load_policy
    from agents.schedules import ConstantLR

    cnn = make_env()
    policy = IALEPolicy(
        cnn.observation_space, cnn.action_space, ConstantLR(1e-3), acquisition_size=5
    )
    policy.save(str(tmp_path / "policy.zip"))
    with pytest.raises(ValueError, match="rows of 286 features but the env's rows have 78"):
        load_policy(str(tmp_path / "policy.zip"), env=_env(tiny_data))


@pytest.mark.parametrize(
    "path, match",
    [
        ("tests.test_classifier_contract", "must be 'package.module:function'"),
        ("tests.no_such_module:f", "cannot import"),
        ("tests.unit.test_classifier_contract:not_a_module", "must return a torch.nn.Module"),
        ("tests.unit.test_classifier_contract:wrong_logits", r"expected \(2, 10\) and \(2, D\)"),
    ],
)
def test_bad_classifiers_fail_early_with_what_to_fix(tiny_data, path, match):
    with pytest.raises(ValueError, match=match):
        _env(tiny_data, classifier=path)
