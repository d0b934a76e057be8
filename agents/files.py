"""Reading the small JSON files a run keeps beside its results, with errors that name them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON object in ``path``.

    Raises:
        ValueError: the file is unreadable, truncated or not a JSON object; the message names it
            and says what to do.
    """
    path = Path(path)
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"{path} cannot be read ({type(exc).__name__}: {exc}); it is truncated or "
            f"corrupted: restore it from a copy, or move the folder away to start over"
        ) from None
    if not isinstance(value, dict):
        raise ValueError(f"{path} holds {type(value).__name__}, not a JSON object")
    return value
