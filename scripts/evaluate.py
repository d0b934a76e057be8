"""Paired active-learning curves of heuristics, the IALE policy, ALIL and RL agents.

The command lives in ``agents/cli/evaluate.py``; after ``pip install`` it is also ``iale-evaluate``.
"""

import sys

from agents.cli.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
