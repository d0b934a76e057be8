"""Every Python example of the README runs, top to bottom in one namespace as a reader would,
on tiny data: the README cannot drift from the code."""

from __future__ import annotations

import re
import sys

import gymnasium as gym
import pytest

from tests.conftest import ROOT, TINY, synthetic_images

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
# the one module an example says to put in a file of its own
MODULE_MARK = "# mypackage/models.py"


def test_readme_has_examples():
    assert len(BLOCKS) >= 5


@pytest.mark.slow
def test_every_readme_example_runs(tmp_path, monkeypatch, tiny_data):
    from agents.policy import IALEPolicy
    from agents.schedules import ConstantLR
    from iale_env import ActiveLearningEnv, ALConfig

    monkeypatch.chdir(tmp_path)
    real_make = gym.make

    def small_make(env_id, **kwargs):  # the README's settings on tiny data, in seconds
        if env_id != "IALE-Custom-v0":
            kwargs.setdefault("data", tiny_data)
        return real_make(env_id, **{**TINY, **kwargs})

    monkeypatch.setattr(gym, "make", small_make)
    # what the examples take from the reader: arrays, an image folder, a trained policy
    train_x, train_y = synthetic_images(400, 0)
    test_x, test_y = synthetic_images(120, 1)
    _image_folder(tmp_path / "my_images")
    env = ActiveLearningEnv(ALConfig(**TINY), data=tiny_data)
    policy = IALEPolicy(
        env.observation_space, env.action_space, ConstantLR(1e-3), acquisition_size=5
    )
    (tmp_path / "runs" / "smoke").mkdir(parents=True)
    policy.save(str(tmp_path / "runs" / "smoke" / "policy.zip"))
    namespace = dict(
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
        labeled_x=train_x[:30],
        labeled_y=train_y[:30],
        pool_x=train_x[30:],
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for i, block in enumerate(BLOCKS):
        if MODULE_MARK in block:
            module, _, rest = block.partition("\n\n\nenv = ")
            (tmp_path / "mypackage").mkdir()
            (tmp_path / "mypackage" / "__init__.py").write_text("")
            (tmp_path / "mypackage" / "models.py").write_text(module)
            block = "env = " + rest
        try:
            exec(compile(block, f"README.md python block {i}", "exec"), namespace)
        except Exception as exc:  # noqa: BLE001 - name the block that broke
            raise AssertionError(f"README python block {i} fails:\n{block}") from exc
    assert namespace["result"].picks.shape == (5,)
    assert namespace["action"].sum() == 5
    sys.modules.pop("mypackage.models", None)
    sys.modules.pop("mypackage", None)


def _image_folder(root):
    from PIL import Image

    for split, n, seed in (("train", 200, 0), ("test", 40, 1)):
        images, labels = synthetic_images(n, seed)
        for i, (img, y) in enumerate(zip(images, labels)):
            folder = root / split / f"class{y}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(folder / f"{i}.png")
