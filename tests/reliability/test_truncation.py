"""Every file a resume relies on, truncated at random offsets: the resume either repairs it and
reproduces the uninterrupted result exactly, or stops with an error that names the file."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from agents.evaluation import CURVES_CSV, ORACLE_CSV, OVERLAP_CSV, EvalConfig, evaluate, read_csv
from iale_env import ALConfig
from tests.conftest import TINY

pytestmark = pytest.mark.filterwarnings("ignore:MNIST:UserWarning")

OFFSETS = np.random.default_rng(2026).random(3)  # fractions of each file's length
STABLE = ("dataset", "method", "seed", "step", "labeled", "test_accuracy", "pairing_key")


def _truncate(path, fraction):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


def _rows(folder):
    return sorted([r[k] for k in STABLE] for r in read_csv(folder / CURVES_CSV))


@pytest.mark.slow
def test_a_sweep_survives_any_truncated_file(tmp_path, idx_root):
    cfg = EvalConfig(
        ("MNIST",), ("random", "oracle"), (0, 1), ALConfig(**TINY, data_dir=str(idx_root)), ()
    )
    evaluate(cfg, tmp_path / "full", log=None)
    reference = _rows(tmp_path / "full")
    for name in (CURVES_CSV, ORACLE_CSV, OVERLAP_CSV, "config.json"):
        for fraction in OFFSETS:
            out = tmp_path / f"{name}-{fraction:.3f}"
            shutil.copytree(tmp_path / "full", out)
            _truncate(out / name, fraction)
            try:
                evaluate(cfg, out, log=None)
            except ValueError as err:
                assert name in str(err), err  # refused, naming the file
                continue
            assert _rows(out) == reference, (name, fraction)


def _dagger(make_env, out, episodes, resume=False):
    from agents.dagger import DAggerConfig, train_dagger

    cfg = DAggerConfig(episodes=episodes, bc_batch_size=4, bc_epochs=3, heldout_episodes=1, seed=0)
    return train_dagger(make_env(), cfg, out, resume=resume, progress=False)


@pytest.mark.slow
@pytest.mark.dagger
def test_a_dagger_run_survives_any_truncated_file(make_env, tmp_path):
    full = _dagger(make_env, tmp_path / "full", 3).policy.state_dict()
    _dagger(make_env, tmp_path / "cut", 2)
    cut = tmp_path / "cut"
    # (file to truncate, what the error must name): imitation stores each demonstration as a
    # folder (Hugging Face datasets) whose name ends in .npz
    files = [(n, n) for n in ("checkpoint.pt", "policy.zip", "log.csv", "heldout.npz")]
    (demo,) = (cut / "demos" / "round-000").glob("*.npz")
    files += [(p.relative_to(cut).as_posix(), demo.name) for p in sorted(demo.iterdir())]
    for name, named in files:
        for fraction in OFFSETS:
            out = tmp_path / f"{name.replace('/', '_')}-{fraction:.3f}"
            shutil.copytree(cut, out)
            _truncate(out / name, fraction)
            try:
                resumed = _dagger(make_env, out, 3, resume=True).policy.state_dict()
            except ValueError as err:
                assert named in str(err), err
                continue
            for key, value in resumed.items():
                assert torch.equal(value, full[key]), (name, fraction, key)
