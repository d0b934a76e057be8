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


def _pins() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = Version(version)
    return pins


def test_constraints_pin_every_dependency_inside_its_declared_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["dev"]
    pins = _pins()
    for text in declared:
        req = Requirement(text)
        name = req.name.lower().replace("_", "-")
        assert name in pins, f"constraints.txt does not pin {name}"
        assert req.specifier.contains(pins[name]), f"{name}=={pins[name]} is outside {req}"


def _commands() -> dict[str, str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def test_every_command_has_a_main_and_a_thin_script():
    import importlib

    commands = _commands()
    assert "iale-train-dagger" in commands and "iale-evaluate" in commands
    for command, target in commands.items():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func)), command
        name = module.rsplit(".", 1)[-1]
        assert command == "iale-" + name.replace("_", "-")
        script = (ROOT / "scripts" / f"{name}.py").read_text()
        assert f"from {module} import main" in script, f"scripts/{name}.py"


def test_installed_commands_run(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).parent / "iale-protocol-table"
    if not exe.exists():
        pytest.skip("the package is not installed in this interpreter's environment")
    help_text = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True).stdout
    assert "usage:" in help_text
    missing = subprocess.run([exe, str(tmp_path / "nowhere")], capture_output=True, text=True)
    assert missing.returncode != 0 and "nowhere" in missing.stderr


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
