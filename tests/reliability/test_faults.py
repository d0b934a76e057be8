"""Fault injection: a run killed at any write boundary resumes to bit-identical results.

Each case runs the real script in a fresh process with ``IALE_FAULT_AT`` naming one write
boundary (``agents.runs.faults``): the process ends there with exit code 137, as SIGKILL would, and
the rerun (``--resume`` for DAgger, the same command for a sweep) must reproduce an
uninterrupted run exactly.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from agents.evaluation import CURVES_CSV, read_csv
from tests.conftest import image_folder, run_script

pytestmark = pytest.mark.filterwarnings("ignore:MNIST:UserWarning")

TINY_FLAGS = (
    "--budget 30 --initial-labeled 10 --acquisition-size 5 --subpool-size 20 --epochs 1 --scoring-size 60 "
    "--test-size 60"
).split()


def _dagger(out, idx_root, fault=None, episodes=2):
    env = {"IALE_DATA_DIR": str(idx_root), "OMP_NUM_THREADS": "1"}
    if fault:
        env["IALE_FAULT_AT"] = fault
    flags = [*TINY_FLAGS, "--episodes", str(episodes), "--bc-batch-size", "2", "--bc-epochs", "2"]
    flags += ["--snapshot-every", "4"]  # 4 AL steps per episode: a snapshot after every round
    return run_script(
        "train_dagger.py", *flags, "--no-progress", "--resume", "--out", str(out), env=env
    )


def _weights(folder, name="policy.zip"):
    from agents.policy import load_policy

    return load_policy(str(folder / name)).state_dict()


@pytest.mark.slow
@pytest.mark.dagger
def test_a_killed_dagger_run_resumes_to_the_identical_policy(tmp_path, idx_root):
    assert _dagger(tmp_path / "full", idx_root).returncode == 0
    reference = _weights(tmp_path / "full")
    log = (tmp_path / "full" / "log.csv").read_text().splitlines()
    for fault in (
        "dagger:round-written:1",
        "dagger:checkpoint-written:1",
        "dagger:round-written:2",
    ):
        out = tmp_path / fault.replace(":", "_")
        killed = _dagger(out, idx_root, fault)
        assert killed.returncode == 137, killed.stderr
        assert _dagger(out, idx_root).returncode == 0
        for key, value in _weights(out).items():
            assert torch.equal(value, reference[key]), (fault, key)
        resumed = (out / "log.csv").read_text().splitlines()
        assert len(resumed) == len(log)  # every round logged once
        strip = [line.rsplit(",", 1)[0] for line in log]  # all but the wall time
        assert [line.rsplit(",", 1)[0] for line in resumed] == strip
        # the policy along training: one snapshot per round, each the uninterrupted run's
        for name in SNAPSHOTS:
            for key, value in _weights(out, name).items():
                assert torch.equal(value, _weights(tmp_path / "full", name)[key]), (fault, name)
    assert sorted(p.name for p in (tmp_path / "full" / "snapshots").iterdir()) == [
        n.split("/")[1] for n in SNAPSHOTS
    ]
    last = _weights(tmp_path / "full", SNAPSHOTS[-1])
    assert all(torch.equal(v, reference[k]) for k, v in last.items())  # the final policy
    first = _weights(tmp_path / "full", SNAPSHOTS[0])
    assert not all(torch.equal(v, reference[k]) for k, v in first.items())
    # a snapshot evaluates on the state of its run: config.json beside snapshots/
    from agents.evaluation.methods import parse_method, policy_env_overrides

    spec = parse_method(f"iale:{tmp_path / 'full' / SNAPSHOTS[0]}")
    assert "state_scores" in policy_env_overrides(spec)  # {} without the run's config.json


SNAPSHOTS = ("snapshots/policy-4.zip", "snapshots/policy-8.zip")


def _sweep(out, idx_root, fault=None):
    env = {"IALE_DATA_DIR": str(idx_root), "OMP_NUM_THREADS": "1"}
    if fault:
        env["IALE_FAULT_AT"] = fault
    args = [*TINY_FLAGS, "--datasets", "MNIST", "--methods", "random,margin", "--seeds", "0,1"]
    return run_script("evaluate.py", *args, "--no-plots", "--out", str(out), env=env)


STABLE = ("dataset", "method", "seed", "step", "labeled", "test_accuracy", "pairing_key")


@pytest.mark.slow
def test_a_killed_sweep_resumes_to_the_identical_curves(tmp_path, idx_root):
    assert _sweep(tmp_path / "full", idx_root).returncode == 0
    reference = [[r[k] for k in STABLE] for r in read_csv(tmp_path / "full" / CURVES_CSV)]
    for fault in ("evaluate:overlap-appended:2", "evaluate:curves-appended:3"):
        out = tmp_path / fault.replace(":", "_")
        killed = _sweep(out, idx_root, fault)
        assert killed.returncode == 137, killed.stderr
        assert _sweep(out, idx_root).returncode == 0
        rows = [[r[k] for k in STABLE] for r in read_csv(out / CURVES_CSV)]
        assert sorted(rows) == sorted(reference), fault


# ------------------------------------------------------------------ second round (issue 31)


def test_the_labeling_loop_reads_its_files_strictly_with_one_line_errors(
    policy_file,
    tmp_path,
    capsys,
    monkeypatch,
):
    from PIL import Image

    from agents.cli.query import main as query_main

    folder, files, labels = image_folder(tmp_path)
    labels_csv = tmp_path / "labels.csv"
    good = "".join(f"{f},{labels[i]}\n" for i, f in enumerate(files[:20]))
    argv = ["--policy", str(policy_file), "--images", str(folder), "--labels", str(labels_csv)]
    argv += ["--grayscale", "--epochs", "1"]

    def run(text: str, *extra: str) -> tuple[int, str]:
        labels_csv.write_text(text, encoding="utf-8")
        code = query_main([*argv, *extra])
        return code, capsys.readouterr().err.strip()

    # a BOM (as spreadsheets write) and a file listed twice with the same label are fine
    assert run("\ufefffile,label\n" + good + good.splitlines(True)[0]) == (0, "")
    other = (labels[0] + 1) % 10
    code, err = run("file,label\n" + good + f"{files[0]},{other}\n")
    assert code == 2 and len(err.splitlines()) == 1
    assert files[0] in err and f"'{labels[0]}'" in err and f"'{other}'" in err
    code, err = run("file,label\n" + good + f"{files[30]},\n")
    assert code == 2 and "line 22: no label" in err and len(err.splitlines()) == 1
    for name, content in (
        ("empty.png", b""),
        ("garbage.png", b"\x89PNG\r\n\x1a\n not an image"),
        ("cut.png", (folder / files[0]).read_bytes()[:80]),
    ):
        (folder / name).write_bytes(content)
        code, err = run("file,label\n" + good)
        assert code == 2 and name in err and "not a readable image" in err, err
        assert len(err.splitlines()) == 1
        (folder / name).unlink()
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(folder / "big.png")
    code, err = run("file,label\n" + good)
    assert code == 2 and "big.png is (32, 32)" in err and len(err.splitlines()) == 1
    (folder / "big.png").unlink()
    # --out into a missing folder or onto a dangling link: refused before any work
    (tmp_path / "link.csv").symlink_to(tmp_path / "gone" / "x.csv")
    for out, message in (
        (tmp_path / "gone" / "next.csv", "does not exist"),
        (tmp_path / "link.csv", "dangling symbolic link"),
    ):
        with pytest.raises(SystemExit) as exit_:
            run("file,label\n" + good, "--out", str(out))
        assert exit_.value.code == 2 and message in capsys.readouterr().err
    # another command creates --out while this one works: refused, the picks still shown
    import agents.query

    real_query = agents.query.query

    def racing(*args, **kwargs):
        (tmp_path / "next.csv").write_text("theirs\n")
        return real_query(*args, **kwargs)

    monkeypatch.setattr(agents.query, "query", racing)
    code, err = run("file,label\n" + good, "--out", str(tmp_path / "next.csv"))
    assert code == 2 and "cannot write --out" in err and "rank,file,score" in err
    assert (tmp_path / "next.csv").read_text() == "theirs\n"
    monkeypatch.setattr(agents.query, "query", real_query)
    # an unreadable config.json beside the policy: refused, not read as "nothing recorded"
    (policy_file.parent / "config.json").write_text('{"env": {"classifier": "ml')
    code, err = run("file,label\n" + good)
    assert code == 2 and "config.json cannot be read" in err and len(err.splitlines()) == 1


def test_the_state_scores_hint_names_the_cli_flag(make_env, tmp_path, capsys):
    from agents.cli.query import main as query_main
    from agents.policy import IALEPolicy
    from agents.schedules import ConstantLR
    from iale_env.data import _images

    env = make_env(state_scores=("mc_dropout", "ensemble"))
    policy = IALEPolicy(
        env.observation_space, env.action_space, ConstantLR(1e-3), 5, score_columns=2
    )
    policy.save(str(tmp_path / "policy.zip"))
    x = (_images(env.data.train_x[:80].cpu(), "x")[:, 0] * 255).round().byte().numpy()
    np.savez(tmp_path / "d.npz", labeled_x=x[:20], labeled_y=np.arange(20) % 10, pool_x=x[20:])
    argv = ["--policy", str(tmp_path / "policy.zip"), "--data", str(tmp_path / "d.npz")]
    assert query_main([*argv, "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "--state-scores" in err and len(err.strip().splitlines()) == 1
    assert query_main([*argv, "--epochs", "1", "--state-scores", "mc_dropout,ensemble"]) == 0


def test_own_data_mistakes_name_the_file_or_argument_and_say_what_to_do(tmp_path):
    from PIL import Image

    from iale_env import ALDataset
    from iale_env.data import load_data_file
    from tests.conftest import synthetic_images

    x, y = synthetic_images(40, 0)
    vx, vy = synthetic_images(20, 1)
    rgb_last = np.repeat(x[..., None], 3, axis=-1)  # (N, H, W, C)
    with pytest.raises(ValueError, match=r"channel-last .* x.transpose\(0, 3, 1, 2\)"):
        ALDataset.from_arrays(rgb_last, y, rgb_last[:20], vy)
    bad_test = vy.copy()
    bad_test[3] = 10  # a test label no training image has
    with pytest.raises(ValueError, match="test_y has label 10") as err:
        ALDataset.from_arrays(x, y, vx, bad_test)
    assert "train_y has no example" not in str(err.value)
    with pytest.raises(ValueError, match=r"\(test_y break it\)"):
        ALDataset.from_arrays(x, y, vx, bad_test, num_classes=10)
    # an image folder (IALE-Custom-v0's data) with a broken or odd-sized file
    for split, images, labels in (("train", x, y), ("test", vx, vy)):
        for i, (img, label) in enumerate(zip(images, labels)):
            (tmp_path / split / f"c{label}").mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(tmp_path / split / f"c{label}" / f"{i:03d}.png")
    assert load_data_file(tmp_path).num_classes == 10
    for name, content in (("empty.png", b""), ("cut.png", b"\x89PNG\r\n\x1a\nIHDR")):
        (tmp_path / "train" / "c3" / name).write_bytes(content)
        with pytest.raises(ValueError, match=f"{name} is not a readable image"):
            load_data_file(tmp_path)
        (tmp_path / "train" / "c3" / name).unlink()
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "test" / "c3" / "big.png")
    with pytest.raises(ValueError, match=r"big.png\) is \(3, 32, 32\)"):
        load_data_file(tmp_path)


def _with_file_limit(limit: int, script: str, args: list[str], idx_root):
    """Run ``scripts/<script> args`` with files limited to ``limit`` bytes (``ulimit -f``: a
    write past it fails as on a full disk)."""
    import resource
    import subprocess
    import sys

    from tests.conftest import ROOT

    def full_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "IALE_DATA_DIR": str(idx_root)},
        preexec_fn=full_disk,
        timeout=600,
    )


@pytest.mark.slow
@pytest.mark.dagger
def test_a_checkpoint_write_that_fails_on_a_full_disk_is_one_line_and_loses_nothing(
    tmp_path, idx_root
):
    out = tmp_path / "run"
    assert _dagger(out, idx_root, episodes=1).returncode == 0
    before = (out / "checkpoint.pt").read_bytes()
    flags = [*TINY_FLAGS, "--episodes", "2", "--bc-batch-size", "2", "--bc-epochs", "2"]
    proc = _with_file_limit(  # the next checkpoint cannot be written
        len(before) // 2,
        "train_dagger.py",
        [*flags, "--no-progress", "--resume", "--out", str(out)],
        idx_root,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "could not write" in last and "checkpoint.pt is intact" in last, last
    assert (out / "checkpoint.pt").read_bytes() == before
    assert not list(out.glob("*.tmp*"))
    assert _dagger(out, idx_root).returncode == 0  # resumes once there is room


@pytest.mark.slow
def test_evaluate_refuses_an_unrecorded_unwritable_or_unreachable_out_in_one_line(
    tmp_path, idx_root
):
    import socket
    import time

    env = {"IALE_DATA_DIR": str(idx_root), "OMP_NUM_THREADS": "1"}
    sweep = ["--datasets", "MNIST", "--methods", "random", "--seeds", "0", *TINY_FLAGS]
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / CURVES_CSV).write_text("sample,score\n1,0.5\n")
    (tmp_path / "afile").write_text("x")
    cases = [
        (["--out", str(theirs)], "no config.json to resume from"),
        (["--out", str(tmp_path / "afile" / "sub")], "cannot write into"),
    ]
    try:
        import ray  # noqa: F401
    except ImportError:
        pass
    else:
        with socket.socket() as s:  # a port nothing listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        address = ["--address", f"127.0.0.1:{port}", "--out", str(tmp_path / "ray")]
        cases.append((address, "nothing answers at the Ray address"))
    for flags, message in cases:
        start = time.monotonic()
        proc = run_script("evaluate.py", *sweep, "--no-plots", *flags, env=env, timeout=300)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], proc.stderr  # no Ray log lines
        assert time.monotonic() - start < 120  # refused at once, not after Ray's retries
    assert (theirs / CURVES_CSV).read_text() == "sample,score\n1,0.5\n"


@pytest.mark.slow
def test_a_sweep_on_a_full_disk_stops_in_one_line_and_the_rerun_completes_it(tmp_path, idx_root):
    sweep = ["--datasets", "MNIST", "--methods", "random,margin", "--seeds", "0,1", *TINY_FLAGS]
    sweep += ["--no-plots", "--out", str(tmp_path / "s")]
    proc = _with_file_limit(1024, "evaluate.py", sweep, idx_root)  # curves.csv outgrows it
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "could not write" in last and "runs finished before are kept" in last, last
    kept = read_csv(tmp_path / "s" / CURVES_CSV)
    env = {"IALE_DATA_DIR": str(idx_root), "OMP_NUM_THREADS": "1"}
    assert run_script("evaluate.py", *sweep, env=env).returncode == 0
    rows = read_csv(tmp_path / "s" / CURVES_CSV)
    assert len(rows) == 4 * 5 and {r["seed"] for r in rows} == {"0", "1"}
    finished = [r for r in kept if r["method"] == "random"]  # the runs before the failure
    assert finished and all(r in rows for r in finished)


@pytest.mark.slow
@pytest.mark.dagger
def test_train_dagger_refuses_an_unreachable_ray_address_before_loading_data(tmp_path, idx_root):
    import socket

    pytest.importorskip("ray")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    flags = [*TINY_FLAGS, "--episodes", "1", "--envs", "2", "--address", f"127.0.0.1:{port}"]
    env = {"IALE_DATA_DIR": str(idx_root), "OMP_NUM_THREADS": "1"}
    proc = run_script("train_dagger.py", *flags, "--out", str(tmp_path / "o"), env=env)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()  # no data warning, no Ray log: nothing started
    assert len(lines) == 1 and "nothing answers at the Ray address" in lines[0], proc.stderr
