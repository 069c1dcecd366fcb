"""SeqLedger: ack points stop at holes, lost samples are counted once, the identity holds."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from telemetryhub.device.ledger import LossReason, Ranges, SeqLedger, runs


def test_runs_split_values_into_consecutive_ranges() -> None:
    assert list(runs([3, 4, 5, 9, 10, 2])) == [(3, 6), (9, 11), (2, 3)]
    assert list(runs([])) == []


def test_ranges_merge_and_count() -> None:
    r = Ranges()
    r.add(5, 8)
    r.add(10, 12)
    r.add(8, 10)  # joins both
    assert (r.lowest, r.highest, len(r)) == (5, 11, 7)
    assert r.count_in(0, 100) == 7
    assert r.count_in(6, 11) == 5
    assert r.end_of_run(7) == 12
    assert r.next_start(3) == 5
    r.discard_below(9)
    assert (r.lowest, len(r)) == (9, 3)


def test_the_ack_point_stops_at_a_hole_and_moves_when_it_is_filled() -> None:
    ledger = SeqLedger()
    ledger.receive(range(0, 10))
    ledger.receive(range(13, 20))  # 10..12 lost on the way
    assert ledger.settle(range(0, 10))
    assert not ledger.settle(range(13, 20))
    assert (ledger.ack_point, ledger.has_hole) == (9, True)
    assert ledger.receive(range(10, 20)) == 7  # the resend: 13..19 arrived before
    assert ledger.settle(range(10, 13))
    assert (ledger.ack_point, ledger.has_hole) == (19, False)
    assert sum(ledger.lost.values()) == 0


def test_a_hole_below_the_boards_floor_is_lost_once_and_acked_past() -> None:
    ledger = SeqLedger()
    ledger.receive(range(0, 10))
    ledger.receive(range(13, 20))
    ledger.settle([*range(0, 10), *range(13, 20)])
    assert ledger.raise_floor(15, LossReason.BOARD_OVERFLOW) == 3
    assert ledger.raise_floor(15, LossReason.BOARD_OVERFLOW) == 0  # counted once
    assert ledger.raise_floor(12, LossReason.DOWNTIME) == 0  # the floor never goes down
    assert ledger.ack_point == 19
    assert ledger.lost == {"board_overflow": 3}


def test_in_flight_samples_below_the_floor_hold_the_ack_point() -> None:
    ledger = SeqLedger()
    ledger.receive(range(0, 10))
    ledger.raise_floor(8, LossReason.BOARD_OVERFLOW)  # the board evicted what the host holds
    assert sum(ledger.lost.values()) == 0
    assert ledger.ack_point == -1
    assert ledger.unsettled_below_floor() == 8
    ledger.settle(range(0, 10))
    assert ledger.ack_point == 9


def test_a_resumed_boot_counts_the_downtime_gap() -> None:
    ledger = SeqLedger(settled_through=2386)  # the newest stored seq of this boot
    ledger.raise_floor(4359, LossReason.DOWNTIME)  # the board's oldest after the restart
    assert ledger.lost == {"downtime": 4359 - 2387}
    assert ledger.ack_point == 4358


def test_the_end_of_a_boot_loses_what_never_arrived() -> None:
    ledger = SeqLedger()
    ledger.receive(range(0, 50))
    ledger.settle(range(0, 40))
    assert ledger.end_of_boot(next_seq=80) == 30  # 50..79 were taken, never sent
    assert ledger.unsettled == 10  # 40..49 are still in the pipeline: not lost


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    total=st.integers(1, 200),
    delivered=st.lists(st.integers(0, 199), max_size=300),
    settle_every=st.integers(1, 7),
    floors=st.lists(st.integers(0, 200), max_size=6),
)
def test_every_seq_ends_settled_or_lost_exactly_once(
    total: int, delivered: list[int], settle_every: int, floors: list[int]
) -> None:
    ledger = SeqLedger()
    arrived = [seq for seq in delivered if seq < total]
    received: set[int] = set()
    points = [ledger.ack_point]
    floor_steps = iter(sorted(floors))
    for i, seq in enumerate(arrived):
        if seq < ledger.floor:
            continue  # the board no longer holds it: it cannot send it
        ledger.receive([seq])
        received.add(seq)
        if i % settle_every == 0:
            ledger.settle(sorted(received))
            floor = next(floor_steps, None)
            if floor is not None:
                ledger.raise_floor(min(floor, total), LossReason.BOARD_OVERFLOW)
        points.append(ledger.ack_point)
    ledger.settle(sorted(received))
    ledger.raise_floor(total, LossReason.DOWNTIME)  # the board holds nothing more
    points.append(ledger.ack_point)
    assert points == sorted(points)  # never moves back
    assert ledger.ack_point == total - 1
    assert sum(ledger.lost.values()) == total - len(received)  # each missing seq, once
    assert ledger.unsettled == 0
