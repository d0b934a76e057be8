"""The one entry point for fitting classifiers (inference is :mod:`iale_env.inference`).

:func:`fit_models` trains a *list* of freshly initialised models, each on its own index set and
from its own seed. In ``"batched"`` mode all models of a call train together: one optimizer and
one step for all of them. Adam is element-wise, so one Adam over all parameters
is exactly one Adam per model. The models' forward/backward is computed model by model inside
that step (a ``vmap``-ed pass over stacked parameters measured slower on the CPU and on an H100,
so there is none). On CUDA, full-batch training (the paper's
protocol) is captured once as a CUDA graph (``cuda_graphs``): every optimizer step of every model
of the call is then one graph replay, so the GPU runs the whole step without waiting for Python.
In ``"sequential"`` mode each model trains alone, eagerly, one after the other: the reference
the batched paths are tested against. All draw the same dropout masks from the same per-model
generators, so a model's training depends only on its seed and index set.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from iale_env.classifier import (
    Classifier,
    ClassifierSpec,
    build_classifier,
    draw_dropout_masks,
    make_generator,
)

FitMode = Literal["batched", "sequential"]
Precision = Literal["fp32", "tf32", "bf16"]
InferencePrecision = Literal["fp32", "bf16"]

# Offset between a model's init seed and its dropout/shuffle generator seed, so the two streams
# are not the same Mersenne Twister sequence.
_GENERATOR_SEED_OFFSET = 0x9E3779B9
# Eager optimizer steps on a side stream before a CUDA graph is captured (PyTorch's recipe).
_GRAPH_WARMUP_STEPS = 3


@dataclass(frozen=True)
class TrainConfig:
    """How a classifier is trained (the IALE authors' protocol by default).

    Attributes:
        epochs: Passes over the labeled set (100; no early stopping).
        batch_size: Minibatch size (2048, larger than the budget: full-batch training).
        lr: Adam learning rate.
        mode: ``"batched"``: all models of one call train together (one stacked parameter
            set, one optimizer, one loss per step); ``"sequential"``: one model after the
            other (the reference). Both give the same weights.
        cuda_graphs: Capture full-batch training on CUDA as a CUDA graph and replay it for
            every step (batched mode). ``None`` (default): on CUDA whenever every index set fits
            in one batch; ``False``: eager steps. ``True`` requires a CUDA device.
        precision: Training arithmetic. ``"fp32"`` (default): full fp32, TensorFloat-32 off
            for convolutions and matmuls during the fit (PyTorch's default would use TF32 for
            cuDNN convolutions); ``"tf32"``: TF32 convolutions and matmuls on CUDA (no effect on
            the CPU); ``"bf16"``: the forward pass under ``torch.autocast`` with bfloat16 (CUDA
            or CPU), weights and optimizer in fp32. Not bit-identical to fp32.
        deterministic: Deterministic cuDNN algorithms on CUDA (default), so the same seed
            gives the same weights bit for bit. ``False`` lets cuDNN use faster algorithms with
            atomic adds (up to about 1.3x faster on an H100), whose weights differ run to
            run by float noise. The CPU is always deterministic.
    """

    epochs: int = 100
    batch_size: int = 2048
    lr: float = 1e-3
    mode: FitMode = "batched"
    precision: Precision = "fp32"
    cuda_graphs: bool | None = None
    deterministic: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.mode not in ("batched", "sequential"):
            raise ValueError(f"mode must be 'batched' or 'sequential', got {self.mode!r}")
        if self.precision not in ("fp32", "tf32", "bf16"):
            raise ValueError(f"precision must be 'fp32', 'tf32' or 'bf16', got {self.precision!r}")

    def graphed(self, device: torch.device) -> bool:
        """Whether batched fitting on ``device`` replays CUDA graphs (where it is full-batch)."""
        if self.cuda_graphs and device.type != "cuda":
            raise ValueError(f"cuda_graphs=True needs a CUDA device, got {device}")
        return self.mode == "batched" and device.type == "cuda" and self.cuda_graphs is not False


def fit_models(
    x: torch.Tensor,
    y: torch.Tensor,
    index_sets: Sequence[torch.Tensor],
    seeds: Sequence[int],
    spec: ClassifierSpec,
    cfg: TrainConfig,
) -> list[Classifier]:
    """Train one fresh model per (index set, seed) pair on ``x[idx], y[idx]``.

    Args:
        x: All images ``(N, C, H, W)`` on the training device.
        y: All labels ``(N,)`` on the same device.
        index_sets: One 1-d ``int64`` tensor of row indices per model (sizes may differ).
        seeds: One seed per model: it fixes the initial weights, the dropout masks and the
            minibatch order, so the same seed and index set give the same weights.
        spec: The classifier's shape.
        cfg: The training protocol.

    Returns:
        The trained models, in evaluation mode, in the order of ``index_sets``.
    """
    if len(index_sets) != len(seeds):
        raise ValueError(f"got {len(index_sets)} index sets but {len(seeds)} seeds")
    if any(len(idx) == 0 for idx in index_sets):
        raise ValueError("every index set must hold at least one example")
    device = x.device
    sets = [torch.as_tensor(idx, dtype=torch.long, device=device) for idx in index_sets]
    with backend_flags(cfg, device):
        if spec.module is not None:  # a user's classifier: one plain loop per model
            return [_fit_user_module(x, y, idx, s, spec, cfg) for idx, s in zip(sets, seeds)]
        return _fit(x, y, sets, seeds, spec, cfg)


def _fit_user_module(
    x: torch.Tensor,
    y: torch.Tensor,
    idx: torch.Tensor,
    seed: int,
    spec: ClassifierSpec,
    cfg: TrainConfig,
) -> Classifier:
    """Train a user's classifier (see :func:`~iale_env.classifier.build_classifier`): the same
    minibatch order as the CNN's fits; its dropout layers draw from an RNG seeded by ``seed``."""
    device = x.device
    model = build_classifier(spec, seed, device).train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    gen = _generator_for(seed, device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed((int(seed) + _GENERATOR_SEED_OFFSET) % (2**63))
        for (rows,) in _step_rows([idx], [gen], cfg, device):
            opt.zero_grad(set_to_none=True)
            with _autocast(cfg, device):
                logits = model.forward_with_embedding(x[rows])[0]
            F.cross_entropy(logits.float(), y[rows]).backward()
            opt.step()
    return model.eval()


@contextlib.contextmanager
def backend_flags(cfg: TrainConfig, device: torch.device) -> Iterator[None]:
    """CUDA backend settings for a fit, inside the block only (the process-wide flags are
    restored): TensorFloat-32 convolutions and matmuls on for ``"tf32"`` and off otherwise, and
    deterministic cuDNN algorithms if ``cfg.deterministic``. No effect on the CPU.
    """
    if device.type != "cuda":
        yield
        return
    tf32 = cfg.precision == "tf32"
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        with torch.backends.cudnn.flags(
            enabled=True, benchmark=False, deterministic=cfg.deterministic, allow_tf32=tf32
        ):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


def _autocast(cfg: TrainConfig, device: torch.device) -> contextlib.AbstractContextManager:
    """The forward pass's autocast context (bf16), or a no-op. No cast cache: each weight is
    cast once per forward anyway, and a cache would not survive CUDA-graph capture."""
    if cfg.precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=False)
    return contextlib.nullcontext()


def _fit(
    x: torch.Tensor,
    y: torch.Tensor,
    sets: list[torch.Tensor],
    seeds: Sequence[int],
    spec: ClassifierSpec,
    cfg: TrainConfig,
) -> list[Classifier]:
    if cfg.mode == "sequential":  # the reference: each model on its own, one after the other
        return [_fit_group_loop(x, y, [idx], [s], spec, cfg)[0] for idx, s in zip(sets, seeds)]
    # Models that take the same number of minibatches per epoch train together.
    groups: dict[int, list[int]] = {}
    for i, idx in enumerate(sets):
        groups.setdefault(math.ceil(len(idx) / cfg.batch_size), []).append(i)
    out: list[Classifier | None] = [None] * len(sets)
    for members in groups.values():
        trained = _fit_group_loop(
            x, y, [sets[i] for i in members], [seeds[i] for i in members], spec, cfg
        )
        for i, model in zip(members, trained):
            out[i] = model
    return out  # type: ignore[return-value]


def _generator_for(seed: int, device: torch.device) -> torch.Generator:
    return make_generator((int(seed) + _GENERATOR_SEED_OFFSET) % (2**63), device)


def _full_batch(sets: list[torch.Tensor], cfg: TrainConfig) -> bool:
    """Whether every model trains on its whole index set at every step."""
    return all(len(idx) <= cfg.batch_size for idx in sets)


def _step_rows(
    sets: list[torch.Tensor], gens: list[torch.Generator], cfg: TrainConfig, device: torch.device
) -> Iterator[list[torch.Tensor]]:
    """Each model's minibatch rows, for every optimizer step of training.

    Full batch: the index sets themselves at every epoch (nothing drawn). Otherwise each model
    shuffles its set with its own generator once per epoch; models of one call have the same
    number of minibatches per epoch (``fit_models`` groups them so).
    """
    if _full_batch(sets, cfg):
        for _ in range(cfg.epochs):
            yield sets
        return
    for _ in range(cfg.epochs):
        batches = [
            torch.randperm(len(idx), generator=g, device=device).split(cfg.batch_size)
            for idx, g in zip(sets, gens)
        ]
        for j in range(len(batches[0])):
            yield [idx[b[j]] for idx, b in zip(sets, batches)]


StepInputs = tuple[torch.Tensor, ...]


def _run_steps(
    step: Callable[[StepInputs, StepInputs], None],
    inputs: Iterable[tuple[StepInputs, StepInputs]],
    graphed: bool,
    device: torch.device,
) -> None:
    """Call ``step(batch, masks)`` for each step's inputs, eagerly or as CUDA-graph replays.

    Graphed (full batch only: ``batch`` is the same tensors every step): the first
    :data:`_GRAPH_WARMUP_STEPS` steps run eagerly on a side stream, the next one is captured
    with that step's masks as the graph's static inputs, and every later step copies its freshly
    drawn masks into them and replays the graph. The arithmetic is the eager step's.
    """
    if not graphed:
        for batch, masks in inputs:
            step(batch, masks)
        return
    it = iter(inputs)
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for batch, masks in itertools.islice(it, _GRAPH_WARMUP_STEPS):
            step(batch, masks)
    torch.cuda.current_stream(device).wait_stream(side)
    first = next(it, None)
    if first is None:
        return
    batch, static_masks = first
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step(batch, static_masks)
    graph.replay()
    for _, masks in it:
        torch._foreach_copy_(list(static_masks), list(masks))
        graph.replay()


def _fit_group_loop(
    x: torch.Tensor,
    y: torch.Tensor,
    sets: list[torch.Tensor],
    seeds: list[int],
    spec: ClassifierSpec,
    cfg: TrainConfig,
) -> list[Classifier]:
    """Each model keeps its own parameter tensors (no stacked-gradient scatter); per step, each
    model's forward and backward in turn, then one Adam step over all of them."""
    device = x.device
    graphed = cfg.graphed(device) and _full_batch(sets, cfg)
    models = [build_classifier(spec, s, device).train() for s in seeds]
    params = [p for m in models for p in m.parameters()]
    opt = torch.optim.Adam(params, lr=cfg.lr, capturable=graphed, foreach=True)
    gens = [_generator_for(s, device) for s in seeds]

    def gather(rows: list[torch.Tensor]) -> StepInputs:
        return tuple(t for r in rows for t in (x[r], y[r]))

    fixed = gather(sets) if _full_batch(sets, cfg) else None

    def inputs() -> Iterator[tuple[StepInputs, StepInputs]]:
        for rows in _step_rows(sets, gens, cfg, device):
            batch = fixed if fixed is not None else gather(rows)
            masks = tuple(
                t
                for m, g in enumerate(gens)
                for t in draw_dropout_masks(spec, len(batch[2 * m + 1]), g, device)
            )
            yield batch, masks

    def step(batch: StepInputs, masks: StepInputs) -> None:
        # Each model's backward right after its forward (its gradients are independent of the
        # other models'), so only one model's activations are alive at a time; then one Adam
        # step for all. Holding every model's activations for one summed backward measured up
        # to 1.7x slower on the CPU at 1000 labels.
        opt.zero_grad(set_to_none=True)
        for m, model in enumerate(models):
            with _autocast(cfg, device):
                logits = model(batch[2 * m], (masks[2 * m], masks[2 * m + 1]))
            F.cross_entropy(logits.float(), batch[2 * m + 1]).backward()
        opt.step()

    _run_steps(step, inputs(), graphed, device)
    return [m.eval() for m in models]
