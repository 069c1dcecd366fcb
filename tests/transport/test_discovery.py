"""Board discovery classifies pyserial's port list by USB ids and finds a board by serial."""

from __future__ import annotations

import pytest
from serial.tools.list_ports_common import ListPortInfo

from telemetryhub.errors import TransportError
from telemetryhub.transport.discovery import find_boards, resolve_port


def port(device: str, vid: int | None, pid: int | None, serial: str | None) -> ListPortInfo:
    info = ListPortInfo(device, skip_link_detection=True)
    info.vid, info.pid, info.serial_number = vid, pid, serial
    info.description = f"desc of {device}"
    return info


PORTS = [
    port("/dev/ttyUSB0", 0x1A86, 0x7523, None),
    port("/dev/ttyACM1", 0x2E8A, 0x0005, "E6614C311B7E6F2B"),
    port("/dev/ttyS0", None, None, None),
    port("/dev/ttyACM0", 0x303A, 0x1001, "F4:12:FA:00:11:22"),
    port("/dev/ttyACM2", 0x1234, 0x5678, "OTHER"),
]


def lister() -> list[ListPortInfo]:
    return PORTS


def test_boards_first_then_bridges_and_unknown_ports_left_out() -> None:
    boards = find_boards(lister=lister)
    assert [(b.device, b.likely) for b in boards] == [
        ("/dev/ttyACM0", True),
        ("/dev/ttyACM1", True),
        ("/dev/ttyUSB0", False),
    ]
    assert boards[1].kind == "Raspberry Pi RP2040 MicroPython"
    assert boards[1].describe() == (
        "/dev/ttyACM1  2e8a:0005  serial=E6614C311B7E6F2B  board: "
        "Raspberry Pi RP2040 MicroPython (desc of /dev/ttyACM1)"
    )
    assert (
        "?  serial=-  maybe"
        in find_boards(lister=lambda: [port("/dev/x", 0x0403, None, None)])[0].describe()
    )


def test_a_usb_serial_finds_the_board_whatever_its_device_name() -> None:
    boards = find_boards("e6614c311b7e6f2b", lister=lister)
    assert [b.device for b in boards] == ["/dev/ttyACM1"]
    other = find_boards("OTHER", lister=lister)
    assert [(b.device, b.kind) for b in other] == [("/dev/ttyACM2", "USB serial number match")]


def test_resolve_port() -> None:
    assert resolve_port("/dev/ttyACM7", lister=lister) == "/dev/ttyACM7"
    assert resolve_port("auto", lister=lister) == "/dev/ttyACM0"
    assert resolve_port("auto", "OTHER", lister=lister) == "/dev/ttyACM2"
    with pytest.raises(TransportError, match="with USB serial NOPE"):
        resolve_port("auto", "NOPE", lister=lister)


def test_the_default_lister_is_pyserial() -> None:
    assert isinstance(find_boards(), list)  # whatever this machine has; must not fail
