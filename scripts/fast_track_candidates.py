"""The fast track's candidate classifiers: the cost of one AL step of each, against the CNN.

One AL step of an evaluation is what every method pays: train M from scratch on the labeled set
(the ``cpu`` protocol: 30 full-batch epochs) and measure its test accuracy on 10,000 images; the
reward adds the same on the 10,000-image scoring set. This times both at 110 labels (the middle
of a ``cpu`` episode) on one PyTorch thread, best of ``--repeats``, for each candidate, and
prints a Markdown table with each one's speed-up over the CNN and the test accuracy it reaches
(mean over the repeats' seeds) with 110 random labels.

    python scripts/fast_track_candidates.py --dataset FashionMNIST --repeats 3
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time

import torch

from iale_env import ClassifierSpec, TrainConfig, fit_models, load_dataset
from iale_env.inference import accuracy_of

#: name -> how it differs from the CNN's spec
CANDIDATES = {
    "cnn (the cpu protocol's)": {},
    "cnn, 16 channels": {"conv_channels": 16},
    "cnn, 8 channels": {"conv_channels": 8},
    "mlp 512-128": {"arch": "mlp", "hidden": 512},
    "mlp 256-128 (fast)": {"arch": "mlp", "hidden": 256},
    "mlp 128-128": {"arch": "mlp", "hidden": 128},
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dataset", default="FashionMNIST")
    p.add_argument("--data-dir")
    p.add_argument("--labeled", type=int, default=110)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    data = load_dataset(args.dataset, args.data_dir)
    base = ClassifierSpec(data.image_shape, data.num_classes)
    cfg = TrainConfig(epochs=30)
    test_x, test_y = data.test_x[:10_000], data.test_y[:10_000]
    rows = []
    for name, change in CANDIDATES.items():
        spec = dataclasses.replace(base, **change)
        fits, evals, accs = [], [], []
        for seed in range(args.repeats):
            g = torch.Generator().manual_seed(seed)
            labeled = torch.randperm(len(data.train_y), generator=g)[: args.labeled]
            t0 = time.perf_counter()
            (model,) = fit_models(data.train_x, data.train_y, [labeled], [seed], spec, cfg)
            t1 = time.perf_counter()
            (acc,) = accuracy_of([model], test_x, test_y)
            evals.append(time.perf_counter() - t1)
            fits.append(t1 - t0)
            accs.append(acc)
        rows.append((name, min(fits), min(evals), statistics.mean(accs), spec.forward_flops()))
    cnn_step = rows[0][1] + 2 * rows[0][2]
    print(f"{args.dataset}, {args.labeled} random labels, one thread (best of {args.repeats})\n")
    print("| candidate | MFLOP/image | fit (s) | 10k eval (s) | step (s) | vs CNN | test acc |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, fit, ev, acc, flops in rows:
        step = fit + 2 * ev  # fit, scoring-set and test-set accuracy
        print(
            f"| {name} | {flops / 1e6:.2f} | {fit:.3f} | {ev:.3f} | {step:.3f} | "
            f"{cnn_step / step:.0f}x | {acc:.3f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
