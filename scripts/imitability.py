"""How well can the IALE policy imitate the oracle? Offline, on a DAgger run's states.

The command lives in ``agents/cli/imitability.py``; after ``pip install`` it is also ``iale-imitability``.
"""

import sys

from agents.cli.imitability import main

if __name__ == "__main__":
    sys.exit(main())
