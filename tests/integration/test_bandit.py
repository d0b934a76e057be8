"""The training-free baseline (EXP3 over the experts) and the oracle over other expert sets,
as methods of an evaluation sweep."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from agents.bandit import BanditConfig, ExpertBandit
from agents.evaluation import EvalConfig, evaluate, parse_method, read_csv
from iale_env import EXPERTS, ALConfig
from tests.conftest import TINY

pytestmark = pytest.mark.filterwarnings("ignore:MNIST:UserWarning")


def test_parse_oracle_and_bandit_expert_sets():
    assert parse_method("oracle").experts is None
    assert parse_method("oracle@all").experts == tuple(EXPERTS)
    assert parse_method("oracle@margin+badge").experts == ("margin", "badge")
    assert parse_method("bandit").experts == tuple(EXPERTS)
    spec = parse_method("b2=bandit@random+margin")
    assert (spec.label, spec.family, spec.experts) == ("b2", "bandit", ("random", "margin"))
    for bad in ("oracle@margin", "bandit@margin+margin", "oracle@margin+nope"):
        with pytest.raises(ValueError, match="two or more distinct experts"):
            parse_method(bad)


def test_bandit_shifts_its_draws_to_the_expert_with_the_higher_rewards(make_env):
    env = make_env()
    env.reset(seed=0)
    bandit = ExpertBandit(env, BanditConfig(("random", "margin"), gamma=0.2))
    assert np.allclose(bandit.probabilities(), [0.5, 0.5])
    for _ in range(40):  # margin always earns +3 points, random -3
        name, action = bandit.select()
        assert action.sum() == env.config.acquisition_size
        bandit.observe(0.03 if name == "margin" else -0.03)
    p = bandit.probabilities()
    assert p[1] > 0.85 and p.min() >= 0.2 / 2  # exploration keeps every arm alive
    with pytest.raises(ValueError, match="rewards=True"):
        bandit.select()
        bandit.observe(math.nan)
    with pytest.raises(ValueError, match="at least two experts"):
        BanditConfig(("margin",))


@pytest.mark.slow
def test_bandit_and_oracle_over_all_experts_run_paired_in_a_sweep(idx_root, tmp_path):
    cfg = ALConfig(**{**TINY, "data_dir": str(idx_root)})
    sweep = EvalConfig(("MNIST",), ("random", "bandit@random+margin", "oracle@all"), (0,), cfg, ())
    rows = evaluate(sweep, tmp_path, log=None)
    keys = {r["method"]: r["pairing_key"] for r in rows}
    assert len(set(keys.values())) == 1 and set(keys) == {
        "random",
        "bandit@random+margin",
        "oracle@all",
    }
    decisions = read_csv(tmp_path / "oracle.csv")
    oracle = [d for d in decisions if d["method"] == "oracle@all"]
    assert oracle and all(set(json.loads(d["scores"])) == set(EXPERTS) for d in oracle)
    drawn = [d for d in decisions if d["method"] == "bandit@random+margin"]
    steps = TINY["budget"] - TINY["initial_labeled"]
    assert len(drawn) == steps // TINY["acquisition_size"]
    assert {d["winner"] for d in drawn} <= {"random", "margin"}
    probs = [json.loads(d["scores"]) for d in drawn]
    assert probs[0] == {"random": 0.5, "margin": 0.5} and probs[-1] != probs[0]  # it learned
    # the sweep scores M on the scoring set only for the bandit, which reads the reward
    scoring = {r["method"]: r["scoring_accuracy"] for r in rows if r["step"] == "1"}
    assert scoring["random"] == "nan" and float(scoring["bandit@random+margin"]) >= 0
