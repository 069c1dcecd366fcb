"""SerialTransport against a real pty pair: reads, writes, a vanishing port, exclusive open."""

from __future__ import annotations

import contextlib
import os
import tty
from collections.abc import Iterator

import pytest

from telemetryhub.errors import PortBusyError, TransportError
from telemetryhub.transport.serial_port import SerialTransport


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, str]]:
    master, slave = os.openpty()
    tty.setraw(master)
    path = os.ttyname(slave)
    os.close(slave)
    yield master, path
    with contextlib.suppress(OSError):  # a test may have closed it to make the port vanish
        os.close(master)


@pytest.fixture
def port(pty_pair: tuple[int, str]) -> Iterator[SerialTransport]:
    transport = SerialTransport(pty_pair[1])
    transport.open()
    yield transport
    transport.close()


def test_reads_everything_waiting_and_times_out_empty(
    pty_pair: tuple[int, str], port: SerialTransport
) -> None:
    master, path = pty_pair
    assert port.name == path
    assert port.read(0.01) == b""
    payload = bytes(range(256)) * 16
    os.write(master, payload)
    received = b""
    while len(received) < len(payload):
        chunk = port.read(1.0)
        assert chunk
        received += chunk
    assert received == payload


def test_writes_reach_the_other_side(pty_pair: tuple[int, str], port: SerialTransport) -> None:
    master, _ = pty_pair
    port.write(b"1 ping*BBB4B84E\n")
    assert os.read(master, 100) == b"1 ping*BBB4B84E\n"


def test_a_vanished_port_raises_transport_error(
    pty_pair: tuple[int, str], port: SerialTransport
) -> None:
    os.close(pty_pair[0])
    with pytest.raises(TransportError, match="failed while reading"):
        port.read(0.5)


def test_the_port_is_opened_exclusively(pty_pair: tuple[int, str], port: SerialTransport) -> None:
    with pytest.raises(PortBusyError, match="held by another program"):
        SerialTransport(pty_pair[1]).open()
    port.open()  # opening an open transport is a no-op


def test_a_missing_port_and_use_after_close(tmp_path: os.PathLike[str]) -> None:
    missing = SerialTransport(f"{tmp_path}/ttyACM9")
    with pytest.raises(TransportError, match="cannot open") as caught:
        missing.open()
    assert not isinstance(caught.value, PortBusyError)
    with pytest.raises(TransportError, match="not open"):
        missing.read(0.01)
    with pytest.raises(TransportError, match="not open"):
        missing.write(b"x")
    missing.close()
