"""IALE-Gym: batch-mode pool-based active learning as Gymnasium environments.

``import iale_env`` registers ``IALE-MNIST-v0``, ``IALE-FashionMNIST-v0``, ``IALE-KMNIST-v0`` and
``IALE-Custom-v0`` (a user's data: ``gym.make("IALE-Custom-v0", data="my_data.npz")``, or an
image folder); ``gym.make(id, **kwargs)`` passes keyword overrides to :class:`ALConfig`.
``IALE-MNIST-fast-v0``, ``IALE-FashionMNIST-fast-v0`` and ``IALE-KMNIST-fast-v0`` are the fast
track: the ``fast`` protocol's settings (:data:`iale_env.protocols.FAST`), a small MLP as M.
"""

from gymnasium.envs.registration import register, registry

from iale_env.classifier import Classifier, ClassifierSpec, build_classifier
from iale_env.config import ALConfig
from iale_env.data import CUSTOM, ALDataset, DatasetNotFoundError, load_data_file
from iale_env.datasets import load_dataset, resolve_data_dir
from iale_env.env import ActiveLearningEnv
from iale_env.experts import EXPERTS, Expert, SelectionContext, make_expert, register_expert
from iale_env.inference import predict_models
from iale_env.oracles import OracleResult
from iale_env.protocols import FAST
from iale_env.split import check_data_fits
from iale_env.training import TrainConfig, fit_models
from iale_env.wrappers import TopKScoreAction

ENV_IDS = {name: f"IALE-{name}-v0" for name in ("MNIST", "FashionMNIST", "KMNIST")}
#: The fast track's env ids (the ``fast`` protocol: the ``cpu`` settings with the MLP as M).
FAST_ENV_IDS = {name: f"IALE-{name}-fast-v0" for name in ENV_IDS}
#: The id of an env on a user's data (``data=`` an ``.npz`` path, an image folder or an ALDataset).
CUSTOM_ENV_ID = "IALE-Custom-v0"

for _name, _id in ENV_IDS.items():
    if _id not in registry:
        register(id=_id, entry_point="iale_env.env:ActiveLearningEnv", kwargs={"dataset": _name})
for _name, _id in FAST_ENV_IDS.items():
    if _id not in registry:
        register(
            id=_id,
            entry_point="iale_env.env:ActiveLearningEnv",
            kwargs={"dataset": _name, **FAST.al_config()},
        )
if CUSTOM_ENV_ID not in registry:
    register(
        id=CUSTOM_ENV_ID, entry_point="iale_env.env:ActiveLearningEnv", kwargs={"dataset": CUSTOM}
    )

__all__ = [
    "ALConfig",
    "ALDataset",
    "CUSTOM_ENV_ID",
    "ActiveLearningEnv",
    "check_data_fits",
    "Classifier",
    "ClassifierSpec",
    "DatasetNotFoundError",
    "ENV_IDS",
    "FAST_ENV_IDS",
    "EXPERTS",
    "Expert",
    "OracleResult",
    "SelectionContext",
    "TopKScoreAction",
    "TrainConfig",
    "build_classifier",
    "fit_models",
    "load_data_file",
    "load_dataset",
    "make_expert",
    "register_expert",
    "predict_models",
    "resolve_data_dir",
]
