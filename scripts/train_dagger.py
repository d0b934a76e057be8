"""Train the IALE policy with DAgger to imitate the best-expert oracle (the project's main job).

The command lives in ``agents/cli/train_dagger.py``; after ``pip install`` it is also ``iale-train-dagger``.
"""

import sys

from agents.cli.train_dagger import main

if __name__ == "__main__":
    sys.exit(main())
