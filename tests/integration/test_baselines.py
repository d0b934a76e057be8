"""ALIL and RL agents on the IALE env (tiny real runs)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from stable_baselines3 import PPO

from agents.alil import ALIL_ENV, alil_config, train_alil
from agents.policy import IALEPolicy, load_policy
from agents.rl import CHECKPOINT, RLConfig, make_rl_env, train_rl
from agents.schedules import ConstantLR
from iale_env import ALConfig
from tests.conftest import TINY, run_script

ALIL_TINY = dict(TINY, **ALIL_ENV, budget=14, initial_labeled=10)


def test_softmax_policy_loss_is_cross_entropy_and_mode_is_argmax(make_env):
    env = make_env(**ALIL_ENV, budget=14)
    p = IALEPolicy(
        env.observation_space, env.action_space, ConstantLR(1e-3), 1, selection="softmax"
    )
    obs = torch.rand(4, 10, 286)
    target = torch.tensor([3, 0, 9, 5])
    actions = F.one_hot(target, 10).float()
    _, log_prob, entropy = p.evaluate_actions(obs, actions)
    logits = p._hidden_and_logits(obs)[1]
    torch.testing.assert_close(-log_prob, F.cross_entropy(logits, target, reduction="none"))
    assert entropy.shape == (4,)
    det, _ = p.predict(obs.numpy(), deterministic=True)
    np.testing.assert_array_equal(det.argmax(1), logits.argmax(1).numpy())
    sampled = p.get_distribution(obs).sample()
    assert (sampled.sum(1) == 1).all()


@pytest.mark.slow
@pytest.mark.dagger
def test_alil_trains_on_the_lookahead_oracle_and_transfers(make_env, tmp_path):
    env = make_env(**ALIL_ENV, budget=14)
    cfg = alil_config(episodes=2, bc_epochs=3, bc_batch_size=4, seed=0)
    result = train_alil(env, cfg, tmp_path, progress=False)
    assert result.policy.selection == "softmax"
    assert result.oracle.winners == {"lookahead": 8}  # 2 episodes x 4 steps
    assert (result.actions.sum(1) == 1).all() and len(result.actions) == 8
    # the stored labels are the lookahead oracle's picks on those states
    loaded = load_policy(tmp_path / "policy.zip", env=make_env(**ALIL_ENV, budget=14))
    assert loaded.selection == "softmax"
    from agents.diagnostics.decisions import oracle_decisions  # reads only the best-expert oracle's

    with pytest.raises(ValueError, match="no best-expert oracle decision"):
        oracle_decisions(tmp_path)
    with pytest.raises(ValueError, match="selection='softmax'"):
        train_alil(env, alil_config().__class__(episodes=1), tmp_path / "x", progress=False)


@pytest.mark.slow
def test_ppo_and_a2c_train_save_resume_and_load_as_iale_policy(tiny_data, tmp_path):
    cfg_env = ALConfig(**TINY)
    env = make_rl_env(cfg_env, tiny_data)
    lines: list[str] = []
    cfg = RLConfig("ppo", timesteps=6, n_epochs=2, seed=0)
    model = train_rl(env, cfg, tmp_path / "ppo", log=lines.append)
    assert model.num_timesteps == 6 and (tmp_path / "ppo" / CHECKPOINT).exists()
    saved = PPO.load(tmp_path / "ppo" / CHECKPOINT)
    assert saved.num_timesteps == 6  # the checkpoint holds the last update
    resumed = train_rl(
        env,
        RLConfig("ppo", timesteps=12, n_epochs=2, seed=0),
        tmp_path / "ppo",
        resume=True,
        log=lines.append,
    )
    assert (
        resumed.num_timesteps == 12 and PPO.load(tmp_path / "ppo" / CHECKPOINT).num_timesteps == 12
    )
    # one line per saved update, none for the resumed run's start
    assert [line.split("|")[0].split()[-1] for line in lines] == ["6/6", "12/12"]
    assert all("checkpoint saved | last episode return" in line for line in lines)
    # SB3's training log lands in the run directory, one CSV per (re)start, none is overwritten
    for start in (0, 6):
        log = (tmp_path / "ppo" / "logs" / f"progress-{start}.csv").read_text().splitlines()
        assert "time/total_timesteps" in log[0].split(",") and len(log) >= 2
    assert list((tmp_path / "ppo" / "logs").glob("events.out.tfevents.*"))  # TensorBoard
    # the saved IALE policy transfers to a plain env (MultiBinary) and selects exactly k
    from iale_env import ActiveLearningEnv

    plain = ActiveLearningEnv(cfg_env.replace(subpool_size=30), data=tiny_data)
    obs, _ = plain.reset(seed=0)
    policy = load_policy(tmp_path / "ppo" / "policy.zip", env=plain)
    action = policy.select(obs)
    assert action.shape == (30,) and action.sum() == 5
    lines.clear()
    a2c_cfg = RLConfig("a2c", timesteps=4, n_steps=2, seed=0, snapshot_every=3)
    a2c = train_rl(env, a2c_cfg, tmp_path / "a2c", log=lines.append)
    assert a2c.num_timesteps == 4 and (tmp_path / "a2c" / "policy.zip").exists()
    assert [line.split("|")[0].split()[-1] for line in lines] == ["2/4", "4/4"]
    # a snapshot at the first update past each multiple of snapshot_every, loadable as a policy
    assert [p.name for p in (tmp_path / "a2c" / "snapshots").iterdir()] == ["policy-4.zip"]
    snapshot = load_policy(tmp_path / "a2c" / "snapshots" / "policy-4.zip", env=plain)
    assert snapshot.select(obs).sum() == 5
    with pytest.raises(ValueError, match="snapshot_every must be >= 1"):
        RLConfig("a2c", snapshot_every=0)
    rows = (tmp_path / "a2c" / "logs" / "progress-0.csv").read_text().splitlines()[1:]
    assert len(rows) == 2  # SB3's training log has a row per update for A2C too
    # never overwritten: a finished run needs --resume; results without a checkpoint are refused
    with pytest.raises(ValueError, match="already holds a run; pass --resume"):
        train_rl(env, RLConfig("a2c", timesteps=4, n_steps=2, seed=0), tmp_path / "a2c")
    (tmp_path / "a2c" / CHECKPOINT).unlink()
    with pytest.raises(
        ValueError, match=r"holds policy.zip and logs and snapshots but no checkpoint.zip"
    ):
        train_rl(env, RLConfig("a2c", timesteps=4, n_steps=2, seed=0), tmp_path / "a2c")


@pytest.mark.slow
def test_sac_learns_from_a_replay_buffer_resumes_with_it_and_is_evaluated(tiny_data, tmp_path):
    """SAC (off-policy): checkpoints every ``checkpoint_every`` AL steps with the replay buffer
    of that step, resumes with both, and its policy selects k candidates in a sweep."""
    from stable_baselines3 import SAC

    from agents.evaluation.methods import make_selector, parse_method
    from agents.rl import load_sac_policy
    from iale_env import ActiveLearningEnv

    env = make_rl_env(ALConfig(**TINY), tiny_data, row_view="relative")  # 6 AL steps an episode
    with pytest.raises(ValueError, match="make_rl_env\\(config, row_view='relative'\\)"):
        train_rl(
            make_rl_env(ALConfig(**TINY), tiny_data),
            RLConfig("sac", view="relative", timesteps=8, learning_starts=2),
            tmp_path / "plain",
        )
    out, lines = tmp_path / "sac", []
    cfg = RLConfig(
        "sac", timesteps=8, learning_starts=2, batch_size=4, checkpoint_every=3, seed=0,
        view="relative", snapshot_every=4, buffer_size=50,
    )  # fmt: skip
    model = train_rl(env, cfg, out, log=lines.append)
    assert model.num_timesteps == 8 and model.replay_buffer.size() == 8
    # the buffer holds the view's 12 features per candidate, not the 2 D + 3 K of the state
    assert model.replay_buffer.observations.shape[1:] == (1, 20, 12)
    log = (out / "logs" / "progress-0.csv").read_text().splitlines()
    losses = [row.split(",")[log[0].split(",").index("train/critic_loss")] for row in log[1:]]
    assert any(losses), "SAC logged no critic update"  # it learned after learning_starts
    # saved at the first episode end 3+ steps on (6) and at the end (8), each checkpoint with
    # the buffer of its step alone; snapshots at the first step past each multiple of 4
    assert [line.split("|")[0].split()[-1] for line in lines] == ["6/8", "8/8"]
    assert [p.name for p in out.glob("replay_buffer-*.pkl")] == ["replay_buffer-8.pkl"]
    assert SAC.load(out / CHECKPOINT).num_timesteps == 8
    assert sorted(p.name for p in (out / "snapshots").iterdir()) == ["policy-4.zip", "policy-8.zip"]
    assert not model.replay_buffer.dones[7]  # step 8 ended no episode
    more = RLConfig(**{**cfg.__dict__, "timesteps": 12})
    resumed = train_rl(env, more, out, resume=True)
    # the buffer holds at most the first run's 8 steps: the 4 new transitions replaced the oldest
    assert resumed.num_timesteps == 12 and resumed.replay_buffer.size() == 8
    assert resumed.replay_buffer.pos == 4
    # the resumed run reset the env mid-episode: the stored episode ends at step 8, so the new
    # episode's first state is no transition's next state
    assert resumed.replay_buffer.dones[7] and resumed.replay_buffer.dones.sum() == 2
    assert [p.name for p in out.glob("replay_buffer-*.pkl")] == ["replay_buffer-12.pkl"]
    (out / "replay_buffer-12.pkl").unlink()
    with pytest.raises(ValueError, match="replay_buffer-12.pkl is missing"):
        train_rl(env, RLConfig(**{**cfg.__dict__, "timesteps": 14}), out, resume=True)
    # the policy file selects exactly k by its deterministic scores, on a plain env
    plain = ActiveLearningEnv(ALConfig(**TINY), data=tiny_data)
    obs, _ = plain.reset(seed=0)
    policy = load_sac_policy(out / "policy.zip", env=plain)
    action, scores = policy.select(obs, 5), policy.scores(obs)
    assert action.sum() == 5 and set(np.flatnonzero(action)) == set(np.argsort(-scores)[:5])
    rows = env.get_wrapper_attr("observation")(obs)  # the policy reads the view of the state
    np.testing.assert_array_equal(scores, resumed.policy.predict(rows, deterministic=True)[0])
    kind, picked = make_selector(parse_method(f"sac:{out}"), plain)(plain, obs)
    assert kind == "action" and np.array_equal(picked, action)
    other = ActiveLearningEnv(ALConfig(**{**TINY, "subpool_size": 30}), data=tiny_data)
    with pytest.raises(ValueError, match="reads states of shape"):
        load_sac_policy(out / "policy.zip", env=other)
    with pytest.raises(ValueError, match="not a SAC policy file"):
        load_sac_policy(out / "missing.zip")


def test_rl_config_rejects_bad_values():
    with pytest.raises(ValueError, match="algo"):
        RLConfig("dqn")
    with pytest.raises(ValueError, match="timesteps"):
        RLConfig(timesteps=0)
    with pytest.raises(ValueError, match="checkpoint_every must be >= 1"):
        RLConfig("sac", checkpoint_every=0)
    with pytest.raises(ValueError, match="learning_starts must be >= 0"):
        RLConfig("sac", learning_starts=-1)
    with pytest.raises(ValueError, match="sac would never learn"):
        RLConfig("sac", timesteps=100, learning_starts=180)
    with pytest.raises(ValueError, match="n_steps is the rollout of PPO and A2C"):
        RLConfig("sac", n_steps=10, timesteps=1000)


@pytest.mark.slow
@pytest.mark.parametrize(
    "script, flags, message",
    [
        pytest.param(
            "train_alil.py", ["--episodes", "0"], "episodes must be >= 1", marks=pytest.mark.dagger
        ),
        ("train_alil.py", ["--experts", "coreset"], "unrecognized arguments"),
        ("train_rl.py", ["--timesteps", "0"], "timesteps must be >= 1"),
        ("train_rl.py", ["--algo", "dqn"], "invalid choice"),
    ],
)
def test_baseline_scripts_reject_bad_flags(script, flags, message, tmp_path):
    done = run_script(script, *flags, "--out", str(tmp_path / "o"), timeout=120)
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{script}: error:") and message in last  # one line, no traceback
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_train_rl_trains_on_the_state_with_the_experts_scores(idx_root, tmp_path, capsys):
    """PPO/A2C are benchmarked on the same state as the IALE policy: the experts' score
    columns reach the policy, and evaluate.py rebuilds that state from config.json."""
    import json

    from agents.cli.train_rl import main
    from agents.evaluation.methods import parse_method, policy_env_overrides

    out = tmp_path / "ppo"
    flags = ["--preset", "smoke", "--budget", "30", "--epochs", "2", "--scoring-size", "50"]
    flags += ["--test-size", "50", "--timesteps", "2", "--n-steps", "2", "--threads", "1"]
    flags += ["--state-scores", "mc_dropout", "--data-dir", str(idx_root), "--out", str(out)]
    assert main([*flags, "--snapshot-every", "1"]) == 0
    env = json.loads((out / "config.json").read_text())["env"]
    assert env["state_scores"] == ["mc_dropout"] and env["eager_ensemble"] is False
    assert load_policy(out / "policy.zip").score_columns == 1
    assert policy_env_overrides(parse_method(f"ppo:{out}"))["state_scores"] == ("mc_dropout",)
    # a snapshot along training is evaluated on the state of its run
    snapshot = out / "snapshots" / "policy-2.zip"
    assert policy_env_overrides(parse_method(f"ppo:{snapshot}"))["state_scores"] == ("mc_dropout",)
    # margin has no per-candidate score: one line, before any work
    assert main([*flags, "--state-scores", "margin", "--out", str(tmp_path / "m")]) == 2
    assert "state_scores must name distinct experts" in capsys.readouterr().err


@pytest.mark.slow
def test_train_rl_sac_resumes_only_with_its_replay_buffer(idx_root, tmp_path, capsys):
    from agents.cli.train_rl import main

    out = tmp_path / "sac"
    flags = ["--algo", "sac", "--preset", "smoke", "--budget", "30", "--epochs", "2"]
    flags += ["--scoring-size", "50", "--test-size", "50", "--learning-starts", "1"]
    flags += [
        "--threads",
        "1",
        "--buffer-size",
        "5",
        "--data-dir",
        str(idx_root),
        "--out",
        str(out),
    ]
    assert main([*flags, "--timesteps", "3"]) == 0
    assert [p.name for p in out.glob("replay_buffer-*.pkl")] == ["replay_buffer-3.pkl"]
    (out / "replay_buffer-3.pkl").unlink()
    assert main([*flags, "--timesteps", "4", "--resume"]) == 2  # before any data or training
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "replay_buffer-3.pkl is missing" in err[0]
    assert (
        main([*flags, "--timesteps", "4", "--learning-starts", "4", "--out", str(tmp_path / "x")])
        == 2
    )
    assert "sac would never learn" in capsys.readouterr().err
