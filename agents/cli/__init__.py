"""The command-line programs: one module per command, each with ``main(argv=None) -> exit code``.

After ``pip install`` they are commands (``iale-train-dagger``, ``iale-evaluate``, ...; see
``[project.scripts]`` in ``pyproject.toml``); ``python scripts/<name>.py`` and
``python -m agents.cli.<name>`` run the same code from a checkout.

Exit codes, the same for every command: 0 done; 2 a mistake in the input (flags, files,
settings), reported in one line that says what to do before any long work starts (argparse's
own errors are 2 as well); 1 an error during the work itself, with its full traceback.
"""
