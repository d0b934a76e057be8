"""How well can the IALE policy imitate the oracle? Offline, on a DAgger run's states.

The command lives in ``agents/cli/imitability.py`` (a maintainer tool: run it as
``python scripts/imitability.py``, not installed as a command).
"""

import sys

from agents.cli.imitability import main

if __name__ == "__main__":
    sys.exit(main())
