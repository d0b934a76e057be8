"""The committed results are data the code produced: every summary, README/docs results block,
imitability and decision table and oracle-noise summary is recomputed from the raw files
committed next to it (curves, pairs, decisions, held-out sets)."""

from __future__ import annotations

import importlib
import json

import pytest

from agents.evaluation import (
    CURVES_CSV,
    read_csv,
)
from agents.evaluation.summary import summarize
from tests.conftest import ROOT

pytestmark = pytest.mark.filterwarnings("ignore:MNIST:UserWarning")


RESULTS = sorted((ROOT / "results").glob("**/summary.csv"))


@pytest.mark.parametrize("summary_csv", RESULTS, ids=[str(p.parent.name) for p in RESULTS])
def test_committed_summaries_are_recomputed_from_their_curves(summary_csv, tmp_path):
    """No number of a committed summary can be edited by hand: ``summary.csv`` and
    ``summary.md`` equal what the code computes from the committed ``curves.csv`` (and
    ``overlap.csv``) next to them."""
    from agents.evaluation.report import write_report

    folder = summary_csv.parent
    assert read_csv(folder / CURVES_CSV), f"{folder} has a summary but no curves"
    write_report(folder, tmp_path, plots=False)  # plot.py's defaults
    for name in ("summary.csv", "summary.md"):
        assert (tmp_path / name).read_text() == (folder / name).read_text(), name


def test_the_readme_results_are_generated_from_committed_curves():
    """The results tables of README.md and docs/results.md equal what plot.py --readme computes
    from the committed curves.csv of the folder each one names (relative to its page), and every
    relative link of both pages resolves."""
    import re

    from agents.evaluation.report import readme_blocks, results_markdown

    pages = {page: readme_blocks(ROOT / page) for page in ("README.md", "docs/results.md")}
    assert "results/cpu/final" in pages["README.md"]
    assert "../results/cpu/final_kmnist" in pages["docs/results.md"]
    for page, blocks in pages.items():
        base = (ROOT / page).parent
        for folder, body in blocks.items():
            summary = summarize(read_csv(base / folder / CURVES_CSV))
            assert body == results_markdown(summary, folder), (page, folder)
        text = (ROOT / page).read_text()
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if "://" not in target:
                assert (base / target).exists(), (page, target)


def test_the_protocol_table_in_the_docs_is_the_one_the_committed_sweeps_give():
    """docs/protocol.md's candidate table is recomputed from results/cpu/protocol/*."""
    folders = sorted((ROOT / "results" / "cpu" / "protocol").glob("b*_e*"))
    if not folders:
        pytest.skip("no committed protocol sweeps")
    table = importlib.import_module("agents.cli.protocol_table").table(
        sorted(folders, key=lambda f: (int(f.name[1:].split("_")[0]), f.name))
    )
    assert table in (ROOT / "docs" / "protocol.md").read_text()


#: Committed imitability tables -> (the pairs or run they were computed from, its score columns).
IMITABILITY_SOURCES = {
    "table_b150": ("results/cpu/imitability/oracle_pairs_b150.npz", ()),
    "table_scores_r4": ("results/cpu/dagger/iale_mnist_scores", ("mc_dropout", "ensemble")),
}


@pytest.mark.dagger
def test_committed_imitability_tables_match_their_pairs():
    """The one-statistic rows of the committed tables are recomputed from the committed pairs
    (or run folder) they were computed from, and docs/imitability.md shows them verbatim."""
    from agents.dagger import agreement
    from agents.diagnostics.imitability import load_heldout, statistic_scores, top_k

    folder = ROOT / "results" / "cpu" / "imitability"
    doc = (ROOT / "docs" / "imitability.md").read_text()
    tables = sorted(folder.glob("table_*.md"))
    assert len(tables) >= 3
    for table in tables:
        source, columns = next(
            v for k, v in IMITABILITY_SOURCES.items() if table.name.startswith(k)
        )
        held_s, held_a = load_heldout(ROOT / source)
        scores = statistic_scores(held_s, state_scores=columns)
        text = table.read_text()
        assert text in doc, table.name
        for name, s in scores.items():
            value = agreement(top_k(s, 10), held_a)
            assert f"| {name} (one statistic of the state) | 0 |" in text
            assert f"| {value:.3f} |" in text.split(name, 1)[1].splitlines()[0]


#: Committed tables of the oracle's decisions -> the run folder they were computed from.
DECISION_SOURCES = {
    "decisions_scores_": "results/cpu/imitability/decisions_iale_mnist_scores.npz",
    "decisions_paper_state_": "results/cpu/imitability/decisions_iale_mnist.npz",
    "decisions_top3_": "results/fast/imitability/decisions_top3_soft.npz",
}


@pytest.mark.dagger
def test_committed_decision_tables_match_their_runs():
    """Each committed table of the oracle's decisions is recomputed from the committed decisions
    of its run (exported with --export-decisions; the table's first N rounds), and
    docs/imitability.md shows it verbatim."""
    import re

    from agents.diagnostics.decisions import decisions_markdown, oracle_decisions

    doc = (ROOT / "docs" / "imitability.md").read_text()
    tables = sorted((ROOT / "results").glob("*/imitability/decisions_*.md"))
    assert len(tables) == len(DECISION_SOURCES)
    for table in tables:
        run = next(v for k, v in DECISION_SOURCES.items() if table.name.startswith(k))
        text = table.read_text()
        rounds = int(re.search(r"\| states \(rounds\) \| \d+ \((\d+)\) \|", text).group(1))
        assert decisions_markdown(oracle_decisions(ROOT / run, rounds)) == text, table.name
        assert text in doc, table.name


@pytest.mark.dagger
def test_committed_selectors_are_fitted_from_the_committed_decisions_they_name():
    """Each committed selector.json is what train_selector.py fits to the decisions file its
    config.json names, and its config.json holds the state of the run those decisions come
    from."""
    import numpy as np

    from agents.diagnostics.decisions import oracle_decisions
    from agents.selector import ExpertSelector, fit_conditional_logit

    files = sorted((ROOT / "results").glob("*/selector/*/selector.json"))
    assert files
    for file in files:
        config = json.loads(file.with_name("config.json").read_text())
        fit = config["selector"]
        decisions = oracle_decisions(ROOT / fit["source"], fit["rounds"])
        model = fit_conditional_logit(decisions.selections, decisions.winners, fit["l2"])
        saved = ExpertSelector.load(file)
        assert saved.experts == decisions.experts and fit["states"] == len(decisions.winners)
        for name in ("mean", "std", "weights", "intercepts"):
            np.testing.assert_allclose(getattr(saved.model, name), getattr(model, name), rtol=1e-9)
        assert set(config["env"]["state_scores"]) >= set(saved.experts) - {"margin", "entropy"}


def test_committed_oracle_noise_summaries_match_their_csv():
    """Every committed measurement's summary.md (the ``cpu`` protocol's and the fast track's) is
    recomputed from its oracle_noise.csv, and docs/imitability.md shows it verbatim."""
    from agents.cli.oracle_noise import NOISE_CSV, SUMMARY
    from agents.diagnostics.oracle_noise import noise_markdown
    from agents.evaluation import read_csv
    from tests.conftest import ROOT

    folders = sorted((ROOT / "results").glob("*/oracle_noise/*/"))
    assert {f.parent.parent.name for f in folders} == {"cpu", "fast"}
    doc = (ROOT / "docs" / "imitability.md").read_text()
    for folder in folders:
        env = json.loads((folder / "config.json").read_text())["env"]
        table = noise_markdown(read_csv(folder / NOISE_CSV), env.get("oracle_seeds", 1))
        assert (folder / SUMMARY).read_text() == table, folder.name
        assert table in doc, folder.name


def test_committed_oracle_labels_summaries_match_their_csv():
    """Every committed oracle_labels.py summary is recomputed from its CSV, and
    docs/imitability.md shows it verbatim."""
    from agents.cli.oracle_labels import LABELS_CSV, SUMMARY
    from agents.diagnostics.oracle_labels import labels_markdown

    folders = sorted((ROOT / "results").glob("*/oracle_labels/*/"))
    assert folders
    doc = (ROOT / "docs" / "imitability.md").read_text()
    for folder in folders:
        table = labels_markdown(read_csv(folder / LABELS_CSV))
        assert (folder / SUMMARY).read_text() == table, folder.name
        assert table in doc, folder.name


EFFICIENCY = sorted((ROOT / "results").glob("**/efficiency.csv"))


@pytest.mark.parametrize("table", EFFICIENCY, ids=[str(p.parent.name) for p in EFFICIENCY])
def test_committed_sample_efficiency_tables_are_recomputed_from_their_curves(table, tmp_path):
    """``efficiency.csv``/``.md`` (plot_efficiency.py) equal what the code computes from the
    ``curves.csv`` of the runs beside them."""
    from agents.evaluation.efficiency import (
        efficiency_markdown,
        efficiency_points,
        write_efficiency_csv,
    )

    points, refs = efficiency_points(read_csv(table.parent / CURVES_CSV))
    assert points, f"{table.parent} has no <agent>_<steps> runs"
    write_efficiency_csv(points, tmp_path / "efficiency.csv")
    assert (tmp_path / "efficiency.csv").read_text() == table.read_text()
    md = table.with_suffix(".md").read_text()
    assert efficiency_markdown(points, refs) == md


TRAINING = sorted((ROOT / "results").glob("**/training.csv"))


@pytest.mark.parametrize("table", TRAINING, ids=[str(p.parent.name) for p in TRAINING])
def test_committed_training_curves_are_recomputed_from_their_runs_logs(table):
    """``training.csv`` (plot_training.py) equals what the code reads from the committed logs
    of the runs it names (folders relative to the repository root)."""
    from agents.evaluation.training_curves import read_training_curve, training_rows

    rows = read_csv(table)
    runs = {}
    for r in rows:  # each agent's run folder, agents in order of first appearance
        runs.setdefault(r["agent"], r["run"])
    assert runs, f"{table} is empty"
    curves = {agent: read_training_curve(ROOT / run) for agent, run in runs.items()}
    assert training_rows(curves, runs) == rows


def test_a_restart_of_the_sac_run_logged_what_the_committed_run_logged():
    """``results/fast/rl/fast_sac_50k/restart``: the same command and config, restarted from
    nothing, logged the committed run's SB3 log row for row (every value but the wall clock's),
    so the committed 20,000 steps are the start of any rerun of the 50,000."""
    run = ROOT / "results" / "fast" / "rl" / "fast_sac_50k"
    assert json.loads((run / "restart" / "config.json").read_text()) == json.loads(
        (run / "config.json").read_text()
    )
    restart = read_csv(run / "restart" / "progress-0.csv")
    committed = read_csv(run / "logs" / "progress-0.csv")
    assert len(restart) > 200 and len(committed) >= len(restart)

    def logged(row: dict) -> dict:  # every column but the wall clock's
        return {
            k: v for k, v in row.items() if not k.startswith("time/") or k.endswith("timesteps")
        }

    for a, b in zip(restart, committed):
        assert logged(a) == logged(b)


def test_committed_value_scores_are_recomputed_from_their_states():
    """Every committed score_value.py table (``scores.csv``, ``scores.md``) is recomputed from
    the ``states.csv`` beside it, and docs/beyond_paper.md shows the table verbatim."""
    from agents.runs.files import file_sha256, read_json
    from agents.values.report import report_markdown, summarize_report

    folders = sorted(p.parent for p in (ROOT / "results").glob("**/scores.md"))
    assert folders
    doc = (ROOT / "docs" / "beyond_paper.md").read_text()
    for folder in folders:
        summary = summarize_report(read_csv(folder / "states.csv"))
        saved = read_csv(folder / "scores.csv")
        assert [r["quantity"] for r in saved] == [r["quantity"] for r in summary]
        for got, want in zip(saved, summary):
            assert float(got["mean"]) == pytest.approx(want["mean"], abs=1e-12), folder.name
            assert float(got["ci"]) == pytest.approx(want["ci"], abs=1e-12), folder.name
        config = read_json(folder / "config.json")
        assert file_sha256(ROOT / config["fit"] / "policy.zip") == config["policy_sha256"]
        title = f"{config['fit'].rsplit('/', 1)[-1]} on {config['dataset']}"
        table = report_markdown(summary, title)
        assert (folder / "scores.md").read_text() == table, folder.name
        assert table in doc, folder.name
