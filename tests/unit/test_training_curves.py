"""The training curves of RL runs, read from SB3's progress logs of a resumed run."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.cli.plot_training import main
from agents.evaluation.training_curves import (
    curves_from_rows,
    read_training_curve,
)
from agents.runs.files import read_csv

HEADER = "time/fps,time/total_timesteps,rollout/ep_rew_mean\n"


def _run(folder: Path, files: dict[int, list[tuple[int, str]]]) -> Path:
    (folder / "logs").mkdir(parents=True)
    for start, rows in files.items():
        text = HEADER + "".join(f"5,{steps},{ret}\n" for steps, ret in rows)
        (folder / "logs" / f"progress-{start}.csv").write_text(text)
    (folder / "logs" / "events.out.tfevents.1.vm").write_text("not a progress file")
    return folder


def test_a_resumed_runs_logs_join_and_the_resume_replaces_what_the_kill_lost(tmp_path):
    run = _run(
        tmp_path / "ppo",
        {
            # 54: logged before the update whose checkpoint the resume starts from, 72: lost
            0: [(18, ""), (36, "0.25"), (54, "0.26"), (72, "0.27")],
            54: [(72, "0.30"), (90, "0.31")],  # numeric order: 54 before 540
            540: [(558, "0.40")],
            900: [],  # a start killed before its first row: no header
        },
    )
    (run / "logs" / "progress-900.csv").write_text("")
    assert read_training_curve(run) == [(36, 0.25), (54, 0.26), (72, 0.30), (90, 0.31), (558, 0.40)]


def test_the_script_writes_the_table_and_figure_and_the_table_reads_back(tmp_path):
    a = _run(tmp_path / "a", {0: [(18, "0.2"), (36, "0.1234567")]})
    b = _run(tmp_path / "b", {0: [(180, "0.3")]})
    assert main([f"a2c={a}", f"ppo={b}", "--out", str(tmp_path / "out")]) == 0
    rows = read_csv(tmp_path / "out" / "training.csv")
    assert curves_from_rows(rows) == {"a2c": [(18, 0.2), (36, 0.123457)], "ppo": [(180, 0.3)]}
    assert {r["agent"]: r["run"] for r in rows} == {"a2c": a.as_posix(), "ppo": b.as_posix()}
    assert (tmp_path / "out" / "training.png").stat().st_size > 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["{tmp}/a"], "LABEL=RUN_FOLDER"),
        (["x={tmp}/nowhere"], "has no progress-<timestep>.csv files"),
        (["x={tmp}/a", "x={tmp}/a"], "given twice"),
    ],
)
def test_bad_runs_are_one_line_errors(args, message, tmp_path, capsys):
    _run(tmp_path / "a", {0: [(18, "0.2")]})
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main([*args, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "out").exists()  # nothing written


def test_a_progress_file_without_sb3s_columns_is_refused(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "progress-0.csv").write_text("steps,return\n1,2\n")
    with pytest.raises(ValueError, match="lacks SB3's columns"):
        read_training_curve(tmp_path)
