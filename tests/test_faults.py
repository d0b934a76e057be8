"""Fault injection: a run killed at any write boundary resumes to bit-identical results.

Each case runs the real script in a fresh process with ``IALE_FAULT_AT`` naming one write
boundary (``agents.faults``): the process ends there with exit code 137, as SIGKILL would, and
the rerun (``--resume`` for DAgger, the same command for a sweep) must reproduce an
uninterrupted run exactly.
"""

from __future__ import annotations

import pytest
import torch

from agents.evaluation import CURVES_CSV, read_csv
from tests.conftest import run_script

pytestmark = pytest.mark.filterwarnings("ignore:MNIST:UserWarning")

TINY_FLAGS = (
    "--budget 30 --initial 10 --acquisition 5 --subpool 20 --epochs 1 --scoring-size 60 "
    "--test-size 60"
).split()


def _dagger(out, idx_root, fault=None):
    env = {"IALE_DATA_DIR": str(idx_root), "OMP_NUM_THREADS": "1"}
    if fault:
        env["IALE_FAULT_AT"] = fault
    flags = [*TINY_FLAGS, "--episodes", "2", "--bc-batch-size", "2", "--bc-epochs", "2"]
    return run_script(
        "train_dagger.py", *flags, "--no-progress", "--resume", "--out", str(out), env=env
    )


def _weights(folder):
    from agents.policy import load_policy

    return load_policy(str(folder / "policy.zip")).state_dict()


def test_a_killed_dagger_run_resumes_to_the_identical_policy(tmp_path, idx_root):
    assert _dagger(tmp_path / "full", idx_root).returncode == 0
    reference = _weights(tmp_path / "full")
    log = (tmp_path / "full" / "log.csv").read_text().splitlines()
    for fault in (
        "dagger:round-written:1",
        "dagger:checkpoint-written:1",
        "dagger:round-written:2",
    ):
        out = tmp_path / fault.replace(":", "_")
        killed = _dagger(out, idx_root, fault)
        assert killed.returncode == 137, killed.stderr
        assert _dagger(out, idx_root).returncode == 0
        for key, value in _weights(out).items():
            assert torch.equal(value, reference[key]), (fault, key)
        resumed = (out / "log.csv").read_text().splitlines()
        assert len(resumed) == len(log)  # every round logged once
        strip = [line.rsplit(",", 1)[0] for line in log]  # all but the wall time
        assert [line.rsplit(",", 1)[0] for line in resumed] == strip


def _sweep(out, idx_root, fault=None):
    env = {"IALE_DATA_DIR": str(idx_root), "OMP_NUM_THREADS": "1"}
    if fault:
        env["IALE_FAULT_AT"] = fault
    args = [*TINY_FLAGS, "--datasets", "MNIST", "--methods", "random,margin", "--seeds", "0,1"]
    return run_script("evaluate.py", *args, "--no-plots", "--out", str(out), env=env)


STABLE = ("dataset", "method", "seed", "step", "labeled", "test_accuracy", "pairing_key")


def test_a_killed_sweep_resumes_to_the_identical_curves(tmp_path, idx_root):
    assert _sweep(tmp_path / "full", idx_root).returncode == 0
    reference = [[r[k] for k in STABLE] for r in read_csv(tmp_path / "full" / CURVES_CSV)]
    for fault in ("evaluate:overlap-appended:2", "evaluate:curves-appended:3"):
        out = tmp_path / fault.replace(":", "_")
        killed = _sweep(out, idx_root, fault)
        assert killed.returncode == 137, killed.stderr
        assert _sweep(out, idx_root).returncode == 0
        rows = [[r[k] for k in STABLE] for r in read_csv(out / CURVES_CSV)]
        assert sorted(rows) == sorted(reference), fault
