"""Fit an IALE policy to a value teacher's targets (scripts/collect_values.py folders).

The command lives in ``agents/cli/train_value.py`` (a maintainer tool: run it as
``python scripts/train_value.py``, not installed as a command).
"""

import sys

from agents.cli.train_value import main

if __name__ == "__main__":
    sys.exit(main())
