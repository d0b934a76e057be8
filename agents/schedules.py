"""Learning-rate schedules for SB3 policies that need no training library beyond SB3."""

from __future__ import annotations


class ConstantLR:
    """A picklable constant learning-rate schedule for SB3."""

    def __init__(self, lr: float) -> None:
        self.lr = lr

    def __call__(self, progress_remaining: float) -> float:
        return self.lr
