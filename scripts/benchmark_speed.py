"""Time one env ``oracle_action`` and one ``step`` at several labeled-set sizes.

The command lives in ``agents/cli/benchmark_speed.py`` (a maintainer tool: run it as
``python scripts/benchmark_speed.py``, not installed as a command).
"""

import sys

from agents.cli.benchmark_speed import main

if __name__ == "__main__":
    sys.exit(main())
