"""systemd's sd_notify protocol for `Type=notify`: one datagram to $NOTIFY_SOCKET per state.

No library: the protocol is a text datagram ("READY=1", "RELOADING=1", "STOPPING=1") on the
unix socket systemd names in NOTIFY_SOCKET (a leading "@" is the abstract namespace). Without
the variable (not under systemd) every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

_log = logging.getLogger(__name__)

READY = "READY=1"
RELOADING = "RELOADING=1"
STOPPING = "STOPPING=1"


def notify(state: str, env: Mapping[str, str] | None = None) -> bool:
    """Tell systemd `state`; True if sent, False if not under systemd or the send failed."""
    address = (os.environ if env is None else env).get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as exc:
        _log.warning("cannot notify systemd (%s) at NOTIFY_SOCKET: %s", state, exc)
        return False
    return True
