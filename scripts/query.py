"""Ask a trained IALE policy which of your unlabeled images to label next (one AL round).

The command lives in ``agents/cli/query.py``; after ``pip install`` it is also ``iale-query``.
"""

import sys

from agents.cli.query import main

if __name__ == "__main__":
    sys.exit(main())
