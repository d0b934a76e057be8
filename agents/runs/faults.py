"""Fault injection for tests: end the process at a named write boundary, as a kill would.

Long runs write their state in an order that makes every kill point resumable (DAgger: policy
and log, then the checkpoint that marks the round complete; sweeps: one appended block per
finished run). The fault-injection tests prove it: with ``IALE_FAULT_AT=<point>`` in the
environment, the process ends with exit code 137 (what SIGKILL gives) the moment it reaches that
point, and a rerun with ``--resume`` (or the same sweep command) must give bit-identical results.

Points: ``dagger:round-written:<round>`` (policy.zip and log.csv of that round written, its
checkpoint not yet), ``dagger:checkpoint-written:<round>``, ``evaluate:overlap-appended:<run>``
(a finished run's overlap rows written, its curve rows not yet) and
``evaluate:curves-appended:<run>`` (runs counted from 1 in each process).
"""

from __future__ import annotations

import os

FAULT_ENV = "IALE_FAULT_AT"


def reached(point: str) -> None:
    """End the process at once (exit code 137, no cleanup) if ``$IALE_FAULT_AT == point``."""
    if os.environ.get(FAULT_ENV) == point:
        os._exit(137)
