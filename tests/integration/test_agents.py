"""The IALE policy, the oracle expert, and DAgger training (tiny real runs)."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest
import torch
from stable_baselines3.common.vec_env import DummyVecEnv

from agents.oracle import BestExpertOracle
from agents.policy import IALEPolicy, load_policy
from agents.schedules import ConstantLR
from iale_env import ALConfig
from tests.conftest import TINY, run_script


def _policy(env, **kw) -> IALEPolicy:
    return IALEPolicy(
        env.observation_space,
        env.action_space,
        ConstantLR(1e-3),
        acquisition_size=env.config.acquisition_size,
        **kw,
    )


@pytest.fixture
def env(make_env):
    e = make_env()
    e.reset(seed=0)
    return e


def test_policy_architecture_is_the_papers_row_wise_mlp(env):
    p = _policy(env)
    linear = [m for m in p.trunk if isinstance(m, torch.nn.Linear)] + [p.score_head]
    assert [(m.in_features, m.out_features) for m in linear] == [(286, 128), (128, 128), (128, 1)]
    obs = torch.rand(3, 20, 286)
    scores = p.scores(obs)
    assert scores.shape == (3, 20) and bool(((scores > 0) & (scores < 1)).all())
    # Row-wise: permuting candidates permutes the scores.
    perm = torch.randperm(20)
    assert torch.allclose(p.scores(obs[:, perm]), scores[:, perm], atol=1e-6)


def test_deterministic_action_is_top_k_stochastic_is_bernoulli(env):
    torch.manual_seed(0)
    p = _policy(env)
    with torch.no_grad():  # spread the scores (about 0.5 at init) so Bernoulli(rho) != coin flips
        p.score_head.weight.mul_(100.0)
    obs = np.random.default_rng(0).random((8, 20, 286), dtype=np.float32)
    det, _ = p.predict(obs, deterministic=True)
    assert det.shape == (8, 20) and (det.sum(1) == 5).all()
    scores = p.scores(torch.as_tensor(obs)).detach().numpy()
    assert scores.std() > 0.2
    for row, s in zip(det, scores):
        assert set(np.flatnonzero(row)) == set(np.argsort(-s)[:5])
    # Bernoulli(rho) per candidate: the sample mean matches rho (400 draws: SD <= 0.025, so the
    # tolerance is 6 SD for every one of the 160 entries); seeded, so the test is deterministic.
    torch.manual_seed(0)
    samples = np.stack([p.predict(obs, deterministic=False)[0] for _ in range(400)])
    np.testing.assert_allclose(samples.mean(0), scores, atol=0.15)
    assert (samples.sum(-1) != 5).any()


@pytest.mark.dagger
def test_bc_loss_is_exactly_eq3(env):
    """imitation's BC loss with ent_weight=l2_weight=0 equals the summed BCE of Eq. 3."""
    from imitation.algorithms.bc import BehaviorCloningLossCalculator

    p = _policy(env)
    rng = np.random.default_rng(1)
    obs = torch.as_tensor(rng.random((6, 20, 286), dtype=np.float32))
    acts = np.zeros((6, 20), dtype=np.int8)
    for row in acts:
        row[rng.choice(20, 5, replace=False)] = 1
    rho = p.scores(obs)
    t = torch.as_tensor(acts).float()
    eq3 = -(t * rho.log() + (1 - t) * (1 - rho).log()).sum(1).mean()
    bc = BehaviorCloningLossCalculator(ent_weight=0.0, l2_weight=0.0)(p, obs, torch.as_tensor(acts))
    assert float(bc.loss) == pytest.approx(float(eq3), rel=1e-5)
    # The authors' class weighting: 0.9 on selected, 0.1 on unselected candidates.
    pw = _policy(env, class_weights=(0.9, 0.1))
    pw.load_state_dict(p.state_dict())
    w = 0.9 * t + 0.1 * (1 - t)
    weighted = -(w * (t * rho.log() + (1 - t) * (1 - rho).log())).sum(1).mean()
    bcw = BehaviorCloningLossCalculator(ent_weight=0.0, l2_weight=0.0)(
        pw, obs, torch.as_tensor(acts)
    )
    assert float(bcw.loss) == pytest.approx(float(weighted), rel=1e-5)


def test_save_load_round_trip_and_transfer(env, make_env, tmp_path):
    p = _policy(env, class_weights=(0.9, 0.1))
    obs = env._observation()
    path = tmp_path / "policy.zip"
    p.save(str(path))
    q = IALEPolicy.load(str(path))
    assert q.class_weights == (0.9, 0.1)
    assert np.array_equal(
        q.predict(obs, deterministic=True)[0], p.predict(obs, deterministic=True)[0]
    )
    other = make_env(subpool_size=30, acquisition_size=10, budget=50)
    other_obs, _ = other.reset(seed=1)
    r = load_policy(str(path), env=other)
    action, _ = r.predict(other_obs, deterministic=True)
    assert action.shape == (30,) and action.sum() == 10
    assert other.step(action)[4]["repaired"] is False


def test_oracle_policy_answers_env_oracle_and_detects_desync(env):
    venv = DummyVecEnv([lambda: env])
    obs = venv.reset()
    oracle = BestExpertOracle(venv)
    action, _ = oracle.predict(obs)
    assert np.array_equal(action[0], env.oracle_action())
    assert sum(oracle.winners.values()) == 1
    with pytest.raises(RuntimeError, match="does not match"):
        oracle.predict(obs + 1.0)


def test_oracle_reaches_envs_under_wrappers_without_deprecated_forwarding(tiny_data):
    import warnings

    import gymnasium as gym
    from stable_baselines3.common.monitor import Monitor

    env = gym.make("IALE-MNIST-v0", data=tiny_data, **TINY)  # gym.make adds its own wrappers
    venv = DummyVecEnv([lambda: Monitor(env)])
    obs = venv.reset()
    oracle = BestExpertOracle(venv)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Gymnasium's forwarding warning would raise here
        action, _ = oracle.predict(obs)
    assert np.array_equal(action[0], env.unwrapped.last_oracle.action)
    assert action[0].sum() == TINY["acquisition_size"]


def _run(
    make_env, out, episodes, experts=("mc_dropout", "ensemble"), resume=False, env_kw=None, **kw
):
    from agents.dagger import DAggerConfig, train_dagger

    env = make_env(experts=experts, **(env_kw or {}))
    cfg = DAggerConfig(episodes=episodes, bc_batch_size=4, bc_epochs=kw.pop("bc_epochs", 10), **kw)
    return train_dagger(env, cfg, out, resume=resume, progress=False), env


@pytest.mark.slow
@pytest.mark.dagger
def test_dagger_stores_oracle_labels_and_executes_expert_with_prob_beta(make_env, tmp_path):
    res, _ = _run(make_env, tmp_path / "a", episodes=2, beta=0.5)
    steps = 2 * ALConfig(**TINY).steps_per_episode
    assert res.states.shape == (steps, 20, 286) and res.states.dtype == np.float32
    answers = dict(res.oracle.answers)
    for state, action in zip(res.states, res.actions):
        assert np.array_equal(action, answers[hashlib.sha256(state.tobytes()).hexdigest()])
    executed = [row["expert_executed"] for row in res.log]
    assert 0.0 < np.mean(executed) < 1.0
    assert (tmp_path / "a" / "policy.zip").exists() and (tmp_path / "a" / "log.csv").exists()
    assert len((tmp_path / "a" / "log.csv").read_text().strip().splitlines()) == 3
    for beta in (0.0, 1.0):
        res_b, _ = _run(make_env, tmp_path / f"b{beta}", episodes=1, beta=beta, bc_epochs=1)
        assert res_b.log[0]["expert_executed"] == beta


@pytest.mark.slow
@pytest.mark.dagger
def test_dagger_options_coin_per_episode_exponential_beta_reinit_weights(make_env, tmp_path):
    res, _ = _run(
        make_env,
        tmp_path / "opts",
        episodes=3,
        beta=0.5,
        beta_schedule="exponential",
        beta_decay=0.5,
        coin="episode",
        reinit_policy=True,
        class_weights=(0.9, 0.1),
        bc_epochs=2,
    )
    assert [row["beta"] for row in res.log] == [0.5, 0.25, 0.125]
    assert all(row["expert_executed"] in (0.0, 1.0) for row in res.log)  # one coin per episode
    assert res.policy.class_weights == (0.9, 0.1)


@pytest.mark.slow
@pytest.mark.dagger
def test_trained_policy_transfers_to_fashion_mnist_env(make_env, tmp_path, idx_root):
    import gymnasium as gym

    _run(make_env, tmp_path / "t", episodes=1, bc_epochs=2)
    env = gym.make("IALE-FashionMNIST-v0", data_dir=str(idx_root), **{**TINY, "subpool_size": 25})
    policy = load_policy(str(tmp_path / "t" / "policy.zip"), env=env)
    obs, _ = env.reset(seed=0)
    done = False
    while not done:
        action, _ = policy.predict(obs, deterministic=True)
        obs, _, done, _, info = env.step(action)
        assert not info["repaired"]
    assert info["labeled"] == TINY["budget"]


@pytest.mark.slow
@pytest.mark.dagger
def test_dagger_policy_learns_a_learnable_oracle(make_env, tmp_path):
    """With a margin-only oracle (a function of the state), agreement beats chance (k/n=0.25)."""
    from agents.dagger import agreement

    res, env = _run(
        make_env,
        tmp_path / "learn",
        episodes=6,
        experts=("margin",),
        bc_epochs=60,
        env_kw=dict(budget=60, epochs=15),
    )
    held_out, targets = [], []
    obs, _ = env.reset(seed=12345)
    done = False
    while not done:
        held_out.append(obs)
        targets.append(env.oracle_action())
        obs, _, done, _, _ = env.step(targets[-1])
    pred = res.policy.predict(np.stack(held_out), deterministic=True)[0]
    chance = env.config.acquisition_size / env.config.subpool_size
    assert agreement(pred, np.stack(targets)) > chance + 0.15  # measured: 0.48; untrained 0.24


TINY_STEPS = (TINY["budget"] - TINY["initial_labeled"]) // TINY["acquisition_size"]


@pytest.mark.slow
@pytest.mark.dagger
def test_resume_gives_the_same_policy_as_an_uninterrupted_run(make_env, tmp_path):
    full, _ = _run(make_env, tmp_path / "full", episodes=3)
    _run(make_env, tmp_path / "cut", episodes=2)  # "killed" after round 2
    resumed, _ = _run(make_env, tmp_path / "cut", episodes=3, resume=True)
    assert [r["episode"] for r in resumed.log] == [1, 2, 3]
    for (k, a), b in zip(full.policy.state_dict().items(), resumed.policy.state_dict().values()):
        assert torch.equal(a, b), k
    with pytest.raises(ValueError, match="other settings"):
        _run(make_env, tmp_path / "cut", episodes=4, resume=True, beta=0.3)
    # the demonstrations: imitation's format, one real AL episode per round, also after resume
    from imitation.data import serialize

    steps = TINY_STEPS
    for r in range(3):
        (path,) = (tmp_path / "cut" / "demos" / f"round-{r:03d}").glob("*.npz")
        (traj,) = serialize.load(path)
        assert len(traj.acts) == steps and len(traj.obs) == steps + 1 and traj.terminal
        assert len(traj.rews) == steps and traj.infos[-1]["labeled"] == TINY["budget"]
        full_path = next((tmp_path / "full" / "demos" / f"round-{r:03d}").glob("*.npz"))
        np.testing.assert_array_equal(serialize.load(full_path)[0].acts, traj.acts)
    # one logging path: SB3/imitation's logger, CSV per (re)start and TensorBoard, in logs/
    logs = tmp_path / "cut" / "logs"
    first = (logs / "progress-0.csv").read_text().splitlines()
    assert "dagger/heldout_agreement" in first[0] and "bc/loss" in first[0]
    assert (logs / "progress-2.csv").exists() and list(logs.glob("events.out.tfevents.*"))


@pytest.mark.slow
@pytest.mark.dagger
def test_resume_accepts_a_checkpoint_older_than_an_env_setting(make_env, tmp_path):
    """A checkpoint written before an env setting existed resumes with that setting's default;
    a checkpoint with another value of it is still refused."""
    from agents.dagger import DAggerConfig, train_dagger

    env = make_env()
    cfg = DAggerConfig(episodes=1, bc_batch_size=4, bc_epochs=1)
    settings = {"env": dataclasses.asdict(env.config)}
    train_dagger(env, cfg, tmp_path, progress=False, settings=settings)
    ckpt_path = tmp_path / "checkpoint.pt"
    ckpt = torch.load(ckpt_path, weights_only=False)
    del ckpt["settings"]["env"]["subpool_mean_embedding"], ckpt["settings"]["env"]["classifier"]
    torch.save(ckpt, ckpt_path)
    more = dataclasses.replace(cfg, episodes=2)
    res = train_dagger(env, more, tmp_path, resume=True, progress=False, settings=settings)
    assert [r["episode"] for r in res.log] == [1, 2]
    other = {"env": {**settings["env"], "subpool_mean_embedding": True}}
    with pytest.raises(ValueError, match=r"other settings \(env.subpool_mean_embedding\)"):
        train_dagger(env, more, tmp_path, resume=True, progress=False, settings=other)
    # where and how fast it computes may change (one rule with the scripts)
    faster = {"env": {**settings["env"], "deterministic": False, "device": "cpu:0"}}
    more = dataclasses.replace(cfg, episodes=3, device="cpu:0")
    train_dagger(env, more, tmp_path, resume=True, progress=False, settings=faster)


@pytest.mark.slow
@pytest.mark.dagger  # train_dagger.py checks its flags after importing imitation
@pytest.mark.parametrize(
    "flags, message",
    [
        (["--experts", "mc_dropout,foo"], "unknown expert"),
        (
            ["--acquisition-size", "60", "--subpool-size", "50", "--budget", "80"],
            "cannot exceed subpool_size",
        ),
        (["--budget", "10", "--initial", "20"], "must exceed initial_labeled"),  # the alias
        (["--beta", "1.5"], "beta must be in [0, 1]"),
        (["--selection", "greedy", "--soft-targets", "0.01"], "soft targets need"),
        (["--data-dir", "{tmp}/nowhere"], "could not load MNIST"),
        (["--dataset", "MNIST,synth:0"], "unknown source 'synth:0'"),
        (["--dataset", "MNIST,synthetic:0", "--envs", "3"], "envs are one per source"),
        (["--dataset", "synthetic:0", "--envs", "2"], "collect from 'synthetic:0' in this"),
    ],
)
def test_cli_bad_flags_exit_with_one_line_error(flags, message, tmp_path, monkeypatch):
    flags = [f.replace("{tmp}", str(tmp_path)) for f in flags]
    no_internet = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}
    proc = run_script(
        "train_dagger.py", *flags, "--out", str(tmp_path / "o"), env=no_internet, timeout=300
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr
