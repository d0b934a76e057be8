"""Training sources: the synthetic task family, parsing ``--dataset`` lists, one env per source,
and a DAgger run that learns from several sources."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from agents.sources import parse_sources, source_env, source_envs
from iale_env import ALConfig, ALDataset
from iale_env.synthetic import SyntheticTask, parse_synthetic
from tests.conftest import TINY, run_script, tiny_dataset

SMALL = dict(n_train=600, n_test=200)


def _centroid_accuracy(data: ALDataset) -> float:
    """Test accuracy of the nearest class mean of the training images: how separable a task is."""
    x, y = data.train_x.flatten(1).numpy(), data.train_y.numpy()
    means = np.stack([x[y == c].mean(0) for c in range(data.num_classes)])
    tx = data.test_x.flatten(1).numpy()
    pred = ((tx[:, None] - means[None]) ** 2).sum(-1).argmin(1)
    return float((pred == data.test_y.numpy()).mean())


def test_a_synthetic_task_is_a_valid_balanced_dataset_fixed_by_its_seed():
    task = SyntheticTask.from_seed(7, **SMALL)
    a, b = task.make(), task.make()
    assert a.name == task.name == "synthetic:7"
    assert a.train_x.shape == (600, 1, 28, 28) and a.test_x.shape == (200, 1, 28, 28)
    assert 0.0 <= float(a.train_x.min()) and float(a.train_x.max()) <= 1.0
    counts = np.bincount(a.train_y.numpy(), minlength=10)  # drawn over train and test
    assert counts.sum() == 600 and counts.min() >= 45 and counts.max() <= 75
    assert (a.train_x == b.train_x).all() and (a.test_y == b.test_y).all()
    assert not (SyntheticTask.from_seed(8, **SMALL).make().train_x == a.train_x).all()
    assert 0.1 <= task.noise <= 0.45 and 0.1 <= task.overlap <= 0.5 and 2 <= task.modes <= 5


def test_a_synthetic_source_is_the_task_the_committed_runs_trained_on():
    """``synthetic:0`` is recorded: a change to the generator would silently make committed
    runs that name it irreproducible (labels exactly, pixels up to float32 rounding)."""
    import hashlib

    data = SyntheticTask.from_seed(0).make()
    labels = np.concatenate([data.train_y.numpy(), data.test_y.numpy()]).astype(np.int64)
    assert hashlib.sha256(labels.tobytes()).hexdigest()[:16] == "0a1dfa13e363d896"
    means = [data.train_x.double().mean().item(), data.test_x.double().mean().item()]
    assert means == pytest.approx([0.22371737535494884, 0.22412640434953285], abs=1e-6)
    first = data.train_x[:3].double().mean((1, 2, 3)).tolist()
    assert first == pytest.approx([0.26582539876553524, 0.20768952679378455, 0.2140290638818275])


def test_noise_and_overlap_make_a_synthetic_task_harder():
    easy = SyntheticTask(seed=0, noise=0.05, overlap=0.0, **SMALL).make()
    hard = SyntheticTask(seed=0, noise=0.6, overlap=0.6, **SMALL).make()
    assert _centroid_accuracy(easy) > _centroid_accuracy(hard) + 0.1
    assert _centroid_accuracy(hard) > 0.15  # still learnable: chance is 0.1


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(num_classes=1), "num_classes must be at least 2"),
        (dict(noise=-0.1), "need noise >= 0"),
        (dict(overlap=1.0), "0 <= overlap < 1"),
        (dict(n_train=0), "n_train must be a positive integer"),
    ],
)
def test_a_synthetic_task_refuses_settings_that_make_no_task(settings, message):
    with pytest.raises(ValueError, match=message):
        SyntheticTask(seed=0, **settings)


def test_sources_parse_to_canonical_names_and_refuse_what_is_no_source(tmp_path, monkeypatch):
    path = tiny_dataset().save(tmp_path / "mine.npz")
    assert parse_sources(f"mnist, fmnist,Synthetic:3,{path}") == (
        "MNIST",
        "FashionMNIST",
        "synthetic:3",
        str(path),
    )
    assert parse_synthetic("MNIST") is None and parse_synthetic("synthetic:3").seed == 3
    assert parse_sources("synthetic:007") == ("synthetic:7",)  # one task, one name
    (tmp_path / "MNIST").mkdir()  # a folder of a dataset's name does not hide the dataset
    assert parse_sources(str(tmp_path / "MNIST")) == (str(tmp_path / "MNIST"),)
    monkeypatch.chdir(tmp_path)
    assert parse_sources("MNIST") == ("MNIST",)
    for spec, message in [
        ("", "one or more comma-separated sources"),
        ("MNIST,,KMNIST", "one or more comma-separated sources"),
        ("MNIST,synth:0", "unknown source 'synth:0'"),
        ("synthetic:-1", "integer seed >= 0"),
        ("synthetic:\u00b2", "integer seed >= 0"),
        ("MNIST,mnist", "named twice"),
        ("synthetic:7,synthetic:07", "named twice"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_sources(spec)


def test_one_env_per_source_each_on_its_own_data(tmp_path):
    path = tiny_dataset().save(tmp_path / "mine.npz")
    cfg = ALConfig(**TINY, classifier="mlp")
    venv = source_envs(cfg, parse_sources(f"synthetic:0,{path}"))
    try:
        names = [data.name for data in venv.get_attr("data")]
        assert names == ["synthetic:0", "tiny"]
        obs = venv.reset()
        assert obs.shape == (2, *venv.observation_space.shape)
        assert not np.array_equal(obs[0], obs[1])
    finally:
        venv.close()
    assert source_env(cfg, "synthetic:0").data.name == "synthetic:0"


def test_sources_with_another_state_layout_are_refused(tmp_path):
    tx, ty = np.random.default_rng(0).random((90, 28, 28)), np.arange(90) % 3
    three = ALDataset.from_arrays(tx, ty, tx[:30], ty[:30], name="three").save(tmp_path / "3.npz")
    cfg = ALConfig(
        **{**TINY, "initial_labeled": 3, "budget": 38, "scoring_size": 20}, classifier="mlp"
    )
    with pytest.raises(ValueError, match=r"different layouts \(synthetic:0: K=10, D=128, .*K=3"):
        source_envs(cfg, parse_sources(f"synthetic:0,{three}"))


def test_sources_for_worker_processes_are_checked_in_this_process(tmp_path):
    """A source that does not fit the protocol is a ValueError here, not a dead worker."""
    small = tiny_dataset(n_train=100).save(tmp_path / "small.npz")
    cfg = ALConfig(**{**TINY, "scoring_size": 80}, classifier="mlp")
    with pytest.raises(ValueError, match="too few for budget"):
        source_envs(cfg, parse_sources(f"synthetic:0,{small}"), workers=True)


@pytest.mark.slow
@pytest.mark.dagger
def test_dagger_trains_on_every_source_each_round(tmp_path):
    """``train_dagger.py --dataset A,B``: every round holds one episode of each source, the
    run records its sources and resumes only with the same ones."""
    path = tiny_dataset().save(tmp_path / "mine.npz")
    flags = [
        "--preset", "fast", "--episodes", "1", "--budget", "30", "--state-scores", "",
        "--initial", "10", "--acquisition", "5", "--subpool", "20", "--epochs", "2",
        "--scoring-size", "60", "--test-size", "60", "--experts", "random,margin",
        "--heldout-episodes", "0", "--bc-batch-size", "4", "--bc-batches", "2",
        "--no-progress", "--threads", "1",
    ]  # fmt: skip
    out = tmp_path / "run"
    proc = run_script(
        "train_dagger.py", *flags, "--dataset", f"synthetic:0,{path}", "--out", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    with open(out / "log.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert int(row["pairs"]) == 2 * 4  # 4 AL steps of each of the 2 sources
    assert json.loads((out / "config.json").read_text())["env"]["dataset"] == f"synthetic:0,{path}"
    proc = run_script(
        "train_dagger.py", *flags, "--dataset", "synthetic:0", "--out", str(out), "--resume"
    )
    assert proc.returncode == 2 and "env.dataset" in proc.stderr


def test_a_measurement_collects_from_any_one_source_and_records_it(tmp_path, capsys):
    """``collect_values.py`` (like ``oracle_noise.py`` and ``oracle_labels.py``) takes one
    source of any form: the value teacher on a user's file, not only an MNIST-family dataset,
    and ``train_value.py`` fits to it."""
    from agents.cli import collect_values, train_value
    from agents.values.collect import EpisodeValues, episode_file

    path = tiny_dataset().save(tmp_path / "mine.npz")
    flags = [
        "--preset", "fast", "--budget", "20", "--initial-labeled", "10",
        "--acquisition-size", "5", "--subpool-size", "20", "--epochs", "2",
        "--scoring-size", "60", "--test-size", "60", "--experts", "margin,random",
        "--batches", "2", "--seeds", "0",
    ]  # fmt: skip
    out = tmp_path / "values"
    assert collect_values.main([*flags, "--dataset", str(path), "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["env"]["dataset"] == str(path)
    episode = EpisodeValues.load(episode_file(out / "values", 0))
    assert episode.accuracies.shape == (2, 4)  # two states: 2 experts + 2 proposals each
    assert episode.subpool.max() < 400  # positions in the file's 400 training images
    fit = tmp_path / "fit"  # and the value policy fits to it
    args = [str(out), "--epochs", "1", "--heldout-episodes", "0", "--out", str(fit)]
    assert train_value.main(args) == 0 and (fit / "policy.zip").is_file()
    code = collect_values.main([*flags, "--dataset", f"synthetic:0,{path}", "--out", str(out)])
    assert code == 2 and "--dataset takes one source here" in capsys.readouterr().err
