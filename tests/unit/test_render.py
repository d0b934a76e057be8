"""Rendering: pictures of AL states, standard Gymnasium/SB3 flows, an episode as a GIF."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import iale_env  # noqa: F401 - registers the ids
from iale_env.render import FRAME_SIZE
from tests.conftest import TINY, run_script

pytestmark = pytest.mark.filterwarnings("ignore:MNIST:UserWarning")


def test_rgb_frames_show_the_state_and_change_with_the_step(make_env):
    env = make_env()
    env.render_mode = "rgb_array"
    env.reset(seed=0)
    first = env.render()
    assert first.shape == (FRAME_SIZE[1], FRAME_SIZE[0], 3) and first.dtype == np.uint8
    assert first.std() > 10  # a picture, not a blank canvas
    env.oracle_action()
    env.step(env.expert_action("random"))
    second = env.render()
    assert second.shape == first.shape and not np.array_equal(first, second)
    assert env._curve[-1][0] == TINY["initial_labeled"] + TINY["acquisition_size"]


def test_green_and_orange_outlines_mark_the_agents_and_the_oracles_picks():
    from iale_env.render import mosaic

    images = np.zeros((4, 1, 6, 6), dtype=np.float32)
    grid = mosaic(images, selected=[0], oracle=[0, 3])
    tile = 6 + 4
    corner = {i: grid[(i // 2) * tile, (i % 2) * tile] for i in range(4)}
    assert corner[0][1] > 0.7 and corner[0][0] < 0.2  # green: labeled (oracle agreed)
    assert corner[3][0] == 1.0 and 0.5 < corner[3][1] < 0.6  # orange: only the oracle
    assert np.allclose(corner[1], 0.35)  # grey: left in the pool


def test_standard_gymnasium_and_sb3_flows(idx_root):
    from stable_baselines3.common.env_util import make_vec_env

    kwargs = dict(data_dir=str(idx_root), **TINY)
    env = gym.make("IALE-MNIST-v0", render_mode="rgb_array", **kwargs)
    env.reset(seed=0)
    assert env.render().shape == (FRAME_SIZE[1], FRAME_SIZE[0], 3)
    venv = make_vec_env("IALE-MNIST-v0", n_envs=1, seed=0, env_kwargs=kwargs)  # rgb_array
    obs = venv.reset()
    assert obs.shape == (1, TINY["subpool_size"], 286)
    with pytest.raises(ValueError, match="render_mode must be one of"):
        gym.make("IALE-MNIST-v0", render_mode="ansi", **kwargs)


@pytest.mark.slow
def test_an_episode_is_recorded_as_an_animated_gif(idx_root, tmp_path):
    from PIL import Image

    flags = "--budget 30 --initial-labeled 10 --acquisition-size 5 --subpool-size 20 --epochs 1 --scoring-size 60"
    proc = run_script(
        "record_episode.py",
        *flags.split(),
        "--test-size",
        "60",
        "--method",
        "entropy",
        "--show-oracle",
        "--out",
        str(tmp_path / "episode.gif"),
        env={"IALE_DATA_DIR": str(idx_root)},
    )
    assert proc.returncode == 0, proc.stderr
    gif = Image.open(tmp_path / "episode.gif")
    assert gif.format == "GIF" and gif.n_frames == 1 + (30 - 10) // 5


@pytest.mark.slow
def test_sb3_video_recorder_records_an_al_episode(tiny_data, tmp_path):
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecVideoRecorder

    data = str(tiny_data.save(tmp_path / "data.npz"))
    venv = make_vec_env("IALE-Custom-v0", n_envs=1, seed=0, env_kwargs=dict(data=data, **TINY))
    steps = (TINY["budget"] - TINY["initial_labeled"]) // TINY["acquisition_size"]
    venv = VecVideoRecorder(
        venv, str(tmp_path / "videos"), lambda step: step == 0, video_length=steps, name_prefix="al"
    )
    venv.reset()
    for _ in range(steps):
        action = np.zeros((1, TINY["subpool_size"]), dtype=np.int8)
        action[0, : TINY["acquisition_size"]] = 1
        venv.step(action)
    venv.close()
    (video,) = (tmp_path / "videos").glob("al-step-0-to-step-*.mp4")
    assert video.stat().st_size > 1000
