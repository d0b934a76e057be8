"""Several IALE envs, each in a worker of its own: the collection side of parallel DAgger.

- :func:`parallel_envs` starts ``n`` envs in worker processes on this machine (SB3's
  ``SubprocVecEnv``);
- :class:`RayVecEnv` holds them as Ray actors, on this machine or across a Ray cluster.

Both are SB3 ``VecEnv``s, so :func:`agents.dagger.train_dagger` and imitation's collector use
them like any other; the oracle answers inside each worker (``env_method``). Each worker sets
PyTorch's threads to the CPUs it holds, so ``n`` workers never oversubscribe a machine. Every
env is seeded by the VecEnv's seed and its index, so with the same threads per env the two give
the same episodes.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import SubprocVecEnv, VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvStepReturn

from iale_env import ActiveLearningEnv, ALConfig


def make_worker_env(cfg: ALConfig, threads: int) -> gym.Env:
    """An IALE env for a worker that holds ``threads`` CPUs (sets PyTorch's threads)."""
    import torch

    torch.set_num_threads(threads)
    return ActiveLearningEnv(cfg)


def _check_sizes(n: int, threads: int) -> None:
    if n < 1 or threads < 1:
        raise ValueError(f"need at least one env and one thread each, got n={n}, threads={threads}")


def parallel_envs(cfg: ALConfig, n: int, threads: int = 1) -> VecEnv:
    """``n`` IALE envs of ``cfg``, each in its own worker process with ``threads`` PyTorch
    threads (SB3's ``SubprocVecEnv``). Close it when done."""
    _check_sizes(n, threads)
    return SubprocVecEnv([functools.partial(make_worker_env, cfg, threads) for _ in range(n)])


class _EnvActor:
    """One env inside a Ray actor; steps auto-reset like SB3's ``SubprocVecEnv`` workers."""

    def __init__(self, cfg: ALConfig, threads: int) -> None:
        self.env = make_worker_env(cfg, threads)

    def spaces(self) -> tuple[gym.Space, gym.Space]:
        return self.env.observation_space, self.env.action_space

    def step(self, action: np.ndarray) -> tuple:
        obs, reward, terminated, truncated, info = self.env.step(action)
        done = terminated or truncated
        info["TimeLimit.truncated"] = truncated and not terminated
        reset_info: dict[str, Any] = {}
        if done:
            info["terminal_observation"] = obs
            obs, reset_info = self.env.reset()
        return obs, reward, done, info, reset_info

    def reset(self, seed: int | None, options: dict | None) -> tuple:
        return self.env.reset(seed=seed, **({"options": options} if options else {}))

    def call(self, name: str, args: tuple, kwargs: dict) -> Any:
        return getattr(self.env, name)(*args, **kwargs)

    def get(self, name: str) -> Any:
        return getattr(self.env, name)

    def set(self, name: str, value: Any) -> None:
        setattr(self.env, name, value)

    def is_wrapped(self, wrapper_class: type) -> bool:
        from stable_baselines3.common.env_util import is_wrapped

        return is_wrapped(self.env, wrapper_class)

    def close(self) -> None:
        self.env.close()


class RayVecEnv(VecEnv):
    """``n`` IALE envs of ``cfg`` as Ray actors, each reserving ``threads`` CPUs (and ``gpus``
    of a GPU for ``device="cuda"`` envs), on the Ray instance this process is connected to
    (``ray.init(...)`` first, e.g. ``ray.init(address="auto")`` on a cluster). Close it when done.
    """

    def __init__(self, cfg: ALConfig, n: int, threads: int = 1, gpus: float = 0.0) -> None:
        from agents.evaluation.parallel import import_ray

        ray = self._ray = import_ray()
        _check_sizes(n, threads)
        if not ray.is_initialized():
            raise RuntimeError("connect to Ray first: ray.init() or ray.init(address=...)")
        actor = ray.remote(_EnvActor).options(num_cpus=threads, num_gpus=gpus)
        self.actors = [actor.remote(cfg, threads) for _ in range(n)]
        observation_space, action_space = ray.get(self.actors[0].spaces.remote())
        super().__init__(n, observation_space, action_space)
        self._pending: list | None = None
        self._closed = False

    def _targets(self, indices: VecEnvIndices) -> list:
        return [self.actors[i] for i in self._get_indices(indices)]

    def reset(self) -> np.ndarray:  # noqa: D102
        ray = self._ray
        results = ray.get(
            [a.reset.remote(self._seeds[i], self._options[i]) for i, a in enumerate(self.actors)]
        )
        obs, self.reset_infos = zip(*results)
        self._reset_seeds()
        self._reset_options()
        return np.stack(obs)

    def step_async(self, actions: np.ndarray) -> None:  # noqa: D102
        self._pending = [a.step.remote(act) for a, act in zip(self.actors, actions)]

    def step_wait(self) -> VecEnvStepReturn:  # noqa: D102
        if self._pending is None:
            raise RuntimeError("call step_async() before step_wait()")
        results, self._pending = self._ray.get(self._pending), None
        obs, rews, dones, infos, self.reset_infos = zip(*results)
        return np.stack(obs), np.stack(rews), np.stack(dones), infos

    def close(self) -> None:  # noqa: D102
        if self._closed:
            return
        self._ray.get([a.close.remote() for a in self.actors])
        for a in self.actors:
            self._ray.kill(a)
        self._closed = True

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:  # noqa: D102
        return self._ray.get([a.get.remote(attr_name) for a in self._targets(indices)])

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:  # noqa: D102
        self._ray.get([a.set.remote(attr_name, value) for a in self._targets(indices)])

    def env_method(  # noqa: D102
        self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs
    ) -> list[Any]:
        calls = [
            a.call.remote(method_name, method_args, method_kwargs) for a in self._targets(indices)
        ]
        return self._ray.get(calls)

    def env_is_wrapped(  # noqa: D102
        self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        return self._ray.get([a.is_wrapped.remote(wrapper_class) for a in self._targets(indices)])

    def get_images(self) -> Sequence[np.ndarray | None]:  # noqa: D102
        return [None] * self.num_envs
