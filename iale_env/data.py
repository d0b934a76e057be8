"""Datasets for active learning: :class:`ALDataset` (images and labels, train and test), read
from a user's ``.npz`` file or image folder (:func:`load_data_file`); the MNIST family comes from
:mod:`iale_env.datasets`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from iale_env.validation import check_channel_layout, read_image

#: ``ALConfig.dataset`` of an env on a user's data (``IALE-Custom-v0``).
CUSTOM = "custom"


class DatasetNotFoundError(FileNotFoundError):
    """A dataset could not be found or read in the data root."""


@dataclass(frozen=True)
class ALDataset:
    """Images and labels for one active-learning problem.

    Attributes:
        name: A short name, used in logs and results.
        train_x: Training images, ``float32`` in [0, 1], shape ``(N, C, H, W)``. The pool, the
            initial labeled set and the scoring set are drawn from these.
        train_y: Training labels, ``int64``, shape ``(N,)``, values in ``[0, num_classes)``.
        test_x: Test images (the accuracy curves are measured on them), same layout.
        test_y: Test labels.
        num_classes: Number of classes.
        classes: Class names by label (``None``: unnamed), e.g. an image folder's sub-folders.
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    classes: tuple[str, ...] | None = None

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(channels, height, width)`` of one image."""
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]

    def to(self, device: torch.device | str) -> ALDataset:
        """Return a copy with all tensors on ``device`` (held there once for the whole run)."""
        return ALDataset(
            self.name,
            self.train_x.to(device),
            self.train_y.to(device),
            self.test_x.to(device),
            self.test_y.to(device),
            self.num_classes,
            self.classes,
        )

    @classmethod
    def from_arrays(
        cls,
        train_x: np.ndarray | torch.Tensor,
        train_y: np.ndarray | torch.Tensor,
        test_x: np.ndarray | torch.Tensor,
        test_y: np.ndarray | torch.Tensor,
        num_classes: int | None = None,
        name: str = "custom",
        scale: float | None = None,
        classes: tuple[str, ...] | list[str] | None = None,
    ) -> ALDataset:
        """Build a dataset from a user's own images and labels.

        Images may be ``(N, H, W)`` or ``(N, C, H, W)`` and must be finite. Pixel values are
        brought to [0, 1] by one documented rule: with ``scale`` every image is divided by it;
        otherwise integer images must lie in [0, 255] and are divided by 255, and float images
        must already lie in [0, 1]. Anything else is an error that says which rule to use.
        Labels are integers in ``[0, num_classes)``; ``num_classes`` defaults to
        ``max(label) + 1``, and then every class must occur in the training labels (labels
        1..10, say, would leave class 0 empty: map them to 0..K-1 first).
        """
        if scale is not None and not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
        tx, ty = _images(train_x, "train_x", scale), _labels(train_y, "train_y")
        vx, vy = _images(test_x, "test_x", scale), _labels(test_y, "test_y")
        if len(tx) != len(ty) or len(vx) != len(vy):
            raise ValueError(
                f"images and labels differ in length: train {len(tx)} vs {len(ty)}, "
                f"test {len(vx)} vs {len(vy)}"
            )
        if tx.shape[1:] != vx.shape[1:]:
            raise ValueError(f"train and test images differ in shape: {tx.shape} vs {vx.shape}")
        found = int(max(ty.max(), vy.max())) + 1
        k = found if num_classes is None else int(num_classes)
        if k < 2 or found > k or min(int(ty.min()), int(vy.min())) < 0:
            bad = [n for n, y in (("train_y", ty), ("test_y", vy)) if y.min() < 0 or y.max() >= k]
            raise ValueError(
                f"labels must be integers in [0, num_classes) with num_classes >= 2 "
                f"({' and '.join(bad) or 'the labels'} break it); "
                f"got labels in [{int(min(ty.min(), vy.min()))}, {found - 1}] and "
                f"num_classes={num_classes}"
            )
        if num_classes is None and int(vy.max()) > int(ty.max()):  # blame the right array
            raise ValueError(
                f"test_y has label {int(vy.max())}, but train_y's labels end at {int(ty.max())}: "
                f"a test label must be one of the training classes; fix test_y, or pass "
                f"num_classes if train_y lacks a class on purpose"
            )
        if num_classes is None:
            missing = sorted(set(range(k)) - set(ty.unique().tolist()))
            if missing:
                raise ValueError(
                    f"train_y has no example of class(es) {missing[:10]} of 0..{k - 1}; labels "
                    f"must be 0..K-1 with every class present (map them, e.g. "
                    f"np.unique(y, return_inverse=True)[1]), or pass num_classes explicitly"
                )
        if classes is not None:
            classes = tuple(str(c) for c in classes)
            if len(classes) != k:
                raise ValueError(f"classes names {len(classes)} classes, but there are {k}")
        return cls(name, tx, ty, vx, vy, k, classes)

    @classmethod
    def from_torch(
        cls,
        train: Any,
        test: Any,
        num_classes: int | None = None,
        name: str = "custom",
        scale: float | None = None,
    ) -> ALDataset:
        """Build a dataset from two map-style torch ``Dataset`` objects of ``(image, label)``.

        An image may be a tensor or array ``(C, H, W)`` or ``(H, W)``, or a PIL image (what a
        torchvision dataset without ``transform`` returns); all must have one shape (resize
        them with a ``transform`` if not). Pixels and labels then follow :meth:`from_arrays`'s
        rules. ``classes`` is taken from ``train.classes`` when the dataset has it.
        """
        tx, ty = _stack_items(train, "train")
        vx, vy = _stack_items(test, "test")
        names = getattr(train, "classes", None)
        k = num_classes if num_classes is not None else (len(names) if names else None)
        if names is not None and k is not None and len(names) != k:
            names = None
        return cls.from_arrays(tx, ty, vx, vy, k, name=name, scale=scale, classes=names)

    @classmethod
    def from_image_folder(
        cls, root: str | os.PathLike, grayscale: bool = False, name: str | None = None
    ) -> ALDataset:
        """Build a dataset from image files in torchvision's ``ImageFolder`` layout.

        ``root/train/<class>/<image>`` and ``root/test/<class>/<image>``; the class of an image
        is its sub-folder, labels follow the sorted sub-folder names (as in ``ImageFolder``),
        and ``test`` must have the same sub-folders. Images are read as RGB (``grayscale``:
        one channel), must all have one size, and are scaled from 0..255 to [0, 1].
        """
        from torchvision.datasets import ImageFolder

        root = Path(root).expanduser()
        folders = {split: root / split for split in ("train", "test")}
        missing = [str(p) for p in folders.values() if not p.is_dir()]
        if missing:
            raise DatasetNotFoundError(
                f"image folder {root} needs sub-folders train/<class>/ and test/<class>/ "
                f"(torchvision's ImageFolder layout); missing: {', '.join(missing)}"
            )
        mode = "L" if grayscale else "RGB"
        splits = {}
        for split, path in folders.items():
            try:
                splits[split] = ImageFolder(str(path), loader=lambda f: _read_image(f, mode))
            except (FileNotFoundError, OSError) as exc:
                raise DatasetNotFoundError(f"could not read images under {path}: {exc}") from exc
        train, test = splits["train"], splits["test"]
        if test.classes != train.classes:
            raise ValueError(
                f"{folders['test']} has classes {test.classes}, but {folders['train']} has "
                f"{train.classes}: both splits need the same class sub-folders"
            )
        return cls.from_torch(train, test, len(train.classes), name=name or root.name)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the dataset as one ``.npz`` file that :func:`load_data_file` (and the env's
        ``data=`` path) reads back; pixels are stored as 8 bits when that is lossless."""
        path = Path(path)
        if path.suffix != ".npz":
            raise ValueError(f"dataset files end in .npz, got {path}")
        if path.exists():
            raise FileExistsError(f"{path} exists; remove it or choose another name")
        arrays: dict[str, np.ndarray] = {}
        for key in ("train_x", "test_x"):
            x = getattr(self, key).detach().cpu()
            q = torch.round(x * 255)
            lossless = bool(torch.equal(q / 255.0, x))
            arrays[key] = q.to(torch.uint8).numpy() if lossless else x.numpy()
        arrays["train_y"] = self.train_y.cpu().numpy()
        arrays["test_y"] = self.test_y.cpu().numpy()
        arrays["num_classes"] = np.array(self.num_classes)
        arrays["name"] = np.array(self.name)
        if self.classes is not None:
            arrays["classes"] = np.array(self.classes)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
        return path


#: Arrays a dataset ``.npz`` file must hold (``num_classes``, ``name``, ``classes`` optional).
DATA_FILE_KEYS = ("train_x", "train_y", "test_x", "test_y")


def load_data_file(path: str | os.PathLike) -> ALDataset:
    """Read a user's dataset from an ``.npz`` file or an image folder.

    An ``.npz`` file holds the arrays ``train_x``, ``train_y``, ``test_x``, ``test_y`` (images
    ``(N, H, W)`` or ``(N, C, H, W)``, uint8 0..255 or float in [0, 1]; integer labels 0..K-1)
    and optionally ``num_classes``, ``name`` and ``classes`` (see :meth:`ALDataset.from_arrays`
    and :meth:`ALDataset.save`). A folder is read with :meth:`ALDataset.from_image_folder`.

    Raises:
        DatasetNotFoundError: the path does not exist, or the file is not such an archive.
        ValueError: the arrays break :meth:`ALDataset.from_arrays`'s rules (the message says
            which and how to fix it).
    """
    path = Path(path).expanduser()
    if path.is_dir():
        return ALDataset.from_image_folder(path)
    if not path.is_file():
        raise DatasetNotFoundError(
            f"no dataset at {path}: pass an .npz file with {', '.join(DATA_FILE_KEYS)} or an "
            f"image folder with train/<class>/ and test/<class>/"
        )
    arrays = read_npz(path, DATA_FILE_KEYS)
    k = int(arrays["num_classes"]) if "num_classes" in arrays else None
    name = str(arrays["name"]) if "name" in arrays else path.stem
    classes = [str(c) for c in arrays["classes"]] if "classes" in arrays else None
    try:
        return ALDataset.from_arrays(
            *(arrays[key] for key in ("train_x", "train_y", "test_x", "test_y")),
            num_classes=k,
            name=name,
            classes=classes,
        )
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def read_npz(path: str | os.PathLike, required: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` file ``path``, which must hold ``required``.

    Raises:
        DatasetNotFoundError: the file is not a readable archive, or lacks a required array.
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as exc:
        raise DatasetNotFoundError(
            f"{path} is not a readable .npz archive ({exc}); write it with numpy.savez or "
            f"ALDataset.save"
        ) from exc
    missing = [key for key in required if key not in arrays]
    if missing:
        raise DatasetNotFoundError(
            f"{path} lacks the array(s) {missing}; it needs {', '.join(required)}"
        )
    return arrays


def _read_image(file: str, mode: str) -> Any:
    return read_image(file, mode)


def _stack_items(dataset: Any, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of a map-style ``(image, label)`` dataset, as stacked arrays."""
    try:
        n = len(dataset)
    except TypeError as exc:
        raise ValueError(f"the {split} dataset must be map-style (have a length)") from exc
    if n == 0:
        raise ValueError(f"the {split} dataset is empty")
    images, labels, first = [], [], None
    for i in range(n):
        item = dataset[i]
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise ValueError(
                f"item {i} of the {split} dataset is not an (image, label) pair: {type(item)}"
            )
        image, label = item
        if isinstance(image, torch.Tensor):
            array = image.detach().cpu().numpy()
        elif hasattr(image, "getbands"):  # a PIL image: (H, W) or (H, W, C)
            array = np.asarray(image)
            if array.ndim == 3:
                array = array.transpose(2, 0, 1)
        else:
            array = np.asarray(image)
        if array.ndim == 2:
            array = array[None]
        if first is None:
            first = array.shape
        elif array.shape != first:
            raise ValueError(
                f"the {split} images differ in shape: {_item_name(dataset, 0)} is {first}, "
                f"{_item_name(dataset, i)} is {array.shape}; resize them to one size (e.g. a "
                f"transforms.Resize)"
            )
        images.append(array)
        labels.append(int(label))
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def _item_name(dataset: Any, i: int) -> str:
    """``item i``, with its file when the dataset knows it (an ``ImageFolder``'s ``samples``)."""
    samples = getattr(dataset, "samples", None)
    try:
        return f"item {i} ({samples[i][0]})" if samples is not None else f"item {i}"
    except (IndexError, TypeError):
        return f"item {i}"


def _images(a: np.ndarray | torch.Tensor, what: str, scale: float | None = None) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(a)) if not isinstance(a, torch.Tensor) else a.detach().cpu()
    if t.ndim == 3:
        t = t.unsqueeze(1)
    if t.ndim != 4:
        raise ValueError(f"{what} must have shape (N, H, W) or (N, C, H, W), got {tuple(t.shape)}")
    check_channel_layout(tuple(t.shape), what)
    # booleans are 0/1 pixels already (not 0..255 integers)
    integer = not t.is_floating_point() and t.dtype != torch.bool
    t = t.to(torch.float32)
    if t.numel() and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{what} has NaN or infinite pixels; clean or drop those images")
    if scale is not None:
        t = t / float(scale)
    elif integer:
        if t.numel() and (t.min() < 0 or t.max() > 255):
            raise ValueError(
                f"integer {what} lie in [{int(t.min())}, {int(t.max())}], not [0, 255]; pass "
                f"scale= (the value that maps to 1) or float images in [0, 1]"
            )
        t = t / 255.0
    if t.numel() and (t.min() < 0 or t.max() > 1):
        raise ValueError(
            f"{what} must lie in [0, 1] after scaling, got [{float(t.min()):.3g}, "
            f"{float(t.max()):.3g}]; pass scale= (e.g. 255) or scale your images first"
        )
    return t.contiguous()


def _labels(a: np.ndarray | torch.Tensor, what: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(a)) if not isinstance(a, torch.Tensor) else a.detach().cpu()
    if t.ndim != 1 or t.is_floating_point() or t.numel() == 0:
        raise ValueError(
            f"{what} must be a non-empty 1-d integer array, got {t.dtype} {tuple(t.shape)}"
        )
    return t.to(torch.int64)
