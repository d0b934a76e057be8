"""What differs between the stacks the base package supports, tested on the installed one.

CI runs this module on both: gymnasium 0.29, stable-baselines3 2.2, numpy 1 (constraints.txt,
with imitation) and gymnasium 1.x, stable-baselines3 2.9, numpy 2 (constraints-latest.txt, no
imitation). What users meet there: vector envs and their autoreset, attribute access through
wrappers, rendering in a vector env, PPO on SB3's ``make_vec_env``, and policy files saved on
one stack and loaded on the other (``tests/data/stacks/<stack>/``, one written on each; write
the installed stack's with ``python -m tests.integration.test_stacks``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import stable_baselines3
import torch
from packaging.version import Version

from agents.oracle import env_attr
from agents.policy import IALEPolicy, load_policy
from agents.schedules import ConstantLR
from iale_env import ActiveLearningEnv, ALConfig, TopKScoreAction
from tests.conftest import TINY, tiny_dataset

GYMNASIUM_1 = Version(gym.__version__).major >= 1
STACKS = Path(__file__).parents[1] / "data" / "stacks"
N, K = TINY["subpool_size"], TINY["acquisition_size"]


def _first_k(num_envs: int) -> np.ndarray:
    action = np.zeros((num_envs, N), dtype=np.int8)
    action[:, :K] = 1
    return action


def test_a_vector_env_runs_the_episodes_of_single_envs_and_autoresets(tiny_data):
    """``gym.make_vec``: sub-env i of ``reset(seed=[0, 1])`` runs env i's episode; at the end
    gymnasium 1.x resets on the next step (reward 0), 0.29 in the same step (the last
    observation and info in ``final_observation`` / ``final_info``)."""
    steps = ALConfig(**TINY).steps_per_episode
    envs = gym.make_vec(
        "IALE-MNIST-v0", num_envs=2, vectorization_mode="sync", data=tiny_data, **TINY
    )
    single = gym.make("IALE-MNIST-v0", data=tiny_data, **TINY)
    obs, _ = envs.reset(seed=[0, 1])
    alone, _ = single.reset(seed=0)
    np.testing.assert_array_equal(obs[0], alone)
    for _ in range(steps):
        obs, reward, terminated, truncated, info = envs.step(_first_k(2))
        alone, alone_reward, done, _, alone_info = single.step(_first_k(1)[0])
        assert list(terminated) == [done, done] and not truncated.any()
        assert reward[0] == alone_reward
    assert done
    if GYMNASIUM_1:
        np.testing.assert_array_equal(obs[0], alone)  # the last observation, as returned
        assert info["test_accuracy"][0] == alone_info["test_accuracy"]
        obs, reward, terminated, _, info = envs.step(_first_k(2))  # the reset: action ignored
        assert list(reward) == [0.0, 0.0] and not terminated.any()
    else:
        np.testing.assert_array_equal(info["final_observation"][0], alone)
        assert info["final_info"][0]["test_accuracy"] == alone_info["test_accuracy"]
    assert list(info["labeled"]) == [TINY["initial_labeled"]] * 2  # new episodes
    assert obs.shape == (2, N, 286)
    envs.close()


def test_wrapped_envs_are_reached_through_unwrapped_and_get_wrapper_attr(tiny_data):
    """gymnasium 1.x no longer forwards attributes through wrappers: ``env.unwrapped`` and
    ``get_wrapper_attr`` reach the IALE env on both, and so does :func:`env_attr` in SB3."""
    from stable_baselines3.common.env_util import make_vec_env

    env = gym.make("IALE-MNIST-v0", data=tiny_data, **TINY)
    assert isinstance(env, gym.Wrapper) and isinstance(env.unwrapped, ActiveLearningEnv)
    assert env.get_wrapper_attr("config") is env.unwrapped.config
    if GYMNASIUM_1:
        with pytest.raises(AttributeError):
            env.config  # noqa: B018 (the forwarding that gymnasium 1 removed)
    env.reset(seed=0)
    assert env.unwrapped.oracle_action().sum() == K
    venv = make_vec_env("IALE-MNIST-v0", n_envs=1, env_kwargs=dict(data=tiny_data, **TINY))
    assert env_attr(venv, "config")[0] == env.unwrapped.config
    venv.close()


def test_a_vector_env_renders_each_sub_env(tiny_data):
    from iale_env.render import FRAME_SIZE

    envs = gym.make_vec(
        "IALE-MNIST-v0",
        num_envs=2,
        vectorization_mode="sync",
        render_mode="rgb_array",
        data=tiny_data,
        **TINY,
    )
    envs.reset(seed=[0, 1])
    envs.step(_first_k(2))
    frames = envs.call("render")
    assert len(frames) == 2
    for frame in frames:
        assert frame.shape == (FRAME_SIZE[1], FRAME_SIZE[0], 3) and frame.dtype == np.uint8
    assert not np.array_equal(frames[0], frames[1])  # two episodes, two pictures
    envs.close()


def test_ppo_with_the_iale_policy_trains_on_make_vec_env_and_reloads(tiny_data, tmp_path):
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    venv = make_vec_env(
        "IALE-MNIST-v0",
        n_envs=2,
        seed=0,
        env_kwargs=dict(data=tiny_data, **TINY),
        wrapper_class=TopKScoreAction,
    )
    model = PPO(
        IALEPolicy,
        venv,
        n_steps=2,
        batch_size=4,
        n_epochs=1,
        seed=0,
        device="cpu",
        policy_kwargs={"acquisition_size": K},
    )
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(total_timesteps=4)
    assert model.num_timesteps == 4
    assert any(not torch.equal(a, b) for a, b in zip(before, model.policy.parameters()))
    model.save(tmp_path / "ppo.zip")
    again = PPO.load(tmp_path / "ppo.zip", env=venv, device="cpu")
    obs = venv.reset()
    action, _ = again.predict(obs, deterministic=True)
    np.testing.assert_array_equal(action, model.predict(obs, deterministic=True)[0])
    assert action.shape == (2, N)
    venv.close()


def _probe() -> np.ndarray:
    """A fixed observation of the tiny env (what the fixtures' recorded scores answer)."""
    env = ActiveLearningEnv(ALConfig(**TINY), data=tiny_dataset())
    obs, _ = env.reset(seed=0)
    return obs


def _stack_name() -> str:
    return f"gymnasium-{gym.__version__}_sb3-{stable_baselines3.__version__}_numpy-{np.__version__}"


def write_fixture(root: Path = STACKS) -> Path:
    """Save a (seeded, untrained) IALE policy on the installed stack, with its scores on the
    probe observation, under ``root/<stack>/``."""
    env = ActiveLearningEnv(ALConfig(**TINY), data=tiny_dataset())
    torch.manual_seed(0)
    policy = IALEPolicy(env.observation_space, env.action_space, ConstantLR(1e-3), K, hidden_dim=16)
    out = root / _stack_name()
    out.mkdir(parents=True, exist_ok=True)
    policy.save(str(out / "policy.zip"))
    obs = _probe()
    scores = policy.scores(torch.as_tensor(obs)[None])[0]
    record = {"scores": scores.tolist(), "select": np.flatnonzero(policy.select(obs)).tolist()}
    (out / "expected.json").write_text(json.dumps(record) + "\n")
    return out


def test_a_policy_file_saved_on_either_stack_loads_on_this_one(make_env):
    """``policy.zip`` (weights-only) written on gymnasium 0.29 / numpy 1 and on gymnasium 1.x
    / numpy 2 loads here and scores the probe observation as it did there."""
    folders = sorted(STACKS.iterdir())
    names = [f.name for f in folders]
    assert any("numpy-1." in n for n in names) and any("numpy-2." in n for n in names), names
    obs = _probe()
    for folder in folders:
        expected = json.loads((folder / "expected.json").read_text())
        policy = load_policy(str(folder / "policy.zip"), env=make_env())
        scores = policy.scores(torch.as_tensor(obs)[None])[0].detach()
        np.testing.assert_allclose(scores.numpy(), expected["scores"], rtol=1e-5, atol=1e-6)
        assert np.flatnonzero(policy.select(obs)).tolist() == expected["select"], folder.name


if __name__ == "__main__":
    print(f"wrote {write_fixture(Path(sys.argv[1]) if len(sys.argv) > 1 else STACKS)}")


#: Run in a fresh interpreter: hide imitation (where it is installed), import every module of
#: the package, and run the commands that need imitation.
_WITHOUT_IMITATION = """
import contextlib, importlib, io, json, pkgutil, sys

class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "imitation":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, Hide())
import agents, iale_env

failed = {}
for pkg in (agents, iale_env):
    for mod in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        try:
            importlib.import_module(mod.name)
        except ImportError as exc:
            failed[mod.name] = str(exc)
from agents.cli.imitability import main as imitability
from agents.cli.train_alil import main as train_alil
from agents.cli.train_dagger import main as train_dagger
from agents.cli.train_selector import main as train_selector

out = sys.argv[1]
codes = {}
for name, main, argv in [
    ("train_dagger", train_dagger, ["--preset", "smoke", "--out", out]),
    ("train_alil", train_alil, ["--preset", "smoke", "--out", out]),
    ("imitability", imitability, [out]),
    ("train_selector", train_selector, [out, "--out", out]),
]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        codes[name] = [main(argv), err.getvalue()]
print(json.dumps({"failed": failed, "codes": codes}))
"""


@pytest.mark.slow
def test_without_imitation_only_dagger_training_is_missing_and_says_what_to_install(tmp_path):
    import subprocess

    from tests.conftest import ROOT

    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-c", _WITHOUT_IMITATION, str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    install = "pip install 'iale-gym[dagger]'"
    assert sorted(result["failed"]) == [
        "agents.dagger",  # its modules are not walked: the package itself fails
        "agents.diagnostics.decisions",
        "agents.diagnostics.imitability",
    ]
    assert all(install in message for message in result["failed"].values())
    for name, (code, err) in result["codes"].items():
        assert code == 2, (name, err)
        assert err.count("\n") == 1 and install in err and "Traceback" not in err, (name, err)
    assert not out.exists()  # refused before any work
