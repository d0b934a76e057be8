"""Ask a trained IALE policy which of your unlabeled images to label next (one AL round).

    python scripts/query.py --policy runs/iale/policy.zip --data mine.npz
    python scripts/query.py --policy runs/iale/policy.zip --images photos/ --labels labels.csv \
        --out next.csv

``--data``: an ``.npz`` file with ``labeled_x``, ``labeled_y`` (integers 0..K-1) and ``pool_x``.
``--images``: a folder of images (searched recursively: png, jpg, jpeg, bmp, gif, tif, tiff,
webp); ``--labels``: a CSV with columns ``file,label`` (file relative to the folder) naming
the images labeled so far; every other image is the unlabeled pool. Labels are integers
0..K-1, or names listed in order with ``--classes``. The classifier is trained on the labeled
images, the policy ranks a sub-pool of the rest, and the k best are printed (or written to
``--out``) as ``rank,file,score`` (``rank,index,score`` for ``--data``). Label them, append them
to the CSV, and run it again.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``iale-query``."""
    p = argparse.ArgumentParser(
        prog="query.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--policy",
        required=True,
        help="policy.zip written by a training script, or the name of a pretrained policy "
        "(agents.pretrained.available(), e.g. iale-mnist-cpu)",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help=".npz file with labeled_x, labeled_y, pool_x")
    src.add_argument("--images", help="folder of images (labeled and unlabeled)")
    p.add_argument("--labels", help="CSV file,label of the labeled images (with --images)")
    p.add_argument("--classes", help="class names in label order, comma-separated")
    p.add_argument("--grayscale", action="store_true", help="read images as one channel")
    p.add_argument(
        "--acquisition-size",
        "--k",
        type=int,
        default=None,
        help="images to pick, k (default: the policy's)",
    )
    p.add_argument(
        "--subpool-size",
        "--subpool",
        type=int,
        default=None,
        help="candidates to rank (default: the policy's training sub-pool; 0: the whole pool)",
    )
    p.add_argument("--epochs", type=int, default=None, help="classifier training epochs")
    p.add_argument(
        "--state-scores",
        default=None,
        help="experts whose scores end the policy's state rows, comma-separated ('' for none; "
        "default: those its run's config.json records)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="PyTorch CPU threads")
    p.add_argument("--out", help="write the picks to this new CSV file (default: print them)")
    return p


def _policy_path(policy: str) -> Path:
    """``--policy``: a policy file, or the ``policy.zip`` of the pretrained policy so named.

    Raises:
        FileNotFoundError: neither a file nor a pretrained policy's name (it lists them).
    """
    from agents.pretrained import available, pretrained_path

    path = Path(policy)
    if path.is_file():
        return path
    if policy in available() and not path.exists():
        return pretrained_path(policy) / "policy.zip"
    raise FileNotFoundError(
        f"no policy file {policy}; give the policy.zip of a training run or a pretrained "
        f"policy's name ({', '.join(available())})"
    )


def main(argv: list[str] | None = None) -> int:
    """Run ``iale-query``; the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.images and not args.labels:
        parser.error("--images needs --labels (a CSV file,label of the images labeled so far)")
    from agents.cli.common import set_threads
    from agents.query import QueryConfig, query
    from agents.query_files import check_new_file

    if args.out:
        try:
            check_new_file(args.out)  # before the work, not after it
        except ValueError as err:
            parser.error(str(err))
    try:
        set_threads(args.threads)
        scores = None
        if args.state_scores is not None:
            scores = tuple(e.strip() for e in args.state_scores.split(",") if e.strip())
        cfg = QueryConfig(
            args.acquisition_size,
            args.subpool_size,
            args.epochs,
            seed=args.seed,
            device=args.device,
            state_scores=scores,
        )
        policy = _policy_path(args.policy)  # before the images are read
        if args.data:
            labeled_x, labeled_y, pool_x = _read_npz(Path(args.data))
            names = None
        else:
            labeled_x, labeled_y, pool_x, names = _read_folder(
                Path(args.images), Path(args.labels), args.classes, args.grayscale
            )
        result = query(policy, labeled_x, labeled_y, pool_x, cfg)
    except (ValueError, FileNotFoundError) as err:
        print(f"query.py: error: {err}", file=sys.stderr)
        return 2
    key = "file" if names is not None else "index"
    rows = [
        {"rank": r + 1, key: names[i] if names is not None else int(i), "score": f"{s:.6f}"}
        for r, (i, s) in enumerate(zip(result.picks, result.scores))
    ]
    if args.out:
        try:
            with open(args.out, "x", newline="") as f:
                _write(f, rows)
        except OSError as err:  # created meanwhile by another command, or the disk is full
            print(
                f"query.py: error: cannot write --out {args.out} ({err}); picks:", file=sys.stderr
            )
            _write(sys.stderr, rows)  # the round's work is not lost
            return 2
        print(f"wrote {len(rows)} picks to {args.out}")
    else:
        _write(sys.stdout, rows)
    return 0


def _write(stream, rows: list[dict]) -> None:
    writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from iale_env.data import read_npz

    if not path.is_file():
        raise FileNotFoundError(f"no file {path}")
    arrays = read_npz(path, ("labeled_x", "labeled_y", "pool_x"))
    return arrays["labeled_x"], arrays["labeled_y"], arrays["pool_x"]


def _read_folder(
    root: Path, labels_csv: Path, classes: str | None, grayscale: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Labeled images, their labels, pool images and the pool's file names (relative)."""
    from agents.query_files import read_images, read_labels_csv

    if not root.is_dir():
        raise FileNotFoundError(f"no image folder {root}")
    if not labels_csv.is_file():
        raise FileNotFoundError(f"no labels file {labels_csv}")
    files = sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    labeled = read_labels_csv(labels_csv)
    unknown = sorted(set(labeled) - set(files))
    if unknown:
        raise ValueError(f"{labels_csv} names files not found under {root}: {unknown[:5]}")
    if not labeled:
        raise ValueError(f"{labels_csv} lists no labeled images; label a few first")
    names = classes.split(",") if classes else None
    to_int: dict[str, int] = {}
    for text in set(labeled.values()):
        if names is not None:
            if text not in names:
                raise ValueError(f"label {text!r} is not one of --classes {names}")
            to_int[text] = names.index(text)
        elif text.lstrip("-").isdigit():
            to_int[text] = int(text)
        else:
            raise ValueError(
                f"label {text!r} is not an integer; pass --classes with the class names in order"
            )
    pool_files = [f for f in files if f not in labeled]
    if not pool_files:
        raise ValueError(f"every image under {root} is labeled; there is nothing left to pick")
    lab_files = sorted(labeled)
    images = read_images(root, lab_files + pool_files, "L" if grayscale else "RGB")
    labeled_x = np.stack([images[f] for f in lab_files])
    labeled_y = np.array([to_int[labeled[f]] for f in lab_files], dtype=np.int64)
    pool_x = np.stack([images[f] for f in pool_files])
    return labeled_x, labeled_y, pool_x, pool_files


if __name__ == "__main__":
    sys.exit(main())
