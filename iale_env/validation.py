"""Checks of what comes in from outside the package: image files, image arrays, and the rows a
classifier's outputs make (the observation). Each failure is one ``ValueError`` that names the
culprit (the file, the argument, the classifier) and says what to do."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

#: Channel counts of ordinary images (gray, gray + alpha, RGB, RGBA).
_CHANNELS = (1, 2, 3, 4)


def read_image(file: str | os.PathLike, mode: str) -> Any:
    """The image in ``file`` converted to the PIL ``mode`` (``"L"`` or ``"RGB"``), fully read.

    Raises:
        ValueError: the file is empty, truncated or not an image; the message names it.
    """
    from PIL import Image

    try:
        if os.path.getsize(file) == 0:
            raise ValueError("the file is empty (0 bytes)")
        with Image.open(file) as img:
            return img.convert(mode)  # convert() decodes every pixel: a truncated file fails here
    except (OSError, ValueError, SyntaxError) as exc:  # PIL raises these for broken files
        raise ValueError(
            f"{file} is not a readable image ({exc}); replace it or remove it from the folder"
        ) from None


def check_channel_layout(shape: tuple[int, ...], what: str) -> None:
    """Refuse ``(N, H, W, C)`` images, which would be read as C-wide images of H channels.

    Only a shape whose last axis is a channel count (1 to 4) and whose second axis is not is
    refused, so every ``(N, C, H, W)`` image with ordinary channels passes.

    Raises:
        ValueError: the layout looks channel-last; the message says how to transpose it.
    """
    if len(shape) == 4 and shape[-1] in _CHANNELS and shape[1] not in _CHANNELS:
        n, h, w, c = shape
        raise ValueError(
            f"{what} has shape {tuple(shape)}, which looks channel-last (N, H, W, C) = "
            f"({n}, {h}, {w}, {c}); images are (N, C, H, W): pass x.transpose(0, 3, 1, 2) "
            f"(numpy) or x.permute(0, 3, 1, 2) (torch)"
        )


def check_state_rows(rows: np.ndarray, n: int, width: int, classifier: object) -> None:
    """Check that a state built from ``classifier``'s outputs has ``n`` finite rows of
    ``width`` features (one cheap pass over the small state).

    Raises:
        ValueError: another shape (an embedding whose width depends on the batch, say) or a
            NaN or infinite value (NaN logits); the message names the classifier's class.
    """
    name = type(classifier).__name__
    if rows.ndim != 2 or rows.shape != (n, width):
        raise ValueError(
            f"classifier {name} gave state rows of shape {tuple(rows.shape)}, not ({n}, "
            f"{width}): its embedding or logits width must not depend on the batch; check its "
            f"forward() (see iale_env.classifier.build_classifier for the contract)"
        )
    finite = np.isfinite(rows)
    if not finite.all():
        bad = int(rows.shape[0] - finite.all(axis=1).sum())
        raise ValueError(
            f"classifier {name} gave NaN or infinite outputs ({bad} of {n} state rows); check "
            f"its forward() and training (a learning rate too high, log of 0, ...)"
        )
