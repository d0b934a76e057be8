"""Shared fixtures and helpers: tiny, learnable synthetic MNIST-like data (as arrays and as IDX
files), fixed learning-curve rows, and running a script the way a user does."""

from __future__ import annotations

import ast
import functools
import json
import os
import struct
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest

from agents.extras import DAGGER_INSTALL, has_imitation, is_missing_imitation
from iale_env import ActiveLearningEnv, ALConfig, ALDataset

NUM_CLASSES = 10
ROOT = Path(__file__).resolve().parents[1]

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Parallel test workers (pytest -n N) share the cores: one PyTorch thread each, for the
    # tests and for the scripts they run (which read OMP_NUM_THREADS).
    import torch

    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)

#: Whether imitation (the ``dagger`` extra) is installed. Without it (the base install, e.g. on
#: the newest gymnasium/SB3/numpy) every test marked ``dagger`` is skipped, and so is every test
#: module that imports one of :data:`IMITATION_MODULES` at its top.
HAS_IMITATION = has_imitation()
#: The modules whose import needs imitation.
IMITATION_MODULES = (
    "imitation",
    "agents.dagger",
    "agents.diagnostics.imitability",
    "agents.diagnostics.decisions",
)
NEEDS_IMITATION = f"needs imitation, which is not installed ({DAGGER_INSTALL})"


def _top_level_imports(tree: ast.Module) -> Iterator[str]:
    """The modules a module imports when it is imported (not inside its functions)."""
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module
        elif isinstance(node, ast.If | ast.Try | ast.ExceptHandler):
            stack.extend(ast.iter_child_nodes(node))


@functools.cache
def imports_imitation(path: Path) -> bool:
    """Whether importing the module at ``path`` imports imitation (or agents.dagger, ...)."""
    names = _top_level_imports(ast.parse(Path(path).read_text()))
    return any(n == m or n.startswith(m + ".") for n in names for m in IMITATION_MODULES)


class _NeedsImitationModule(pytest.Module):
    """A test module that cannot be imported without imitation: reported as skipped."""

    def collect(self):  # type: ignore[override]
        pytest.skip(f"{self.path.name} {NEEDS_IMITATION}", allow_module_level=True)


def pytest_pycollect_makemodule(
    module_path: Path, parent: pytest.Collector
) -> pytest.Module | None:
    """Without imitation, skip (instead of failing to import) the modules that import it."""
    if not HAS_IMITATION and module_path.name != "conftest.py" and imports_imitation(module_path):
        return _NeedsImitationModule.from_parent(parent, path=module_path)
    return None


#: The kinds of tests, one folder each (``tests/<kind>/``); every test gets its folder's marker.
KINDS = ("unit", "integration", "reliability", "artefacts")


@pytest.hookimpl(tryfirst=True)  # before ``-m`` selects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with its kind (its folder), mark ``dagger`` every test of a module that
    imports imitation (the others are marked by hand); skip the marked tests where imitation is
    not installed."""
    for item in items:
        kind = item.path.parent.name
        if kind in KINDS:
            item.add_marker(getattr(pytest.mark, kind))
        if imports_imitation(item.path):
            item.add_marker(pytest.mark.dagger)
        if not HAS_IMITATION and item.get_closest_marker("dagger") is not None:
            item.add_marker(pytest.mark.skip(reason=NEEDS_IMITATION))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A test that fails for want of imitation without being marked: say how to mark it."""
    outcome = yield
    report = outcome.get_result()
    if (
        report.failed
        and call.excinfo is not None
        and is_missing_imitation(call.excinfo.value)
        and item.get_closest_marker("dagger") is None
    ):
        report.sections.append(
            ("needs imitation", "this test needs imitation: mark it @pytest.mark.dagger")
        )


def run_script(
    script: str, *args: str, env: Mapping[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run ``scripts/<script> args`` in a fresh interpreter (as a user would), output captured.

    The child sees this process's environment plus ``PYTHONPATH`` set to the checkout and ``env``.
    """
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    cmd = [sys.executable, str(ROOT / "scripts" / script), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout)


def max_weight_diff(a: Sequence, b: Sequence) -> float:
    """Largest absolute difference between corresponding weights of two lists of models."""
    pairs = zip((p for m in a for p in m.parameters()), (q for m in b for q in m.parameters()))
    return max((p - q).abs().max().item() for p, q in pairs)


def curve_rows(
    curves: Mapping[tuple[str, int], Sequence[float]], labeled: Sequence[int] = (20, 60, 100)
) -> list[dict[str, str]]:
    """``curves.csv``-like rows of dataset ``D`` from ``{(method, seed): accuracies}``."""
    return [
        dict(dataset="D", method=m, seed=str(s), labeled=str(lab), test_accuracy=str(a))
        for (m, s), accs in curves.items()
        for lab, a in zip(labeled, accs)
    ]


def synthetic_images(
    n: int, seed: int, num_classes: int = NUM_CLASSES
) -> tuple[np.ndarray, np.ndarray]:
    """``uint8`` 28x28 images: class c is a bright 8x8 square at a class-specific spot, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % num_classes
    rng.shuffle(labels)
    images = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
    for i, c in enumerate(labels):
        r, col = 2 + 6 * (c // 4), 2 + 6 * (c % 4)
        jitter = rng.integers(-1, 2, size=2)
        r, col = r + jitter[0], col + jitter[1]
        images[i, max(r, 0) : r + 8, max(col, 0) : col + 8] = rng.integers(180, 256, size=(1,))
    return images, labels.astype(np.int64)


def tiny_dataset(n_train: int = 400, n_test: int = 120, seed: int = 0) -> ALDataset:
    tx, ty = synthetic_images(n_train, seed)
    vx, vy = synthetic_images(n_test, seed + 1)
    return ALDataset.from_arrays(tx, ty, vx, vy, name="tiny")


#: A small but complete AL configuration: every code path, seconds per episode.
TINY = dict(
    budget=40,
    initial_labeled=10,
    acquisition_size=5,
    subpool_size=20,
    epochs=3,
    scoring_size=60,
    test_size=60,
    mc_dropout_passes=5,
    ensemble_size=3,
)


@pytest.fixture(scope="session")
def tiny_data() -> ALDataset:
    return tiny_dataset()


@pytest.fixture
def make_env(tiny_data):
    """Factory: a tiny env over the synthetic data; keyword overrides go to :class:`ALConfig`."""

    def make(**overrides) -> ActiveLearningEnv:
        return ActiveLearningEnv(ALConfig(**{**TINY, **overrides}), data=tiny_data)

    return make


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write an uncompressed IDX file (the format of the official MNIST files)."""
    code = 0x08  # unsigned byte
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(
        ">" + "I" * array.ndim, *array.shape
    )
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope="session")
def idx_root(tmp_path_factory) -> Path:
    """A data root with tiny MNIST and FashionMNIST in torchvision's layout (uncompressed IDX)."""
    root = tmp_path_factory.mktemp("data")
    for offset, name in enumerate(("MNIST", "FashionMNIST")):
        raw = root / name / "raw"
        raw.mkdir(parents=True)
        for split, n, seed in (("train", 400, 0), ("t10k", 120, 1)):
            images, labels = synthetic_images(n, seed + 10 * offset)
            write_idx(raw / f"{split}-images-idx3-ubyte", images)
            write_idx(raw / f"{split}-labels-idx1-ubyte", labels)
    return root


@pytest.fixture
def policy_dir(tmp_path, tiny_data) -> Path:
    """An (untrained) IALE policy saved like train_dagger.py saves one."""
    from agents.policy import IALEPolicy
    from agents.schedules import ConstantLR
    from iale_env import ActiveLearningEnv, ALConfig

    env = ActiveLearningEnv(ALConfig(**TINY), data=tiny_data)
    policy = IALEPolicy(env.observation_space, env.action_space, ConstantLR(1e-3), 5)
    out = tmp_path / "iale_run"
    out.mkdir()
    policy.save(str(out / "policy.zip"))
    (out / "config.json").write_text(json.dumps({"env": {"subpool_mean_embedding": False}}))
    return out


@pytest.fixture
def policy_file(make_env, tmp_path):
    """An untrained IALE policy saved as ``run/policy.zip`` with its run's ``config.json``."""
    from agents.policy import IALEPolicy
    from agents.schedules import ConstantLR

    env = make_env()
    policy = IALEPolicy(
        env.observation_space,
        env.action_space,
        ConstantLR(1e-3),
        acquisition_size=env.config.acquisition_size,
        view="invariant",
    )
    path = tmp_path / "run" / "policy.zip"
    path.parent.mkdir()
    policy.save(str(path))
    (path.parent / "config.json").write_text(json.dumps({"env": {"epochs": 3}}))
    return path


def image_folder(root: Path, n: int = 60) -> tuple[Path, list[str], np.ndarray]:
    """``n`` synthetic PNG images in ``root/photos``: the folder, the file names, the labels."""
    from PIL import Image

    images, labels = synthetic_images(n, 0)
    files = []
    for i, img in enumerate(images):
        path = root / "photos" / f"img{i:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(path)
        files.append(path.name)
    return root / "photos", files, labels
