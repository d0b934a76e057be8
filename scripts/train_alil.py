"""Train the ALIL baseline (Liu et al., 2018) with DAgger, on the same classifier and state as IALE.

The command lives in ``agents/cli/train_alil.py``; after ``pip install`` it is also ``iale-train-alil``.
"""

import sys

from agents.cli.train_alil import main

if __name__ == "__main__":
    sys.exit(main())
