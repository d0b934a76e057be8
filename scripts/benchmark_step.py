"""Where an AL step's time goes (old against new settings) and the fast track's throughput.

The command lives in ``agents/cli/benchmark_step.py``.
"""

import sys

from agents.cli.benchmark_step import main

if __name__ == "__main__":
    sys.exit(main())
