"""Training sources: the datasets a learned policy trains on, one env per source.

A source is an MNIST-family name (``MNIST``, ``FashionMNIST``, ``KMNIST``), a generated task
``synthetic:<seed>`` (:mod:`iale_env.synthetic`) or the path of a user's ``.npz`` file or image
folder (:func:`iale_env.load_data_file`). ``train_dagger.py --dataset MNIST,synthetic:0,...``
collects one AL episode per source in every DAgger round, so the policy learns from all of
them; every source runs the same protocol, and all must give the same state layout (the same
number of classes, and the classifier's embedding size). A run records its sources by name
(a file by its path: keep it unchanged to ``--resume``)::

    from agents.sources import parse_sources, source_envs

    sources = parse_sources("MNIST,synthetic:0,synthetic:1")
    venv = source_envs(ALConfig(**FAST.al_config()), sources)  # an SB3 VecEnv, one env each
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import gymnasium as gym
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from iale_env import ActiveLearningEnv, ALConfig, ALDataset, load_dataset
from iale_env.data import CUSTOM, load_data_file
from iale_env.datasets import DATASETS, canonical_name
from iale_env.synthetic import SYNTHETIC_PREFIX, parse_synthetic

_FORMS = (
    f"{', '.join(DATASETS)}, {SYNTHETIC_PREFIX}<seed> (a generated task) or the path of an "
    f".npz file or image folder"
)


def parse_sources(spec: str) -> tuple[str, ...]:
    """The sources of a comma-separated ``spec``, MNIST-family names in canonical form.

    Raises:
        ValueError: an empty spec or source, a source that is none of the accepted forms, or a
            source named twice.
    """
    names = [s.strip() for s in spec.split(",")]
    if not spec.strip() or not all(names):
        raise ValueError(f"need one or more comma-separated sources ({_FORMS}), got {spec!r}")
    sources: list[str] = []
    for name in names:
        task = parse_synthetic(name)  # checks the seed
        if task is not None:
            source = task.name  # synthetic:007 is synthetic:7
        elif _builtin(name):
            source = canonical_name(name)  # a dataset name wins over a folder of that name
        elif Path(name).expanduser().exists():
            source = name
        else:
            raise ValueError(
                f"unknown source {name!r}: a source is {_FORMS} (no such file or folder)"
            )
        if source in sources:
            raise ValueError(f"source {source!r} is named twice in {spec!r}")
        sources.append(source)
    return tuple(sources)


def _builtin(name: str) -> bool:
    try:
        canonical_name(name)
    except ValueError:
        return False
    return True


def load_source(source: str, data_dir: str | Path | None = None) -> ALDataset:
    """The data of one source (as :func:`parse_sources` names it): an MNIST-family dataset
    from ``data_dir`` (:func:`iale_env.load_dataset`), a generated task, or a user's file.

    Raises:
        DatasetNotFoundError: an MNIST-family dataset's files, or a user's file, are missing.
        ValueError: a user's file is not in a form :func:`iale_env.load_data_file` reads.
    """
    if source in DATASETS:
        return load_dataset(source, data_dir)
    task = parse_synthetic(source)
    return task.make() if task is not None else load_data_file(source)


def source_env(cfg: ALConfig, source: str) -> ActiveLearningEnv:
    """An env of ``cfg``'s protocol on ``source`` (``cfg.dataset`` is replaced by it)."""
    if source in DATASETS:
        return ActiveLearningEnv(dataclasses.replace(cfg, dataset=source))
    return ActiveLearningEnv(dataclasses.replace(cfg, dataset=CUSTOM), data=load_source(source))


def _worker_source_env(cfg: ALConfig, source: str, threads: int) -> gym.Env:
    import torch

    torch.set_num_threads(threads)
    return source_env(cfg, source)


def source_envs(
    cfg: ALConfig, sources: tuple[str, ...], workers: bool = False, threads: int = 1
) -> VecEnv:
    """One env per source, in this process (SB3's ``DummyVecEnv``) or each in a worker process
    with ``threads`` PyTorch threads (``workers=True``: ``SubprocVecEnv``; every source is
    first checked in this process). Close it when done.

    Raises:
        ValueError: a source's data does not fit the protocol, or the sources' states differ
            in layout (another number of classes or embedding size).
    """
    if not sources:
        raise ValueError("need at least one source")
    if workers:  # each source checked here first: an error in a worker would be a traceback
        _check_layouts(sources, [source_env(cfg, s) for s in sources])
        fns = [functools.partial(_worker_source_env, cfg, s, threads) for s in sources]
        return SubprocVecEnv(fns)
    venv = DummyVecEnv([functools.partial(source_env, cfg, s) for s in sources])
    try:
        _check_layouts(sources, venv.envs)
    except ValueError:
        venv.close()
        raise
    return venv


def _check_layouts(sources: tuple[str, ...], envs: list[gym.Env]) -> None:
    """Refuse sources whose states differ: another number of classes or embedding size."""
    layouts = [
        (e.unwrapped.classifier_spec.num_classes, e.unwrapped.classifier_spec.embedding_dim)
        for e in envs
    ]
    if len(set(layouts)) > 1:
        found = ", ".join(f"{s}: K={k}, D={d}" for s, (k, d) in zip(sources, layouts))
        raise ValueError(
            f"the sources give states of different layouts ({found}): a policy reads one "
            f"layout, so train on sources with the same number of classes (K) and a classifier "
            f"with the same embedding size (D)"
        )
