"""The sample-efficiency figure of training runs' snapshots (no training).

The command lives in ``agents/cli/plot_efficiency.py``.
"""

import sys

from agents.cli.plot_efficiency import main

if __name__ == "__main__":
    sys.exit(main())
