"""Throughput of parallel work on this machine: sweep runs per hour and DAgger episodes per hour.

The command lives in ``agents/cli/benchmark_parallel.py``; after ``pip install`` it is also ``iale-benchmark-parallel``.
"""

import sys

from agents.cli.benchmark_parallel import main

if __name__ == "__main__":
    sys.exit(main())
