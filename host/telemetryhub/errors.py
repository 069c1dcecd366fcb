"""The one exception tree of TelemetryHub; each layer wraps foreign errors once, here.

TelemetryHubError
├── ConfigError              bad or missing configuration (names key, value, expectation)
├── ProtocolError            bytes that do not follow docs/protocol.md
│   ├── FramingError         malformed COBS / short frame
│   ├── ChecksumError        CRC-32 mismatch
│   └── IncompatibleProtocolError  board speaks another protocol major
├── TransportError           the serial link failed (port vanished, open failed)
│   ├── PortBusyError        another program holds the port exclusively
│   └── SupersededError      the same board connected again elsewhere: the newer one wins
├── DeviceError              the board answered or behaved wrongly
│   ├── DeviceNotConnectedError   no board is connected right now
│   ├── UnknownDeviceError        no board of that id was ever seen
│   ├── CommandTimeoutError       no RESULT within the timeout
│   └── CommandRejectedError      RESULT with an error code (carries the code)
│       └── InvalidStateError     the state machine refused the transition
├── QueueClosedError         push/pop on a closed TelemetryQueue
├── PoolClosedError          submit on a ThreadPool that was shut down
├── StoreError               the sample store failed
├── UplinkError              an uplink could not deliver
└── ApiError                 a gateway's REST API answered with an error (carries the status)
"""

from __future__ import annotations


class TelemetryHubError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(TelemetryHubError):
    """Configuration that cannot be used."""


class ProtocolError(TelemetryHubError):
    """Bytes that do not follow the wire protocol."""


class FramingError(ProtocolError):
    """A frame whose COBS encoding or length is wrong."""


class ChecksumError(ProtocolError):
    """A frame or command line whose CRC-32 does not match."""


class IncompatibleProtocolError(ProtocolError):
    """The board speaks a protocol major version this host does not."""


class TransportError(TelemetryHubError):
    """The byte link to the board failed."""


class PortBusyError(TransportError):
    """The serial port is held by another program."""


class SupersededError(TransportError):
    """The board behind this connection connected again on another one (the newer wins)."""


class DeviceError(TelemetryHubError):
    """The board could not do what was asked."""


class DeviceNotConnectedError(DeviceError):
    """No board is connected right now."""


class UnknownDeviceError(DeviceError):
    """No board with that device id is known to this gateway."""


class CommandTimeoutError(DeviceError):
    """The board did not answer a command in time."""


class CommandRejectedError(DeviceError):
    """The board answered a command with an error code."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"board rejected the command (code {code}): {text}")
        self.code = code
        self.text = text


class InvalidStateError(CommandRejectedError):
    """The device state machine refused the transition."""


class QueueClosedError(TelemetryHubError):
    """The queue was closed for shutdown."""


class PoolClosedError(TelemetryHubError):
    """A job was submitted to a ThreadPool after shutdown."""


class StoreError(TelemetryHubError):
    """The sample store failed."""


class UplinkError(TelemetryHubError):
    """An uplink could not deliver."""


class ApiError(TelemetryHubError):
    """A gateway's REST API answered with an HTTP error, or could not be reached (status 0)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}" if status else message)
        self.status = status
        self.message = message
