"""The learned policy in a labeling loop: `agents.query` and `iale-query` on a user's data."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from agents.cli.query import main as query_main
from agents.policy import IALEPolicy
from agents.query import QueryConfig, query
from agents.schedules import ConstantLR
from tests.conftest import TINY, image_folder


def _split(tiny_data, n_labeled=20):
    x = (tiny_data.train_x[:, 0] * 255).round().byte().numpy()
    y = tiny_data.train_y.numpy()
    return x[:n_labeled], y[:n_labeled], x[n_labeled:200]


def test_query_picks_the_policys_top_k_of_a_seeded_sub_pool(policy_file, tiny_data):
    lab_x, lab_y, pool_x = _split(tiny_data)
    result = query(policy_file, lab_x, lab_y, pool_x, QueryConfig(seed=1))
    k, n = TINY["acquisition_size"], TINY["subpool_size"]
    assert len(result.picks) == k and len(set(result.picks.tolist())) == k
    assert len(result.candidates) == n and set(result.picks) <= set(result.candidates)
    assert result.candidates.max() < len(pool_x)
    top = np.argsort(-result.candidate_scores, kind="stable")[:k]
    assert np.array_equal(result.picks, result.candidates[top])
    assert np.all(np.diff(result.scores) <= 0)
    again = query(policy_file, lab_x, lab_y, pool_x, QueryConfig(seed=1))
    assert np.array_equal(again.picks, result.picks)
    np.testing.assert_array_equal(again.candidate_scores, result.candidate_scores)
    whole = query(policy_file, lab_x, lab_y, pool_x, QueryConfig(seed=1, subpool_size=0))
    assert len(whole.candidates) == len(pool_x)


def test_a_labeling_loop_labels_each_pick_once(policy_file, tiny_data):
    x = (tiny_data.train_x[:200, 0] * 255).round().byte().numpy()
    y = tiny_data.train_y[:200].numpy()
    labeled = list(range(20))
    for round_ in range(3):
        pool = np.setdiff1d(np.arange(200), labeled)
        result = query(policy_file, x[labeled], y[labeled], x[pool], QueryConfig(seed=round_))
        picked = pool[result.picks].tolist()
        assert not set(picked) & set(labeled)
        labeled += picked  # the "user" labels them: y[picked]
    assert len(labeled) == len(set(labeled)) == 20 + 3 * TINY["acquisition_size"]


def test_query_refuses_inputs_that_do_not_fit(policy_file, tiny_data):
    lab_x, lab_y, pool_x = _split(tiny_data)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 9\]"):
        query(policy_file, lab_x, lab_y + 1, pool_x)
    with pytest.raises(ValueError, match="differ in shape"):
        query(policy_file, lab_x, lab_y, pool_x[:, :20, :20])
    with pytest.raises(ValueError, match="fewer than the 5 to pick"):
        query(policy_file, lab_x, lab_y, pool_x[:3])
    with pytest.raises(ValueError, match="no policy file"):
        query(policy_file.with_name("missing.zip"), lab_x, lab_y, pool_x)


def test_cli_reads_an_image_folder_and_labels_csv(policy_file, tmp_path, capsys):
    folder, files, labels = image_folder(tmp_path)
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text(
        "file,label\n" + "".join(f"{f},{labels[i]}\n" for i, f in enumerate(files[:20]))
    )
    out = tmp_path / "next.csv"
    argv = ["--policy", str(policy_file), "--images", str(folder), "--labels", str(csv_path)]
    assert query_main([*argv, "--grayscale", "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["rank"] for r in rows] == ["1", "2", "3", "4", "5"]
    assert {r["file"] for r in rows} <= set(files[20:])
    with pytest.raises(SystemExit):
        query_main([*argv, "--grayscale", "--out", str(out)])  # never overwrites
    assert "exists" in capsys.readouterr().err
    names = ",".join(f"c{i}" for i in range(10))
    csv_path.write_text(
        "file,label\n" + "".join(f"{f},c{labels[i]}\n" for i, f in enumerate(files[:20]))
    )
    assert query_main([*argv, "--grayscale", "--classes", names]) == 0
    assert capsys.readouterr().out.startswith("rank,file,score")
    assert query_main([*argv, "--grayscale"]) == 2
    assert "pass --classes" in capsys.readouterr().err
    csv_path.write_text("file,label\nnope.png,1\n")
    assert query_main([*argv, "--grayscale"]) == 2
    assert "not found under" in capsys.readouterr().err
    assert query_main([*argv, "--k", "0"]) == 2  # a bad setting: a one-line error, exit 2
    assert "acquisition_size must be a positive integer" in capsys.readouterr().err


def test_query_builds_the_experts_score_columns_a_policy_reads(make_env, tiny_data, tmp_path):
    """A policy trained on the state extended by the experts' scores (the cpu preset's, the
    shipped one's) ranks a user's images too: the labeling loop computes the same columns."""
    from agents.pretrained import pretrained_path

    experts = ("mc_dropout", "ensemble")
    env = make_env(state_scores=experts)
    policy = IALEPolicy(
        env.observation_space,
        env.action_space,
        ConstantLR(1e-3),
        acquisition_size=5,
        view="relative",
        score_columns=2,
    )
    path = tmp_path / "run" / "policy.zip"
    path.parent.mkdir()
    policy.save(str(path))
    config = path.parent / "config.json"
    config.write_text(json.dumps({"env": {"epochs": 3, "state_scores": list(experts)}}))
    lab_x, lab_y, pool_x = _split(tiny_data)
    settings = dict(seed=1, mc_dropout_passes=5, ensemble_size=3)
    result = query(path, lab_x, lab_y, pool_x, QueryConfig(**settings))
    assert len(set(result.picks.tolist())) == 5
    # without a record of the experts it says what to pass; given them, the same choice
    config.write_text(json.dumps({"env": {"epochs": 3}}))
    with pytest.raises(ValueError, match=r"QueryConfig\(state_scores=...\)"):
        query(path, lab_x, lab_y, pool_x, QueryConfig(**settings))
    given = query(path, lab_x, lab_y, pool_x, QueryConfig(state_scores=experts, **settings))
    np.testing.assert_array_equal(given.candidate_scores, result.candidate_scores)
    # the shipped policy, on images it never saw
    shipped = pretrained_path("iale-mnist-cpu") / "policy.zip"
    picks = query(shipped, lab_x, lab_y, pool_x, QueryConfig(epochs=3, **settings)).picks
    assert len(set(picks.tolist())) == 10


def test_query_builds_the_classifier_its_policys_run_recorded(policy_file, tiny_data, monkeypatch):
    """A policy trained on the fast track reads the MLP's state: query must train the MLP (the
    CNN's embeddings have the same width, so a wrong M would go unnoticed)."""
    import agents.query as query_module

    built = []
    fit = query_module.fit_models

    def recording_fit(x, y, sets, seeds, spec, cfg):
        built.append(spec.arch)
        return fit(x, y, sets, seeds, spec, cfg)

    monkeypatch.setattr(query_module, "fit_models", recording_fit)
    lab_x, lab_y, pool_x = _split(tiny_data)
    query(policy_file, lab_x, lab_y, pool_x)
    (policy_file.parent / "config.json").write_text(
        json.dumps({"env": {"epochs": 3, "classifier": "mlp"}})
    )
    query(policy_file, lab_x, lab_y, pool_x)
    query(policy_file, lab_x, lab_y, pool_x, QueryConfig(classifier="cnn"))  # an explicit choice
    assert built == ["cnn", "mlp", "cnn"]
