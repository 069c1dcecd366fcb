# Codec: every golden vector byte for byte, command-line parsing and line assembly.
import binascii
import json
import os

import codec
from codec import FrameEncoder, LineReader, parse_command
from support import line

VECTORS = os.getenv("VECTORS_DIR")


def load(name: str):
    with open(VECTORS + "/" + name) as f:
        return json.load(f)


def b(text: str) -> bytes:
    return text.encode()


def encode(enc: FrameEncoder, kind: str, flags: int, f: dict) -> memoryview:
    if kind == "HELLO":
        assert f["proto_major"] == codec.PROTO_MAJOR
        return enc.encode_hello(
            f["ring_capacity"],
            f["period_ms"],
            f["boot_id"],
            f["reset_cause"],
            f["state"],
            b(f["device_id"]),
            b(f["firmware_version"]),
            b(f["unit"]),
            f["oldest_seq"],
            f["next_seq"],
        )
    if kind == "SAMPLES":
        enc.begin_samples(flags, len(f["samples"]))
        for k, s in enumerate(f["samples"]):
            enc.put_sample(k, s[0], s[1], s[2], s[3])
        return enc.finish_samples(len(f["samples"]))
    if kind == "STATE":
        return enc.encode_state(f["state"], f["cause"], b(f["reason"]))
    if kind == "RESULT":
        return enc.encode_result(f["cmd_id"], f["code"], f["t_ms"], b(f["text"]))
    if kind == "STATUS":
        return enc.encode_status(
            f["state"],
            f["fault_mode"],
            f["samples_taken"],
            f["samples_sent"],
            f["samples_resent"],
            f["dropped_overflow"],
            f["commands_rejected"],
            f["read_failures"],
            f["ring_used"],
            f["period_ms"],
            f["missed_slots"],
            f["evicted_sent"],
            f["oldest_seq"],
            f["fault_param"],
        )
    assert kind == "ERROR", kind
    return enc.encode_error(f["code"], b(f["text"]))


def test_frames_match_every_vector_of_this_minor_byte_for_byte():
    # the firmware writes its own minor's layouts (the others are for decoders)
    vectors = [
        v
        for v in load("frames.json")
        if v["minor"] == codec.PROTO_MINOR
        and not v["trailing_hex"]
        and v["fields"].get("proto_minor", codec.PROTO_MINOR) == codec.PROTO_MINOR
    ]
    assert len(vectors) >= 12
    enc = FrameEncoder()
    for v in vectors:
        enc.frame_seq = v["frame_seq"]
        wire = bytes(encode(enc, v["type"], v["flags"], v["fields"]))
        assert wire == binascii.unhexlify(v["wire_hex"]), v["name"]


def test_commands_match_every_vector():
    vectors = load("commands.json")
    for v in vectors["valid"]:
        text = b(v["line"])
        assert text.endswith(b"\n")
        code, cmd_id, verb, args = parse_command(text[:-1])
        assert (code, cmd_id, verb, args) == (codec.OK, v["cmd_id"], v["verb"], v["args"]), v
    codes = {"BAD_CHECKSUM": 1, "UNKNOWN_COMMAND": 2, "BAD_ARGUMENT": 3}
    for v in vectors["invalid"]:
        code, cmd_id, verb, args = parse_command(b(v["line"]).rstrip(b"\n"))
        assert (code, cmd_id) == (codes[v["code"]], v["cmd_id"]), v


def test_the_argument_grammar_matches_the_hosts_verdicts():
    # every edge word after every numeric command: the board agrees with the host's grammar
    codes = {"OK": codec.OK, "BAD_ARGUMENT": codec.BAD_ARGUMENT}
    cases = load("commands.json")["grammar"]
    assert len(cases) >= 100
    for v in cases:
        code, cmd_id, verb, args = parse_command(b(v["line"]).rstrip(b"\n"))
        assert (code, cmd_id) == (codes[v["code"]], 20), v


def parsed(text: str) -> tuple:
    return parse_command(line(text)[:-1])


def test_parse_good_lines():
    assert parsed("0 hello") == (codec.OK, 0, "hello", [])
    assert parsed("65535 set period_ms 1") == (codec.OK, 65535, "set", ["period_ms", "1"])
    assert parsed("3 fault random 1")[0] == codec.OK
    assert parsed("3 fault random 0.5")[0] == codec.OK
    assert parsed("3 fault random 0.000001")[0] == codec.OK
    assert parsed("3 fault random 1.0")[0] == codec.OK
    assert parsed("3 fault deterministic 0")[0] == codec.OK
    assert parsed("3 fault deterministic 1073741823")[0] == codec.OK
    assert parsed("3 ack 0")[0] == codec.OK


def test_parse_bad_checksum():
    good = line("7 start")[:-1]
    assert parse_command(good[:-1] + b"0" if good[-1:] != b"0" else good[:-1] + b"1")[0] == (
        codec.BAD_CHECKSUM
    )
    assert parse_command(b"7 start*" + b"%08x" % binascii.crc32(b"7 start"))[0] == (
        codec.BAD_CHECKSUM
    )
    assert parse_command(b"7 start")[:2] == (codec.BAD_CHECKSUM, -1)
    assert parse_command(b"7 st\x01rt*00000000")[:2] == (codec.BAD_CHECKSUM, -1)


def test_parse_bad_id_is_untrusted():
    for text in ("65536 ping", "-1 ping", "x ping", "ping", " 1 ping", "01 ping", "+1 ping"):
        assert parsed(text)[:2] == (codec.BAD_ARGUMENT, -1), text


def test_parse_unknown_verb_keeps_the_id():
    assert parsed("9 launch")[:2] == (codec.UNKNOWN_COMMAND, 9)
    assert parsed("9 START")[:2] == (codec.UNKNOWN_COMMAND, 9)


def test_parse_bad_arguments():
    bad = (
        "1 ping now",
        "1 set period_ms 0",
        "1 set period_ms 60001",
        "1 set period_ms",
        "1 set speed 5",
        "1 set period_ms 1.5",
        "1 fault",
        "1 fault none 1",
        "1 fault random",
        "1 fault random 1.01",
        "1 fault random -0.1",
        "1 fault random x",
        "1 fault random 0.5.1",
        "1 fault intermittent 0",
        "1 fault intermittent",
        "1 fault deterministic -1",
        "1 fault sometimes 1",
        "1 ack",
        "1 ack 1073741824",
        "1 ack -5",
        "1 start  now",
        "1 fault random .5",
        "1 fault random 5e-1",
        "1 fault random 0.1234567",
        "1 fault random 1.5",
        "1 fault random 1.01",
        "1 fault random 00.5",
        "1 fault random 0.",
        "1 fault intermittent 1073741824",
        "1 fault intermittent 9999999999",
        "1 fault deterministic 01",
        "1 set period_ms 010",
        "1 set period_ms +10",
        "1 ack 00",
        "1 ack 12345678901",
    )
    for text in bad:
        assert parsed(text)[:2] == (codec.BAD_ARGUMENT, 1), text
    assert parsed("1 set period_ms 60000")[0] == codec.OK


def test_parse_too_long():
    text = "1 ping " + "x" * 90
    assert parse_command(line(text)[:-1])[0] == codec.LINE_TOO_LONG


def test_probability_is_in_parts_per_million():
    assert codec.parse_probability("0") == 0
    assert codec.parse_probability("1") == 1000000
    assert codec.parse_probability("1.000") == 1000000
    assert codec.parse_probability("0.25") == 250000
    assert codec.parse_probability("0.000001") == 1
    assert codec.parse_probability("1.5") == -1


def feed(reader: LineReader, data: bytes) -> list:
    events = []
    for byte in data:
        event = reader.feed(byte)
        if event == 1:
            events.append(reader.line())
        elif event:
            events.append(event)
    return events


def test_line_reader_splits_lines_and_drops_crlf_and_empty_lines():
    reader = LineReader()
    assert feed(reader, b"1 ping*X\r\n\n\r\n2 stop*Y\n") == [b"1 ping*X", b"2 stop*Y"]


def test_line_reader_keeps_a_stray_cr_so_the_line_fails():
    reader = LineReader()
    assert feed(reader, b"1 pi\rng\n") == [b"1 pi\rng"]


def test_line_reader_reports_a_too_long_line_once_and_drops_it():
    reader = LineReader()
    events = feed(reader, b"x" * 96 + b"\n" + b"y" * 300 + b"\n" + b"1 ping*Z\n")
    assert events == [b"x" * 96, codec.LINE_TOO_LONG, b"1 ping*Z"]


def test_cobs_output_never_holds_zero_between_delimiters():
    enc = FrameEncoder()
    for fill in (0, 1, 0xFF):
        wire = bytes(enc.encode_error(fill, bytes([fill]) * 300))  # text cut to fit
        assert wire[0] == 0
        assert wire[-1] == 0
        assert 0 not in wire[1:-1]
        assert len(wire) == 254 + 3  # 254-byte body + 1 COBS byte
