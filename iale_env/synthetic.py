"""Synthetic image classification tasks: training sources for learned AL policies that are
neither the evaluation datasets nor MNIST, built with the own-data API
(:meth:`~iale_env.data.ALDataset.from_arrays`).

Each task is drawn from one seed, as learned-AL work draws its synthetic training tasks (LAL,
ImitAL): every class is a mixture of a few *modes*, each a prototype image made of random
Gaussian strokes; a sample is one of its class's modes, shifted by a few pixels, blended with a
mode of another class (class overlap) and covered in pixel noise. The seed also draws the
task's difficulty (the noise, the overlap and the number and weights of the modes), so a
family of seeds spans easy to hard tasks with clustered, imbalanced structure inside each class:
the regime where uncertainty and diversity heuristics disagree::

    import gymnasium as gym
    from iale_env.synthetic import SyntheticTask

    data = SyntheticTask.from_seed(3).make()
    env = gym.make("IALE-Custom-v0", data=data, classifier="mlp")

``train_dagger.py --dataset MNIST,synthetic:0,synthetic:1`` trains on such tasks
(:mod:`agents.sources`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from iale_env.data import ALDataset

#: The prefix of a synthetic source's name: ``synthetic:<seed>``.
SYNTHETIC_PREFIX = "synthetic:"


@dataclass(frozen=True)
class SyntheticTask:
    """The settings of one synthetic task (:meth:`from_seed` draws them).

    Attributes:
        seed: Seeds the prototypes and the samples (the same settings give the same images).
        num_classes: Classes.
        image_size: Height and width of the square, one-channel images.
        n_train: Training images (the pool, the initial set and the scoring set come from them).
        n_test: Test images.
        modes: The most modes (prototypes) a class has; each class has 1 to ``modes``.
        strokes: Gaussian strokes per prototype.
        noise: Standard deviation of the pixel noise (pixels lie in [0, 1]).
        overlap: The largest share of another class's mode blended into a sample.
        shift: The largest shift of a sample, in pixels, along each axis.
    """

    seed: int
    num_classes: int = 10
    image_size: int = 28
    n_train: int = 16_000
    n_test: int = 2_000
    modes: int = 4
    strokes: int = 4
    noise: float = 0.2
    overlap: float = 0.3
    shift: int = 2

    def __post_init__(self) -> None:
        for name in ("num_classes", "image_size", "n_train", "n_test", "modes", "strokes"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {self.num_classes}")
        if not 0 <= self.noise or not 0 <= self.overlap < 1 or not 0 <= self.shift:
            raise ValueError(
                f"need noise >= 0, 0 <= overlap < 1 and shift >= 0, got noise={self.noise}, "
                f"overlap={self.overlap}, shift={self.shift}"
            )

    @classmethod
    def from_seed(cls, seed: int, **overrides: object) -> SyntheticTask:
        """The task of ``seed``: its difficulty drawn from it (noise 0.1-0.45, overlap
        0.1-0.5, 2-5 modes per class at most, 3-6 strokes); ``overrides`` fix any field."""
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"a synthetic task's seed must be an integer >= 0, got {seed!r}")
        rng = np.random.default_rng([int(seed), 0x5E7])
        drawn = dict(
            noise=float(rng.uniform(0.1, 0.45)),
            overlap=float(rng.uniform(0.1, 0.5)),
            modes=int(rng.integers(2, 6)),
            strokes=int(rng.integers(3, 7)),
        )
        drawn.update(overrides)
        return cls(seed=int(seed), **drawn)  # type: ignore[arg-type]

    @property
    def name(self) -> str:
        """``synthetic:<seed>``: the source name of :meth:`from_seed`'s task."""
        return f"{SYNTHETIC_PREFIX}{self.seed}"

    def make(self) -> ALDataset:
        """Generate the task's images and labels (every class equally often over the training and
        test images together), as an :class:`ALDataset`."""
        rng = np.random.default_rng([int(self.seed), 0xDA7A])
        size, k = self.image_size, self.num_classes
        modes = rng.integers(1, self.modes + 1, size=k)
        prototypes = [self._prototypes(rng, int(m)) for m in modes]
        weights = [rng.dirichlet(np.ones(int(m))) for m in modes]
        n = self.n_train + self.n_test
        y = np.arange(n) % k
        rng.shuffle(y)
        images = np.empty((n, size, size), dtype=np.float32)
        for c in range(k):  # each sample: one mode of its class
            rows = np.flatnonzero(y == c)
            images[rows] = prototypes[c][rng.choice(len(weights[c]), size=len(rows), p=weights[c])]
        # blend in a mode of another class: the overlap that makes labels ambiguous
        other = (y + rng.integers(1, k, size=n)) % k
        blend = np.stack([prototypes[o][rng.integers(len(prototypes[o]))] for o in other])
        alpha = rng.uniform(0, self.overlap, size=(n, 1, 1)).astype(np.float32)
        images = (1 - alpha) * images + alpha * blend
        images *= rng.uniform(0.7, 1.0, size=(n, 1, 1)).astype(np.float32)
        images = _shift(images, rng.integers(-self.shift, self.shift + 1, size=(n, 2)))
        images += rng.normal(0.0, self.noise, size=images.shape).astype(np.float32)
        images = np.clip(images, 0.0, 1.0)[:, None]
        t = self.n_train
        return ALDataset.from_arrays(
            images[:t], y[:t], images[t:], y[t:], num_classes=k, name=self.name
        )

    def _prototypes(self, rng: np.random.Generator, m: int) -> np.ndarray:
        """``m`` prototype images, each the brightest-normalised sum of random strokes
        (elongated Gaussians at random places, widths and angles)."""
        size = self.image_size
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        out = np.zeros((m, size, size), dtype=np.float32)
        for i in range(m):
            for _ in range(self.strokes):
                # Python floats: float32 arithmetic on the grids under numpy 1 and 2 alike
                cy, cx = (float(c) for c in rng.uniform(0.2 * size, 0.8 * size, size=2))
                long, wide = (
                    float(rng.uniform(0.08 * size, 0.25 * size)),
                    float(rng.uniform(1, 2.5)),
                )
                angle = float(rng.uniform(0, np.pi))
                cos, sin = float(np.cos(angle)), float(np.sin(angle))
                dy, dx = yy - cy, xx - cx
                u = dx * cos + dy * sin
                v = -dx * sin + dy * cos
                out[i] += np.exp(-0.5 * ((u / long) ** 2 + (v / wide) ** 2))
            out[i] /= out[i].max()
        return out


def _shift(images: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Each image moved by its ``(dy, dx)`` offset, the uncovered border black."""
    n, h, w = images.shape
    pad = int(np.abs(offsets).max()) if len(offsets) else 0
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad)))
    rows = pad - offsets[:, 0, None] + np.arange(h)[None]  # (n, h)
    cols = pad - offsets[:, 1, None] + np.arange(w)[None]  # (n, w)
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def parse_synthetic(name: str) -> SyntheticTask | None:
    """The task of a ``synthetic:<seed>`` source name; ``None`` for any other name.

    Raises:
        ValueError: the name starts with ``synthetic:`` but no integer seed >= 0 follows.
    """
    if not name.lower().startswith(SYNTHETIC_PREFIX):
        return None
    seed = name[len(SYNTHETIC_PREFIX) :]
    if not (seed.isascii() and seed.isdigit()):
        raise ValueError(
            f"a synthetic source is synthetic:<seed> with an integer seed >= 0 (e.g. "
            f"synthetic:0), got {name!r}"
        )
    return SyntheticTask.from_seed(int(seed))
