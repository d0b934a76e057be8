"""Reproduce ``results/cpu``: train every learner with the ``cpu`` protocol, evaluate everything.

The command lives in ``agents/cli/reproduce_cpu.py``; after ``pip install`` it is also ``iale-reproduce-cpu``.
"""

import sys

from agents.cli.reproduce_cpu import main

if __name__ == "__main__":
    sys.exit(main())
