"""Pictures of an active-learning state: what the agent saw, what it picked, how the episode goes.

:func:`render_frame` draws one RGB frame (the env's ``render()`` with ``render_mode="rgb_array"``):

- left: the candidates of the step just taken (or of the current state before the first step)
  as a thumbnail grid, each outlined by what happened to it: **green** = labeled by the agent,
  **orange** = picked by the best-expert oracle but not by the agent (only when the oracle was
  asked about that state), grey = left in the pool;
- top right: the labeled set's class histogram;
- bottom right: the test-accuracy curve of the episode so far.

It uses matplotlib's object API on an Agg canvas (no global pyplot state), so it works headless,
in ``make_vec_env`` workers and under SB3's ``VecVideoRecorder``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from iale_env.episode import Episode

#: Frame size in pixels (width, height).
FRAME_SIZE = (800, 450)
_GREEN, _ORANGE, _GREY = (0.1, 0.75, 0.2), (1.0, 0.55, 0.0), (0.35, 0.35, 0.35)


@dataclass(frozen=True)
class StepPicture:
    """What one frame shows (plain arrays; built by the env).

    Attributes:
        title: The frame's title.
        images: Candidate images ``(n, C, H, W)`` in [0, 1].
        selected: Candidate positions the agent labeled (empty before the first step).
        oracle: Candidate positions the oracle picked (empty if it was not asked).
        class_counts: Labeled images per class.
        curve: ``(labeled, test accuracy)`` points of the episode so far.
    """

    title: str
    images: np.ndarray
    selected: Sequence[int]
    oracle: Sequence[int]
    class_counts: np.ndarray
    curve: Sequence[tuple[int, float]]


def episode_picture(
    episode: Episode,
    step: int,
    acted: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    curve: Sequence[tuple[int, float]],
) -> StepPicture:
    """The picture of an env's step: the candidates of the step just taken (``acted``: the
    candidates, the selected and the oracle's positions), or before the first step the current
    candidates with the oracle's picks if it was asked; the labeled classes; the curve."""
    import torch

    if acted is not None:
        candidates, selected, oracle = acted
    else:  # before the first step: the current candidates, nothing labeled from them yet
        decision = episode.cache.get("oracle")
        candidates, selected = episode.subpool, np.zeros(0, dtype=np.int64)
        oracle = np.flatnonzero(decision.action) if decision is not None else selected.copy()
    data, device = episode.data, episode.device
    idx = torch.as_tensor(candidates, device=device)
    labels = data.train_y[torch.as_tensor(episode.labeled, device=device)]
    k = episode.classifier_spec.num_classes
    return StepPicture(
        title=(
            f"{data.name}: step {step}, {len(episode.labeled)} labeled, "
            f"test accuracy {episode.test_accuracy:.3f}"
        ),
        images=data.train_x[idx].cpu().numpy(),
        selected=selected.tolist(),
        oracle=np.asarray(oracle).tolist(),
        class_counts=torch.bincount(labels, minlength=k).cpu().numpy(),
        curve=list(curve),
    )


def mosaic(images: np.ndarray, selected: Sequence[int], oracle: Sequence[int]) -> np.ndarray:
    """An RGB grid ``(rows*(H+4), cols*(W+4), 3)`` of the candidates with colored borders."""
    n, c, h, w = images.shape
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    pad = 2
    grid = np.ones((rows * (h + 2 * pad), cols * (w + 2 * pad), 3), dtype=np.float32)
    chosen, wanted = set(int(i) for i in selected), set(int(i) for i in oracle)
    for i in range(n):
        r, q = divmod(i, cols)
        tile = images[i].transpose(1, 2, 0)
        tile = np.repeat(tile, 3, axis=2) if c == 1 else tile[..., :3]
        color = _GREEN if i in chosen else _ORANGE if i in wanted else _GREY
        y, x = r * (h + 2 * pad), q * (w + 2 * pad)
        grid[y : y + h + 2 * pad, x : x + w + 2 * pad] = color
        grid[y + pad : y + pad + h, x + pad : x + pad + w] = tile
    return grid


def render_frame(picture: StepPicture) -> np.ndarray:
    """The frame as a ``uint8`` RGB array of shape ``(FRAME_SIZE[1], FRAME_SIZE[0], 3)``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = 100
    fig = Figure(figsize=(FRAME_SIZE[0] / dpi, FRAME_SIZE[1] / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    grid_ax = fig.add_axes((0.01, 0.02, 0.5, 0.86))
    grid_ax.imshow(mosaic(picture.images, picture.selected, picture.oracle))
    grid_ax.set_axis_off()
    grid_ax.set_title("green: labeled   orange: oracle's other picks", fontsize=8)
    hist_ax = fig.add_axes((0.6, 0.58, 0.37, 0.3))
    counts = np.asarray(picture.class_counts)
    hist_ax.bar(np.arange(len(counts)), counts, color="tab:blue")
    hist_ax.set_title("labeled images per class", fontsize=8)
    hist_ax.set_xticks(np.arange(len(counts)))
    hist_ax.tick_params(labelsize=7)
    curve_ax = fig.add_axes((0.6, 0.1, 0.37, 0.33))
    if picture.curve:
        labeled, acc = zip(*picture.curve)
        curve_ax.plot(labeled, acc, marker="o", markersize=3, color="tab:green")
    curve_ax.set_xlabel("labeled images", fontsize=8)
    curve_ax.set_ylabel("test accuracy", fontsize=8)
    curve_ax.tick_params(labelsize=7)
    curve_ax.grid(alpha=0.3)
    fig.suptitle(picture.title, fontsize=10)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
