"""Time one env ``oracle_action`` and one ``step`` at several labeled-set sizes.

The command lives in ``agents/cli/benchmark_speed.py``; after ``pip install`` it is also ``iale-benchmark-speed``.
"""

import sys

from agents.cli.benchmark_speed import main

if __name__ == "__main__":
    sys.exit(main())
