"""Collect a value teacher's targets: the retrained accuracy of many selections per state.

The command lives in ``agents/cli/collect_values.py`` (a maintainer tool: run it as
``python scripts/collect_values.py``, not installed as a command).
"""

import sys

from agents.cli.collect_values import main

if __name__ == "__main__":
    sys.exit(main())
