"""What decides the oracle's choice: what a policy can see, or the selections' true labels?

The command lives in ``agents/cli/oracle_labels.py`` (a maintainer tool: run it as
``python scripts/oracle_labels.py``, not installed as a command).
"""

import sys

from agents.cli.oracle_labels import main

if __name__ == "__main__":
    sys.exit(main())
