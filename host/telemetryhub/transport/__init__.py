"""Byte links to a board: the Transport interface, the pyserial port and board discovery."""

from telemetryhub.transport.base import Transport

__all__ = ["Transport"]
