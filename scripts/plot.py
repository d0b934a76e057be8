"""Redraw a sweep's plots and summary from its CSV files (no training).

The command lives in ``agents/cli/plot.py``; after ``pip install`` it is also ``iale-plot``.
"""

import sys

from agents.cli.plot import main

if __name__ == "__main__":
    sys.exit(main())
