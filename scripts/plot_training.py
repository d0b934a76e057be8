"""The training curves of RL runs (no training).

The command lives in ``agents/cli/plot_training.py``.
"""

import sys

from agents.cli.plot_training import main

if __name__ == "__main__":
    sys.exit(main())
