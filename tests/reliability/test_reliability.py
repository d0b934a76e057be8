"""No lost or silently wrong results: transactional steps, one writer per folder, torn files,
runs that refuse to overwrite, non-finite settings."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from agents.dagger import DAggerConfig, train_dagger
from agents.evaluation import CURVES_CSV, EvalConfig, evaluate, read_csv
from agents.rl import RLConfig
from agents.runs.locking import FolderLockedError, exclusive_folder
from iale_env import ALConfig
from tests.conftest import TINY

pytestmark = pytest.mark.filterwarnings("ignore:MNIST:UserWarning")


def _env_state(env) -> tuple:
    return (
        env.labeled_indices.tolist(),
        env.unlabeled_indices.tolist(),
        env.subpool_indices.tolist(),
        env._step,
        env.observation_digest(),
        [float(p.sum()) for p in env.model.parameters()],
        str(env.np_random.bit_generator.state),
    )


def test_a_failed_step_leaves_the_env_exactly_as_before(make_env, monkeypatch):
    import iale_env.episode as env_module  # where M is retrained

    env = make_env()
    env.reset(seed=0)
    action = np.zeros(20, dtype=np.int8)
    action[:3] = 1  # 3 of 5: "repair" mode adds 2 at random from the env's RNG
    before = _env_state(env)
    real = env_module.fit_models

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C while M retrains

    monkeypatch.setattr(env_module, "fit_models", interrupted)
    with pytest.raises(KeyboardInterrupt):
        env.step(action)
    assert _env_state(env) == before
    monkeypatch.setattr(env_module, "fit_models", real)
    obs, reward, *_, info = env.step(action)  # the retry labels each image once
    fresh = make_env()
    fresh.reset(seed=0)
    obs2, reward2, *_, info2 = fresh.step(action)
    assert np.array_equal(obs, obs2) and reward == reward2
    assert np.array_equal(info["selected"], info2["selected"]) and info["repaired"]
    assert len(set(env.labeled_indices.tolist())) == len(env.labeled_indices)


@pytest.mark.parametrize("lr", [float("inf"), float("nan"), 0.0])
def test_non_finite_or_non_positive_learning_rates_are_refused(lr):
    for make in (
        lambda: ALConfig(lr=lr),
        lambda: DAggerConfig(lr=lr),
        lambda: RLConfig(lr=lr),
    ):
        with pytest.raises(ValueError, match="lr must be"):
            make()


def test_one_writer_per_folder(tmp_path, idx_root):
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from agents.runs.locking import exclusive_folder\n"
            "with exclusive_folder(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)",
            str(tmp_path / "run"),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FolderLockedError, match=rf"another process \(pid {holder.pid}\)"):
            with exclusive_folder(tmp_path / "run"):
                pass
        cfg = EvalConfig(("MNIST",), ("random",), (0,), ALConfig(**TINY, data_dir=str(idx_root)))
        with pytest.raises(FolderLockedError):
            evaluate(cfg, tmp_path / "run", log=None)
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    with exclusive_folder(tmp_path / "run"):  # released when the holder is gone, however it went
        with exclusive_folder(tmp_path / "run"):  # re-entrant within one process
            pass
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        with exclusive_folder(tmp_path / "file"):
            pass
    with pytest.raises(ValueError, match="seeds must be distinct"):
        EvalConfig(("MNIST",), ("random",), (0, 0))


def test_a_curves_file_that_lost_its_last_line_ending_is_repaired(tmp_path, idx_root):
    env = ALConfig(**TINY, data_dir=str(idx_root))
    cfg = EvalConfig(("MNIST",), ("random", "margin"), (0,), env, ())
    evaluate(cfg, tmp_path, log=None)
    text = (tmp_path / CURVES_CSV).read_text()
    for torn in (text[:-1], text[:-3]):  # the line ending, or also the last characters
        (tmp_path / CURVES_CSV).write_text(torn)
        evaluate(cfg, tmp_path, log=None)
        repaired = (tmp_path / CURVES_CSV).read_text()
        assert repaired.endswith("\n")
        rows = read_csv(tmp_path / CURVES_CSV)
        assert len(rows) == len(text.splitlines()) - 1  # every point once, the run redone
        assert [r["test_accuracy"] for r in rows] == [
            line.split(",")[5] for line in text.splitlines()[1:]
        ]


def test_a_dagger_run_is_never_silently_overwritten(make_env, tmp_path):
    env = make_env()
    cfg = DAggerConfig(episodes=1, bc_batch_size=4, bc_epochs=1)
    train_dagger(env, cfg, tmp_path, progress=False)
    with pytest.raises(ValueError, match="pass --resume"):
        train_dagger(env, cfg, tmp_path, progress=False)
    (tmp_path / "checkpoint.pt").unlink()  # results without a checkpoint to resume from
    policy = (tmp_path / "policy.zip").read_bytes()
    for resume in (False, True):
        with pytest.raises(ValueError, match="would overwrite them"):
            train_dagger(env, cfg, tmp_path, resume=resume, progress=False)
    assert (tmp_path / "policy.zip").read_bytes() == policy


def test_a_sweep_refuses_another_policy_file_under_a_known_label(tmp_path, idx_root, tiny_data):
    from agents.dagger import ConstantLR
    from agents.policy import IALEPolicy
    from iale_env import ActiveLearningEnv

    env = ActiveLearningEnv(ALConfig(**TINY), data=tiny_data)
    for name in ("a", "b"):
        policy = IALEPolicy(env.observation_space, env.action_space, ConstantLR(1e-3), 5)
        (tmp_path / name).mkdir()
        policy.save(str(tmp_path / name / "policy.zip"))  # two differently initialised policies
    al = ALConfig(**TINY, data_dir=str(idx_root))
    evaluate(EvalConfig(("MNIST",), (f"iale:{tmp_path / 'a'}",), (0,), al, ()), tmp_path / "s")
    with pytest.raises(ValueError, match="another policy file"):
        evaluate(EvalConfig(("MNIST",), (f"iale:{tmp_path / 'b'}",), (0,), al, ()), tmp_path / "s")
    # under its own label the second policy joins the sweep
    evaluate(EvalConfig(("MNIST",), (f"b=iale:{tmp_path / 'b'}",), (0,), al, ()), tmp_path / "s")
    assert {r["method"] for r in read_csv(tmp_path / "s" / CURVES_CSV)} == {"iale", "b"}


def test_resume_refuses_changed_settings_but_not_another_device(tmp_path):
    from agents.cli.common import check_resume_config, write_run_config

    rl = RLConfig(timesteps=10)
    write_run_config(tmp_path, "ppo", ALConfig(dataset="MNIST", budget=100), rl=rl)
    check_resume_config(tmp_path, "ppo", ALConfig(dataset="MNIST", budget=100), rl=rl)
    longer_elsewhere = RLConfig(timesteps=20, device="cuda")
    check_resume_config(tmp_path, "ppo", ALConfig(dataset="MNIST", budget=100), rl=longer_elsewhere)
    for env, cfg, what in (
        (ALConfig(dataset="KMNIST", budget=100), rl, "env.dataset"),
        (ALConfig(dataset="MNIST", budget=200), rl, "env.budget"),
        (ALConfig(dataset="MNIST", budget=100), RLConfig(timesteps=10, lr=1e-2), "rl.lr"),
    ):
        with pytest.raises(ValueError, match=what.replace(".", r"\.")):
            check_resume_config(tmp_path, "ppo", env, rl=cfg)


def test_policy_files_load_safely_and_are_checked(make_env, tmp_path):
    from stable_baselines3.common.policies import BasePolicy

    from agents.dagger import ConstantLR
    from agents.policy import IALEPolicy, load_policy

    env = make_env()
    obs, _ = env.reset(seed=0)
    policy = IALEPolicy(
        env.observation_space, env.action_space, ConstantLR(1e-3), 5, view="invariant"
    )
    path = tmp_path / "policy.zip"
    policy.save(str(path))
    assert np.array_equal(load_policy(str(path), env=env).select(obs), policy.select(obs))
    # one flipped byte inside the weights: refused, not loaded
    raw = bytearray(path.read_bytes())
    weights_at = raw.find(b"trunk") + 2000
    raw[weights_at] ^= 0xFF
    (tmp_path / "flipped.zip").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="corrupted|not a readable"):
        load_policy(str(tmp_path / "flipped.zip"))
    (tmp_path / "cut.zip").write_bytes(path.read_bytes()[:500])
    with pytest.raises(ValueError, match="not a readable IALE policy file"):
        load_policy(str(tmp_path / "cut.zip"))
    (tmp_path / "notes.txt").write_text("not a policy")
    with pytest.raises(ValueError, match="not a readable IALE policy file"):
        load_policy(str(tmp_path / "notes.txt"))
    with pytest.raises(ValueError, match="no policy file"):
        load_policy(str(tmp_path / "missing.zip"))
    # the older pickle-based format (SB3's own save) loads only when the user trusts the file
    BasePolicy.save(policy, str(tmp_path / "legacy.zip"))
    with pytest.raises(ValueError, match="trust_pickle=True"):
        load_policy(str(tmp_path / "legacy.zip"))
    legacy = load_policy(str(tmp_path / "legacy.zip"), env=env, trust_pickle=True)
    assert np.array_equal(legacy.select(obs), policy.select(obs))


@pytest.mark.slow
def test_cli_mistakes_are_one_line_errors_before_any_training(tmp_path, idx_root):
    import torch

    from tests.conftest import run_script

    env = {"IALE_DATA_DIR": str(idx_root)}
    tiny = "--budget 40 --initial-labeled 10 --acquisition-size 5 --subpool-size 20 --epochs 1 --scoring-size 60"
    tiny += " --test-size 60 --episodes 1 --no-progress"
    cases = [
        (["--bc-batch-size", "50"], "bc_batch_size (50) exceeds the 6 state-action pairs"),
        (["--device", "gpu0"], "is not a device"),
    ]
    if not torch.cuda.is_available():
        cases.append((["--device", "cuda"], "needs a CUDA GPU"))
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "checkpoint.pt").write_bytes(b"PK\x03\x04 truncated")
    cases.append((["--resume", "--out", str(tmp_path / "corrupt")], "truncated or corrupted"))
    (tmp_path / "afile").write_text("x")
    cases.append((["--out", str(tmp_path / "afile")], "is a file, not a folder"))
    for flags, message in cases:
        out = [] if "--out" in flags else ["--out", str(tmp_path / "o")]
        proc = run_script("train_dagger.py", *tiny.split(), *flags, *out, env=env, timeout=300)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2, proc.stderr
        assert message in lines[-1] and "Traceback" not in proc.stderr, proc.stderr


def test_the_oracles_decision_is_part_of_the_step_record(make_env):
    env = make_env()
    env.reset(seed=0)
    action = env.oracle_action()
    decision = env.last_oracle
    info = env.step(action)[4]
    assert info["oracle"]["winner"] == decision.winner
    assert info["oracle"]["scores"] == pytest.approx(decision.scores)
    assert info["oracle"]["positions"] == np.flatnonzero(action).tolist()
    assert env.last_oracle is None  # a new state: nothing asked about it yet
    assert "oracle" not in env.step(env.expert_action("random"))[4]


def test_score_wrapper_is_recreated_from_its_spec(idx_root):
    import gymnasium as gym

    import iale_env  # noqa: F401 - registers the ids
    from iale_env import TopKScoreAction

    env = TopKScoreAction(gym.make("IALE-MNIST-v0", data_dir=str(idx_root), **TINY))
    again = gym.make(env.spec)
    assert isinstance(again, TopKScoreAction) and again.action_space == env.action_space
    a = env.reset(seed=1)[0]
    b = again.reset(seed=1)[0]
    assert np.array_equal(a, b)


def test_reset_works_for_every_seed_when_a_class_is_rare():
    from iale_env import ActiveLearningEnv, ALDataset
    from tests.conftest import TINY, synthetic_images

    x, y = synthetic_images(400, 0)
    keep = np.flatnonzero(y != 9)
    x, y = np.concatenate([x[keep], x[y == 9][:1]]), np.concatenate([y[keep], [9]])
    vx, vy = synthetic_images(60, 1)
    data = ALDataset.from_arrays(x, y, vx, vy)  # class 9: one training image
    env = ActiveLearningEnv(ALConfig(**TINY), data=data)
    moved = 0
    for seed in range(40):  # the one image lands in the scoring set for about 1 seed in 7
        env.reset(seed=seed)
        labeled = env.labeled_indices
        assert sorted(data.train_y[labeled].tolist()) == list(range(10))
        scoring = env.scoring_indices
        assert len(scoring) == TINY["scoring_size"] and not set(scoring) & set(labeled)
        rng = np.random.default_rng(seed)  # the env's own draws: episode seed, then the split
        rng.integers(2**62)
        moved += int(len(y) - 1 in rng.permutation(len(y))[: TINY["scoring_size"]])
    assert moved > 0  # the rare image did start in the scoring set for some seed
    with pytest.raises(ValueError, match=r"class\(es\) \{9: 1\}"):
        ActiveLearningEnv(ALConfig(**{**TINY, "initial_labeled": 20}), data=data)


def test_threads_flag_sets_pytorchs_threads_and_defaults_to_the_process_share(monkeypatch):
    import argparse

    import torch

    from agents.cli.common import add_device_flags, default_threads, env_config

    parser = argparse.ArgumentParser()
    add_device_flags(parser)
    before = torch.get_num_threads()
    try:
        env_config({}, parser.parse_args(["--threads", "1"]))
        assert torch.get_num_threads() == 1
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert default_threads() == 2
        env_config({}, parser.parse_args([]))
        assert torch.get_num_threads() == 2
        monkeypatch.delenv("OMP_NUM_THREADS")
        assert default_threads() == len(os.sched_getaffinity(0))
        with pytest.raises(ValueError, match="--threads must be a positive integer"):
            env_config({}, parser.parse_args(["--threads", "0"]))
    finally:
        torch.set_num_threads(before)


def test_one_resume_rule_for_every_script_and_the_library():
    from agents.runs.files import changed_settings

    saved = {"method": "iale", "env": {"budget": 100, "device": "cpu"}, "dagger": {"beta": 0.5}}
    defaults = {"dagger": {"beta": 0.5, "view": "eq2"}}
    same_elsewhere = {"method": "iale", "env": {"budget": 100, "device": "cuda"}, "dagger": {}}
    assert changed_settings(saved, same_elsewhere, defaults) == []  # the device may change
    assert changed_settings(saved, {"env": {"budget": 150}, "dagger": {"beta": 0.3}}) == [
        "env.budget",
        "dagger.beta",
    ]
    # a setting the saved run lacks counts as its default (an older run used the default)
    assert changed_settings(saved, {"dagger": {"view": "eq2"}}, defaults) == []
    assert changed_settings(saved, {"dagger": {"view": "invariant"}}, defaults) == ["dagger.view"]
    assert changed_settings(saved, {"method": "alil"}) == ["method"]


# ------------------------------------------------------------------ second round (issue 31)
def test_a_sweep_folder_without_its_config_is_refused_unless_adopted_or_overwritten(
    tmp_path, idx_root
):
    import shutil

    env = ALConfig(**TINY, data_dir=str(idx_root))
    cfg = EvalConfig(("MNIST",), ("random",), (0,), env, ())
    evaluate(cfg, tmp_path / "a", log=None)
    finished = (tmp_path / "a" / CURVES_CSV).read_text()
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / CURVES_CSV).write_text("sample,score\n1,0.5\n")  # a file the sweep did not write
    for existing in ("refuse", "adopt"):
        with pytest.raises(ValueError, match="no config.json|not written by evaluate.py"):
            evaluate(cfg, theirs, log=None, existing=existing)
    assert (theirs / CURVES_CSV).read_text() == "sample,score\n1,0.5\n"
    with pytest.raises(ValueError, match="--adopt .* or --overwrite"):
        evaluate(cfg, theirs, log=None)
    evaluate(cfg, theirs, log=None, existing="overwrite")
    accuracies = [(r["labeled"], r["test_accuracy"]) for r in read_csv(theirs / CURVES_CSV)]
    assert accuracies == [
        (r["labeled"], r["test_accuracy"]) for r in read_csv(tmp_path / "a" / CURVES_CSV)
    ]
    # a valid curves.csv of another budget: refused, also when adopted
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(tmp_path / "a" / CURVES_CSV, other / CURVES_CSV)
    longer = EvalConfig(("MNIST",), ("random",), (0,), env.replace(budget=50), ())
    with pytest.raises(ValueError, match="labeled-set sizes"):
        evaluate(longer, other, log=None, existing="adopt")
    assert (other / CURVES_CSV).read_text() == finished
    # adopted with the settings it shows: its finished run is kept, not run again
    log: list[str] = []
    evaluate(cfg, other, log=log.append, existing="adopt")
    assert log == [] and (other / CURVES_CSV).read_text() == finished
    assert (other / "config.json").exists()
    # --overwrite reruns into a recorded sweep of the same settings resume it (nothing deleted)
    evaluate(cfg, other, log=log.append, existing="overwrite")
    assert log == [] and (other / CURVES_CSV).read_text() == finished


def _edited(raw: bytes, old: bytes, new: bytes) -> bytes:
    assert raw.count(old) == 1
    return raw.replace(old, new)


def test_a_policy_files_description_is_covered_by_its_digest(make_env, tmp_path, monkeypatch):
    import shutil

    import torch

    import agents.pretrained as pretrained
    from agents.dagger import ConstantLR
    from agents.policy import IALEPolicy, load_policy

    env = make_env()
    policy = IALEPolicy(env.observation_space, env.action_space, ConstantLR(1e-3), 5)
    path = tmp_path / "policy.zip"
    policy.save(str(path))
    assert load_policy(str(path)).acquisition_size == 5
    raw = path.read_bytes()
    for old, new in ((b'"acquisition_size": 5', b'"acquisition_size": 6'), (b"[20, ", b"[90, ")):
        (tmp_path / "edited.zip").write_bytes(_edited(raw, old, new))  # one byte
        with pytest.raises(ValueError, match="edited"):
            load_policy(str(tmp_path / "edited.zip"))
    saved = torch.load(path, weights_only=True)
    meta = json.loads(saved["meta"])
    del meta["sha256"]
    torch.save({"meta": json.dumps(meta), "state_dict": saved["state_dict"]}, tmp_path / "n.zip")
    with pytest.raises(ValueError, match="has no digest"):
        load_policy(str(tmp_path / "n.zip"))
    # the shipped policy (the older format: a digest of the weights) loads, and an edit of its
    # description is refused through source.json's digest of the file
    root = tmp_path / "pretrained"
    shutil.copytree(pretrained.pretrained_path("iale-mnist-cpu"), root / "iale-mnist-cpu")
    monkeypatch.setattr(pretrained, "PRETRAINED_ROOT", root)
    assert pretrained.load_pretrained("iale-mnist-cpu").acquisition_size == 10
    shipped = root / "iale-mnist-cpu" / "policy.zip"
    original = shipped.read_bytes()
    for old, new in ((b'"acquisition_size": 10', b'"acquisition_size": 20'), (b"[100,", b"[900,")):
        shipped.write_bytes(_edited(original, old, new))
        with pytest.raises(ValueError, match="source.json records"):
            pretrained.load_pretrained("iale-mnist-cpu")
        with pytest.raises(ValueError, match="source.json records"):
            load_policy(str(shipped))


class _Broken(torch.nn.Module):
    """A user's classifier with a defect: NaN logits, or an embedding whose width depends on the
    batch (24 features for the two images its width is probed with, 16 for larger batches)."""

    def __init__(self, image_shape, num_classes, defect: str):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Flatten(), torch.nn.Linear(int(np.prod(image_shape)), 24), torch.nn.ReLU()
        )
        self.head = torch.nn.Linear(24, num_classes)
        self.defect = defect

    def forward_with_embedding(self, x):
        emb = self.body(x)
        logits = self.head(emb)
        if self.defect == "nan":
            return logits * float("nan"), emb
        return logits, emb if len(x) <= 2 else emb[:, :16]


def nan_logits(image_shape, num_classes):
    return _Broken(image_shape, num_classes, "nan")


def batch_width(image_shape, num_classes):
    return _Broken(image_shape, num_classes, "width")


def test_observations_outside_the_declared_space_are_refused_naming_the_classifier(make_env):
    for factory, message in (("nan_logits", "NaN or infinite"), ("batch_width", "shape")):
        env = make_env(classifier=f"tests.reliability.test_reliability:{factory}")
        with pytest.raises(ValueError, match=f"classifier _Broken gave .*{message}"):
            env.reset(seed=0)


def test_boolean_images_are_zero_one_pixels():
    from iale_env import ALDataset
    from tests.conftest import synthetic_images

    x, y = synthetic_images(40, 0)
    masks = x > 100
    data = ALDataset.from_arrays(masks, y, masks, y)
    assert data.train_x.max() == 1.0 and set(data.train_x.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(
        data.train_x, ALDataset.from_arrays(masks.astype(np.uint8), y, masks, y, scale=1).train_x
    )
