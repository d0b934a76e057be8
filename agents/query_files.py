"""The files of the labeling loop (``iale-query``): the labels CSV, the image files and the
output file, each checked before any training with an error that names the file."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from iale_env.validation import read_image


def read_labels_csv(path: Path) -> dict[str, str]:
    """``{file: label}`` of a CSV with the columns ``file,label`` (a UTF-8 byte-order mark,
    as spreadsheet programs write, is accepted; surrounding spaces are dropped).

    A file listed twice with the same label counts once.

    Raises:
        ValueError: the columns are missing, a row has no file or no label, or one file is
            given two different labels; the message names the file, the line and the labels.
    """
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = [(c or "").strip() for c in reader.fieldnames or []]
            if not {"file", "label"} <= set(columns):
                raise ValueError(f"{path} needs the columns file,label; got {columns}")
            reader.fieldnames = columns
            rows = [(reader.line_num, row) for row in reader]
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not UTF-8 text ({exc}); save it as UTF-8 CSV") from None
    labels: dict[str, tuple[str, int]] = {}
    for line, row in rows:
        file, label = (row.get("file") or "").strip(), (row.get("label") or "").strip()
        if not file and not label and not any((v or "").strip() for v in row.values()):
            continue  # a blank line
        if not file or not label:
            missing = "file" if not file else "label"
            raise ValueError(
                f"{path}, line {line}: no {missing} in {row.get('file')!r},{row.get('label')!r}; "
                f"every row needs file,label (remove the row if that image is not labeled yet)"
            )
        if file in labels and labels[file][0] != label:
            first, at = labels[file]
            raise ValueError(
                f"{path} gives {file} two labels: {first!r} (line {at}) and {label!r} (line "
                f"{line}); keep the right one"
            )
        labels.setdefault(file, (label, line))
    return {file: label for file, (label, _) in labels.items()}


def read_images(root: Path, files: list[str], mode: str) -> dict[str, np.ndarray]:
    """``{file: (C, H, W) or (H, W) array}`` of image files under ``root``, all one size.

    Raises:
        ValueError: a file is empty, truncated or not an image, or the images differ in size;
            the message names the file.
    """
    images: dict[str, np.ndarray] = {}
    first: str | None = None
    for rel in files:
        array = np.asarray(read_image(root / rel, mode))
        images[rel] = array if array.ndim == 2 else array.transpose(2, 0, 1)
        if first is None:
            first = rel
        elif images[rel].shape != images[first].shape:
            raise ValueError(
                f"the images under {root} differ in size: {rel} is {images[rel].shape}, "
                f"{first} is {images[first].shape}; resize them to one size"
            )
    return images


def check_new_file(path: str | os.PathLike, flag: str = "--out") -> None:
    """Check, before any work, that ``path`` can be created as a new file.

    Raises:
        ValueError: it exists (a dangling symbolic link included), its folder does not exist
            or is not writable.
    """
    path = Path(path)
    if os.path.lexists(path):
        what = "is a dangling symbolic link" if not path.exists() else "exists"
        raise ValueError(f"{flag} {path} {what}; choose a new file name or remove it")
    folder = path.parent
    if not folder.is_dir():
        raise ValueError(f"{flag} {path}: the folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise ValueError(f"{flag} {path}: the folder {folder} is not writable; choose another")
