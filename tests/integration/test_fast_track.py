"""The fast track and the evaluations a run may skip: the MLP classifier with every expert, the
``fast`` protocol's env ids and presets, ``rewards`` / ``test_every_step`` and bf16 inference."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import iale_env
from agents.presets import PRESETS
from iale_env import ALConfig, ClassifierSpec, build_classifier
from iale_env.classifier import classifier_spec, draw_dropout_masks, make_generator
from iale_env.protocols import CPU, FAST, PROTOCOLS
from tests.golden import METHODS


def _episode(env, method="random", seed=0):
    obs, info = env.reset(seed=seed)
    trace = [(info["test_accuracy"], info["scoring_accuracy"], None)]
    done = False
    while not done:
        obs, reward, done, _, info = env.step(env.expert_action(method))
        trace.append((info["test_accuracy"], info["scoring_accuracy"], reward))
    return trace


def test_mlp_is_the_cnns_contract_with_dense_layers():
    spec = ClassifierSpec(arch="mlp")
    model = build_classifier(spec, 0)
    assert [n for n, _ in model.named_parameters()][:2] == ["fc0.weight", "fc0.bias"]
    x = torch.rand(5, 1, 28, 28)
    logits, emb = model.forward_with_embedding(x)
    assert logits.shape == (5, 10) and emb.shape == (5, spec.embedding_dim) and (emb >= 0).all()
    masks = draw_dropout_masks(spec, 5, make_generator(0, "cpu"), "cpu")
    assert masks[0].shape == (5, spec.hidden)  # dropout after the first dense layer
    assert not torch.equal(model(x, masks), model(x))
    cnn = ClassifierSpec()
    assert spec.forward_flops() * 30 < cnn.forward_flops()  # the point of the fast track
    with pytest.raises(ValueError, match="arch must be one of"):
        ClassifierSpec(arch="resnet")  # type: ignore[arg-type]


def test_classifier_names_build_the_built_in_networks():
    assert classifier_spec(None, (1, 28, 28), 10) == classifier_spec("cnn", (1, 28, 28), 10)
    assert classifier_spec("mlp", (1, 28, 28), 10).arch == "mlp"
    with pytest.raises(ValueError, match="'package.module:function' or a built-in"):
        ALConfig(classifier="transformer")


def test_every_expert_and_the_oracle_run_on_the_mlp(make_env):
    env = make_env(classifier="mlp", experts=METHODS)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (20, 2 * 128 + 3 * 10)
    for name in METHODS:
        assert env.expert_action(name).sum() == 5
    action = env.oracle_action()
    assert action.sum() == 5 and env.last_oracle.winner in METHODS
    _, _, _, _, info = env.step(action)
    assert 0.0 <= info["test_accuracy"] <= 1.0


def test_skipped_evaluations_are_nan_and_change_nothing_else(make_env):
    full = _episode(make_env())
    lean = _episode(make_env(rewards=False, test_every_step=False))
    assert all(math.isnan(s) for _, s, _ in lean)  # no reward, no scoring accuracy
    assert all(r is None or math.isnan(r) for _, _, r in lean)
    assert all(math.isnan(t) for t, _, _ in lean[:-1])  # test accuracy at the end only
    assert lean[-1][0] == full[-1][0]  # ... and the same as with every evaluation
    rewards_only = _episode(make_env(test_every_step=False))
    assert [r for _, _, r in rewards_only] == [r for _, _, r in full]


def test_the_fast_env_ids_are_the_fast_protocol(monkeypatch):
    assert set(iale_env.FAST_ENV_IDS) == {"MNIST", "FashionMNIST", "KMNIST"}
    spec = gym.spec(iale_env.FAST_ENV_IDS["KMNIST"])
    assert spec.kwargs == {"dataset": "KMNIST", **FAST.al_config()}
    assert FAST.classifier == "mlp" and PROTOCOLS["fast"] is FAST
    # the paper's method at the cpu protocol's size: only the classifier differs
    same = (
        "budget",
        "initial_labeled",
        "acquisition_size",
        "subpool_size",
        "epochs",
        "scoring_size",
    )
    assert all(getattr(FAST, k) == getattr(CPU, k) for k in same)
    fast, cpu = PRESETS["fast"], PRESETS["cpu"]
    assert (fast.view, fast.state_scores, fast.experts) == (cpu.view, cpu.state_scores, cpu.experts)
    assert fast.protocol is FAST and cpu.protocol is CPU


def test_every_script_offers_the_fast_preset():
    from agents.cli import evaluate, train_dagger, train_rl

    for presets in (evaluate.PRESETS, train_dagger.IALE_PRESETS, train_rl.PRESETS):
        assert presets["fast"]["classifier"] == "mlp"
    assert train_dagger.ALIL_PRESETS["fast"]["classifier"] == "mlp"


def test_bf16_inference_is_an_env_option(make_env):
    exact, approx = make_env(), make_env(inference_precision="bf16")
    a, _ = exact.reset(seed=1)
    b, _ = approx.reset(seed=1)
    assert a.shape == b.shape and not np.array_equal(a, b)
    assert np.allclose(a, b, atol=0.1)
    assert approx.oracle_action().sum() == 5
    with pytest.raises(ValueError, match="inference_precision"):
        ALConfig(inference_precision="fp16")  # type: ignore[arg-type]
