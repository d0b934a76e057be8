"""IALE-Gym: batch-mode pool-based active learning as Gymnasium environments.

``import iale_env`` registers ``IALE-MNIST-v0``, ``IALE-FashionMNIST-v0`` and ``IALE-KMNIST-v0``;
``gym.make(id, **kwargs)`` passes keyword overrides to :class:`ALConfig`.
"""

from gymnasium.envs.registration import register, registry

from iale_env.classifier import Classifier, ClassifierSpec, build_classifier
from iale_env.config import ALConfig
from iale_env.data import ALDataset, DatasetNotFoundError, load_dataset, resolve_data_dir
from iale_env.env import ActiveLearningEnv, OracleResult
from iale_env.experts import EXPERTS, Expert, SelectionContext, make_expert
from iale_env.training import TrainConfig, fit_models, predict_models
from iale_env.wrappers import TopKScoreAction

ENV_IDS = {name: f"IALE-{name}-v0" for name in ("MNIST", "FashionMNIST", "KMNIST")}

for _name, _id in ENV_IDS.items():
    if _id not in registry:
        register(id=_id, entry_point="iale_env.env:ActiveLearningEnv", kwargs={"dataset": _name})

__all__ = [
    "ALConfig",
    "ALDataset",
    "ActiveLearningEnv",
    "Classifier",
    "ClassifierSpec",
    "DatasetNotFoundError",
    "ENV_IDS",
    "EXPERTS",
    "Expert",
    "OracleResult",
    "SelectionContext",
    "TopKScoreAction",
    "TrainConfig",
    "build_classifier",
    "fit_models",
    "load_dataset",
    "make_expert",
    "predict_models",
    "resolve_data_dir",
]
