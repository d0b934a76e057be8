"""What the commands share: presets overridden by flags, flags to :class:`ALConfig`, run configs."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from agents.runs.files import changed_settings, read_json
from iale_env.protocols import AL_SETTINGS

# The settings of a preset that are ALConfig fields, by the same names (a setting missing from a
# preset keeps ALConfig's default).
_ENV_FIELDS = ("dataset", *AL_SETTINGS)


def int_list(text: str) -> tuple[int, ...]:
    """An argparse type: ``"0,1,2"`` -> ``(0, 1, 2)``."""
    try:
        return tuple(int(t) for t in text.split(",") if t)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from exc


def name_list(text: str) -> tuple[str, ...]:
    """An argparse type: ``"a, b,"`` -> ``("a", "b")``."""
    return tuple(t.strip() for t in text.split(",") if t.strip())


def key_values(items: list[str], form: str) -> dict[str, str]:
    """``KEY=VALUE`` arguments as a dict; ``form`` (e.g. ``"LABEL=RUN_FOLDER (e.g. ppo=runs/ppo)"``)
    names them in the errors.

    Raises:
        ValueError: an item without ``=``, with an empty side, or a key given twice.
    """
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise ValueError(f"give {form}, got {item!r}")
        if key in out:
            raise ValueError(f"{key!r} is given twice ({out[key]!r} and {value!r}): give it once")
        out[key] = value
    return out


def resolve(preset: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The preset, overridden by every flag given explicitly."""
    settings = dict(preset)
    for key in settings:
        if getattr(args, key, None) is not None:
            settings[key] = getattr(args, key)
    return settings


def add_env_flags(
    parser: argparse.ArgumentParser, pool_size: bool = False, oracle: bool = True
) -> None:
    """The AL-protocol flags that override a preset (``None`` keeps the preset's value);
    ``oracle``: also ``--oracle-seeds``, for the scripts that ask an oracle."""
    parser.add_argument("--budget", type=int, help="labeled-set size that ends an episode")
    # ALConfig's names; the short forms (--initial, --acquisition, --subpool) stay as aliases
    parser.add_argument(
        "--initial-labeled", "--initial", type=int, help="class-balanced initial labeled set"
    )
    parser.add_argument(
        "--acquisition-size", "--acquisition", type=int, help="images labeled per AL step (k)"
    )
    parser.add_argument(
        "--subpool-size", "--subpool", type=int, help="candidates drawn per AL step (n)"
    )
    parser.add_argument("--epochs", type=int, help="classifier training epochs")
    parser.add_argument("--scoring-size", type=int, help="held-out labeled scoring set")
    parser.add_argument("--test-size", type=int, help="test images (default: the full split)")
    if pool_size:
        parser.add_argument("--pool-size", type=int, help="cap on the unlabeled pool")
    if oracle:
        parser.add_argument(
            "--oracle-seeds",
            type=int,
            help="models per selection the oracle averages its scoring-set accuracy over "
            "(default 1, the paper's: one seed)",
        )


def add_state_flags(parser: argparse.ArgumentParser) -> None:
    """The state's optional extensions a policy is trained on (recorded in ``config.json``,
    from which ``evaluate.py`` rebuilds the same state): ``--state-scores`` and
    ``--subpool-mean-embedding``."""
    parser.add_argument(
        "--state-scores",
        help="experts whose per-candidate scores extend the state (e.g. mc_dropout,ensemble; "
        "'' for the paper's Eq. 2 state; default: the preset's)",
    )
    parser.add_argument(
        "--subpool-mean-embedding",
        action="store_true",
        help="state ablation: append the sub-pool's mean embedding to every row",
    )


def add_device_flags(parser: argparse.ArgumentParser, precision: bool = True) -> None:
    """``--device``, ``--data-dir``, ``--nondeterministic`` and ``--precision`` (the
    classifiers' arithmetic)."""
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="PyTorch CPU threads (default: $OMP_NUM_THREADS if set, else the cores this process "
        "may use); when several runs share a machine, give each its share of the cores",
    )
    parser.add_argument("--data-dir", help="data root (default: $IALE_DATA_DIR or a cache folder)")
    parser.add_argument(
        "--nondeterministic",
        action="store_true",
        help="on CUDA, let cuDNN use faster non-deterministic algorithms (not bit-reproducible)",
    )
    if precision:
        parser.add_argument(
            "--precision",
            choices=("fp32", "tf32", "bf16"),
            default="fp32",
            help="classifier training arithmetic: fp32 (exact, default); tf32/bf16 are faster "
            "on a GPU (compare with scripts/benchmark_precision.py first)",
        )
        parser.add_argument(
            "--inference-precision",
            choices=("fp32", "bf16"),
            default="fp32",
            help="arithmetic of every prediction (state, experts, accuracies): fp32 (exact, "
            "default) or bf16 (faster on CPUs with AVX-512 BF16; docs/benchmarks.md)",
        )


def check_device(device: str) -> None:
    """A clear error for a device that does not parse or is not there (before any work)."""
    import torch

    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"--device {device!r} is not a device; use cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"--device {device} needs a CUDA GPU, but none is available; use --device cpu"
        )
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(
            f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)"
        )


def default_threads() -> int:
    """``$OMP_NUM_THREADS`` if set, else the number of CPU cores this process may run on."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def worker_threads(threads: int | None, workers: int) -> int:
    """PyTorch threads of each of ``workers`` workers: ``threads`` if given, else an equal
    share of :func:`default_threads` (at least one)."""
    return threads if threads is not None else max(1, default_threads() // workers)


def check_ray_device(device: str) -> None:
    """Ray workers see only the GPU Ray gives them, as ``cuda``: refuse ``cuda:N``."""
    if device not in ("cpu", "cuda"):
        raise ValueError(f"Ray workers get their GPU from Ray: use --device cuda, not {device!r}")


def set_threads(threads: int | None) -> int:
    """Set PyTorch's CPU threads to ``threads`` (``None``: :func:`default_threads`); return it.

    Two PyTorch processes that each use every core slow each other several-fold; a process
    that holds some of the cores should use that many threads.
    """
    import torch

    n = default_threads() if threads is None else threads
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"--threads must be a positive integer, got {threads!r}")
    torch.set_num_threads(n)
    return n


def env_config(settings: dict[str, Any], args: argparse.Namespace, **extra: Any):
    """The :class:`~iale_env.ALConfig` of resolved ``settings``, ``--data-dir``, ``--device``,
    ``--nondeterministic``, ``--precision`` (where the script has it) and ``extra`` fields."""
    from iale_env import ALConfig

    check_device(args.device)
    set_threads(getattr(args, "threads", None))
    fields = {key: settings[key] for key in _ENV_FIELDS if key in settings}
    if getattr(args, "precision", None) is not None:
        fields["precision"] = args.precision
    if getattr(args, "inference_precision", None) is not None:
        fields["inference_precision"] = args.inference_precision
    fields["deterministic"] = not getattr(args, "nondeterministic", False)
    if getattr(args, "oracle_seeds", None) is not None:
        fields["oracle_seeds"] = args.oracle_seeds
    return ALConfig(**fields, data_dir=args.data_dir, device=args.device, **extra)


def check_resume_config(out: Path, method: str, env, **sections: Any) -> None:
    """Refuse to resume ``out`` with other settings than its ``config.json`` records, by the
    one rule of :func:`~agents.runs.files.changed_settings` (``agents.runs.files.RESUMABLE_CHANGES`` may change).
    No-op if ``out`` has no ``config.json``."""
    path = out / "config.json"
    if not path.exists():
        return
    saved = read_json(path)
    now = {"method": method, "env": _env_settings(env)}
    now.update({name: dataclasses.asdict(cfg) for name, cfg in sections.items()})
    defaults = {"env": _env_settings(type(env)())}
    defaults.update({name: dataclasses.asdict(type(cfg)()) for name, cfg in sections.items()})
    changed = changed_settings(saved, now, defaults)
    if changed:
        raise ValueError(
            f"{out} holds a run with other settings ({', '.join(changed)}); resume it with the "
            f"same settings or use another --out"
        )


def _env_settings(env) -> dict[str, Any]:
    settings = dataclasses.asdict(env)
    settings.pop("data_dir")
    return settings


def write_run_config(out: Path, method: str, env, **sections: Any) -> dict[str, Any]:
    """Write ``out/config.json`` (method, env settings without the machine's data root, and
    each section's dataclass); return the env settings. ``evaluate.py`` reads it back."""
    env_settings = _env_settings(env)
    body = {"method": method, "env": env_settings}
    body.update({name: dataclasses.asdict(cfg) for name, cfg in sections.items()})
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(body, indent=2))
    return env_settings
