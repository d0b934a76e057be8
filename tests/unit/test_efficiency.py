"""The sample-efficiency table: policies kept along training, by agent and AL steps, against
random and the best heuristic on paired seeds."""

from __future__ import annotations

import math

import pytest

from agents.cli.plot_efficiency import main as plot_efficiency_main
from agents.evaluation.efficiency import collect_runs, efficiency_points
from agents.evaluation.metrics import mean_ci


def _run(method: str, seed: int, accs: list[float], key: str | None = None, ds: str = "D"):
    """The curves.csv rows of one finished run (labeled 20, 30, ...)."""
    return [
        {
            "dataset": ds,
            "method": method,
            "seed": str(seed),
            "step": str(i),
            "labeled": str(20 + 10 * i),
            "test_accuracy": str(a),
            "scoring_accuracy": "nan",
            "step_seconds": "0.1",
            "run_seconds": "1.0",
            "pairing_key": key or f"k{seed}",
            "points": str(len(accs)),
        }
        for i, a in enumerate(accs)
    ]


def _sweep(offsets: dict[str, float], seeds=(0, 1, 2)) -> list[dict[str, str]]:
    rows = []
    for method, off in offsets.items():
        for s in seeds:
            rows += _run(method, s, [0.5 + off + 0.01 * s, 0.6 + off + 0.01 * s])
    return rows


def test_points_are_paired_against_random_and_the_best_heuristic():
    rows = _sweep({"random": 0.0, "margin": 0.03, "entropy": 0.01, "ppo_500": -0.01})
    rows += _sweep({"ppo_5000": 0.04, "dagger_90": 0.02, "oracle@all": 0.1})
    points, refs = efficiency_points(rows)
    assert [(p.agent, p.steps) for p in points] == [("dagger", 90), ("ppo", 500), ("ppo", 5000)]
    assert [r.method for r in refs] == ["random", "margin"]  # the best heuristic, not the oracle
    ppo = points[2]
    assert ppo.best_heuristic == "margin" and ppo.seeds == 3
    assert ppo.vs_random == pytest.approx(0.04) and ppo.vs_best == pytest.approx(0.01)
    assert ppo.vs_best_ci95 == pytest.approx(0.0, abs=1e-9)  # the same shift on every seed
    means = [0.55 + 0.04 + 0.01 * s for s in range(3)]
    assert (ppo.mean_accuracy, ppo.ci95) == pytest.approx(mean_ci(means))


def test_collect_runs_renames_filters_and_refuses_unpaired_or_conflicting_runs():
    a = _run("random", 0, [0.5, 0.6]) + _run("iale_all7", 0, [0.5, 0.7]) + _run("oracle", 0, [1, 1])
    rows = collect_runs([("a", a)], aliases={"iale_all7": "dagger_720"})
    assert {r["method"] for r in rows} == {"random", "dagger_720"}  # no oracle: not read
    assert collect_runs([("a", a)], datasets=["other"]) == []
    torn = {"dataset": "D", "method": "rand", "seed": None}  # a write cut short (csv's None)
    assert collect_runs([("t", [*a, torn])]) == collect_runs([("a", a)])
    unfinished = _run("ppo_10", 0, [0.5, 0.6])[:1]
    assert collect_runs([("u", unfinished)]) == []
    with pytest.raises(ValueError, match="not paired"):
        collect_runs([("a", a), ("b", _run("ppo_10", 0, [0.5, 0.6], key="other"))])
    with pytest.raises(ValueError, match="differs between a and b"):
        collect_runs([("a", a), ("b", _run("random", 0, [0.5, 0.61]))])
    twice = collect_runs([("a", a), ("again", a)], aliases={"iale_all7": "dagger_720"})
    assert twice == rows  # the same run in two sweeps counts once


def test_the_command_writes_the_figure_and_keeps_earlier_runs(tmp_path, capsys):
    from agents.evaluation.sweep_files import CURVE_FIELDS
    from agents.runs.files import read_csv, rewrite_csv

    first, second, out = tmp_path / "first", tmp_path / "second", tmp_path / "out"
    for folder, rows in (
        (first, _sweep({"random": 0.0, "margin": 0.03, "iale_all7": 0.01})),
        (second, _sweep({"a2c_100": 0.0, "a2c_1000": 0.02})),
    ):
        folder.mkdir()
        rewrite_csv(folder / "curves.csv", CURVE_FIELDS, rows)
    argv = [str(first), "--out", str(out), "--alias", "iale_all7=dagger_720"]
    assert plot_efficiency_main(argv) == 0
    assert plot_efficiency_main([str(second), "--out", str(out)]) == 0  # adds to the first
    table = read_csv(out / "efficiency.csv")
    assert [(r["agent"], r["steps"]) for r in table] == [
        ("a2c", "100"),
        ("a2c", "1000"),
        ("dagger", "720"),
    ]
    assert (out / "efficiency.png").stat().st_size > 0
    assert "| a2c | 1000 | 3 |" in (out / "efficiency.md").read_text()
    assert plot_efficiency_main([str(second), "--out", str(out), "--alias", "x"]) == 2
    twice = ["--alias", "a_1=b_1", "--alias", "a_1=c_1"]  # which one was meant? refused
    assert plot_efficiency_main([str(second), "--out", str(out), *twice]) == 2
    assert "'a_1' is given twice ('b_1' and 'c_1')" in capsys.readouterr().err
    assert not math.isnan(float(table[2]["vs_best"]))
