"""Digests of tiny seeded runs: one AL episode per method and two DAgger rounds.

``tests/artefacts/test_golden.py`` compares them with digests recorded before a refactor, so a change that
alters any seeded result (a selection, an accuracy, a policy weight) cannot pass unnoticed.
Run ``python -m tests.golden`` to print the current digests.
"""

from __future__ import annotations

import hashlib
import json
import tempfile

import numpy as np
import torch

METHODS = ("random", "mc_dropout", "ensemble", "coreset", "entropy", "margin", "badge")


def _digest(payload: object) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def episode_digests() -> dict[str, str]:
    """Per method: the digest of every selection (dataset indices) and test/scoring accuracy of
    one tiny episode, plus the oracle's decisions along a random episode."""
    from iale_env import ActiveLearningEnv, ALConfig
    from tests.conftest import TINY, tiny_dataset

    data = tiny_dataset()
    out = {}
    for method in METHODS:
        env = ActiveLearningEnv(ALConfig(**TINY), data=data)
        obs, info = env.reset(seed=3)
        trace = [[info["test_accuracy"], info["scoring_accuracy"]]]
        done = False
        while not done:
            obs, reward, done, _, info = env.step(env.expert_action(method))
            trace.append(
                [info["selected"].tolist(), info["test_accuracy"], info["scoring_accuracy"]]
            )
        trace.append(hashlib.sha256(obs.tobytes()).hexdigest())
        out[method] = _digest(trace)
    env = ActiveLearningEnv(ALConfig(**TINY), data=data)
    env.reset(seed=4)
    decisions, done = [], False
    while not done:
        action = env.oracle_action()
        decision = env.last_oracle
        decisions.append([decision.winner, decision.scores, np.flatnonzero(action).tolist()])
        done = env.step(env.expert_action("random"))[2]
    out["oracle"] = _digest(decisions)
    return out


def dagger_digest() -> str:
    """Two DAgger rounds (paper defaults, tiny env): the aggregated actions and the policy's
    weights rounded to 1e-5."""
    from agents.dagger import DAggerConfig, train_dagger
    from iale_env import ActiveLearningEnv, ALConfig
    from tests.conftest import TINY, tiny_dataset

    env = ActiveLearningEnv(ALConfig(**TINY, eager_ensemble=True), data=tiny_dataset())
    cfg = DAggerConfig(episodes=2, bc_batch_size=4, bc_epochs=3)
    with tempfile.TemporaryDirectory() as tmp:
        res = train_dagger(env, cfg, tmp, progress=False)
    weights = {
        k: np.round(v.detach().cpu().numpy().astype(np.float64), 5).tolist()
        for k, v in res.policy.state_dict().items()
    }
    return _digest([res.actions.tolist(), weights])


def kernel_fingerprint() -> str:
    """A digest of this machine's fp32 arithmetic: the CNN's forward and backward on fixed
    inputs at two batch sizes, one PyTorch thread.

    oneDNN and MKL choose their kernels by CPU, and kernels sum in different orders, so the
    same seed gives results that differ in the last bits from one CPU model to another (and
    then in a selection or two). The golden digests are recorded per fingerprint.
    """
    from iale_env import ClassifierSpec, build_classifier

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = build_classifier(ClassifierSpec(), 0)
        x = torch.rand((200, 1, 28, 28), generator=torch.Generator().manual_seed(0))
        parts = []
        for n in (7, 200):
            model.zero_grad()
            logits = model(x[:n])
            logits.square().sum().backward()
            parts += [logits.detach()] + [p.grad for p in model.parameters()]
        return hashlib.sha256(b"".join(t.numpy().tobytes() for t in parts)).hexdigest()[:16]
    finally:
        torch.set_num_threads(threads)


def all_digests(dagger: bool = True) -> dict[str, str]:
    """Every digest (``dagger=False``: all but DAgger's, which needs imitation), computed with
    one PyTorch thread (reductions then run in a fixed order)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return {**episode_digests(), **({"dagger": dagger_digest()} if dagger else {})}
    finally:
        torch.set_num_threads(threads)


if __name__ == "__main__":
    print(json.dumps({kernel_fingerprint(): all_digests()}, indent=2))
