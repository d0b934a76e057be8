"""A user's own expert, registered once, works end to end: env, config, oracle, evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from iale_env import EXPERTS, ALConfig, Expert, register_expert
from tests.conftest import TINY

pytestmark = pytest.mark.filterwarnings("ignore:MNIST:UserWarning")


class LeastConfidence(Expert):
    """Lowest top-class probability of M (a user's heuristic)."""

    name = "least_confidence"

    def select(self, ctx):
        confidence = ctx.candidate_probs.max(-1).values
        return np.argsort(confidence.cpu().numpy(), kind="stable")[: ctx.k].astype(np.int64)


@pytest.fixture
def registered():
    register_expert(LeastConfidence)
    try:
        yield LeastConfidence
    finally:
        EXPERTS.pop(LeastConfidence.name)


def test_a_registered_expert_works_in_the_env_and_the_oracle(registered, make_env):
    env = make_env(experts=("mc_dropout", "least_confidence"))
    obs, _ = env.reset(seed=2)
    action = env.expert_action("least_confidence")
    probs = obs[:, env.columns["candidate_probs"]]
    assert set(np.flatnonzero(action)) == set(np.argsort(probs.max(1), kind="stable")[:5])
    env.oracle_action()
    assert set(env.last_oracle.scores) == {"mc_dropout", "least_confidence"}


def test_a_registered_expert_is_a_method_of_the_evaluation_harness(registered, tmp_path, idx_root):
    from agents.evaluation import EvalConfig, evaluate, read_csv

    env = ALConfig(**TINY, data_dir=str(idx_root))
    cfg = EvalConfig(("MNIST",), ("random", "least_confidence"), (0,), env, ())
    evaluate(cfg, tmp_path, log=None)
    methods = {r["method"] for r in read_csv(tmp_path / "curves.csv")}
    assert methods == {"random", "least_confidence"}


def test_registering_checks_what_it_is_given(registered):
    class Twin(Expert):
        name = "least_confidence"

    with pytest.raises(ValueError, match="already registered"):
        register_expert(Twin)
    with pytest.raises(ValueError, match="Expert subclass"):
        register_expert(object)
    with pytest.raises(ValueError, match="unknown expert"):
        ALConfig(experts=("nope",))
