"""Device: one board by identity, across connections and reboots.

It keeps what the board said about itself (HELLO), the mirrored state and armed fault, the
clock mapping, its last STATUS, and per boot the seq unwrapping and the SeqLedger; it turns a
session's events into the pipeline's SampleBatch and StateChange and says what to ack. Owned by
the link loop's thread; other threads read `snapshot()` results only.
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

from telemetryhub.device.base import (
    DeviceCounters,
    DeviceSnapshot,
    LinkStats,
    SampleBatch,
    StateChange,
)
from telemetryhub.device.clock import BoardClock, Unwrapper
from telemetryhub.device.ledger import LossReason, SeqLedger
from telemetryhub.device.session import Answer
from telemetryhub.models import DeviceInfo, DeviceState, Fault, FaultMode, Sample
from telemetryhub.protocol import SEQ_MODULUS, Frame, Hello, Samples, State, StateCause, Status

# Where a restarted gateway resumes a boot: the newest stored seq of (device_id, boot_id).
ResumePoint = Callable[[str, int], int | None]

_CAUSES: dict[int, str] = {
    StateCause.BOOT: "boot",
    StateCause.COMMAND: "command",
    StateCause.FAULT: "fault",
}
_STATE_AFTER_OK = {
    "start": DeviceState.MEASURING,
    "stop": DeviceState.IDLE,
    "reset": DeviceState.IDLE,
}
_FAULT_MODES = {mode.name.lower(): mode for mode in FaultMode}
_BOOTS_KEPT = 4  # the pipeline may still settle samples of a boot that just ended


@dataclass(slots=True)
class _Boot:
    boot_id: int
    seqs: Unwrapper
    ledger: SeqLedger
    acked: int = -1  # the ack point last sent to the board on this connection
    floor_unknown: LossReason | None = None  # 1.0 board: the next sample (resent) is the floor
    first_contact: bool = False  # never seen before: its floor starts the ledger, nothing lost


class Device:
    """One board; see the module docstring. `known` says the store has seen this device."""

    def __init__(
        self,
        device_id: str,
        *,
        resume: ResumePoint | None = None,
        known: bool = False,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.device_id = device_id
        self.info: DeviceInfo | None = None
        self.state = DeviceState.IDLE
        self.fault = Fault(FaultMode.NONE)
        self.clock = BoardClock(wall)
        self.port_name = ""
        self.connected = False
        self.last_error: str | None = None
        self.board: DeviceCounters | None = None
        self.counts: Counter[str] = Counter()
        self._board_read_at: float | None = None
        self._resume = resume
        self._known = known
        self._wall = wall
        self._boots: OrderedDict[int, _Boot] = OrderedDict()
        self._lost_retired: Counter[str] = Counter()
        self._gap_pending = False
        self._handshaken_boot: int | None = None

    # --- connection ----------------------------------------------------------------------

    def on_handshake(self, hello: Hello, port_name: str) -> bool:
        """A handshake finished on `port_name` (a connect, a reconnect, or after a reboot).

        True if the board is new to the link: it was down, or it rebooted.
        """
        self.port_name = port_name
        fresh = not self.connected or self._handshaken_boot != hello.boot_id
        self._handshaken_boot = hello.boot_id
        if not self.connected:
            self.counts["connects"] += 1
        self.connected = True
        self.last_error = None
        boot = self._enter_boot(hello)
        boot.acked = -1  # a new connection: the board learns the ack point again
        self._learn_floor_from_hello(boot, hello, LossReason.DOWNTIME)
        return fresh

    def on_hello(self, hello: Hello) -> None:
        """A HELLO while up: a reboot (the session then hands shakes again) or a rewind's."""
        self._enter_boot(hello)
        boot = self._boots[hello.boot_id]
        self._learn_floor_from_hello(boot, hello, LossReason.BOARD_OVERFLOW)

    def on_down(self, detail: str) -> None:
        self.connected = False
        self.last_error = detail

    def _enter_boot(self, hello: Hello) -> _Boot:
        old = self.info
        self.info = _info(hello)
        self.state = self.info.state
        boot = self._boots.get(hello.boot_id)
        if boot is not None:
            return boot
        if old is not None and old.boot_id in self._boots:
            self.counts["reboots"] += 1
            status_next = self._status_next_seq(old.boot_id)
            self._boots[old.boot_id].ledger.end_of_boot(status_next)
        self.clock.reset()
        return self._new_boot(hello.boot_id)

    def _new_boot(self, boot_id: int) -> _Boot:
        seqs = Unwrapper(SEQ_MODULUS)
        resume = self._resume(self.device_id, boot_id) if self._resume else None
        if resume is not None:
            seqs.anchor(resume)
        boot = _Boot(boot_id, seqs, SeqLedger(-1 if resume is None else resume))
        boot.first_contact = resume is None and not self._known
        self._known = True
        self._boots[boot_id] = boot
        while len(self._boots) > _BOOTS_KEPT:
            _, retired = self._boots.popitem(last=False)
            self._lost_retired.update(retired.ledger.lost)
        return boot

    def _learn_floor_from_hello(self, boot: _Boot, hello: Hello, reason: LossReason) -> None:
        if hello.proto_minor >= 1:  # 1.1: HELLO says which seqs the board still holds
            self._raise_floor(boot, boot.seqs.extend(hello.oldest_seq), reason)
        else:
            boot.floor_unknown = reason  # a 1.0 board: its next sample is its oldest

    def _raise_floor(self, boot: _Boot, floor: int, reason: LossReason) -> None:
        if boot.first_contact:
            boot.first_contact = False
            if floor > boot.ledger.floor:
                boot.ledger = SeqLedger(floor - 1)  # what came before us is not ours to count
            return
        boot.ledger.raise_floor(floor, reason)

    def _status_next_seq(self, boot_id: int) -> int | None:
        board = self.board
        if board is None or self.info is None or self.info.boot_id != boot_id:
            return None
        return board.samples_taken  # seq counts samples taken, from 0

    # --- frames --------------------------------------------------------------------------

    def on_frame_gap(self) -> None:
        self.counts["frame_gaps"] += 1
        self._gap_pending = True

    def samples(self, frame: Frame, payload: Samples, received_at: float) -> SampleBatch | None:
        """The pipeline's batch for one SAMPLES frame; None before any HELLO."""
        info = self.info
        if info is None:
            return None
        boot = self._boots[info.boot_id]
        seqs = [boot.seqs.extend(wire.seq) for wire in payload.samples]
        self._account_arrival(boot, seqs, frame.resend)
        clock, unit = self.clock, info.unit
        samples = []
        for seq, wire in zip(seqs, payload.samples, strict=True):
            board_ms = clock.unwrap(wire.t_ms)
            samples.append(
                Sample(
                    info.device_id,
                    info.boot_id,
                    seq,
                    board_ms,
                    clock.to_utc(board_ms),
                    wire.value_milli / 1000,
                    wire.channel,
                    unit,
                )
            )
        self.counts["samples_received"] += len(samples)
        return SampleBatch(info, tuple(samples), frame.resend, received_at)

    def _account_arrival(self, boot: _Boot, seqs: list[int], resend: bool) -> None:
        ledger = boot.ledger
        first = seqs[0]
        if boot.floor_unknown is not None:  # 1.0 board after a hello: it resends its oldest
            self._raise_floor(boot, first, boot.floor_unknown)
            boot.floor_unknown = None
        elif first > ledger.highest_seen + 1:
            self.counts["seq_gaps"] += 1
            if not resend and not self._gap_pending:
                # new samples skipped some, and no frame was lost: the board's ring dropped them
                self._raise_floor(boot, first, LossReason.BOARD_OVERFLOW)
        self._gap_pending = False
        self.counts["duplicates_received"] += ledger.receive(seqs)

    def on_state(self, state: State) -> StateChange:
        self.state = DeviceState(state.state)
        cause = _CAUSES.get(state.cause, "unknown")
        return StateChange(self.device_id, self.state, cause, state.reason)

    # --- commands ------------------------------------------------------------------------

    def on_answer(self, answer: Answer, now: float) -> None:
        """Measure the clock from any RESULT; mirror what an OK command changed."""
        offset = self._wall() - now  # monotonic -> wall
        sent = answer.pending.sent_at + offset
        self.clock.measure(sent, answer.result.t_ms, answer.received_at + offset)
        if answer.pending.status is not None:
            self.on_status(answer.pending.status)
        if answer.result.code == 0:
            self._mirror(answer.pending.verb, answer.pending.args)

    def on_status(self, status: Status) -> None:
        self.board = _counters(status)
        self._board_read_at = time.monotonic()
        self.state = self.board.state
        info = self.info
        minor = 0 if info is None else info.proto_minor
        if info is not None and minor >= 1:  # 1.1: STATUS says the oldest seq it holds
            boot = self._boots[info.boot_id]
            self._raise_floor(boot, boot.seqs.extend(status.oldest_seq), LossReason.BOARD_OVERFLOW)
        self._mirror_fault(
            FaultMode(status.fault_mode), status.fault_param if minor >= 1 else None
        )

    def _mirror(self, verb: str, args: tuple[str, ...]) -> None:
        if verb in _STATE_AFTER_OK:
            self.state = _STATE_AFTER_OK[verb]
        elif verb == "set" and self.info is not None and args[:1] == ("period_ms",):
            self.info = replace(self.info, period_ms=int(args[1]))
        elif verb == "fault" and args and args[0] in _FAULT_MODES:
            mode = _FAULT_MODES[args[0]]
            self.fault = _fault(mode, args[1] if len(args) > 1 else "0")

    def _mirror_fault(self, mode: FaultMode, param: object) -> None:
        if mode != self.fault.mode:
            self.fault = Fault(mode)  # the mode changed behind our back: its parameter unknown
        if isinstance(param, int) and mode != FaultMode.NONE:
            if mode == FaultMode.RANDOM:
                self.fault = Fault(mode, probability=param / 1_000_000)
            else:
                self.fault = Fault(mode, count=param)

    # --- settling ------------------------------------------------------------------------

    def settle(self, boot_id: int, seqs: list[int]) -> None:
        """The pipeline finished `seqs` (stored, duplicate, rejected): see `ack_due`."""
        boot = self._boots.get(boot_id)
        if boot is not None:
            boot.ledger.settle(seqs)

    def ack_due(self, boot_id: int) -> int | None:
        """The 30-bit seq to ack now (the ledger's ack point moved since the last ack), or None."""
        boot = self._boots.get(boot_id)
        info = self.info
        if boot is None or info is None or info.boot_id != boot_id or not self.connected:
            return None
        point = boot.ledger.ack_point
        if point <= boot.acked or point < 0:
            return None
        boot.acked = point
        return point % SEQ_MODULUS

    def has_hole(self) -> bool:
        info = self.info
        boot = None if info is None else self._boots.get(info.boot_id)
        return boot is not None and boot.ledger.has_hole

    # --- views ---------------------------------------------------------------------------

    def lost(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for boot in self._boots.values():
            total.update(boot.ledger.lost)
        total.update(self._lost_retired)
        return {reason.value: total[reason.value] for reason in LossReason}

    def snapshot(self, link: LinkStats) -> DeviceSnapshot:
        info = self.info
        boot = None if info is None else self._boots.get(info.boot_id)
        age = None if self._board_read_at is None else time.monotonic() - self._board_read_at
        return DeviceSnapshot(
            device_id=self.device_id,
            info=info,
            state=self.state,
            fault=self.fault,
            link=link,
            samples_received=self.counts["samples_received"],
            lost=self.lost(),
            board=self.board,
            board_age_s=age,
            ack_point=None if boot is None else boot.ledger.ack_point,
            unsettled_gone=sum(b.ledger.unsettled_below_floor() for b in self._boots.values()),
        )


def _info(hello: Hello) -> DeviceInfo:
    return DeviceInfo(
        device_id=hello.device_id,
        firmware_version=hello.firmware_version,
        boot_id=hello.boot_id,
        proto_major=hello.proto_major,
        proto_minor=hello.proto_minor,
        ring_capacity=hello.ring_capacity,
        period_ms=hello.period_ms,
        unit=hello.unit,
        reset_cause=hello.reset_cause,
        state=DeviceState(hello.state),
    )


def _counters(status: Status) -> DeviceCounters:
    fields = {k: v for k, v in asdict(status).items() if k in DeviceCounters.__dataclass_fields__}
    return DeviceCounters(**{**fields, "state": DeviceState(status.state)})


def _fault(mode: FaultMode, arg: str) -> Fault:
    if mode == FaultMode.RANDOM:
        return Fault(mode, probability=float(arg))
    if mode == FaultMode.NONE:
        return Fault(mode)
    return Fault(mode, count=int(arg))
