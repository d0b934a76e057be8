"""A Ray address that nothing answers at is refused in one line before Ray starts (Ray itself
retries for minutes, printing its own logs on every attempt)."""

from __future__ import annotations

import socket

#: Seconds to wait for a TCP connection to a cluster address.
CONNECT_TIMEOUT_S = 3.0


def check_reachable(address: str | None, hint: str = "") -> None:
    """Refuse a ``HOST:PORT`` or ``ray://HOST:PORT`` address where no TCP connection opens
    (``None``, ``"auto"`` and ``"local"`` are Ray's to resolve).

    Raises:
        ValueError: nothing answers there; the message says how to start a cluster.
    """
    if address is None or address in ("auto", "local"):
        return
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        return  # not HOST:PORT: Ray reports it
    try:
        with socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ValueError(
            f"nothing answers at the Ray address {address!r} ({reason}); start a cluster with "
            f"`ray start --head` and pass the address it prints{hint}"
        ) from None
