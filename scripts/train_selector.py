"""Fit an expert selector to the oracle's decisions on a DAgger run's states.

The command lives in ``agents/cli/train_selector.py`` (a maintainer tool: run it as
``python scripts/train_selector.py``, not installed as a command).
"""

import sys

from agents.cli.train_selector import main

if __name__ == "__main__":
    sys.exit(main())
