"""Train the ALIL baseline (Liu et al., 2018) with DAgger, on the same classifier and state as IALE.

    python scripts/train_alil.py --preset smoke --out runs/alil_smoke   # minutes on a CPU
    python scripts/train_alil.py --preset paper --out runs/alil --device cuda

ALIL labels 1 of 10 random candidates per step; its oracle retrains a model on labeled + each
candidate alone and takes the best on the scoring set; its policy is the IALE row-wise MLP with
one softmax over the candidates; DAgger flips the coin (0.5) at every step. Same flags, outputs
and ``--resume`` as ``train_dagger.py`` (without ``--experts``). Evaluate the policy with
``scripts/evaluate.py --methods alil:OUT/policy.zip``.
"""

from __future__ import annotations

import sys

from agents.cli.train_dagger import main as _main


def main(argv: list[str] | None = None) -> int:
    """Run ``train_alil.py`` with ``argv`` (default: the command line); the exit code."""
    return _main(argv, variant="alil", doc=__doc__)


if __name__ == "__main__":
    sys.exit(main())
