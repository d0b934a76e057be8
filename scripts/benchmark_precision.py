"""Do TF32/bf16 training keep the learning curves within noise? Paired sweeps per precision.

The command lives in ``agents/cli/benchmark_precision.py`` (a maintainer tool: run it as
``python scripts/benchmark_precision.py``, not installed as a command).
"""

import sys

from agents.cli.benchmark_precision import main

if __name__ == "__main__":
    sys.exit(main())
