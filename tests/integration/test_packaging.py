"""Packaging: the pinned CI set lies inside the ranges the library declares."""

from __future__ import annotations

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from tests.conftest import ROOT

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")


def _pins(file: str = "constraints.txt") -> dict[str, Version]:
    pins = {}
    for line in (ROOT / file).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = Version(version)
    return pins


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _extra(extra: str) -> list[Requirement]:
    """An extra's requirements, the package's own extras (``iale-gym[a,b]``) expanded."""
    project = _project()
    reqs = []
    for text in project["optional-dependencies"][extra]:
        req = Requirement(text)
        if req.name == project["name"]:
            reqs += [r for e in sorted(req.extras) for r in _extra(e)]
        else:
            reqs.append(req)
    return reqs


@pytest.mark.parametrize(
    "file, extra", [("constraints.txt", "dev"), ("constraints-latest.txt", "test")]
)
def test_constraints_pin_every_dependency_inside_its_declared_range(file, extra):
    """CI installs ``-c constraints.txt -e .[dev]`` (everything, imitation's stack) and
    ``-c constraints-latest.txt -e .[test]`` (the base package on the newest stack)."""
    declared = [Requirement(t) for t in _project()["dependencies"]] + _extra(extra)
    pins = _pins(file)
    for req in declared:
        name = req.name.lower().replace("_", "-")
        assert name in pins, f"{file} does not pin {name}"
        assert req.specifier.contains(pins[name]), f"{name}=={pins[name]} is outside {req}"


def test_imitation_and_its_pins_come_only_with_the_dagger_extra():
    base = {Requirement(t).name for t in _project()["dependencies"]}
    assert "imitation" not in base and "pyarrow" not in base
    assert "imitation" in {r.name for r in _extra("dagger")}
    assert {r.name for r in _extra("dagger")} <= {r.name for r in _extra("dev")}
    assert "imitation" not in {r.name for r in _extra("test")}
    latest, pinned = _pins("constraints-latest.txt"), _pins("constraints.txt")
    assert "imitation" not in latest and "imitation" in pinned
    # the second CI stack is the one imitation cannot install beside
    assert latest["gymnasium"].major >= 1 and latest["numpy"].major >= 2
    assert latest["stable-baselines3"] >= Version("2.3")
    # torch and torchvision: the same (large) builds on both stacks
    for name in ("torch", "torchvision"):
        assert latest[name] == pinned[name], name


def _commands() -> dict[str, str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


#: Console commands are the user's: training, evaluation, plots, an episode's GIF, the labeling
#: loop. Maintainer tools (benchmarks, the `cpu` pipeline, diagnostics) run as scripts/NAME.py.
USER_COMMANDS = {
    "iale-train-dagger",
    "iale-train-alil",
    "iale-train-rl",
    "iale-evaluate",
    "iale-plot",
    "iale-record-episode",
    "iale-query",
}
MAINTAINER_SCRIPTS = (
    "benchmark_speed",
    "benchmark_precision",
    "benchmark_parallel",
    "benchmark_step",
    "reproduce_cpu",
    "protocol_table",
    "imitability",
    "oracle_noise",
)


def test_every_command_has_a_main_and_a_thin_script():
    import importlib

    commands = _commands()
    assert set(commands) == USER_COMMANDS
    for command, target in commands.items():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func)), command
        name = module.rsplit(".", 1)[-1]
        assert command == "iale-" + name.replace("_", "-")
        script = (ROOT / "scripts" / f"{name}.py").read_text()
        assert f"from {module} import main" in script, f"scripts/{name}.py"


def test_maintainer_tools_are_scripts_not_commands():
    commands = _commands()
    for name in MAINTAINER_SCRIPTS:
        assert "iale-" + name.replace("_", "-") not in commands, name
        script = (ROOT / "scripts" / f"{name}.py").read_text()
        assert f"from agents.cli.{name} import main" in script, f"scripts/{name}.py"


@pytest.mark.slow
def test_installed_commands_run(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).parent / "iale-plot"
    if not exe.exists():
        pytest.skip("the package is not installed in this interpreter's environment")
    help_text = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True).stdout
    assert "usage:" in help_text
    missing = subprocess.run([exe, str(tmp_path / "nowhere")], capture_output=True, text=True)
    assert missing.returncode != 0 and "nowhere" in missing.stderr


@pytest.mark.slow
def test_a_maintainer_tool_runs_as_a_script(tmp_path):
    import subprocess
    import sys

    script = ROOT / "scripts" / "protocol_table.py"
    run = [sys.executable, str(script)]
    help_text = subprocess.run(
        [*run, "--help"], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert "usage:" in help_text
    missing = subprocess.run(
        [*run, str(tmp_path / "nowhere")], capture_output=True, text=True, cwd=ROOT
    )
    assert missing.returncode != 0 and "nowhere" in missing.stderr


@pytest.mark.slow
def test_the_evaluation_harness_imports_without_the_learning_stack():
    """Heuristic sweeps run where imitation/SB3 would be dead weight: importing the harness (and
    the env) must not pull them in."""
    import subprocess
    import sys

    code = (
        "import sys, iale_env, agents.evaluation, agents.evaluation.plots;"
        "print(sorted(m for m in ('imitation', 'stable_baselines3') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
