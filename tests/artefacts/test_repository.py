"""The repository stays light: tracked results keep what a reader or a test needs (curves,
summaries, plots, policies, configs, logs, held-out sets), under a size budget, and never what
a finished run regenerates (demonstrations, checkpoints, TensorBoard events)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

#: Budget of all tracked files under results/ together, and of any one of them. Every paired
#: study adds its curves (each method's 20-seed sweep is about 40 kB per dataset) plus a merged
#: copy for its summary (the merged copies, with their plots, make a study 0.5-1.5 MB; 40 MiB
#: leaves room for several more); the total guards against run artefacts (checkpoints, replay
#: buffers, SAC snapshots of several MB each), which the per-file budget alone does not catch.
RESULTS_BUDGET_BYTES = 40 * 2**20
FILE_BUDGET_BYTES = 5 * 2**20
#: What a finished run regenerates (see .gitignore and results/cpu/dagger/README.md).
REGENERATED = re.compile(r"(^|/)demos/|(^|/)checkpoint\.(pt|zip)$|events\.out\.tfevents\.")


def _tracked(folder: str) -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout (the budget is on tracked files)")
    out = subprocess.run(
        ["git", "ls-files", "-z", folder], cwd=ROOT, capture_output=True, check=True
    ).stdout
    return [p for p in out.decode().split("\0") if p]


def test_tracked_results_stay_under_the_size_budget():
    files = _tracked("results")
    assert files, "results/ holds no tracked file"
    sizes = {p: (ROOT / p).stat().st_size for p in files if (ROOT / p).exists()}
    too_big = {p: s for p, s in sizes.items() if s > FILE_BUDGET_BYTES}
    assert not too_big, f"tracked result files over {FILE_BUDGET_BYTES} bytes: {too_big}"
    total = sum(sizes.values())
    assert total <= RESULTS_BUDGET_BYTES, (
        f"tracked results take {total / 2**20:.1f} MiB, over the {RESULTS_BUDGET_BYTES / 2**20:.0f}"
        " MiB budget: commit curves, summaries, plots, policies, configs and logs, not what a"
        " run regenerates"
    )


def test_what_a_finished_run_regenerates_is_not_tracked():
    regenerated = [p for p in _tracked("results") if REGENERATED.search(p)]
    assert not regenerated, f"untrack these (git rm --cached): {regenerated[:5]}"


def test_gitignore_keeps_regenerated_run_files_out_of_results():
    """A new run copied into results/ cannot bring its demonstrations or checkpoints along."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout")
    paths = [
        "results/x/run/demos/round-000/a.npz",
        "results/x/run/checkpoint.pt",
        "results/x/run/checkpoint.zip",
        "results/x/run/logs/events.out.tfevents.1.host.0",
    ]
    kept = ["results/x/run/policy.zip", "results/x/run/log.csv", "results/x/run/heldout.npz"]
    proc = subprocess.run(
        ["git", "check-ignore", "--no-index", *paths, *kept],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert set(proc.stdout.split()) == set(paths)
