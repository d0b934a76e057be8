"""Throughput of parallel work on this machine: sweep runs per hour and DAgger episodes per hour.

The command lives in ``agents/cli/benchmark_parallel.py`` (a maintainer tool: run it as
``python scripts/benchmark_parallel.py``, not installed as a command).
"""

import sys

from agents.cli.benchmark_parallel import main

if __name__ == "__main__":
    sys.exit(main())
