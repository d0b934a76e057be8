"""The command-line programs: one module per command, each with ``main(argv=None) -> exit code``.

After ``pip install`` they are commands (``iale-train-dagger``, ``iale-evaluate``, ...; see
``[project.scripts]`` in ``pyproject.toml``); ``python scripts/<name>.py`` and
``python -m agents.cli.<name>`` run the same code from a checkout.
"""
