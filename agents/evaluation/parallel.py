"""Run a sweep's episodes as Ray tasks, on this machine's cores or on a Ray cluster.

A sweep is hundreds of independent (dataset, method, seed) episodes. :class:`RayRunner` hands
each one to Ray as a task that reserves ``threads`` CPUs (and ``gpus`` of a GPU) and sets
PyTorch's threads to them, so the runs never oversubscribe a machine; the finished runs stream
back to :func:`~agents.evaluation.sweep.evaluate`, which writes them to ``curves.csv`` as they
come, so resume, pairing and the summary are the same as for a sequential sweep. Every episode
is seeded by its (dataset, seed) alone, so with the same threads per run the curves are
bit-identical to a sequential sweep's (only the timing columns differ; PyTorch's CPU results
depend on the thread count).

    from agents.evaluation import EvalConfig, evaluate
    from agents.evaluation.parallel import RayRunner

    with RayRunner(workers=4, threads=1) as runner:      # a local Ray instance, 4 runs at once
        evaluate(cfg, "runs/eval", runner=runner)
    with RayRunner(address="auto", threads=2) as runner:  # an existing cluster (`ray start`)
        evaluate(cfg, "runs/eval", runner=runner)

Ray is optional (``pip install "iale-gym[ray]"``); a sequential sweep never imports it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from agents.evaluation.ray_guard import check_reachable
from agents.evaluation.sweep import RunResult, RunTask, run_task
from iale_env import ALDataset


def import_ray() -> ModuleType:
    """``ray``, or ``ImportError`` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ImportError(
            "parallel sweeps run on Ray, which is not installed; pip install 'iale-gym[ray]' "
            "(or pip install 'ray>=2.9'), or run without --workers/--address"
        ) from None
    return ray


def connect_ray(address: str | None, num_cpus: int | None = None, hint: str = "") -> bool:
    """Connect this process to Ray unless it is already: a new local instance with
    ``num_cpus`` CPUs (``address=None``), or the cluster at ``address``. Returns whether this
    call connected (the caller then shuts Ray down). ``ValueError`` if it cannot connect,
    with ``hint`` saying what else to do."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = dict(
        include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False
    )
    if address is None:
        kwargs["num_cpus"] = num_cpus
    check_reachable(address, hint)  # Ray would retry for minutes, logging every attempt
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ValueError(
            f"cannot connect to the Ray cluster at {address!r} ({exc}); start one with "
            f"`ray start --head`{hint}"
        ) from None
    return True


def check_reservation(cpus: float, gpus: float) -> None:
    """``ValueError`` if one worker's reservation does not fit the connected Ray cluster
    (Ray would wait for it forever)."""
    have = import_ray().cluster_resources()
    for name, need in (("CPU", cpus), ("GPU", gpus)):
        if need > have.get(name, 0):
            raise ValueError(
                f"each run reserves {need} {name}(s), but the Ray cluster has "
                f"{have.get(name, 0):g}; lower --threads/--gpus-per-run or add nodes"
            )


def _remote_run(task: RunTask, data: ALDataset, threads: int) -> RunResult:
    """The body of one Ray task: this worker's PyTorch threads, then the episode."""
    import torch

    torch.set_num_threads(threads)
    return run_task(task, data)


@dataclass
class RayRunner:
    """Runs sweep tasks as Ray tasks (a :data:`~agents.evaluation.sweep.Runner`).

    Use it as a context manager: entering connects to Ray (starting a local instance unless
    ``address`` is given) and checks that one run's reservation fits the cluster, so a bad
    setting fails at once; leaving cancels unfinished tasks and stops the instance it started.

    Attributes:
        workers: Runs at once (``None`` with ``address``: as many as the cluster fits). A local
            instance gets ``workers * threads`` CPUs.
        address: A running Ray cluster (``"auto"``, ``"HOST:PORT"``, ``"ray://HOST:10001"``);
            ``None`` starts a local instance.
        threads: CPUs each run reserves, and its PyTorch threads.
        gpus: GPUs each run reserves (e.g. 0.25: four runs share a GPU); ``> 0`` for
            ``device="cuda"`` runs.
    """

    workers: int | None = None
    address: str | None = None
    threads: int = 1
    gpus: float = 0.0
    _ray: Any = field(default=None, init=False, repr=False)
    _started: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.workers is None and self.address is None:
            raise ValueError("a local Ray sweep needs workers (runs at once), e.g. workers=2")
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if self.gpus < 0:
            raise ValueError(f"gpus must be >= 0, got {self.gpus}")

    def __enter__(self) -> RayRunner:
        self._ray = import_ray()
        cpus = None if self.workers is None else self.workers * self.threads
        hint = ", or drop --address to run on this machine"
        self._started = connect_ray(self.address, cpus, hint)
        try:
            check_reservation(self.threads, self.gpus)
        except ValueError:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started:
            self._ray.shutdown()
            self._started = False

    def __call__(
        self, tasks: Sequence[RunTask], load: Callable[[str], ALDataset]
    ) -> Iterator[tuple[RunTask, RunResult]]:
        """Submit ``tasks`` (at most ``workers`` at once) and yield each as it finishes."""
        ray = self._ray
        if ray is None or not ray.is_initialized():
            raise RuntimeError("enter the RayRunner (with RayRunner(...) as runner:) first")
        remote = ray.remote(_remote_run).options(
            num_cpus=self.threads, num_gpus=self.gpus, max_retries=0
        )
        queue, pending, data = list(tasks), {}, {}
        try:
            while queue or pending:
                while queue and (self.workers is None or len(pending) < self.workers):
                    task = queue.pop(0)
                    if task.dataset not in data:  # one copy per dataset in the object store
                        data[task.dataset] = ray.put(load(task.dataset))
                    pending[remote.remote(task, data[task.dataset], self.threads)] = task
                (ready,), _ = ray.wait(list(pending), num_returns=1)
                task = pending.pop(ready)
                yield task, ray.get(ready)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
