"""Do TF32/bf16 training keep the learning curves within noise? Paired sweeps per precision.

Runs the same evaluation sweep (methods x datasets x seeds, paired as in evaluate.py) once per
precision, each into OUT/<precision> (resumable like evaluate.py), then compares every other
precision with the first (the reference, fp32) run by run: the paired difference of the mean
accuracy and of the final accuracy, against the seed-to-seed spread of the reference. With
``random`` the selections are identical across precisions, so only the arithmetic differs.

    python scripts/benchmark_precision.py --device cuda --preset paper --datasets MNIST \
        --seeds 0,1,2,3,4 --methods random,mc_dropout --precisions fp32,bf16,tf32 \
        --out runs/precision

Writes OUT/<candidate>_vs_<reference>.md per candidate, OUT/precision.json, and OUT/curves.csv
with every run (the candidates' methods labeled ``METHOD [PRECISION]``) plus its summary and
plots (as scripts/plot.py). bf16 autocast is slow on most CPUs: use a GPU, or a small preset.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
from pathlib import Path

from agents.cli.common import (
    add_device_flags,
    add_env_flags,
    env_config,
    int_list,
    name_list,
    resolve,
)
from agents.cli.evaluate import PRESETS

PRECISIONS = ("fp32", "tf32", "bf16")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="benchmark_precision.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--precisions", type=name_list, default=("fp32", "bf16"), help="first: reference"
    )
    p.add_argument("--preset", choices=sorted(PRESETS), default="reduced")
    p.add_argument("--datasets", type=name_list, default=("MNIST",))
    p.add_argument("--methods", type=name_list, default=("random", "mc_dropout"))
    p.add_argument("--seeds", type=int_list, default=(0, 1, 2))
    add_env_flags(p, pool_size=True, oracle=False)
    add_device_flags(p, precision=False)
    p.add_argument("--out", default="runs/precision", help="output folder")
    p.add_argument("--no-plots", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if unknown := [q for q in args.precisions if q not in PRECISIONS]:
        print(
            f"benchmark_precision.py: error: unknown precision(s) {unknown}; choose from "
            f"{', '.join(PRECISIONS)}",
            file=sys.stderr,
        )
        return 2
    if len(set(args.precisions)) < 2 or len(set(args.precisions)) != len(args.precisions):
        print(
            "benchmark_precision.py: error: --precisions needs at least two distinct values, "
            "the reference first (e.g. fp32,bf16)",
            file=sys.stderr,
        )
        return 2
    settings = resolve(PRESETS[args.preset], args)
    out = Path(args.out)
    try:
        from agents.evaluation import CURVES_CSV, EvalConfig, evaluate
        from agents.evaluation.compare import compare_runs, comparison_markdown
        from agents.evaluation.report import write_report
        from iale_env import DatasetNotFoundError

        base = env_config(settings, args)
        rows = {}
        for precision in args.precisions:
            cfg = EvalConfig(
                args.datasets,
                args.methods,
                args.seeds,
                dataclasses.replace(base, precision=precision),
                overlap_with=(),
            )
            print(f"== {precision}", flush=True)
            rows[precision] = evaluate(cfg, out / precision)
    except (ValueError, DatasetNotFoundError) as exc:
        print(f"benchmark_precision.py: error: {exc}", file=sys.stderr)
        return 2

    reference, *candidates = args.precisions
    results = {}
    written = []
    for candidate in candidates:
        comparisons = compare_runs(rows[reference], rows[candidate])
        path = out / f"{candidate}_vs_{reference}.md"
        path.write_text(comparison_markdown(comparisons, reference, candidate))
        print(path.read_text())
        written.append(path)
        results[candidate] = [
            dataclasses.asdict(c) | {"within_noise": c.within_noise} for c in comparisons
        ]
    (out / "precision.json").write_text(
        json.dumps({"reference": reference, "settings": settings, "comparisons": results}, indent=2)
    )
    merged = [dict(r) for r in rows[reference]]
    for candidate in candidates:
        merged += [r | {"method": f"{r['method']} [{candidate}]"} for r in rows[candidate]]
    with (out / CURVES_CSV).open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(merged[0]))
        writer.writeheader()
        writer.writerows(merged)
    written += write_report(out, plots=not args.no_plots)
    print("wrote " + ", ".join(str(f) for f in [out / "precision.json", *written]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
