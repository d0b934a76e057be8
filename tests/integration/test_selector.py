"""The expert selector (agents.selector): its fit, its file, and as a method of a sweep."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agents.evaluation import EvalConfig, evaluate, parse_method, read_csv
from agents.selector import ConditionalLogit, ExpertSelector, fit_conditional_logit
from agents.state_stats import SELECTION_FEATURES
from iale_env import ALConfig
from tests.conftest import TINY

pytestmark = pytest.mark.filterwarnings("ignore:MNIST:UserWarning")


def _fixed(experts: tuple[str, ...], favoured: str) -> ExpertSelector:
    """A selector that always chooses ``favoured``: zero weights, one large intercept."""
    intercepts = np.array([5.0 if e == favoured else 0.0 for e in experts])
    model = ConditionalLogit(np.zeros(5), np.ones(5), np.zeros(5), intercepts)
    return ExpertSelector(experts, SELECTION_FEATURES, model)


def test_the_conditional_logit_learns_the_feature_that_names_the_winner_and_round_trips(
    tmp_path,
):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3, 5))
    winners = x[..., 1].argmax(1)  # the second feature decides, whatever the expert
    model = fit_conditional_logit(x, winners)
    assert (model.logits(x).argmax(1) == winners).mean() >= 0.95
    assert abs(model.weights[1]) > 5 * np.abs(np.delete(model.weights, 1)).max()
    selector = ExpertSelector(("margin", "ensemble", "mc_dropout"), SELECTION_FEATURES, model)
    saved = selector.save(tmp_path)
    loaded = ExpertSelector.load(tmp_path)
    assert saved.name == "selector.json" and loaded.experts == selector.experts
    np.testing.assert_array_equal(loaded.model.logits(x), model.logits(x))
    with pytest.raises(FileExistsError, match="exists"):
        selector.save(tmp_path)  # never overwritten
    (tmp_path / "bad.json").write_text('{"experts": ["a"]}')
    with pytest.raises(ValueError, match="fit one with scripts/train_selector.py"):
        ExpertSelector.load(tmp_path / "bad.json")
    body = json.loads(saved.read_text())
    for change, message in [
        ({"feature_names": ["x"] * 5}, "fit it again"),  # another version's features
        ({"mean": [0.0]}, "fit it again"),
        ({"experts": ["margin", "nope", "mc_dropout"]}, "unknown \\['nope'\\]"),
    ]:
        (tmp_path / "other.json").write_text(json.dumps({**body, **change}))
        with pytest.raises(ValueError, match=message):
            ExpertSelector.load(tmp_path / "other.json")
    with pytest.raises(ValueError, match="fit one with scripts/train_selector.py"):
        parse_method(f"selector:{tmp_path / 'nothing'}")
    with pytest.raises(ValueError, match="winners"):
        fit_conditional_logit(x, winners[:10])


def test_a_selector_executes_the_chosen_experts_own_selection_in_a_sweep(idx_root, tmp_path):
    """A selector that always chooses MC-Dropout runs MC-Dropout's curve, reads MC-Dropout's
    scores from the state its config.json names, and logs its choices to oracle.csv."""
    folder = tmp_path / "selector"
    folder.mkdir()
    _fixed(("margin", "mc_dropout"), "mc_dropout").save(folder)
    (folder / "config.json").write_text(
        json.dumps({"method": "selector", "env": {"state_scores": ["mc_dropout"]}})
    )
    spec = parse_method(f"sel=selector:{folder}")
    assert (spec.family, spec.label, spec.learned) == ("selector", "sel", True)
    env = ALConfig(**{**TINY, "data_dir": str(idx_root)})
    sweep = EvalConfig(("MNIST",), ("mc_dropout", f"sel=selector:{folder}"), (0,), env, ())
    rows = evaluate(sweep, tmp_path / "eval", log=None)
    curves = {
        m: [r["test_accuracy"] for r in rows if r["method"] == m] for m in ("mc_dropout", "sel")
    }
    assert curves["sel"] == curves["mc_dropout"] and len(curves["sel"]) > 2
    choices = [d for d in read_csv(tmp_path / "eval" / "oracle.csv") if d["method"] == "sel"]
    assert len(choices) == len(curves["sel"]) - 1 and {d["winner"] for d in choices} == {
        "mc_dropout"
    }
    assert json.loads(choices[0]["scores"])["mc_dropout"] > 0.99
    # without the score column in the state: a clear error before any episode
    (folder / "config.json").write_text(json.dumps({"method": "selector", "env": {}}))
    with pytest.raises(ValueError, match=r'"state_scores": \["mc_dropout"\]'):
        EvalConfig(("MNIST",), ("random", f"selector:{folder}"), (0,), env, ())
