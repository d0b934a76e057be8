"""Score a fitted value policy's choices on a value teacher's targets of any source.

The command lives in ``agents/cli/score_value.py`` (a maintainer tool: run it as
``python scripts/score_value.py``, not installed as a command).
"""

import sys

from agents.cli.score_value import main

if __name__ == "__main__":
    sys.exit(main())
