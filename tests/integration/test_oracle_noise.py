"""The oracle's decisions re-made from other seeds (agents.diagnostics.oracle_noise, oracle_noise.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agents.diagnostics.oracle_noise import measure, noise_markdown
from iale_env import ALConfig
from iale_env.oracles import best_expert
from tests.conftest import TINY


def test_the_oracle_scores_from_a_given_seed_and_defaults_to_its_own(make_env):
    env = make_env()
    env.reset(seed=0)
    own = best_expert(env.episode)
    same = best_expert(env.episode, seed=env.oracle_seed)  # the default seed is the oracle's
    assert (same.winner, same.scores, same.seed) == (own.winner, own.scores, own.seed)
    np.testing.assert_array_equal(same.action, own.action)
    other = best_expert(env.episode, seed=env.oracle_seed + 1)
    assert other.seed == env.oracle_seed + 1
    assert other.selections.keys() == own.selections.keys()
    for name in own.selections:  # the same selections, retrained from another seed
        np.testing.assert_array_equal(other.selections[name], own.selections[name])
    assert other.scores != own.scores


@pytest.mark.slow
def test_measure_records_every_states_decision_under_each_seed_and_resumes(
    make_env, tiny_data, tmp_path
):
    cfg = ALConfig(**TINY)
    path = tmp_path / "noise.csv"
    lines: list[str] = []
    rows = measure(cfg, [0, 1], 2, path, data=tiny_data, log=lines.append)
    steps = cfg.steps_per_episode
    assert len(rows) == 2 * steps * 3 and len(lines) == 2 * steps
    # the own-seed rows are the decisions an oracle-executed episode makes, state by state
    env = make_env()
    env.reset(seed=0)
    for step in range(steps):
        here = [r for r in rows if r["episode_seed"] == "0" and r["step"] == str(step)]
        own = next(r for r in here if r["own_seed"] == "1")
        decision = best_expert(env.episode)
        assert own["winner"] == decision.winner and int(own["seed"]) == env.oracle_seed
        for r in here:  # each other seed's scores are the oracle's retrained from that seed
            again = best_expert(env.episode, seed=int(r["seed"]))
            assert json.loads(r["scores"]) == pytest.approx(again.scores, abs=1e-6)
        assert sorted(int(r["seed"]) for r in here) == [env.oracle_seed + j for j in range(3)]
        env.step(decision.action)
    # a kill in the second episode: its rows are dropped and it is run again, the same
    text = path.read_text().splitlines()
    path.write_text("\n".join(text[: 1 + steps * 3 + 4]) + "\n")
    with pytest.raises(ValueError, match="resume"):
        measure(cfg, [0, 1], 2, path, data=tiny_data)
    with pytest.raises(ValueError, match="--reseeds 2"):
        measure(cfg, [0, 1], 3, path, data=tiny_data, resume=True)
    resumed = measure(cfg, [0, 1], 2, path, data=tiny_data, resume=True)
    assert resumed == rows
    assert noise_markdown(resumed) == noise_markdown(rows)


def test_noise_table_counts_flips_margins_and_spread():
    def row(step: int, seed: int, own: bool, a: float, b: float) -> dict[str, str]:
        winner = "a" if a >= b else "b"
        scores = json.dumps({"a": a, "b": b})
        return dict(
            dataset="D",
            episode_seed="0",
            step=str(step),
            labeled="10",
            seed=str(seed),
            own_seed="1" if own else "0",
            winner=winner,
            scores=scores,
        )

    rows = [  # state 0: one of two other seeds flips; state 1: none does
        row(0, 5, True, 0.80, 0.70),
        row(0, 6, False, 0.70, 0.75),
        row(0, 7, False, 0.82, 0.70),
        row(1, 9, True, 0.60, 0.61),
        row(1, 10, False, 0.60, 0.62),
        row(1, 11, False, 0.59, 0.63),
    ]
    table = noise_markdown(rows)
    assert "| states (episodes) | 2 (1) |" in table
    assert "| other seeds per state | 2 |" in table
    assert "of (state, seed) | 0.250 |" in table
    assert "the same under every seed | 0.500 |" in table
    assert f"median | {np.median([0.10, 0.01]):.4f} |" in table
    spreads = [
        np.std(v, ddof=1)
        for v in ([0.8, 0.7, 0.82], [0.7, 0.75, 0.7], [0.6, 0.6, 0.59], [0.61, 0.62, 0.63])
    ]
    assert f"SD: median | {np.median(spreads):.4f} |" in table
    assert "disjoint seeds" not in table  # 3 seeds per state: no two groups of 2
    with pytest.raises(ValueError, match="no measured states"):
        noise_markdown([])
    four = [  # state 0: halves (5, 6) and (7, 8) agree on a; state 1: b, then a
        row(0, 5, True, 0.80, 0.70),
        row(0, 6, False, 0.70, 0.75),
        row(0, 7, False, 0.82, 0.70),
        row(0, 8, False, 0.70, 0.71),
        row(1, 9, True, 0.60, 0.61),
        row(1, 10, False, 0.60, 0.62),
        row(1, 11, False, 0.66, 0.63),
        row(1, 12, False, 0.60, 0.60),
    ]
    table = noise_markdown(four, oracle_seeds=3)
    assert (
        "averaging 6 models each (disjoint seeds) name different winners: share of states | 0.500 |"
        in table
    )
    # what choosing per state is worth: half A (seeds 5, 6 and 9, 10) makes "a" the fixed expert
    # (0.675 against 0.670 on average); state 1's own winner "b" beats it by 0.01 on its own model
    # but loses by 0.015 on half B's, as does half A's averaged winner there
    assert "| best fixed expert (mean over states, half A) | a |" in table
    assert "on the winner's own model | +0.0050 ± n/a |" in table
    assert "on other seeds' models (half B) | -0.0075 ± n/a |" in table
    assert (
        "| the winner of 6 models averaged (half A) over the fixed expert, on half B | -0.0075"
        in table
    )
    assert "fixed expert" not in noise_markdown(rows)  # 3 seeds per state: no halves


def test_choice_value_intervals_are_over_episodes():
    from agents.diagnostics.oracle_noise import _episode_interval

    # two states of episode 1 (mean 0.02) and one of episode 2 (0.0): n = 2 episodes, not 3 states
    values = [(("D", "1"), 0.01), (("D", "1"), 0.03), (("D", "2"), 0.0)]
    half_width = 1.96 * np.std([0.02, 0.0], ddof=1) / np.sqrt(2)
    assert _episode_interval(values) == f"+0.0100 ± {half_width:.4f}"


def test_an_averaging_oracle_scores_each_selection_by_its_mean_over_seeds(make_env):
    """oracle_seeds = R: each selection's accuracy is the mean of the one-seed oracle's
    accuracies from the oracle seed, + 1, ..., + R - 1 (the same selections)."""
    env = make_env()
    env.reset(seed=0)
    single = [best_expert(env.episode, seed=env.oracle_seed + j) for j in range(3)]
    averaging = make_env(oracle_seeds=3)
    averaging.reset(seed=0)
    averaging.oracle_action()
    decision = averaging.last_oracle
    for name, score in decision.scores.items():
        assert score == pytest.approx(np.mean([s.scores[name] for s in single]), abs=1e-9)
    best = max(decision.scores, key=lambda n: (decision.scores[n], -list(decision.scores).index(n)))
    assert decision.winner == best
    with pytest.raises(ValueError, match="oracle_seeds must be a positive integer"):
        ALConfig(**{**TINY, "oracle_seeds": 0})


def test_oracle_noise_cli_measures_writes_its_config_and_refuses_bad_input(idx_root, tmp_path):
    from agents.cli.oracle_noise import main
    from agents.evaluation import read_csv

    out = tmp_path / "noise"
    small = [
        "--preset",
        "cpu",
        "--data-dir",
        str(idx_root),
        "--budget",
        "20",
        "--initial-labeled",
        "10",
    ]
    small += [
        "--acquisition-size",
        "5",
        "--subpool-size",
        "20",
        "--epochs",
        "2",
        "--scoring-size",
        "60",
    ]
    small += ["--test-size", "60", "--out", str(out)]
    assert main([*small, "--reseeds", "0"]) == 2 and not out.exists()
    assert main([*small, "--reseeds", "1", "--oracle-seeds", "2"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["env"]["oracle_seeds"] == 2 and config["env"]["budget"] == 20
    rows = read_csv(out / "oracle_noise.csv")
    assert len(rows) == 2 * 2  # 2 states x (own seed + 1 other)
    assert (out / "summary.md").read_text() == noise_markdown(rows)
    assert main([*small, "--reseeds", "1", "--oracle-seeds", "2"]) == 2  # needs --resume
    assert main([*small, "--reseeds", "1", "--oracle-seeds", "2", "--resume"]) == 0
    assert main([*small, "--reseeds", "1", "--resume"]) == 2  # other settings
