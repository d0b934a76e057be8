"""Reproduce ``results/cpu``: train every learner with the ``cpu`` protocol, evaluate everything.

The command lives in ``agents/cli/reproduce_cpu.py`` (a maintainer tool: run it as
``python scripts/reproduce_cpu.py``, not installed as a command).
"""

import sys

from agents.cli.reproduce_cpu import main

if __name__ == "__main__":
    sys.exit(main())
