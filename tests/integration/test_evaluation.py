"""The evaluation harness: paired runs, resume, summary statistics, plots, the scripts."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from agents.evaluation import (
    CURVES_CSV,
    OVERLAP_CSV,
    EvalConfig,
    evaluate,
    merge_sweeps,
    parse_method,
    read_csv,
)
from agents.evaluation.metrics import mean_ci
from agents.evaluation.report import write_report
from agents.evaluation.summary import summarize, summary_markdown
from iale_env import ALConfig
from tests.conftest import TINY, curve_rows, run_script

pytestmark = pytest.mark.filterwarnings("ignore:MNIST:UserWarning")


def _sweep(idx_root, methods, seeds=(0, 1), **env) -> EvalConfig:
    cfg = ALConfig(**{**TINY, "data_dir": str(idx_root), **env})
    return EvalConfig(("MNIST",), tuple(methods), seeds, cfg, ("random", "mc_dropout"))


def test_parse_method_forms_and_errors(policy_dir):
    assert parse_method("mc_dropout@pool").pool and parse_method("coreset").expert == "coreset"
    spec = parse_method(f"mine=iale:{policy_dir}")
    assert (spec.label, spec.family, spec.path) == ("mine", "iale", str(policy_dir / "policy.zip"))
    for bad, match in [
        ("dropout", "unknown method"),
        ("mc_dropout@all", "unknown method"),
        ("dqn:x", "unknown policy family"),
        ("iale:/nowhere", "no trained policy"),
    ]:
        with pytest.raises(ValueError, match=match):
            parse_method(bad)
    with pytest.raises(ValueError, match="unique"):
        EvalConfig(("MNIST",), ("random", "random"))


def test_a_policy_is_evaluated_only_on_the_classifier_it_was_trained_on(policy_dir):
    """The MLP's and the CNN's states have the same width: without the check a fast-track
    policy would run on the CNN's embeddings, silently."""
    import json

    from iale_env import ALConfig

    (policy_dir / "config.json").write_text(json.dumps({"env": {"classifier": "mlp"}}))
    methods = ("random", f"fast=iale:{policy_dir}")
    EvalConfig(("MNIST",), methods, env=ALConfig(classifier="mlp"))  # its own: fine
    with pytest.raises(ValueError, match="fast was trained on the mlp classifier's states"):
        EvalConfig(("MNIST",), methods, env=ALConfig())


def test_a_classifier_transfer_runs_when_asked_and_is_recorded(idx_root, policy_dir, tmp_path):
    """``--classifier-transfer``: an MLP-trained policy runs on the CNN's states, the sweep's
    config.json says so (through a resume, an extension without the flag and a merge), a
    resume of it without the flag is refused before any run, and the flag is refused where
    nothing transfers."""
    (policy_dir / "config.json").write_text(json.dumps({"env": {"classifier": "mlp"}}))
    methods = (f"fast=iale:{policy_dir}",)
    env = ALConfig(**{**TINY, "data_dir": str(idx_root)})
    transfer = EvalConfig(("MNIST",), methods, (0,), env, (), classifier_transfer=True)
    sweep = tmp_path / "sweep"
    rows = evaluate(transfer, sweep, log=None)
    assert {r["method"] for r in rows} == {"fast"} and len(rows) == 7

    def recorded() -> dict:
        return json.loads((sweep / "config.json").read_text())

    assert recorded()["classifier_transfer"] is True and recorded()["env"]["classifier"] is None
    curves = (sweep / CURVES_CSV).read_text()
    assert evaluate(transfer, sweep, log=None) and (sweep / CURVES_CSV).read_text() == curves
    evaluate(EvalConfig(("MNIST",), ("random",), (0,), env, ()), sweep, log=None)  # extended
    assert recorded()["classifier_transfer"] is True
    merge_sweeps([sweep], tmp_path / "merged")  # a merge keeps the record
    assert json.loads((tmp_path / "merged" / "config.json").read_text())["classifier_transfer"]
    curves = (sweep / CURVES_CSV).read_text()
    proc = run_script(
        "evaluate.py", "--preset", "cpu", "--methods", methods[0], "--out", str(sweep)
    )
    assert proc.returncode == 2 and "--classifier-transfer" in proc.stderr
    assert (sweep / CURVES_CSV).read_text() == curves
    with pytest.raises(ValueError, match="no learned method of this sweep was trained on"):
        EvalConfig(("MNIST",), ("random",), (0,), env, (), classifier_transfer=True)


@pytest.mark.slow
def test_paired_runs_share_split_initial_set_and_first_accuracy(idx_root, policy_dir, tmp_path):
    methods = ["random", "mc_dropout", "ensemble", "coreset@pool", f"iale:{policy_dir}"]
    rows = evaluate(_sweep(idx_root, methods), tmp_path, log=None)
    for seed in ("0", "1"):
        first = [r for r in rows if r["seed"] == seed and r["step"] == "0"]
        assert len(first) == len(methods)
        assert len({r["pairing_key"] for r in first}) == 1
        assert len({r["test_accuracy"] for r in first}) == 1
        assert {r["labeled"] for r in first} == {"10"}
    keys = {s: {r["pairing_key"] for r in rows if r["seed"] == s} for s in ("0", "1")}
    assert keys["0"].isdisjoint(keys["1"])
    # every curve runs to the budget, one point per acquisition, the last one at the budget
    for m in methods:
        label = parse_method(m).label
        labs = [int(r["labeled"]) for r in rows if r["method"] == label and r["seed"] == "0"]
        assert labs == [10, 15, 20, 25, 30, 35, 40]
    # selections differ: not every method has the same final accuracy on every seed
    finals = {(r["method"], r["seed"]): r["test_accuracy"] for r in rows if r["labeled"] == "40"}
    assert len(set(finals.values())) > 1
    overlap = read_csv(tmp_path / OVERLAP_CSV)
    assert {r["method"] for r in overlap} == {"iale"}
    assert {r["heuristic"] for r in overlap} == {"random", "mc_dropout"}
    assert len(overlap) == 2 * 6 * 2  # seeds x steps x heuristics
    assert all(0.0 <= float(r["overlap"]) <= 1.0 for r in overlap)


@pytest.mark.slow
def test_rerun_skips_finished_runs_and_resumes_a_killed_sweep(idx_root, tmp_path, monkeypatch):
    import agents.evaluation.sweep as ev

    calls = []
    real = ev.run_episode
    monkeypatch.setattr(
        ev, "run_episode", lambda *a, **k: calls.append(a[1].label) or real(*a, **k)
    )
    cfg = _sweep(idx_root, ["random", "margin"], seeds=(0,))
    evaluate(cfg, tmp_path, log=None)
    assert calls == ["random", "margin"]
    text = (tmp_path / CURVES_CSV).read_text()
    evaluate(cfg, tmp_path, log=None)
    assert calls == ["random", "margin"] and (tmp_path / CURVES_CSV).read_text() == text
    # a kill in the middle of writing the last run: its rows are torn
    lines = text.splitlines(keepends=True)
    (tmp_path / CURVES_CSV).write_text("".join(lines[:-3]) + lines[-3][:10])
    evaluate(cfg, tmp_path, log=None)
    assert calls == ["random", "margin", "margin"]
    stable = ["method", "seed", "labeled", "test_accuracy", "pairing_key"]
    rerun = [[r[k] for k in stable] for r in read_csv(tmp_path / CURVES_CSV)]
    original = [line.split(",") for line in text.splitlines()[1:]]
    assert rerun == [[o[1], o[2], o[4], o[5], o[9]] for o in original]  # same results, no dupes
    # extending the sweep runs only the new runs; other env settings are refused
    evaluate(_sweep(idx_root, ["random", "margin", "entropy"], seeds=(0,)), tmp_path, log=None)
    assert calls[-1] == "entropy" and len(calls) == 4
    # a sweep written before a setting existed resumes (the setting counts as its default)
    saved = json.loads((tmp_path / "config.json").read_text())
    del saved["env"]["precision"]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    evaluate(_sweep(idx_root, ["random"], seeds=(0,)), tmp_path, log=None)
    assert len(calls) == 4
    with pytest.raises(ValueError, match="epochs"):
        evaluate(_sweep(idx_root, ["random"], seeds=(0,), epochs=4), tmp_path, log=None)


def _fixed_rows() -> list[dict[str, str]]:
    curves = {
        ("random", 0): [0.5, 0.6, 0.7],
        ("random", 1): [0.4, 0.6, 0.8],
        ("random", 2): [0.6, 0.7, 0.7],
        ("m", 0): [0.5, 0.7, 0.8],
        ("m", 1): [0.4, 0.7, 0.9],
        ("m", 2): [0.6, 0.8, 0.8],
    }
    return curve_rows(curves)


def test_summary_statistics_match_hand_computed_values():
    t2 = 4.302652729911275  # Student t, 97.5% quantile, 2 degrees of freedom
    s = {(r.method, r.metric): r for r in summarize(_fixed_rows(), checkpoints=(40, 100))}
    # mean accuracy = trapezoid area / 80 = (a0 + 2 a1 + a2) / 4: random 0.6, 0.6, 0.675
    r = s[("random", "mean_accuracy")]
    assert r.mean == pytest.approx(0.625) and r.n == 3
    assert r.ci95 == pytest.approx(t2 * 0.025)  # sd = 0.0433, sem = 0.025
    assert math.isnan(r.diff_mean)
    # m: 0.675, 0.675, 0.75; paired differences are all 0.075, so the interval is 0
    m = s[("m", "mean_accuracy")]
    assert m.mean == pytest.approx(0.7) and m.diff_mean == pytest.approx(0.075)
    assert m.diff_ci95 == pytest.approx(0.0, abs=1e-12) and m.n_pairs == 3
    # acc@40 interpolates halfway between 20 and 60 labels: random 0.55, 0.5, 0.65
    assert s[("random", "acc@40")].mean == pytest.approx(0.5666666667)
    assert s[("m", "acc@100")].mean == pytest.approx(0.8333333333)
    assert s[("m", "acc@100")].diff_mean == pytest.approx(0.1)
    # default target = random's mean final accuracy 0.7333: random reaches it on seed 1 only
    tr, tm = s[("random", "labels_to_target")], s[("m", "labels_to_target")]
    assert tr.target == pytest.approx(0.7333333333) and (tr.n, tr.mean) == (1, 100.0)
    assert tm.n == 3 and tm.mean == pytest.approx((100 + 100 + 60) / 3)
    # an explicit target
    s2 = {(r.method, r.metric): r for r in summarize(_fixed_rows(), target=0.6)}
    assert s2[("random", "labels_to_target")].mean == pytest.approx((60 + 60 + 20) / 3)
    md = summary_markdown(summarize(_fixed_rows(), checkpoints=(100,)))
    assert "| m | 3 | 0.700 ± " in md and "0.075 ± 0.000" in md and "(1/3)" in md


def test_mean_ci_edge_cases():
    assert mean_ci([]) == (pytest.approx(float("nan"), nan_ok=True),) * 2
    mean, ci = mean_ci([0.3])
    assert mean == 0.3 and math.isnan(ci)
    assert mean_ci([1.0, 3.0])[1] == pytest.approx(12.706204736174698 * 1.0)


def test_report_writes_summary_and_plots(tmp_path):
    with (tmp_path / CURVES_CSV).open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(_fixed_rows()[0]))
        w.writeheader()
        w.writerows(_fixed_rows())
    with (tmp_path / OVERLAP_CSV).open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["dataset", "method", "seed", "step", "labeled", "heuristic", "overlap"])
        for seed in range(2):
            for step, lab in enumerate((20, 60)):
                w.writerow(["D", "m", seed, step, lab, "mc_dropout", 0.1 * (step + seed)])
    files = write_report(tmp_path, tmp_path / "report")
    names = {f.name for f in files}
    assert {"summary.md", "summary.csv", "curves_D.png", "overlap_D_m.png"} <= names
    for f in files:
        if f.suffix == ".png":
            assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f.stat().st_size > 10_000
    rows = read_csv(tmp_path / "report" / "summary.csv")
    assert {r["metric"] for r in rows} >= {"mean_accuracy", "acc@100", "labels_to_target"}
    # Fig. 5 in numbers: seed means over steps 0.05 and 0.15; t(1) = 12.706, sem = 0.05
    md = (tmp_path / "report" / "summary.md").read_text()
    assert "| method | seeds | mc_dropout |" in md and "| m | 2 | 0.100 ± 0.635 |" in md


@pytest.mark.slow
def test_scripts_evaluate_and_plot_end_to_end(idx_root, tmp_path):
    env = {"IALE_DATA_DIR": str(idx_root)}
    flags = "--budget 20 --initial-labeled 10 --acquisition-size 5 --subpool-size 20 --epochs 2 --scoring-size 60"
    methods = ["--datasets", "MNIST", "--methods"]
    args = [
        *methods,
        "random,entropy",
        "--seeds",
        "0,1",
        "--test-size",
        "60",
        *flags.split(),
        "--checkpoints",
        "15",
        "--out",
        str(tmp_path / "ev"),
    ]
    done = run_script("evaluate.py", *args, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "ev" / "curves_MNIST.png").exists()
    assert "| entropy | 2 |" in (tmp_path / "ev" / "summary.md").read_text()
    (tmp_path / "ev" / "curves_MNIST.png").unlink()
    assert run_script("plot.py", str(tmp_path / "ev"), env=env, timeout=120).returncode == 0
    assert (tmp_path / "ev" / "curves_MNIST.png").exists()
    bad = run_script("evaluate.py", *methods, "randm", env=env)
    assert bad.returncode == 2 and "unknown method 'randm'" in bad.stderr
    # a dataset too small for the protocol (KMNIST's 7,011 images here and a 10,000-image
    # scoring set): one line before any run, no folder written
    small = ["--scoring-size", "390", "--out", str(tmp_path / "small")]
    big = run_script("evaluate.py", *methods, "random", *flags.split(), *small, env=env)
    assert big.returncode == 2 and "Traceback" not in big.stderr
    assert "MNIST has 400 training images" in big.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "small" / CURVES_CSV).exists()
    # the one resume rule: how runs compute (precision, device) may change, the protocol not
    before = (tmp_path / "ev" / CURVES_CSV).read_text()
    bf16 = run_script("evaluate.py", *args, "--precision", "bf16", env=env)
    assert bf16.returncode == 0 and (tmp_path / "ev" / CURVES_CSV).read_text() == before
    longer = run_script("evaluate.py", *args, "--budget", "25", env=env)
    assert longer.returncode == 2 and "other env settings (env.budget)" in longer.stderr
    empty = run_script("plot.py", str(tmp_path), env=env)
    assert empty.returncode == 2 and "no finished runs" in empty.stderr
    assert np.isfinite(float(read_csv(tmp_path / "ev" / CURVES_CSV)[-1]["run_seconds"]))


def test_plot_bands_stay_inside_the_unit_interval():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from agents.evaluation.plots import _band

    fig, ax = plt.subplots()
    _band(ax, np.array([20, 60]), [np.array([0.1, 0.95]), np.array([0.9, 0.2])], "wide")
    (band,) = ax.collections
    y = band.get_paths()[0].vertices[:, 1]
    plt.close(fig)
    assert y.min() == 0.0 and y.max() == 1.0  # a two-seed t-interval would reach about -4.6


def test_learning_curve_plot_tells_more_than_ten_methods_apart(tmp_path, monkeypatch):
    """The final evaluation plots a dozen methods in one figure: matplotlib's colour cycle has
    ten colours, so the later methods must differ from the first ones by line style."""
    from matplotlib.figure import Figure

    from agents.evaluation.plots import plot_curves

    drawn = []
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: drawn.append(fig))
    rows = [
        {"dataset": "MNIST", "method": f"m{i}", "seed": str(seed), "labeled": str(lab)}
        | {"test_accuracy": str(0.5 + 0.01 * i + 0.001 * seed)}
        for i in range(12)
        for seed in range(2)
        for lab in (20, 30)
    ]
    plot_curves(rows, tmp_path)
    (ax,) = drawn[0].axes
    styles = {(line.get_color(), line.get_linestyle()) for line in ax.get_lines()}
    assert len(ax.get_lines()) == 12 and len(styles) == 12


def test_plot_rewrites_only_its_results_block_of_a_readme(tmp_path):
    from agents.cli.plot import main as plot_main
    from agents.evaluation.report import readme_blocks

    folder = tmp_path / "results" / "final"
    folder.mkdir(parents=True)
    rows = _fixed_rows() + [
        dict(r, method="oracle", test_accuracy=str(float(r["test_accuracy"]) + 0.1))
        for r in _fixed_rows()
        if r["method"] == "random"
    ]
    with (folder / CURVES_CSV).open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    (folder / "config.json").write_text(json.dumps({"env": {}}))
    readme = tmp_path / "README.md"
    other = "<!-- results: results/other -->\nkept as is\n<!-- /results -->\n"
    readme.write_text(f"# T\n\n<!-- results: results/final -->\nold\n<!-- /results -->\n\n{other}")
    assert plot_main([str(folder), "--readme", str(readme)]) == 0
    blocks = readme_blocks(readme)
    assert blocks["results/other"] == "kept as is\n"
    body = blocks["results/final"]
    # m gains 0.075 over random on every seed, the oracle 0.1: m captures 3/4 of its gain
    assert "| m | 3 | 0.700 ± 0.108 | 0.075 ± 0.000 | – | 0.75 [0.75, 0.75] |" in body
    assert "| oracle | 3 |" in body and "![D](results/final/curves_D.png)" in body
    again = readme.read_text()
    assert plot_main([str(folder), "--readme", str(readme)]) == 0
    assert readme.read_text() == again  # regenerating changes nothing
    readme.write_text("# no block\n")
    assert plot_main([str(folder), "--readme", str(readme)]) == 2


def test_plot_into_a_folder_that_holds_a_sweep_merges_with_it(tmp_path):
    """plot.py A B --out C merges; then plot.py D --out C adds D's runs to C: C's summary always
    describes its own curves.csv, never D's runs alone."""
    from agents.cli.plot import main as plot_main

    steps = {"20": 0, "60": 1, "100": 2}  # finished runs: every point, numbered
    rows = [dict(r, step=steps[r["labeled"]], points=3) for r in _fixed_rows()]
    for name, method in (("a", "random"), ("b", "m"), ("d", "m2")):
        folder = tmp_path / name
        folder.mkdir()
        with (folder / CURVES_CSV).open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            source = "m" if method == "m2" else method
            w.writerows(dict(r, method=method) for r in rows if r["method"] == source)
        (folder / "config.json").write_text(json.dumps({"env": {}}))
    out = tmp_path / "c"
    assert plot_main([str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out)]) == 0
    assert plot_main([str(tmp_path / "d"), "--out", str(out)]) == 0
    methods = {r["method"] for r in read_csv(out / "summary.csv")}
    assert methods == {"random", "m", "m2"}
    assert {r["method"] for r in read_csv(out / CURVES_CSV)} == methods
    # a folder of figures only (no curves.csv) is simply redrawn from the one sweep
    assert plot_main([str(tmp_path / "d"), "--out", str(tmp_path / "figs")]) == 0
    assert {r["method"] for r in read_csv(tmp_path / "figs" / "summary.csv")} == {"m2"}
