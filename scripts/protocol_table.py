"""The table of candidate protocols: does the oracle beat random, and what does it cost?

The command lives in ``agents/cli/protocol_table.py`` (a maintainer tool: run it as
``python scripts/protocol_table.py``, not installed as a command).
"""

import sys

from agents.cli.protocol_table import main

if __name__ == "__main__":
    sys.exit(main())
