"""Seeded results stay bit-identical across refactors (digests recorded before the refactor).

The digests cover one tiny episode per heuristic (every selection and accuracy, the last
observation), the oracle's decisions along an episode, and two DAgger rounds (aggregated
oracle actions, policy weights to 1e-5); see tests/golden.py. They are recorded with one PyTorch
thread (torch 2.14.1) per CPU arithmetic, keyed by :func:`tests.golden.kernel_fingerprint`: the
same seed gives last-bit differences on CPUs whose oneDNN/MKL kernels sum in another order.
If a change is *meant* to alter results, say so in its commit and record the new digests with
``python -m tests.golden``; on a new CPU, record its digests from an unchanged checkout of main.
"""

from __future__ import annotations

import pytest

from tests.conftest import HAS_IMITATION
from tests.golden import all_digests, kernel_fingerprint

RECORDED = {
    # Intel Xeon with AVX-512 and AMX (recorded 2026-12-05)
    "dbb731e17c90e95d": {
        "random": "902d68998269784b",
        "mc_dropout": "dd7fb5be1c16c114",
        "ensemble": "b0c79a528faf841a",
        "coreset": "907b662a23ce490f",
        "entropy": "68d7475c4f570491",
        "margin": "5819b8c45db445c2",
        "badge": "2734218b9cd16550",
        "oracle": "24afdd0e138f2b5e",
        "dagger": "0bef0a5b7c7245d3",
    },
    # AMD EPYC with AVX2, no AVX-512 (recorded 2026-12-06 from main at a353e0a)
    "aa2c46e818b6ac1b": {
        "random": "9c975c76fcf3824f",
        "mc_dropout": "310b9b85fc3bc626",
        "ensemble": "e14c5cfa65a813dc",
        "coreset": "a56b47fcae159515",
        "entropy": "7954ba7773251689",
        "margin": "e097c7fa6198b1f0",
        "badge": "1bf352fa5f23c956",
        "oracle": "24afdd0e138f2b5e",
        "dagger": "59c2698a4ed68f09",
    },
}


def _recorded() -> dict[str, str]:
    fingerprint = kernel_fingerprint()
    if fingerprint not in RECORDED:
        pytest.skip(
            f"no digests recorded for this CPU's arithmetic (fingerprint {fingerprint}); record "
            f"them from an unchanged checkout of main with python -m tests.golden"
        )
    return RECORDED[fingerprint]


@pytest.mark.slow
@pytest.mark.skipif(not HAS_IMITATION, reason="the DAgger digest needs imitation")
def test_seeded_results_are_bit_identical_to_the_recorded_ones():
    assert all_digests() == _recorded()


@pytest.mark.skipif(HAS_IMITATION, reason="the test above checks these digests with DAgger's")
def test_seeded_episodes_are_bit_identical_without_imitation():
    """The base install (any gymnasium, SB3 and numpy in range) gives the same episodes."""
    recorded = {k: v for k, v in _recorded().items() if k != "dagger"}
    assert all_digests(dagger=False) == recorded


def test_the_kernel_fingerprint_is_a_pure_function_of_the_machine():
    assert kernel_fingerprint() == kernel_fingerprint()
