"""Seeded results stay bit-identical across refactors (digests recorded before the refactor).

The digests cover one tiny episode per heuristic (every selection and accuracy, the last
observation), the oracle's decisions along an episode, and two DAgger rounds (aggregated
oracle actions, policy weights to 1e-5); see tests/golden.py. Recorded with one PyTorch
thread on this project's CPU (x86-64, torch 2.14.1). If a change is *meant* to alter results,
say so in its commit and record the new digests with python -m tests.golden.
"""

from __future__ import annotations

from tests.golden import all_digests

RECORDED = {
    "random": "96d53443b8343e5c",
    "mc_dropout": "b97f9759d84f7e89",
    "ensemble": "5ab3e58b0b1bc3f6",
    "coreset": "623eda728221256e",
    "entropy": "b9a6452ab43b1b23",
    "margin": "6c44c27378ac932d",
    "badge": "7bc02bf7fc91767a",
    "oracle": "24afdd0e138f2b5e",
    "dagger": "591868b79dcd512b",
}


def test_seeded_results_are_bit_identical_to_the_recorded_ones():
    assert all_digests() == RECORDED
