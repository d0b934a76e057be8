"""The speed benchmark script: its statistics, and a tiny real run end to end on the CPU."""

from __future__ import annotations

import importlib
import json

import pytest

from tests.conftest import run_script


def _load_benchmark():
    return importlib.import_module("agents.cli.benchmark_speed")


def _timing(mode: str, rep: int, total: float, labeled: int = 20) -> dict:
    return {
        "device": "cpu",
        "labeled": labeled,
        "mode": mode,
        "repeat": rep,
        "oracle_s": total / 4,
        "step_s": total * 3 / 4,
        "total_s": total,
        "flops": 1e12,
    }


def test_summary_uses_medians_and_reports_the_worst_paired_ratio():
    bench = _load_benchmark()
    timings = [
        _timing("sequential", 0, 10.0),
        _timing("batched", 0, 9.0),
        _timing("sequential", 1, 12.0),
        _timing("batched", 1, 12.6),
        _timing("sequential", 2, 11.0),
        _timing("batched", 2, 8.0),
    ]
    rows = {r["mode"]: r for r in bench.summarize_cells(timings)}
    seq, bat = rows["sequential"], rows["batched"]
    assert (seq["total_s"], seq["total_min_s"], seq["total_max_s"]) == (11.0, 10.0, 12.0)
    assert "ratio_over_sequential" not in seq
    assert bat["total_s"] == 9.0 and bat["repeats"] == 3
    assert bat["ratio_over_sequential"] == pytest.approx(9.0 / 11.0)
    assert bat["worst_paired_ratio"] == pytest.approx(12.6 / 12.0)  # repeat 1 pairs 12.6 with 12
    assert bat["flop_per_s"] == pytest.approx(1e12 / 9.0)
    # one paper episode: the line through 20 and 1000 labels at 510, times 98 calls
    big = [_timing(m, 0, 50.0, labeled=1000) for m in ("sequential", "batched")]
    episode = bench.extrapolate(bench.summarize_cells(timings + big))["cpu/sequential"]
    assert episode["episode_s"] == pytest.approx((11.0 + (50.0 - 11.0) / 980 * 490) * 98)


def test_forward_flops_of_the_paper_classifier():
    from iale_env import ClassifierSpec

    # conv1 1->32 @4x4 on 28x28 -> 25x25; conv2 32->32 @4x4 -> 22x22; pool 11x11; 3872->128->10
    macs = 16 * 32 * 625 + 32 * 16 * 32 * 484 + 3872 * 128 + 128 * 10
    assert ClassifierSpec().forward_flops() == 2 * macs


@pytest.mark.slow
def test_benchmark_runs_on_the_cpu_and_writes_json(idx_root, tmp_path):
    out = tmp_path / "bench.json"
    args = [
        "--labeled", "10,20",
        "--modes", "sequential,batched",
        "--repeats", "2",
        "--epochs", "1",
        "--test-size", "40",
        "--scoring-size", "40",
        "--subpool-size", "20",
        "--data-dir", str(idx_root),
        "--out", str(out),
    ]  # fmt: skip
    done = run_script("benchmark_speed.py", *args)
    assert done.returncode == 0, done.stderr
    body = json.loads(out.read_text())
    assert len(body["timings"]) == 2 * 2 * 2
    assert all(t["total_s"] > 0 and t["flops"] > 0 for t in body["timings"])
    cells = {(r["labeled"], r["mode"]): r for r in body["rows"]}
    assert set(cells) == {(n, m) for n in (10, 20) for m in ("sequential", "batched")}
    assert cells[(20, "batched")]["ratio_over_sequential"] > 0
    assert set(body["extrapolation"]) == {"cpu/sequential", "cpu/batched"}
    assert "| cpu | 20 | batched | 2 |" in done.stdout

    bad = run_script("benchmark_speed.py", "--modes", "fast")
    assert bad.returncode == 2 and "unknown mode" in bad.stderr
    missing = run_script("benchmark_speed.py", "--data-dir", str(tmp_path / "none"))
    assert missing.returncode == 1 and "could not load MNIST" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_step_benchmark_times_every_piece_with_the_old_and_new_settings(tiny_data):
    from agents.cli import benchmark_step as bench
    from iale_env import ALConfig, inference
    from tests.conftest import TINY

    base = ALConfig(**TINY)
    settings = bench.old_and_new(base, "cpu")
    assert settings["old"][1].rewards and not settings["new"][1].rewards
    before = dict(inference.EVAL_CHUNK)
    with settings["old"][0]:
        assert set(inference.EVAL_CHUNK["cpu"].values()) == {bench.OLD_CHUNK}
        old = bench.time_pieces(settings["old"][1], tiny_data, labeled_steps=1, seed=0)
    assert inference.EVAL_CHUNK == before  # restored
    assert set(old) == {"fit_M", "scoring_accuracy", "test_accuracy", "state", "oracle"}
    assert all(v >= 0 for v in old.values())
    episode = bench.time_episode(settings["new"][1], tiny_data, "random", 0, steps=2)
    assert episode["steps"] == 2 and 0 <= episode["final"] <= 1  # the curve keeps its points
    rows = bench.chunk_table(tiny_data, ["cpu"], repeats=1)
    assert {r["arch"] for r in rows} == {"cnn", "mlp"} and all(r["seconds"] > 0 for r in rows)
