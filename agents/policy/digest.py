"""The digests that protect a policy file: one SHA-256 over its weights *and* its description.

A policy file (:meth:`agents.policy.IALEPolicy.save`) holds the weights and a JSON description
(acquisition size, observation shape, view, ...). Format ``iale-policy/2`` stores one digest over
both, so an edit of either is refused when the file is loaded. Files of format ``iale-policy/1``
(the shipped pretrained policy, runs trained before) store a digest of the weights only: they
still load, their weights checked, and where a ``source.json`` beside the file records the file's
SHA-256 (a pretrained policy's folder), the whole file is checked against it as well.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

#: The format tag of policy files written now: the digest covers the weights and description.
POLICY_FORMAT = "iale-policy/2"
#: The older format: its digest covers the weights only.
WEIGHTS_ONLY_FORMAT = "iale-policy/1"
#: Formats :func:`check_policy_digest` reads.
READABLE_FORMATS = (POLICY_FORMAT, WEIGHTS_ONLY_FORMAT)
#: The file beside a pretrained policy that records its SHA-256 (``policy_sha256``).
SOURCE_JSON = "source.json"


def state_digest(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 of the weights (their names and bytes, in name order): format 1's digest."""
    h = hashlib.sha256()
    for key in sorted(state):
        h.update(key.encode())
        h.update(state[key].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def policy_digest(state: dict[str, torch.Tensor], meta: dict[str, Any]) -> str:
    """SHA-256 of the weights and of the description (all of it but ``sha256``, as canonical
    JSON): format 2's digest."""
    described = {k: v for k, v in meta.items() if k != "sha256"}
    h = hashlib.sha256(state_digest(state).encode())
    h.update(json.dumps(described, sort_keys=True, separators=(",", ":")).encode())
    return h.hexdigest()


def check_policy_digest(
    path: str | os.PathLike, meta: dict[str, Any], state: dict[str, torch.Tensor]
) -> None:
    """Check a loaded policy file's weights and description against its stored digest.

    Raises:
        ValueError: no digest, another format, or a mismatch; the message names the file.
    """
    fmt = meta.get("format")
    if fmt not in READABLE_FORMATS:
        raise ValueError(f"{path} has policy format {fmt!r}; expected one of {READABLE_FORMATS}")
    stored = meta.get("sha256")
    if not isinstance(stored, str):
        raise ValueError(
            f"{path} has no digest ('sha256') in its description, so it cannot be checked: it "
            f"was edited or not written by IALE-Gym; use the file its training run wrote"
        )
    if fmt == WEIGHTS_ONLY_FORMAT:
        if state_digest(state) != stored:
            raise ValueError(f"{path} is corrupted: its weights do not match their stored digest")
    elif policy_digest(state, meta) != stored:
        raise ValueError(
            f"{path} is corrupted or was edited: its weights and description (acquisition "
            f"size, observation shape, ...) do not match their stored digest; use the file its "
            f"training run wrote"
        )


def check_recorded_sha256(policy_path: str | os.PathLike) -> None:
    """If a ``source.json`` beside ``policy_path`` records ``policy_sha256`` (a pretrained
    policy's folder), check the file's bytes against it.

    Raises:
        ValueError: ``source.json`` is unreadable or the file differs from what it records.
    """
    from agents.runs.files import file_sha256, read_json

    source = Path(policy_path).with_name(SOURCE_JSON)
    if not source.is_file():
        return
    recorded = read_json(source).get("policy_sha256")
    if recorded is None:
        return
    actual = file_sha256(policy_path)
    if actual != recorded:
        raise ValueError(
            f"{policy_path} differs from the file {source} records (SHA-256 {actual[:12]}... "
            f"instead of {str(recorded)[:12]}...): it was edited or corrupted; reinstall the "
            f"package (or restore the file) to get the shipped policy back"
        )
