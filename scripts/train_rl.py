"""Train a stable-baselines3 RL agent (PPO or A2C) on the IALE env, to benchmark against IALE.

The command lives in ``agents/cli/train_rl.py``; after ``pip install`` it is also ``iale-train-rl``.
"""

import sys

from agents.cli.train_rl import main

if __name__ == "__main__":
    sys.exit(main())
