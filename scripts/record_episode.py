"""Record one active-learning episode as an animated GIF: what was picked, step by step.

The command lives in ``agents/cli/record_episode.py``; after ``pip install`` it is also ``iale-record-episode``.
"""

import sys

from agents.cli.record_episode import main

if __name__ == "__main__":
    sys.exit(main())
