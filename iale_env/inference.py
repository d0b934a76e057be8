"""Inference of trained classifiers: predictions in chunks, accuracies and MC-Dropout.

:func:`predict_models` runs every model over the images in chunks (:data:`EVAL_CHUNK`, measured
per device and architecture; outputs are bit-identical at every chunk) in fp32 or bf16;
:func:`accuracy_of` and :func:`mc_dropout_probs` build on it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from iale_env.classifier import (
    Classifier,
    ClassifierSpec,
    draw_dropout_masks,
    functional_forward,
)
from iale_env.training import InferencePrecision

#: Images per forward pass of inference, by device type and classifier architecture
#: (``scripts/benchmark_step.py`` prints the table these come from). On the CPU, small chunks
#: keep the CNN's activations in cache: 64 images run about 2.4x faster than 4,096 on one
#: thread; the MLP's activations are small, and its GEMMs run best on 1,024 images or more.
#: Outputs are bit-identical at every chunk (each image's arithmetic does not depend on it).
#: On a GPU, large chunks amortise the launches. A user's classifier takes the CNN's figure.
EVAL_CHUNK: dict[str, dict[str, int]] = {
    "cpu": {"cnn": 64, "mlp": 1024},
    "cuda": {"cnn": 4096, "mlp": 4096},
}
#: Images per draw of MC-Dropout's masks (the masks of each chunk are drawn pass by pass, so
#: this fixes the random stream and stays as the protocol recorded it).
_MC_MASK_CHUNK = 4096


def eval_chunk(device: torch.device | str, arch: str = "cnn") -> int:
    """The inference chunk (images per forward pass) measured best for ``device``'s type and the
    classifier architecture ``arch`` (``"cnn"`` or ``"mlp"``)."""
    table = EVAL_CHUNK.get(torch.device(device).type, EVAL_CHUNK["cuda"])
    return table.get(arch, table["cnn"])


def _arch(model: nn.Module) -> str:
    spec = getattr(model, "spec", None)
    return spec.arch if isinstance(spec, ClassifierSpec) and spec.module is None else "cnn"


def _inference_forward(
    model: Classifier, precision: InferencePrecision
) -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """``model``'s ``forward_with_embedding`` at ``precision``. bf16 on a built-in classifier
    casts the weights to bfloat16 once (``torch.autocast`` would at every chunk) and runs the
    autocast arithmetic (:func:`~iale_env.classifier.functional_forward`); a user's classifier
    runs under ``torch.autocast``."""
    _check_precision(precision)
    if precision == "fp32":
        return model.forward_with_embedding
    if isinstance(model, Classifier):
        params = {k: v.detach().to(torch.bfloat16) for k, v in model.named_parameters()}
        return functools.partial(functional_forward, params, compute_dtype=torch.bfloat16)

    def autocast_forward(x: torch.Tensor, *masks: Any) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast(x.device.type, dtype=torch.bfloat16):
            return model.forward_with_embedding(x, *masks)

    return autocast_forward


def _check_precision(precision: InferencePrecision) -> None:
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"inference precision must be 'fp32' or 'bf16', got {precision!r}")


def split_chunks(n: int, chunk: int) -> list[int]:
    """Sizes of ``n`` rows cut into chunks of ``chunk``, the remainder joined to the last one.

    No chunk is smaller than ``min(n, chunk)``: the CPU's kernels give other last bits for very
    small batches (up to about 16 rows measured), so a short tail would change results that
    one large chunk gave.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    sizes = [chunk] * (n // chunk)
    if n % chunk:
        if sizes:
            sizes[-1] += n % chunk
        else:
            sizes = [n]
    return sizes


def predict_models(
    models: Sequence[Classifier],
    x: torch.Tensor,
    chunk: int | None = None,
    precision: InferencePrecision = "fp32",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Evaluation-mode logits ``(M, N, K)`` and embeddings ``(M, N, D)`` of several models on
    ``x``, model by model, in chunks of ``x`` (:func:`split_chunks`).

    Args:
        models: Trained models.
        x: Images ``(N, C, H, W)``.
        chunk: Images per forward pass (``None``: :func:`eval_chunk` of ``x``'s device and the
            model's architecture). The outputs do not depend on it.
        precision: ``"fp32"`` (exact) or ``"bf16"`` (the arithmetic of ``torch.autocast`` with
            bfloat16; outputs returned as fp32).
    """
    if len(models) == 0:
        raise ValueError("predict_models needs at least one model")
    per_model = []
    for m in models:
        size = eval_chunk(x.device, _arch(m)) if chunk is None else chunk
        forward = _inference_forward(m, precision)
        parts = [forward(c) for c in x.split(split_chunks(len(x), size))]
        if precision != "fp32":
            parts = [(p[0].float(), p[1].float()) for p in parts]
        per_model.append((torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])))
    return torch.stack([p[0] for p in per_model]), torch.stack([p[1] for p in per_model])


def accuracy_of(
    models: Sequence[Classifier],
    x: torch.Tensor,
    y: torch.Tensor,
    precision: InferencePrecision = "fp32",
) -> list[float]:
    """Accuracy of each model on ``(x, y)`` (``precision``: see :func:`predict_models`)."""
    logits, _ = predict_models(models, x, precision=precision)
    return (logits.argmax(-1) == y.unsqueeze(0)).float().mean(1).tolist()


@torch.no_grad()
def mc_dropout_probs(
    model: Classifier,
    x: torch.Tensor,
    passes: int,
    generator: torch.Generator,
    chunk: int = _MC_MASK_CHUNK,
    precision: InferencePrecision = "fp32",
) -> torch.Tensor:
    """Softmax outputs ``(passes, N, K)`` of ``passes`` stochastic (dropout-on) forward passes.

    ``x`` is taken ``chunk // passes`` images at a time; for each such chunk the masks are drawn
    pass by pass from ``generator`` (so ``chunk`` fixes the random stream), and the ``passes``
    stacked copies run forward in slices of :func:`eval_chunk` images (which changes no output).
    ``precision``: see :func:`predict_models`.
    """
    if not isinstance(model, Classifier):  # a user's classifier: train()-mode passes, seeded
        seed = int(torch.randint(2**62, (1,), generator=generator, device=generator.device))
        with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
            torch.manual_seed(seed)
            model.train()
            forward = _inference_forward(model, precision)
            try:
                probs = [
                    torch.cat([F.softmax(forward(c)[0].float(), -1) for c in x.split(chunk)])
                    for _ in range(passes)
                ]
            finally:
                model.eval()
        return torch.stack(probs)
    spec = model.spec
    forward = _inference_forward(model, precision)
    per_chunk = max(1, chunk // passes)
    out = []
    for c in x.split(per_chunk):
        masks = [draw_dropout_masks(spec, len(c), generator, x.device) for _ in range(passes)]
        m1 = torch.cat([m[0] for m in masks])
        m2 = torch.cat([m[1] for m in masks])
        stacked = c.repeat(passes, *([1] * (c.dim() - 1)))
        sizes = split_chunks(len(stacked), eval_chunk(x.device, spec.arch))
        logits = torch.cat(
            [
                forward(xs, (a, b))[0].float()
                for xs, a, b in zip(stacked.split(sizes), m1.split(sizes), m2.split(sizes))
            ]
        )
        out.append(F.softmax(logits, dim=-1).view(passes, len(c), -1))
    return torch.cat(out, dim=1)
