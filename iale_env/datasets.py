"""The MNIST-family datasets (MNIST, Fashion-MNIST, KMNIST) through torchvision.

The data root is resolved as: an explicit ``data_dir`` argument, else the ``IALE_DATA_DIR``
environment variable, else a per-user cache folder (``$XDG_CACHE_HOME/iale-gym/datasets``).
torchvision's dataset classes are called with ``download=True``: with the files present they
download nothing, so the same code runs offline and on a machine with internet.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import torch

from iale_env.data import ALDataset, DatasetNotFoundError

DATA_DIR_ENV = "IALE_DATA_DIR"

#: Dataset names accepted by :func:`load_dataset`, mapped to torchvision class names.
DATASETS: dict[str, str] = {
    "MNIST": "MNIST",
    "FashionMNIST": "FashionMNIST",
    "KMNIST": "KMNIST",
}

_ALIASES = {
    "fmnist": "FashionMNIST",
    "fashion-mnist": "FashionMNIST",
    "fashion_mnist": "FashionMNIST",
}

# The official training split sizes; a smaller one (KMNIST here) is reported once.
_OFFICIAL_TRAIN_SIZE = 60_000


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data root: ``data_dir``, else ``$IALE_DATA_DIR``, else a per-user cache folder."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "iale-gym" / "datasets"


def canonical_name(name: str) -> str:
    """Map a dataset name (case-insensitive, with aliases such as ``fmnist``) to its canonical form."""
    lowered = {k.lower(): k for k in DATASETS}
    key = name.strip().lower()
    if key in lowered:
        return lowered[key]
    if key in _ALIASES:
        return _ALIASES[key]
    raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


#: The official IDX files of every MNIST-family dataset (torchvision's raw layout).
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def check_idx_files(raw: Path) -> None:
    """Check the IDX files present in ``raw`` (plain or ``.gz``): header and size must agree.

    Missing files are left to torchvision (it downloads them when it can). A present file that
    is truncated or not an IDX file raises :class:`DatasetNotFoundError` naming it, instead of
    torchvision's attempt to download it again.
    """
    import gzip
    import struct

    for base in IDX_FILES:
        for path in (raw / base, raw / (base + ".gz")):
            if not path.is_file():
                continue
            try:
                if path.suffix == ".gz":
                    with gzip.open(path, "rb") as fh:
                        blob = fh.read()
                else:
                    blob = path.read_bytes()
                zero, code, ndim = struct.unpack(">HBB", blob[:4])
                dims = struct.unpack(">" + "I" * ndim, blob[4 : 4 + 4 * ndim])
                ok = zero == 0 and code == 0x08 and len(blob) == 4 + 4 * ndim + math.prod(dims)
            except (OSError, EOFError, struct.error, gzip.BadGzipFile) as exc:
                ok, why = False, f"{type(exc).__name__}: {exc}"
            else:
                why = f"{len(blob)} bytes do not match an IDX header" if not ok else ""
            if not ok:
                raise DatasetNotFoundError(
                    f"{path} is truncated or not an IDX file ({why}); replace it with the "
                    f"official file, or delete it so that it is downloaded again"
                )
            break  # the plain file is what torchvision reads when both exist


def load_dataset(name: str, data_dir: str | os.PathLike | None = None) -> ALDataset:
    """Load an MNIST-family dataset (train and official test split), pixels scaled to [0, 1].

    Raises:
        DatasetNotFoundError: the files are neither in the data root nor downloadable; the
            message names the folder that was searched and how to fix it.
    """
    import torchvision.datasets as tvd

    canon = canonical_name(name)
    root = resolve_data_dir(data_dir)
    cls = getattr(tvd, DATASETS[canon])
    check_idx_files(root / canon / "raw")
    splits = []
    for train in (True, False):
        try:
            ds = cls(root=str(root), train=train, download=True)
        except Exception as exc:  # noqa: BLE001 - torchvision raises many kinds (URLError, RuntimeError, ...)
            raise DatasetNotFoundError(
                f"could not load {canon} ({'train' if train else 'test'} split) from "
                f"{root / canon / 'raw'}: {type(exc).__name__}: {' '.join(str(exc).split())}. Put the official files "
                f"there in torchvision's layout (e.g. {canon}/raw/train-images-idx3-ubyte.gz), "
                f"pass data_dir=... (CLI: --data-dir), or set {DATA_DIR_ENV} to a folder that "
                f"holds them; with internet access they are downloaded into that folder."
            ) from exc
        splits.append((ds.data.to(torch.float32).div_(255.0).unsqueeze(1), ds.targets.long()))
    (tx, ty), (vx, vy) = splits
    k = int(len(cls.classes))
    for split, labels in (("train", ty), ("test", vy)):
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= k):
            raise DatasetNotFoundError(
                f"the {split} labels of {canon} in {root / canon / 'raw'} lie in "
                f"[{int(labels.min())}, {int(labels.max())}], not [0, {k - 1}]: the label file "
                f"is corrupted or of another dataset; replace it with the official one"
            )
    if len(tx) < _OFFICIAL_TRAIN_SIZE:
        warnings.warn(
            f"{canon}: the training split in {root} has {len(tx)} images, not the official "
            f"{_OFFICIAL_TRAIN_SIZE}; results on it must say the pool was this subset.",
            stacklevel=2,
        )
    return ALDataset(canon, tx.contiguous(), ty, vx.contiguous(), vy, k)
