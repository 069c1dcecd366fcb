"""Protocol v1.1 (docs/protocol.md): frames from the board, command lines to it; no I/O here."""

from telemetryhub.protocol.commands import Command, decode_command, encode_command
from telemetryhub.protocol.decoder import ConsoleText, DecodedItem, FrameDecoder
from telemetryhub.protocol.frames import (
    FLAG_RESEND,
    PROTO_MAJOR,
    SEQ_MODULUS,
    Code,
    Frame,
    StateCause,
    decode_frame,
    encode_frame,
)
from telemetryhub.protocol.payloads import (
    MAX_SAMPLES_PER_FRAME,
    PROTO_MINOR,
    Error,
    FrameType,
    Hello,
    Payload,
    Result,
    Samples,
    State,
    Status,
    Unknown,
    WireSample,
)

__all__ = [
    "FLAG_RESEND",
    "MAX_SAMPLES_PER_FRAME",
    "PROTO_MAJOR",
    "PROTO_MINOR",
    "SEQ_MODULUS",
    "Code",
    "Command",
    "ConsoleText",
    "DecodedItem",
    "Error",
    "Frame",
    "FrameDecoder",
    "FrameType",
    "Hello",
    "Payload",
    "Result",
    "Samples",
    "State",
    "StateCause",
    "Status",
    "Unknown",
    "WireSample",
    "decode_command",
    "decode_frame",
    "encode_command",
    "encode_frame",
]
