"""Sweeps on Ray: the same curves as a sequential sweep, and clear errors for bad settings."""

from __future__ import annotations

import dataclasses

import pytest

from agents.evaluation import CURVES_CSV, ORACLE_CSV, OVERLAP_CSV, EvalConfig, evaluate, read_csv
from iale_env import ActiveLearningEnv, ALConfig
from tests.conftest import TINY, run_script

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:MNIST:UserWarning")

#: Columns that measure time, not the run's results.
TIMING = {"step_seconds", "run_seconds"}


def _results(folder) -> dict[str, list[tuple]]:
    """Every CSV of a sweep, timing columns dropped, in a canonical order."""
    tables = {}
    for name in (CURVES_CSV, OVERLAP_CSV, ORACLE_CSV):
        rows = read_csv(folder / name)
        tables[name] = sorted(tuple((k, v) for k, v in r.items() if k not in TIMING) for r in rows)
    return tables


@pytest.mark.slow
def test_a_sweep_on_two_ray_workers_writes_the_sequential_curves_bit_for_bit(
    idx_root, policy_dir, tmp_path
):
    from agents.evaluation.parallel import RayRunner

    env = ALConfig(**{**TINY, "data_dir": str(idx_root)})
    methods = ("random", "oracle", f"iale:{policy_dir}")
    cfg = EvalConfig(("MNIST", "FashionMNIST"), methods, (0, 1), env, ("random", "mc_dropout"))
    evaluate(cfg, tmp_path / "seq", log=None)
    # half the runs first, then the rest: a parallel sweep resumes like a sequential one
    half = EvalConfig(("MNIST",), methods[:1], (0, 1), env, cfg.overlap_with)
    with RayRunner(workers=2, threads=1) as runner:
        evaluate(half, tmp_path / "ray", log=None, runner=runner)
        assert len(read_csv(tmp_path / "ray" / CURVES_CSV)) == 2 * 7
        evaluate(cfg, tmp_path / "ray", log=None, runner=runner)
    seq, par = _results(tmp_path / "seq"), _results(tmp_path / "ray")
    assert len(seq[CURVES_CSV]) == 2 * 3 * 2 * 7  # datasets x methods x seeds x points
    assert seq[OVERLAP_CSV] and seq[ORACLE_CSV]
    assert par == seq


@pytest.mark.slow
@pytest.mark.dagger  # its train_dagger.py half needs imitation
def test_ray_settings_that_cannot_run_fail_before_any_run(idx_root, tmp_path):
    from agents.evaluation.parallel import RayRunner

    with pytest.raises(ValueError, match="needs workers"):
        RayRunner()
    with pytest.raises(ValueError, match="threads must be"):
        RayRunner(workers=2, threads=0)
    with pytest.raises(ValueError, match=r"reserves 1.0 GPU\(s\), but the Ray cluster has 0"):
        with RayRunner(workers=1, gpus=1.0):
            pass
    assert not ray.is_initialized()  # the instance it started is gone
    common = ["--preset", "reduced", "--datasets", "MNIST", "--methods", "random"]
    common += ["--seeds", "0", "--data-dir", str(idx_root), "--out", str(tmp_path / "e")]
    for extra, message in [
        (["--workers", "0"], "--workers must be >= 1"),
        (["--gpus-per-run", "0.5"], "--gpus-per-run needs a Ray sweep"),
        (["--workers", "2", "--device", "cuda:1"], "needs a CUDA GPU|use --device cuda"),
    ]:
        proc = run_script("evaluate.py", *common, *extra)
        assert proc.returncode == 2, proc.stderr
        last = proc.stderr.strip().splitlines()[-1]
        assert any(m in last for m in message.split("|")), proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "e" / CURVES_CSV).exists()
    dagger = ["--preset", "smoke", "--data-dir", str(idx_root), "--out", str(tmp_path / "d")]
    for extra, message in [
        (["--envs", "0"], "--envs must be >= 1"),
        (["--envs", "2", "--address", "local", "--device", "cuda:1"], "cuda"),
    ]:
        proc = run_script("train_dagger.py", *dagger, *extra)
        assert proc.returncode == 2, proc.stderr
        assert message in proc.stderr.strip().splitlines()[-1] and "Traceback" not in proc.stderr


def _digest(policy) -> str:
    import hashlib

    return hashlib.sha256(
        b"".join(v.cpu().numpy().tobytes() for v in policy.state_dict().values())
    ).hexdigest()


@pytest.mark.slow
def test_dagger_on_worker_processes_or_ray_actors_is_reproducible_and_resumes_to_the_same_policy(
    idx_root, tmp_path
):
    from agents.dagger import DAggerConfig, train_dagger
    from agents.vec_env import RayVecEnv, parallel_envs

    env = ALConfig(**{**TINY, "data_dir": str(idx_root)})
    cfg = DAggerConfig(episodes=2, bc_batch_size=4, bc_epochs=1, heldout_episodes=1)

    def run(out, episodes, resume=False, venv=None):
        venv = venv or parallel_envs(env, 2, threads=1)
        try:
            return train_dagger(
                venv, dataclasses.replace(cfg, episodes=episodes), out, resume, progress=False
            )
        finally:
            venv.close()

    a = run(tmp_path / "a", 2)
    steps = (TINY["budget"] - TINY["initial_labeled"]) // TINY["acquisition_size"]
    assert [r["pairs"] for r in a.log] == [2 * steps, 4 * steps]  # two episodes per round
    assert len(list((tmp_path / "a" / "demos" / "round-001").glob("*.npz"))) == 2
    # round 1 on Ray actors, stopped there, then resumed in new worker processes: the policy
    # and the log of the uninterrupted run on worker processes (the policy of round 2 is
    # trained on the demonstrations of both rounds, so Ray's round 1 must be the processes')
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote = run(tmp_path / "c", 1, venv=RayVecEnv(env, 2, threads=1))
    finally:
        ray.shutdown()
    assert remote.log[0]["pairs"] == a.log[0]["pairs"]
    assert remote.log[0]["wins"] == a.log[0]["wins"]
    resumed = run(tmp_path / "c", 2, resume=True)
    assert _digest(resumed.policy) == _digest(a.policy)
    untimed = [[{k: v for k, v in r.items() if k != "wall_s"} for r in x.log] for x in (resumed, a)]
    assert untimed[0] == untimed[1]
    # the number of envs is part of what a resume must match
    with pytest.raises(ValueError, match=r"collection.num_envs"):
        train_dagger(ActiveLearningEnv(env), cfg, tmp_path / "c", resume=True, progress=False)


@pytest.mark.slow
def test_the_parallel_benchmark_refuses_settings_it_cannot_measure(tmp_path):
    for extra, message in [
        (["--workers", "1"], "--workers must be >= 2"),
        (["--workers", "2", "--threads", "1"], "at most the cores (1)"),
        (["--runs", "1", "--threads", "2"], "--runs must be >= 2"),
    ]:
        proc = run_script("benchmark_parallel.py", *extra, "--data-dir", str(tmp_path))
        assert proc.returncode == 2, proc.stderr
        assert message in proc.stderr and "Traceback" not in proc.stderr
