"""The classifier M: Gal & Ghahramani's MNIST network, as used by the IALE authors, and the
fast track's small MLP.

``"cnn"`` (default): conv 32@4x4, ReLU, conv 32@4x4, ReLU, max-pool 2, dropout 0.25, dense 128
(ReLU; the *embedding*), dropout 0.5, dense ``num_classes``.

``"mlp"`` (the ``fast`` protocol's): pixels, dense 256, ReLU, dropout 0.25, dense 128 (ReLU; the
embedding), dropout 0.5, dense ``num_classes``: the same dropout rates and embedding, about 37
times fewer FLOPs per image (``docs/fast_track.md``).

Dropout is driven by explicit masks drawn from a per-model ``torch.Generator`` rather than the
global RNG, so that a model's training is a pure function of its seed: the batched and the
sequential fitting paths then draw the same masks and give the same weights.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

DROPOUT_CONV = 0.25
DROPOUT_DENSE = 0.5

Arch = Literal["cnn", "mlp"]
#: The built-in classifiers, by the names ``ALConfig.classifier`` takes.
BUILTIN_CLASSIFIERS: tuple[str, ...] = ("cnn", "mlp")


@dataclass(frozen=True)
class ClassifierSpec:
    """Shape of the classifier: input image shape, number of classes, embedding width.

    ``module`` names a user's classifier factory as ``"package.module:function"`` (see
    :func:`build_classifier` for the contract); ``None`` is a built-in network: ``arch="cnn"``,
    the Gal & Ghahramani CNN, whose layout ``conv_channels`` and ``kernel_size`` describe, or
    ``arch="mlp"``, the fast track's MLP with a first layer of ``hidden`` units.
    """

    image_shape: tuple[int, int, int] = (1, 28, 28)
    num_classes: int = 10
    embedding_dim: int = 128
    conv_channels: int = 32
    kernel_size: int = 4
    module: str | None = None
    arch: Arch = "cnn"
    hidden: int = 256

    def __post_init__(self) -> None:
        if self.arch not in BUILTIN_CLASSIFIERS:
            raise ValueError(f"arch must be one of {BUILTIN_CLASSIFIERS}, got {self.arch!r}")

    @property
    def conv_out_hw(self) -> tuple[int, int]:
        """Spatial size after the two valid convolutions and the 2x2 max-pool."""
        _, h, w = self.image_shape
        shrink = 2 * (self.kernel_size - 1)
        if h - shrink < 2 or w - shrink < 2:
            raise ValueError(
                f"images of {h}x{w} are too small for two {self.kernel_size}x{self.kernel_size} "
                f"convolutions and a 2x2 max-pool (need at least {shrink + 2} pixels a side)"
            )
        return (h - shrink) // 2, (w - shrink) // 2

    @property
    def conv_mask_shape(self) -> tuple[int, ...]:
        """Shape of one image's first dropout mask: after the max-pool (CNN), or after the
        first dense layer (MLP)."""
        if self.arch == "mlp":
            return (self.hidden,)
        return (self.conv_channels, *self.conv_out_hw)

    @property
    def input_size(self) -> int:
        """Pixels per image (C * H * W)."""
        c, h, w = self.image_shape
        return c * h * w

    def forward_flops(self) -> float:
        """Multiply-add FLOPs (x2) of one image's forward pass (built-in networks)."""
        d, k = self.embedding_dim, self.num_classes
        if self.arch == "mlp":
            return 2.0 * (self.input_size * self.hidden + self.hidden * d + d * k)
        c, h, w = self.image_shape
        ks, ch = self.kernel_size, self.conv_channels
        h1, w1 = h - ks + 1, w - ks + 1
        h2, w2 = h1 - ks + 1, w1 - ks + 1
        ph, pw = self.conv_out_hw
        return 2.0 * (
            c * ks * ks * ch * h1 * w1 + ch * ks * ks * ch * h2 * w2 + ch * ph * pw * d + d * k
        )


def classifier_spec(
    classifier: str | None, image_shape: tuple[int, int, int], num_classes: int
) -> ClassifierSpec:
    """The spec an env or a labeling loop builds for ``ALConfig.classifier``: ``None`` or
    ``"cnn"`` (the CNN), ``"mlp"`` (the fast track's MLP), or a user's ``"package.module:function"``
    (its embedding width read off a forward pass of two blank images)."""
    if classifier is None or classifier == "cnn":
        return ClassifierSpec(image_shape, num_classes)
    if classifier == "mlp":
        return ClassifierSpec(image_shape, num_classes, arch="mlp")
    dim = user_embedding_dim(classifier, image_shape, num_classes)
    return ClassifierSpec(image_shape, num_classes, embedding_dim=dim, module=classifier)


class Classifier(nn.Module):
    """The network M. ``forward`` returns logits; ``embed`` the dense-128 ReLU embedding."""

    def __init__(self, spec: ClassifierSpec) -> None:
        super().__init__()
        self.spec = spec
        if spec.arch == "mlp":
            self.fc0 = nn.Linear(spec.input_size, spec.hidden)
            self.fc1 = nn.Linear(spec.hidden, spec.embedding_dim)
            self.fc2 = nn.Linear(spec.embedding_dim, spec.num_classes)
            return
        c, _, _ = spec.image_shape
        h, w = spec.conv_out_hw
        self.conv1 = nn.Conv2d(c, spec.conv_channels, spec.kernel_size)
        self.conv2 = nn.Conv2d(spec.conv_channels, spec.conv_channels, spec.kernel_size)
        self.fc1 = nn.Linear(spec.conv_channels * h * w, spec.embedding_dim)
        self.fc2 = nn.Linear(spec.embedding_dim, spec.num_classes)

    def forward_with_embedding(
        self, x: torch.Tensor, masks: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and embedding of a batch; see :func:`functional_forward`."""
        return functional_forward(dict(self.named_parameters()), x, masks)

    def forward(
        self, x: torch.Tensor, masks: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Logits of a batch (dropout only where ``masks`` are given)."""
        return self.forward_with_embedding(x, masks)[0]


def functional_forward(
    params: Mapping[str, torch.Tensor],
    x: torch.Tensor,
    masks: tuple[torch.Tensor, torch.Tensor] | None = None,
    compute_dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The classifier as a pure function of its parameters.

    Args:
        params: ``Classifier.named_parameters()`` as a dict (or one model's slice of a stack).
        x: Images ``(B, C, H, W)``.
        masks: Dropout masks ``(B, *conv_mask_shape)`` and ``(B, embedding_dim)``, already
            scaled by ``1 / (1 - p)`` (see :func:`draw_dropout_masks`); ``None`` means no dropout
            (evaluation).
        compute_dtype: ``None`` (the parameters' dtype) or a lower precision (``bfloat16``)
            whose copies of the parameters ``params`` already holds: each convolution's and
            linear layer's input is cast to it, the arithmetic of ``torch.autocast`` without
            casting the weights again at every call.

    Returns:
        Logits ``(B, num_classes)`` and the embedding ``(B, embedding_dim)``.
    """

    def cast(t: torch.Tensor) -> torch.Tensor:
        return t if compute_dtype is None else t.to(compute_dtype)

    if "fc0.weight" in params:  # the MLP
        h = F.relu(F.linear(cast(x.flatten(1)), params["fc0.weight"], params["fc0.bias"]))
        if masks is not None:
            h = h * masks[0]
        emb = F.relu(F.linear(cast(h), params["fc1.weight"], params["fc1.bias"]))
        out = emb * masks[1] if masks is not None else emb
        return F.linear(cast(out), params["fc2.weight"], params["fc2.bias"]), emb
    h = F.relu(F.conv2d(cast(x), params["conv1.weight"], params["conv1.bias"]))
    h = F.max_pool2d(F.relu(F.conv2d(h, params["conv2.weight"], params["conv2.bias"])), 2)
    if masks is not None:
        h = h * masks[0]
    emb = F.relu(F.linear(cast(h.flatten(1)), params["fc1.weight"], params["fc1.bias"]))
    out = emb * masks[1] if masks is not None else emb
    return F.linear(cast(out), params["fc2.weight"], params["fc2.bias"]), emb


def build_classifier(
    spec: ClassifierSpec, seed: int, device: torch.device | str = "cpu"
) -> Classifier:
    """A freshly initialised classifier whose weights depend on ``seed`` only.

    PyTorch's default initialisation is used, under a forked RNG so the caller's global RNG state
    is neither read nor changed. Built on the CPU, then moved, so weights do not depend on device.

    **Your own classifier** (``spec.module = "package.module:function"``): ``function(image_shape,
    num_classes)`` returns a ``torch.nn.Module`` with ``forward_with_embedding(x)`` that maps
    images ``(B, C, H, W)`` in [0, 1] to ``(logits (B, num_classes), embedding (B, D))``; the
    embedding is what the Eq. 2 state, CoreSet and BADGE use, and D sets the state's width. It
    is called under ``torch.manual_seed(seed)``; IALE-Gym trains it with Adam on cross-entropy
    (the env's ``epochs``, ``batch_size``, ``lr``) in ``train()`` mode, predicts in ``eval()``
    mode, and runs MC-Dropout as stochastic ``train()``-mode passes (so its dropout layers are
    the ones MC-Dropout samples). Its randomness is drawn from seeded generators, so the same
    seed gives the same model on the same machine.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Classifier(spec) if spec.module is None else _user_module(spec)
    return model.to(device)


def resolve_factory(path: str) -> Any:
    """The function that ``"package.module:function"`` names (a user's classifier factory)."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ValueError(
            f"classifier must be 'package.module:function', got {path!r} (the function builds "
            f"the model from image_shape and num_classes)"
        )
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot import the classifier factory {path!r}: {exc}") from exc
    if not callable(factory):
        raise ValueError(f"the classifier factory {path!r} is not callable")
    return factory


def _user_module(spec: ClassifierSpec) -> nn.Module:
    model = resolve_factory(spec.module)(spec.image_shape, spec.num_classes)  # type: ignore[arg-type]
    if not isinstance(model, nn.Module) or not callable(
        getattr(model, "forward_with_embedding", None)
    ):
        raise ValueError(
            f"the classifier factory {spec.module!r} must return a torch.nn.Module with "
            f"forward_with_embedding(x) -> (logits, embedding); got {type(model).__name__}"
        )
    return model


def user_embedding_dim(module: str, image_shape: tuple[int, int, int], num_classes: int) -> int:
    """Check a user's classifier on two blank images; return its embedding width D."""
    model = build_classifier(ClassifierSpec(image_shape, num_classes, module=module), 0).eval()
    with torch.no_grad():
        out = model.forward_with_embedding(torch.zeros(2, *image_shape))
    if not (isinstance(out, tuple) and len(out) == 2):
        raise ValueError(f"{module}: forward_with_embedding must return (logits, embedding)")
    logits, emb = out
    if tuple(logits.shape) != (2, num_classes) or emb.ndim != 2 or emb.shape[0] != 2:
        raise ValueError(
            f"{module}: for 2 images of shape {image_shape} forward_with_embedding returned "
            f"logits {tuple(logits.shape)} and embedding {tuple(emb.shape)}; expected "
            f"(2, {num_classes}) and (2, D)"
        )
    return int(emb.shape[1])


def draw_dropout_masks(
    spec: ClassifierSpec, batch: int, generator: torch.Generator, device: torch.device | str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverted-dropout masks for ``batch`` images, drawn from ``generator``."""
    m1 = torch.rand((batch, *spec.conv_mask_shape), generator=generator, device=device)
    m2 = torch.rand((batch, spec.embedding_dim), generator=generator, device=device)
    m1 = (m1 >= DROPOUT_CONV).to(torch.float32).mul_(1.0 / (1.0 - DROPOUT_CONV))
    m2 = (m2 >= DROPOUT_DENSE).to(torch.float32).mul_(1.0 / (1.0 - DROPOUT_DENSE))
    return m1, m2


def make_generator(seed: int, device: torch.device | str) -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed``."""
    g = torch.Generator(device=torch.device(device))
    g.manual_seed(int(seed))
    return g
