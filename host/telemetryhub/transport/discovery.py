"""Finds serial ports that look like MicroPython boards, by USB VID/PID and serial number."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from serial.tools import list_ports
from serial.tools.list_ports_common import ListPortInfo

from telemetryhub.errors import TransportError

# (vid, pid) pairs, pid None = any product of that vendor
_BOARDS: dict[tuple[int, int | None], str] = {
    (0x2E8A, 0x0005): "Raspberry Pi RP2040 MicroPython",
    (0xF055, 0x9800): "MicroPython",
    (0x303A, None): "Espressif native USB",
}
_MAYBE: dict[tuple[int, int | None], str] = {
    (0x2E8A, None): "Raspberry Pi",
    (0x10C4, None): "Silicon Labs CP210x USB-UART",
    (0x1A86, None): "WCH CH34x USB-UART",
    (0x0403, None): "FTDI USB-UART",
}

PortLister = Callable[[], Iterable[ListPortInfo]]


@dataclass(frozen=True, slots=True)
class PortInfo:
    """A serial port and why it may be a board; `likely` False for generic USB-UART bridges."""

    device: str
    vid: int | None
    pid: int | None
    serial_number: str | None
    description: str
    kind: str
    likely: bool

    def describe(self) -> str:
        """One line for `telemetryhub ports`: device, ids, serial number, what it looks like."""
        ids = "?"
        if self.vid is not None and self.pid is not None:
            ids = f"{self.vid:04x}:{self.pid:04x}"
        serial = self.serial_number or "-"
        guess = "board" if self.likely else "maybe"
        return f"{self.device}  {ids}  serial={serial}  {guess}: {self.kind} ({self.description})"


def _list_ports() -> Iterable[ListPortInfo]:
    return list_ports.comports()


def _classify(port: ListPortInfo) -> tuple[str, bool] | None:
    if port.vid is None:
        return None
    for table, likely in ((_BOARDS, True), (_MAYBE, False)):
        for key in ((port.vid, port.pid), (port.vid, None)):
            if key in table:
                return table[key], likely
    return None


def find_boards(
    usb_serial: str | None = None, *, lister: PortLister = _list_ports
) -> list[PortInfo]:
    """Ports that look like boards, likely ones first; with `usb_serial`, only that board.

    A configured USB serial number finds the board again after it re-enumerates under another
    device name (/dev/ttyACM0 -> /dev/ttyACM1), whatever its VID/PID.
    """
    found: list[PortInfo] = []
    for port in lister():
        if usb_serial is not None:
            if (port.serial_number or "").lower() != usb_serial.lower():
                continue
            kind, likely = _classify(port) or ("USB serial number match", True)
        else:
            classified = _classify(port)
            if classified is None:
                continue
            kind, likely = classified
        found.append(
            PortInfo(
                device=port.device,
                vid=port.vid,
                pid=port.pid,
                serial_number=port.serial_number,
                description=port.description,
                kind=kind,
                likely=likely,
            )
        )
    found.sort(key=lambda info: (not info.likely, info.device))
    return found


def resolve_port(
    spec: str, usb_serial: str | None = None, *, lister: PortLister = _list_ports
) -> str:
    """The device path for `spec`: "auto" picks the first board found, anything else is a path."""
    if spec != "auto":
        return spec
    boards = find_boards(usb_serial, lister=lister)
    if not boards:
        wanted = f" with USB serial {usb_serial}" if usb_serial else ""
        raise TransportError(f"no MicroPython board found{wanted}; pass the port path instead")
    return boards[0].device
