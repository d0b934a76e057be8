"""What decides the oracle's choice (agents.diagnostics.oracle_labels, oracle_labels.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agents.diagnostics.oracle_labels import FEATURE_SETS, labels_markdown, measure
from iale_env import ALConfig
from iale_env.oracles import best_expert
from tests.conftest import TINY

pytestmark = pytest.mark.filterwarnings("ignore:MNIST:UserWarning")


@pytest.mark.slow
def test_measure_summarises_each_experts_selection_by_what_is_seen_and_its_labels(
    make_env, tiny_data, tmp_path
):
    cfg = ALConfig(**TINY)
    path = tmp_path / "labels.csv"
    rows = measure(cfg, [0, 1], path, data=tiny_data)
    steps, k = cfg.steps_per_episode, cfg.acquisition_size
    assert len(rows) == 2 * steps
    env = make_env()  # the rows follow an oracle-executed episode, state by state
    obs, _ = env.reset(seed=0)
    labels = np.asarray(env.episode.data.train_y)
    for step in range(steps):
        row = rows[step]
        decision = best_expert(env.episode)
        assert row["winner"] == decision.winner
        features = json.loads(row["features"])
        for name in env.config.experts:
            assert list(features[name]) == list(FEATURE_SETS)
            y = labels[env.subpool_indices[env.expert_positions(name)]]
            wrong, share, _, classes, p_true = features[name]["true labels"]
            assert classes == len(np.unique(y)) and 0 <= wrong <= 1 and 0 <= p_true <= 1
            probs = obs[env.expert_positions(name), -10:]  # M's softmax ends the rows here
            assert wrong == pytest.approx(np.mean(probs.argmax(1) != y), abs=1e-9)
            assert 1 <= features[name]["expected class coverage"][2] <= k
        obs, *_ = env.step(decision.action)
    # a kill in the second episode: its rows are dropped and it is run again, the same
    text = path.read_text().splitlines()
    path.write_text("\n".join(text[: 1 + steps + 2]) + "\n")
    with pytest.raises(ValueError, match="resume"):
        measure(cfg, [0, 1], path, data=tiny_data)
    assert measure(cfg, [0, 1], path, data=tiny_data, resume=True) == rows


def _rows(decides: str) -> list[dict]:
    """Synthetic states of 6 episodes whose winner is the expert with the largest first
    feature of set ``decides`` (the other sets are noise)."""
    rng = np.random.default_rng(0)
    experts, rows = ("a", "b", "c"), []
    for episode in range(6):
        for step in range(30):
            feats = {
                e: {s: rng.normal(size=len(c)).tolist() for s, c in FEATURE_SETS.items()}
                for e in experts
            }
            winner = max(experts, key=lambda e: feats[e][decides][0])
            scores = {e: 0.8 if e == winner else 0.7 + 0.05 * (e == "c") for e in experts}
            rows.append(
                dict(
                    dataset="X",
                    episode_seed=str(episode),
                    step=str(step),
                    labeled="10",
                    winner=winner,
                    scores=json.dumps(scores),
                    features=json.dumps(feats),
                )
            )
    return rows


def test_the_summary_credits_the_feature_set_that_names_the_winner():
    table = labels_markdown(_rows("true labels"))
    lines = {line.split(" | ")[0]: line.split(" | ")[1:] for line in table.splitlines()}
    assert float(lines["| a logit on true labels"][0]) >= 0.9
    assert float(lines["| a logit on what a policy sees"][0]) < 0.5
    assert lines["| the oracle (hindsight)"][0] == "1.000"
    # the fixed expert "c" gains 0.05 elsewhere: the winner gains 0.05 where it is not "c"
    gain = float(lines["| the oracle (hindsight)"][1].split(" ± ")[0])
    assert 0.02 < gain < 0.05
    assert "States (episodes): 180 (6)" in table
    with pytest.raises(ValueError, match="2 episodes"):
        labels_markdown([r for r in _rows("true labels") if r["episode_seed"] == "0"])


def test_oracle_labels_cli_writes_its_summary_and_refuses_bad_input(idx_root, tmp_path):
    from agents.cli.oracle_labels import main
    from agents.evaluation import read_csv

    out = tmp_path / "labels"
    small = ["--preset", "cpu", "--data-dir", str(idx_root), "--budget", "20"]
    small += ["--initial-labeled", "10", "--acquisition-size", "5", "--subpool-size", "20"]
    small += ["--epochs", "2", "--scoring-size", "60", "--test-size", "60", "--out", str(out)]
    assert main([*small, "--seeds", "3"]) == 2 and not out.exists()  # one episode
    assert main([*small, "--seeds", "3,4"]) == 0
    rows = read_csv(out / "oracle_labels.csv")
    assert len(rows) == 2 * 2 and (out / "summary.md").read_text() == labels_markdown(rows)
    assert json.loads((out / "config.json").read_text())["env"]["budget"] == 20
    assert main([*small, "--seeds", "3,4"]) == 2  # needs --resume
    assert main([*small, "--seeds", "3,4", "--resume"]) == 0
