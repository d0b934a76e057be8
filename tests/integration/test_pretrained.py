"""The pretrained policies that ship with the package: they load, act on a new dataset, came from
the committed run they name, and are found by ``evaluate.py``."""

from __future__ import annotations

import csv
import json

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.evaluation.methods import parse_method, policy_env_overrides
from agents.policy.io import _read_policy_file
from agents.pretrained import (
    SOURCE_JSON,
    available,
    export_pretrained,
    file_sha256,
    load_pretrained,
    pretrained_config,
    pretrained_env_kwargs,
    pretrained_path,
)
from agents.runs.files import changed_settings
from tests.conftest import ROOT


def _rows(path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_the_package_ships_the_cpu_mnist_policy():
    assert "iale-mnist-cpu" in available()
    config = json.loads((pretrained_path("iale-mnist-cpu") / "config.json").read_text())
    assert config["env"]["dataset"] == "MNIST" and config["method"] == "iale"


@pytest.mark.parametrize("name", available())
def test_a_pretrained_policy_is_its_committed_run_at_the_round_it_names(name):
    folder = pretrained_path(name)
    source = json.loads((folder / SOURCE_JSON).read_text())
    run = ROOT / source["run"]
    shipped, logged = _rows(folder / "log.csv"), _rows(run / "log.csv")
    assert len(shipped) == source["rounds"]
    assert logged[: len(shipped)] == shipped, "the shipped log is not a prefix of its run's"
    assert file_sha256(folder / "policy.zip") == source["policy_sha256"]
    ours, theirs = (json.loads((p / "config.json").read_text()) for p in (folder, run))
    assert not changed_settings(ours, theirs) and not changed_settings(theirs, ours)
    if len(logged) == len(shipped):  # the run has not moved on: the very same weights
        ours, theirs = (_read_policy_file(str(p / "policy.zip"), False)[1] for p in (folder, run))
        assert all(torch.equal(ours[k], theirs[k]) for k in theirs)


@pytest.mark.parametrize("name", available())
def test_a_pretrained_policy_selects_k_candidates_on_another_dataset(name, make_env):
    env = make_env(**pretrained_env_kwargs(name))  # synthetic data: a dataset it never saw
    policy = load_pretrained(name, env=env)
    obs, _ = env.reset(seed=0)
    action = policy.select(obs)
    assert action.shape == (env.config.subpool_size,)
    assert int(action.sum()) == env.config.acquisition_size
    obs, reward, *_ = env.step(action)
    assert np.isfinite(reward)


def test_a_pretrained_policy_refuses_an_env_without_its_state_columns(make_env):
    wanted = pretrained_env_kwargs("iale-mnist-cpu")
    assert wanted.get("state_scores"), "the shipped policy reads the experts' scores"
    with pytest.raises(ValueError, match="pretrained_env_kwargs"):
        load_pretrained("iale-mnist-cpu", env=make_env())
    with pytest.raises(ValueError, match="ships"):
        pretrained_path("no-such-policy")
    with pytest.raises(ValueError, match="needs an IALE env"):
        load_pretrained("iale-mnist-cpu", env=gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match="'classifier': 'cnn'"):  # the MLP's state, not its own
        load_pretrained("iale-mnist-cpu", env=make_env(**wanted, classifier="mlp"))


@pytest.mark.parametrize("name", available())
def test_iale_query_takes_a_pretrained_policy_by_name(name, tiny_data, tmp_path, capsys):
    from agents.cli.query import main as query_main

    x = (tiny_data.train_x[:, 0] * 255).round().byte().numpy()
    y = tiny_data.train_y.numpy()
    data = tmp_path / "round.npz"
    np.savez(data, labeled_x=x[:20], labeled_y=y[:20], pool_x=x[20:200])
    flags = ["--data", str(data), "--epochs", "2", "--threads", "1"]
    assert query_main(["--policy", name, *flags]) == 0
    rows = capsys.readouterr().out.splitlines()
    k = pretrained_config(name)["env"]["acquisition_size"]
    assert rows[0] == "rank,index,score" and len(rows) == 1 + k
    assert query_main(["--policy", "no-such-policy", *flags]) == 2
    assert f"pretrained policy's name ({', '.join(available())})" in capsys.readouterr().err


def test_evaluate_finds_a_pretrained_policy_by_name():
    spec = parse_method("iale:iale-mnist-cpu")
    assert spec.path == str(pretrained_path("iale-mnist-cpu") / "policy.zip")
    assert (
        policy_env_overrides(spec)["state_scores"]
        == pretrained_env_kwargs("iale-mnist-cpu")["state_scores"]
    )
    with pytest.raises(ValueError, match="pretrained policy"):
        parse_method("iale:no-such-policy")


def test_a_local_folder_that_hides_a_pretrained_name_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "iale-mnist-cpu").mkdir()  # e.g. a run in progress, no policy.zip yet
    with pytest.raises(ValueError, match="hides the pretrained policy"):
        parse_method("iale:iale-mnist-cpu")


def test_export_copies_a_run_and_never_overwrites(tmp_path, policy_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (policy_dir / "log.csv").write_text("episode,loss\n1,2.0\n2,1.5\n")
    folder = export_pretrained(policy_dir, "mine", root=tmp_path / "shipped")
    source = json.loads((folder / SOURCE_JSON).read_text())
    assert source["rounds"] == 2 and source["run"] == policy_dir.name  # relative to the cwd
    assert source["policy_sha256"] == file_sha256(policy_dir / "policy.zip")
    assert (folder / "policy.zip").read_bytes() == (policy_dir / "policy.zip").read_bytes()
    for bad in ("../escape", "a/b", ""):
        with pytest.raises(ValueError, match="plain folder name"):
            export_pretrained(policy_dir, bad, root=tmp_path / "shipped")
    with pytest.raises(ValueError, match="exists"):
        export_pretrained(policy_dir, "mine", root=tmp_path / "shipped")
    (policy_dir / "log.csv").unlink()
    with pytest.raises(ValueError, match="log.csv"):
        export_pretrained(policy_dir, "other", root=tmp_path / "shipped")
