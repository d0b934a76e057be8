"""The CUDA paths: CUDA-graph fitting and the precision flags. Skipped without a GPU (CI has
none); run on a GPU machine with ``python -m pytest tests/integration/test_cuda.py``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from iale_env import (
    ActiveLearningEnv,
    ALConfig,
    ClassifierSpec,
    TrainConfig,
    build_classifier,
    fit_models,
)
from iale_env.inference import predict_models
from tests.conftest import TINY, max_weight_diff

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(scope="module")
def xy_cuda(tiny_data):
    return tiny_data.train_x.cuda(), tiny_data.train_y.cuda()


def _weights(models) -> list[torch.Tensor]:
    return [p.detach() for m in models for p in m.parameters()]


# Float noise (summation order, cuDNN algorithms) that Adam turns into up to a fraction of one
# lr-sized step (1e-3) per weight: an unrelated model differs by ~100x more.
CLOSE = 1e-3


def _relative_gap(a, b, seeds) -> float:
    """Largest ||a - b|| / ||a - init|| over the parameter tensors: how far two trainings of the
    same models ended apart, as a share of how far training moved the weights."""
    init = [build_classifier(ClassifierSpec(), s, "cuda") for s in seeds]
    pairs = zip(_weights(a), _weights(b), _weights(init))
    return max(((p - q).norm() / (p - r).norm()).item() for p, q, r in pairs)


SETS = [torch.arange(0, 40), torch.arange(40, 85), torch.arange(5, 40)]
SEEDS = [1, 2, 3]


def test_graphed_fit_equals_eager_sequential(xy_cuda):
    """Index sets of different sizes; more steps than the graph's warm-up, so most are replays."""
    x, y = xy_cuda
    kw = dict(epochs=12)
    seq = fit_models(x, y, SETS, SEEDS, ClassifierSpec(), TrainConfig(mode="sequential", **kw))
    graphed = fit_models(
        x,
        y,
        SETS,
        SEEDS,
        ClassifierSpec(),
        TrainConfig(cuda_graphs=True, **kw),
    )
    eager = fit_models(
        x,
        y,
        SETS,
        SEEDS,
        ClassifierSpec(),
        TrainConfig(cuda_graphs=False, **kw),
    )
    # Measured on an H100: 0.0004 of the distance
    # travelled; graphed vs eager (capturable vs plain Adam) 2.4e-4 absolute.
    assert _relative_gap(seq, graphed, SEEDS) < 0.02
    assert max_weight_diff(eager, graphed) < CLOSE
    other = fit_models(
        x, y, SETS, [7, 8, 9], ClassifierSpec(), TrainConfig(mode="sequential", **kw)
    )
    assert max_weight_diff(seq, other) > 20 * CLOSE  # the tolerance is far below a model's spread
    ls, _ = predict_models(seq, x[:200])
    lg, _ = predict_models(graphed, x[:200])
    assert (ls.argmax(-1) == lg.argmax(-1)).float().mean() >= 0.98


def test_graphed_fit_is_reproducible_and_seeded(xy_cuda):
    x, y = xy_cuda
    cfg = TrainConfig(epochs=8, cuda_graphs=True)
    a = fit_models(x, y, SETS, SEEDS, ClassifierSpec(), cfg)
    b = fit_models(x, y, SETS, SEEDS, ClassifierSpec(), cfg)
    c = fit_models(x, y, SETS, [4, 5, 6], ClassifierSpec(), cfg)
    assert max_weight_diff(a, b) == 0.0
    assert max_weight_diff(a, c) > 0.0


def test_nondeterministic_fit_stays_close(xy_cuda):
    x, y = xy_cuda
    kw = dict(epochs=8, cuda_graphs=True)
    a = fit_models(x, y, SETS, SEEDS, ClassifierSpec(), TrainConfig(**kw))
    b = fit_models(x, y, SETS, SEEDS, ClassifierSpec(), TrainConfig(deterministic=False, **kw))
    assert max_weight_diff(a, b) < CLOSE


def test_graphed_fit_shorter_than_the_warmup(xy_cuda):
    """Fewer epochs than warm-up steps: no graph is captured, the result is the eager one."""
    x, y = xy_cuda
    a = fit_models(x, y, SETS, SEEDS, ClassifierSpec(), TrainConfig(epochs=2, cuda_graphs=True))
    b = fit_models(x, y, SETS, SEEDS, ClassifierSpec(), TrainConfig(epochs=2, mode="sequential"))
    assert max_weight_diff(a, b) < CLOSE


def test_precision_flags_change_cuda_arithmetic_and_are_restored(xy_cuda):
    x, y = xy_cuda
    flags = torch.backends.cudnn
    before = (torch.backends.cuda.matmul.allow_tf32, flags.allow_tf32, flags.deterministic)
    fits = {
        p: fit_models(x, y, SETS, SEEDS, ClassifierSpec(), TrainConfig(epochs=6, precision=p))
        for p in ("fp32", "tf32", "bf16")
    }
    assert (torch.backends.cuda.matmul.allow_tf32, flags.allow_tf32, flags.deterministic) == before
    assert 0.0 < max_weight_diff(fits["fp32"], fits["tf32"]) < 0.05
    assert 0.0 < max_weight_diff(fits["fp32"], fits["bf16"]) < 0.05


def test_cuda_env_episode_matches_with_and_without_graphs(tiny_data):
    """The same episode (selections, accuracies) with graphed and eager fitting on CUDA."""
    runs = []
    for graphs in (True, False):
        env = ActiveLearningEnv(
            ALConfig(device="cuda", cuda_graphs=graphs, eager_ensemble=True, **TINY),
            data=tiny_data,
        )
        obs, _ = env.reset(seed=3)
        trace, done = [obs], False
        while not done:
            obs, _, done, _, info = env.step(env.oracle_action())
            trace.append((info["selected"], info["test_accuracy"]))
        runs.append(trace)
    np.testing.assert_allclose(runs[0][0], runs[1][0], atol=1e-4)
    for (sel_a, acc_a), (sel_b, acc_b) in zip(runs[0][1:], runs[1][1:]):
        assert np.array_equal(sel_a, sel_b)
        assert acc_a == pytest.approx(acc_b, abs=0.02)
