"""How stable are the best-expert oracle's labels? Re-make its decisions from other seeds.

The command lives in ``agents/cli/oracle_noise.py`` (a maintainer tool: run it as
``python scripts/oracle_noise.py``, not installed as a command).
"""

import sys

from agents.cli.oracle_noise import main

if __name__ == "__main__":
    sys.exit(main())
