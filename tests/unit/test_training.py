"""The fitting entry point: seeding, batched vs sequential equivalence, inference."""

from __future__ import annotations

import pytest
import torch

from iale_env import (
    ALConfig,
    ClassifierSpec,
    TrainConfig,
    build_classifier,
    fit_models,
    predict_models,
)
from iale_env.classifier import make_generator
from iale_env.inference import accuracy_of, mc_dropout_probs
from tests.conftest import max_weight_diff


@pytest.fixture(scope="module")
def xy(tiny_data):
    return tiny_data.train_x, tiny_data.train_y


def _max_weight_diff(a, b) -> float:
    return max_weight_diff([a], [b])


def test_same_seed_same_weights_different_seed_different(xy):
    x, y = xy
    cfg = TrainConfig(epochs=2)
    idx = [torch.arange(30)]
    (a,), (b,), (c,) = (fit_models(x, y, idx, [s], ClassifierSpec(), cfg) for s in (7, 7, 8))
    assert _max_weight_diff(a, b) == 0.0
    assert _max_weight_diff(a, c) > 0.0


def test_build_classifier_leaves_global_rng_alone():
    state = torch.get_rng_state()
    build_classifier(ClassifierSpec(), seed=3)
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.parametrize("batch_size", [2048, 16])
def test_batched_equals_sequential(xy, batch_size):
    """Index sets of different sizes, full-batch and minibatch: same weights and predictions."""
    x, y = xy
    sets = [torch.arange(0, 40), torch.arange(40, 85), torch.arange(5, 40)]
    seeds = [1, 2, 3]
    kw = dict(epochs=4, batch_size=batch_size)
    seq = fit_models(x, y, sets, seeds, ClassifierSpec(), TrainConfig(mode="sequential", **kw))
    bat = fit_models(x, y, sets, seeds, ClassifierSpec(), TrainConfig(mode="batched", **kw))
    for a, b in zip(seq, bat):
        assert _max_weight_diff(a, b) < 1e-4
    ls, es = predict_models(seq, x[:64])
    lb, eb = predict_models(bat, x[:64])
    assert torch.allclose(ls, lb, atol=1e-3) and torch.allclose(es, eb, atol=1e-3)
    assert torch.equal(ls.argmax(-1), lb.argmax(-1))


def test_training_learns_the_task(xy, tiny_data):
    x, y = xy
    (model,) = fit_models(x, y, [torch.arange(200)], [0], ClassifierSpec(), TrainConfig(epochs=30))
    (acc,) = accuracy_of([model], tiny_data.test_x, tiny_data.test_y)
    assert acc > 0.8


def test_fit_models_rejects_mismatched_inputs(xy):
    x, y = xy
    with pytest.raises(ValueError, match="index sets but"):
        fit_models(x, y, [torch.arange(3)], [1, 2], ClassifierSpec(), TrainConfig(epochs=1))
    with pytest.raises(ValueError, match="at least one example"):
        fit_models(x, y, [torch.arange(0)], [1], ClassifierSpec(), TrainConfig(epochs=1))


def test_mc_dropout_passes_are_stochastic_and_seeded(xy):
    x, _ = xy
    model = build_classifier(ClassifierSpec(), seed=0)
    a = mc_dropout_probs(model, x[:7], passes=5, generator=make_generator(1, "cpu"), chunk=12)
    b = mc_dropout_probs(model, x[:7], passes=5, generator=make_generator(1, "cpu"))
    assert (
        a.shape == b.shape and a.shape == (5, 7, 10) and torch.allclose(a.sum(-1), torch.ones(5, 7))
    )
    assert not torch.allclose(a[0], a[1])  # dropout differs between passes
    c = mc_dropout_probs(model, x[:7], passes=5, generator=make_generator(1, "cpu"))
    assert torch.equal(b, c)


def test_bf16_autocast_trains_close_to_fp32_and_is_off_by_default(xy):
    """bf16 on the CPU is slow: a tiny fit only checks the arithmetic changes, not the model."""
    x, y = xy
    sets, seeds = [torch.arange(20), torch.arange(10, 30)], [0, 1]
    kw = dict(epochs=3)
    assert TrainConfig().precision == "fp32"
    fp32 = fit_models(x, y, sets, seeds, ClassifierSpec(), TrainConfig(**kw))
    bf16 = fit_models(x, y, sets, seeds, ClassifierSpec(), TrainConfig(precision="bf16", **kw))
    diffs = [_max_weight_diff(a, b) for a, b in zip(fp32, bf16)]
    assert all(0.0 < d < 0.05 for d in diffs), diffs  # a different arithmetic, same model
    assert all(p.dtype == torch.float32 for m in bf16 for p in m.parameters())
    # tf32 only changes CUDA arithmetic: on the CPU it is exactly fp32
    tf32 = fit_models(x, y, sets, seeds, ClassifierSpec(), TrainConfig(precision="tf32", **kw))
    assert max(_max_weight_diff(a, b) for a, b in zip(fp32, tf32)) == 0.0
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="fp16")


def test_cuda_graphs_need_a_cuda_device(xy):
    x, y = xy
    with pytest.raises(ValueError, match="cuda_graphs=True needs a CUDA device"):
        fit_models(x, y, [torch.arange(8)], [0], ClassifierSpec(), TrainConfig(cuda_graphs=True))
    with pytest.raises(ValueError, match="cuda_graphs=True needs a CUDA device"):
        ALConfig(cuda_graphs=True)
    assert not TrainConfig().graphed(torch.device("cpu"))  # the default never graphs on the CPU


# With several threads the MLP's GEMMs split chunks of up to 64 rows differently (other last
# bits); on one thread, and from 128 rows on, every chunk gives the same outputs.
@pytest.mark.parametrize(
    ("arch", "chunks", "mc_chunk"),
    [("cnn", (17, 33, 64, 149, None), 40), ("mlp", (128, 300, None), 128)],
)
def test_inference_outputs_do_not_depend_on_the_chunk(xy, monkeypatch, arch, chunks, mc_chunk):
    """The inference chunk is a speed setting: logits, embeddings and MC-Dropout's outputs are
    bit-identical whatever it is (each image's arithmetic is its own)."""
    from iale_env import inference

    x, _ = xy
    model = build_classifier(ClassifierSpec(arch=arch), seed=0)
    logits, emb = predict_models([model], x[:400], chunk=4096)
    for chunk in chunks:
        lc, ec = predict_models([model], x[:400], chunk=chunk)
        assert torch.equal(logits, lc) and torch.equal(emb, ec)
    ref = mc_dropout_probs(model, x[:60], passes=5, generator=make_generator(1, "cpu"))
    # forward slices of mc_chunk stacked images
    monkeypatch.setitem(inference.EVAL_CHUNK, "cpu", {"cnn": mc_chunk, "mlp": mc_chunk})
    assert torch.equal(ref, mc_dropout_probs(model, x[:60], 5, make_generator(1, "cpu")))


def test_eval_chunk_is_chosen_by_device_and_architecture():
    from iale_env.inference import eval_chunk

    assert eval_chunk("cpu") == eval_chunk("cpu", "cnn") == 64
    assert eval_chunk("cpu", "mlp") == 1024  # the MLP's GEMMs run best on large chunks
    assert eval_chunk("cuda", "mlp") == eval_chunk("cuda") == 4096
    assert eval_chunk("cpu", "my.module:fn") == 64  # a user's classifier: the CNN's figure


@pytest.mark.parametrize("arch", ["cnn", "mlp"])
def test_bf16_inference_is_autocast_arithmetic_with_the_weights_cast_once(xy, arch):
    """The bf16 path casts the weights once per model instead of at every chunk; its outputs
    are those of ``torch.autocast`` (deterministic and MC-Dropout passes alike)."""
    from iale_env.classifier import draw_dropout_masks

    x, _ = xy
    model = build_classifier(ClassifierSpec(arch=arch), seed=3)
    logits, emb = predict_models([model], x[:70], precision="bf16", chunk=32)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        parts = [model.forward_with_embedding(c) for c in x[:70].split([32, 38])]
    assert torch.equal(logits[0], torch.cat([p[0] for p in parts]).float())
    assert torch.equal(emb[0], torch.cat([p[1] for p in parts]).float())
    probs = mc_dropout_probs(model, x[:9], 3, make_generator(5, "cpu"), precision="bf16")
    gen = make_generator(5, "cpu")
    masks = [draw_dropout_masks(model.spec, 9, gen, x.device) for _ in range(3)]
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        ref = [model(x[:9], m).float().softmax(-1) for m in masks]
    assert torch.equal(probs, torch.stack(ref))


def test_bf16_inference_is_close_to_fp32_and_refuses_unknown_precisions(xy):
    x, _ = xy
    model = build_classifier(ClassifierSpec(), seed=0)
    exact, _ = predict_models([model], x[:64])
    approx, _ = predict_models([model], x[:64], precision="bf16")
    assert approx.dtype == torch.float32 and not torch.equal(exact, approx)
    assert torch.allclose(exact, approx, atol=0.05)
    with pytest.raises(ValueError, match="'fp32' or 'bf16'"):
        predict_models([model], x[:4], precision="fp16")  # type: ignore[arg-type]
