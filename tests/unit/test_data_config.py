"""Data loading, the data root, user arrays and config validation."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import iale_env
from iale_env import ALConfig, ALDataset, DatasetNotFoundError, load_dataset, resolve_data_dir
from tests.conftest import TINY, synthetic_images


def test_load_dataset_from_idx_files_scaled_to_unit_range(idx_root):
    ds = load_dataset("mnist", data_dir=idx_root)
    assert ds.name == "MNIST" and ds.num_classes == 10
    assert ds.train_x.shape == (400, 1, 28, 28) and ds.test_x.shape == (120, 1, 28, 28)
    assert ds.train_x.dtype == torch.float32
    assert 0.0 <= float(ds.train_x.min()) and float(ds.train_x.max()) <= 1.0
    images, labels = synthetic_images(400, 0)
    assert torch.equal(ds.train_y, torch.as_tensor(labels))
    assert torch.allclose(ds.train_x[:, 0], torch.as_tensor(images, dtype=torch.float32) / 255)


def test_data_root_resolution_order(monkeypatch, tmp_path):
    monkeypatch.setenv("IALE_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("IALE_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert resolve_data_dir() == tmp_path / "cache" / "iale-gym" / "datasets"


def test_missing_dataset_names_folder_and_fix(tmp_path, monkeypatch):
    # Make any download attempt fail fast, as it does offline.
    import torchvision.datasets.mnist as tv_mnist

    def no_network(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", no_network)
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("FashionMNIST", data_dir=tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "FashionMNIST" / "raw") in msg
    assert "IALE_DATA_DIR" in msg and "--data-dir" in msg


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="unknown dataset 'CIFAR'"):
        load_dataset("CIFAR")


def test_from_arrays_accepts_any_class_count_and_layout():
    rng = np.random.default_rng(0)
    tx = rng.random((50, 3, 16, 16), dtype=np.float32)
    ds = ALDataset.from_arrays(tx, np.arange(50) % 3, tx[:10], np.arange(10) % 3)
    assert ds.num_classes == 3 and ds.image_shape == (3, 16, 16)
    u8 = rng.integers(0, 256, (20, 12, 12), dtype=np.uint8)
    ds = ALDataset.from_arrays(u8, np.arange(20) % 2, u8, np.arange(20) % 2)
    assert ds.image_shape == (1, 12, 12) and float(ds.train_x.max()) <= 1.0


def _small_arrays() -> dict:
    return dict(
        train_x=np.zeros((5, 8, 8), np.float32),
        train_y=np.arange(5) % 2,
        test_x=np.zeros((2, 8, 8), np.float32),
        test_y=np.arange(2),
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(train_x=np.ones((5, 4))), "shape"),
        (dict(train_x=np.full((5, 8, 8), 3.0)), r"\[0, 1\]"),
        (dict(train_y=np.arange(4)), "differ in length"),
        (dict(train_y=np.full(5, -1)), "labels must be integers"),
    ],
)
def test_from_arrays_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ALDataset.from_arrays(**{**_small_arrays(), **kwargs})


@pytest.mark.parametrize(
    "overrides, match",
    [
        (dict(acquisition_size=30, subpool_size=20), "cannot exceed subpool_size"),
        (dict(budget=10, initial_labeled=20), "must exceed initial_labeled"),
        (dict(budget=47), "multiple of acquisition_size"),
        (dict(experts=("mc_dropout", "oracle9000")), "unknown expert"),
        (dict(epochs=0), "epochs must be a positive integer"),
        (dict(action_mode="lenient"), "action_mode"),
        (dict(fit_mode="parallel"), "mode must be .batched."),
        (dict(lr=-1.0), "lr must be a finite number > 0"),
    ],
)
def test_bad_config_values_raise_clear_errors(overrides, match):
    with pytest.raises(ValueError, match=match):
        ALConfig(**{**TINY, **overrides})


def test_experts_accepts_comma_string():
    assert ALConfig(experts="coreset,random").experts == ("coreset", "random")


def test_gym_make_registers_all_datasets_and_passes_overrides(idx_root):
    assert set(iale_env.ENV_IDS.values()) <= set(gym.registry)
    env = gym.make("IALE-MNIST-v0", data_dir=str(idx_root), **TINY)
    assert env.unwrapped.config.budget == TINY["budget"]
    assert env.observation_space.shape == (TINY["subpool_size"], 2 * 128 + 3 * 10)
    with pytest.raises(ValueError, match="unknown setting"):
        gym.make("IALE-MNIST-v0", data_dir=str(idx_root), bugdet=10)


def test_pool_too_small_for_budget(tiny_data):
    with pytest.raises(ValueError, match="too few for budget"):
        iale_env.ActiveLearningEnv(ALConfig(**{**TINY, "budget": 400}), data=tiny_data)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(train_x=np.full((5, 8, 8), np.nan, np.float32)), "NaN or infinite"),
        (dict(test_x=np.full((2, 8, 8), np.inf, np.float32)), "NaN or infinite"),
        (dict(train_x=np.full((5, 8, 8), 1000, np.int32)), r"not \[0, 255\]; pass scale="),
        (dict(train_y=np.arange(5) % 2 + 1, test_y=np.array([1, 2])), r"no example of class"),
        (dict(scale=float("inf")), "scale must be"),
    ],
)
def test_from_arrays_rejects_unusable_pixels_and_labels(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ALDataset.from_arrays(**{**_small_arrays(), **kwargs})


def test_from_arrays_scales_by_one_documented_rule():
    x12 = np.full((4, 8, 8), 4095, np.uint16)  # 12-bit images
    y = np.arange(4) % 2
    ds = ALDataset.from_arrays(x12, y, x12[:2], y[:2], scale=4095)
    assert float(ds.train_x.max()) == 1.0
    u8 = np.full((4, 8, 8), 51, np.uint8)
    assert float(ALDataset.from_arrays(u8, y, u8, y).train_x.max()) == pytest.approx(0.2)
    # labels 1..2 with an explicit class count: class 0 may be empty on purpose
    assert ALDataset.from_arrays(u8, y + 1, u8, y + 1, num_classes=3).num_classes == 3


# ---------------------------------------------------------------- a user's own data


def _write_image_folder(root, n_train=240, n_test=60, classes=("ankle", "bag", "coat", "dress")):
    from PIL import Image

    for split, n, seed in (("train", n_train, 0), ("test", n_test, 1)):
        images, labels = synthetic_images(n, seed, num_classes=len(classes))
        for i, (img, y) in enumerate(zip(images, labels)):
            folder = root / split / classes[y]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(folder / f"{i}.png")
    return root


def test_custom_env_from_npz_file_has_a_serialisable_spec(tiny_data, tmp_path):
    path = tiny_data.save(tmp_path / "mine.npz")
    env = gym.make("IALE-Custom-v0", data=str(path), **TINY)
    obs, _ = env.reset(seed=3)
    assert obs.shape == (TINY["subpool_size"], 286)
    again = gym.make(gym.envs.registration.EnvSpec.from_json(env.spec.to_json()))
    np.testing.assert_array_equal(again.reset(seed=3)[0], obs)
    direct = iale_env.ActiveLearningEnv(ALConfig(**TINY), data=tiny_data)
    np.testing.assert_array_equal(direct.reset(seed=3)[0], obs)  # 8-bit storage is lossless
    with pytest.raises(FileExistsError, match="exists"):
        tiny_data.save(path)
    with pytest.raises(ValueError, match="IALE-Custom-v0 needs data="):
        gym.make("IALE-Custom-v0", **TINY)


def test_image_folder_adapter_reads_classes_from_sub_folders(tmp_path):
    root = _write_image_folder(tmp_path / "imgs")
    gray = ALDataset.from_image_folder(root, grayscale=True)
    assert gray.classes == ("ankle", "bag", "coat", "dress") and gray.num_classes == 4
    assert gray.train_x.shape == (240, 1, 28, 28) and gray.test_x.shape == (60, 1, 28, 28)
    images, labels = synthetic_images(240, 0, num_classes=4)
    for c in range(4):  # every class's images, pixel for pixel (ImageFolder orders the files)
        got = sorted(x.flatten().tolist() for x in gray.train_x[gray.train_y == c] * 255)
        want = sorted(x.flatten().astype(float).tolist() for x in images[labels == c])
        np.testing.assert_allclose(got, want, atol=1e-3)
    rgb = iale_env.load_data_file(root)
    assert rgb.image_shape == (3, 28, 28)
    env = gym.make("IALE-Custom-v0", data=str(root), **TINY)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (TINY["subpool_size"], 2 * 128 + 3 * 4)
    env.step(env.unwrapped.expert_action("random"))


def test_torch_dataset_adapter_takes_pil_and_tensor_items(tiny_data):
    from PIL import Image

    class Pil(torch.utils.data.Dataset):
        classes = [str(c) for c in range(10)]

        def __init__(self, x, y):
            self.x, self.y = x, y

        def __len__(self):
            return len(self.y)

        def __getitem__(self, i):
            return Image.fromarray((self.x[i, 0] * 255).round().byte().numpy()), int(self.y[i])

    train = Pil(tiny_data.train_x, tiny_data.train_y)
    test = torch.utils.data.TensorDataset(tiny_data.test_x, tiny_data.test_y)
    ds = ALDataset.from_torch(train, test)
    assert ds.classes == tuple(str(c) for c in range(10))
    assert torch.equal(ds.train_x, tiny_data.train_x) and torch.equal(ds.test_x, tiny_data.test_x)
    assert torch.equal(ds.train_y, tiny_data.train_y)


def test_user_data_errors_say_what_to_fix(tmp_path, tiny_data):
    root = _write_image_folder(tmp_path / "imgs", n_train=40, n_test=8)
    (root / "test" / "coat").rename(root / "test" / "cape")
    with pytest.raises(ValueError, match="same class sub-folders"):
        ALDataset.from_image_folder(root)
    with pytest.raises(DatasetNotFoundError, match=r"train/<class>/ and test/<class>/"):
        ALDataset.from_image_folder(tmp_path / "nowhere")
    np.savez(tmp_path / "partial.npz", train_x=np.zeros((4, 8, 8), np.uint8))
    with pytest.raises(DatasetNotFoundError, match=r"lacks the array\(s\) \['train_y'"):
        iale_env.load_data_file(tmp_path / "partial.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DatasetNotFoundError, match="not a readable .npz"):
        iale_env.load_data_file(tmp_path / "junk.npz")
    mixed = [(torch.zeros(1, 28, 28), 0), (torch.zeros(1, 14, 14), 1)]
    with pytest.raises(ValueError, match=r"differ in shape: item 0 is \(1, 28, 28\), item 1"):
        ALDataset.from_torch(mixed, mixed)
    np.savez(
        tmp_path / "shifted.npz",
        train_x=np.zeros((4, 8, 8), np.uint8),
        train_y=np.array([1, 2, 3, 4]),
        test_x=np.zeros((2, 8, 8), np.uint8),
        test_y=np.array([1, 2]),
    )
    with pytest.raises(ValueError, match=r"shifted.npz: .*class\(es\) \[0\]"):
        iale_env.load_data_file(tmp_path / "shifted.npz")


@pytest.mark.parametrize("gz", [False, True])
def test_a_truncated_local_file_is_named_not_called_a_download_failure(idx_root, tmp_path, gz):
    import gzip
    import shutil

    root = tmp_path / "data"
    shutil.copytree(idx_root / "MNIST", root / "MNIST")
    victim = root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    blob = victim.read_bytes()[:-7]
    if gz:
        victim.unlink()
        victim = victim.with_name(victim.name + ".gz")
        victim.write_bytes(gzip.compress(blob)[:-5])
    else:
        victim.write_bytes(blob)
    with pytest.raises(DatasetNotFoundError, match="t10k-labels-idx1-ubyte.* is truncated") as err:
        load_dataset("MNIST", data_dir=root)
    assert "download" not in str(err.value).split(";")[0]
