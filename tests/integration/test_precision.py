"""Paired comparison of sweeps (fp32 vs bf16/TF32) and the precision benchmark script."""

from __future__ import annotations

import json
import math

import pytest

from agents.evaluation import read_csv
from agents.evaluation.compare import compare_runs, comparison_markdown
from tests.conftest import curve_rows, run_script

T2 = 4.302652729911275  # Student t, 97.5% quantile, 2 degrees of freedom


REFERENCE = {
    ("random", 0): [0.5, 0.6, 0.7],
    ("random", 1): [0.4, 0.6, 0.8],
    ("random", 2): [0.6, 0.7, 0.7],
    ("m", 0): [0.5, 0.7, 0.8],
    ("m", 1): [0.4, 0.7, 0.9],
}


def test_compare_runs_pairs_by_seed_and_judges_noise():
    candidate = {
        ("random", 0): [0.5, 0.61, 0.7],
        ("random", 1): [0.4, 0.6, 0.79],
        ("random", 2): [0.6, 0.7, 0.71],
        ("m", 0): [0.575, 0.775, 0.875],  # m shifted up by 0.075 everywhere
        ("m", 1): [0.475, 0.775, 0.975],
        ("m", 2): [0.5, 0.5, 0.5],  # no reference run: not compared
    }
    got = {
        (c.method, c.metric): c for c in compare_runs(curve_rows(REFERENCE), curve_rows(candidate))
    }
    # mean accuracy (a0 + 2 a1 + a2) / 4: reference 0.6, 0.6, 0.675; candidate +.005 -.0025 +.0025
    r = got[("random", "mean_accuracy")]
    assert r.n_pairs == 3 and r.reference_mean == pytest.approx(0.625)
    assert r.reference_sd == pytest.approx(math.sqrt(0.001875))
    assert r.diff_mean == pytest.approx(0.005 / 3)
    assert r.diff_ci95 == pytest.approx(T2 * math.sqrt(1.4583333e-5 / 3), rel=1e-4)
    assert r.max_abs_point_diff == pytest.approx(0.01)
    assert r.within_noise
    final = got[("random", "acc@100")]
    assert final.diff_mean == pytest.approx(0.0, abs=1e-12) and final.within_noise
    m = got[("m", "mean_accuracy")]
    assert m.n_pairs == 2 and m.diff_mean == pytest.approx(0.075)
    assert m.diff_ci95 == pytest.approx(0.0, abs=1e-9) and not m.within_noise
    md = comparison_markdown(list(got.values()), "fp32", "bf16")
    assert "| D | random | mean_accuracy | 3 | 0.6250 |" in md and "| no |" in md


@pytest.mark.slow
def test_benchmark_precision_script_end_to_end(idx_root, tmp_path):
    out = tmp_path / "precision"
    args = [
        "--precisions", "fp32,bf16",
        "--datasets", "MNIST",
        "--methods", "random",
        "--seeds", "0,1",
        "--budget", "20",
        "--initial-labeled", "10",
        "--acquisition-size", "5",
        "--subpool-size", "20",
        "--epochs", "2",
        "--scoring-size", "60",
        "--test-size", "60",
        "--data-dir", str(idx_root),
        "--no-plots",
        "--out", str(out),
    ]  # fmt: skip
    done = run_script("benchmark_precision.py", *args)
    assert done.returncode == 0, done.stderr
    for precision in ("fp32", "bf16"):
        saved = json.loads((out / precision / "config.json").read_text())["env"]
        assert saved["precision"] == precision
        assert len(read_csv(out / precision / "curves.csv")) == 2 * 3  # 2 seeds x 3 points
    body = json.loads((out / "precision.json").read_text())
    assert body["reference"] == "fp32"
    assert {(c["method"], c["metric"], c["n_pairs"]) for c in body["comparisons"]["bf16"]} == {
        ("random", "mean_accuracy", 2),
        ("random", "acc@20", 2),
    }
    assert "| MNIST | random | mean_accuracy | 2 |" in (out / "bf16_vs_fp32.md").read_text()
    merged = {r["method"] for r in read_csv(out / "curves.csv")}
    assert merged == {"random", "random [bf16]"}
    assert (out / "summary.md").is_file()

    again = run_script("benchmark_precision.py", *args)
    assert again.returncode == 0 and len(read_csv(out / "bf16" / "curves.csv")) == 6

    bad = run_script("benchmark_precision.py", "--precisions", "fp32,fp8")
    assert bad.returncode == 2 and "unknown precision" in bad.stderr
    one = run_script("benchmark_precision.py", "--precisions", "fp32")
    assert one.returncode == 2 and "two distinct" in one.stderr
