# The loop through a recording link: boot frames, sending, hello resend, ack, status, the TX
# queue when the host stops reading, missed slots, period changes.
import struct

from codec import BAD_ARGUMENT, FLAG_RESEND, LINE_TOO_LONG, OK
from support import (
    ERROR,
    HELLO,
    RESULT,
    SAMPLES,
    STATE,
    ShortLink,
    StalledLink,
    command,
    line,
    make_app,
    result,
    samples,
    send_pending,
    seqs,
    status,
    tick,
)


def hello_seqs(frame: tuple) -> tuple:
    # (oldest_seq, next_seq): the 1.1 fields after HELLO's three strings
    assert frame[0] == HELLO, frame
    return struct.unpack("<II", frame[3][-8:])


def test_boot_sends_hello_then_state_boot():
    app = make_app()
    app.boot()
    frames = app.link.frames()
    assert [f[0] for f in frames] == [HELLO, STATE]
    assert [f[2] for f in frames] == [0, 1]  # frame_seq per boot
    assert frames[0][3][:2] == b"\x01\x01"  # protocol 1.1
    assert hello_seqs(frames[0]) == (0, 0)
    assert frames[1][3][:2] == b"\x00\x00"  # Idle, cause boot


def test_samples_follow_the_period_and_go_out_in_frames_of_at_most_16():
    app = make_app(capacity=128)
    command(app, "1 start")  # first sample at once, then every 10 ms
    frames = tick(app, 10, ms=5)
    assert seqs(frames) == [0, 1, 2, 3, 4, 5]
    for _ in range(40):
        app.sample(app.clock.now)
    frames = send_pending(app)
    assert [len(samples(f)) for f in frames] == [16, 16, 8]
    assert seqs(frames) == list(range(6, 46))


def test_hello_resends_unacked_samples_flagged_resend_and_names_the_seqs_held():
    app = make_app()
    command(app, "1 start")
    tick(app, 5)
    command(app, "2 ack 2")
    frames = command(app, "3 hello")
    assert [f[0] for f in frames[:2]] == [HELLO, RESULT]
    assert hello_seqs(frames[0]) == (3, 5)
    frames = send_pending(app)
    assert frames[0][1] == FLAG_RESEND
    assert seqs(frames) == [3, 4]
    frames = tick(app, 1)
    assert frames[0][1] == 0
    assert seqs(frames) == [5]


def test_status_reports_the_counters():
    app = make_app(capacity=4)
    command(app, "1 start")
    tick(app, 1, ms=0)  # the first slot is due at once
    tick(app, 5)
    command(app, "2 hello")
    send_pending(app)
    command(app, "3 bogus")
    command(app, "4 fault intermittent 3")
    st = status(command(app, "5 status")[0])
    # state, mode, taken, sent, resent, dropped (never sent), rejected, read_failures,
    # ring_used, period, missed_slots, evicted_sent, oldest_seq, fault_param
    assert st == (1, 2, 6, 6, 4, 0, 1, 0, 4, 10, 0, 2, 2, 3)
    command(app, "6 fault random 0.25")
    assert status(command(app, "7 status")[0])[13] == 250000  # parts per million


def test_ping_answers_with_the_board_clock():
    app = make_app()
    app.clock.now = (1 << 30) + 77
    frames = command(app, "9 ping")
    assert result(frames[0]) == (9, OK)
    assert frames[0][3][3:7] == b"\x4d\x00\x00\x00"  # t_ms masked to 30 bits


def test_a_too_long_line_is_an_error_frame():
    app = make_app()
    app.link.inbox.extend(b"1 ping " + b"x" * 200 + b"\n")
    app.poll_input()
    app.tx.drain(app.link)
    frames = app.link.frames()
    assert [f[0] for f in frames] == [ERROR]
    assert frames[0][3][0] == LINE_TOO_LONG


def test_short_writes_are_completed():
    app = make_app(link=ShortLink())
    command(app, "1 start")
    frames = tick(app, 3)
    assert seqs(frames) == [0, 1, 2]


def test_period_can_be_set_down_to_one_ms():
    app = make_app()
    assert result(command(app, "1 set period_ms 1")[0]) == (1, OK)
    command(app, "2 start")
    assert seqs(tick(app, 20, ms=1)) == list(range(20))
    assert [f[0] for f in tick(app, 1, ms=1)] == [SAMPLES]


def test_sampling_goes_on_while_the_host_does_not_read():
    # the host stalls: the TX queue fills, no SAMPLES frame is built any more, the ring keeps
    # sampling at 1 ms and evicts; unsent evictions are lost, sent ones (in the queue) are not
    link = StalledLink()
    app = make_app(capacity=64, link=link)
    link.open = True
    command(app, "1 set period_ms 1")
    link.open = False
    command(app, "2 start")
    tick(app, 1, ms=0)
    tick(app, 199, ms=1)
    assert app.samples_taken == 200
    assert app.missed_slots == 0
    assert app.tx.used == 5  # STATE and RESULT of start, then SAMPLES [0], [1], [2]
    assert (app.ring.evicted_sent, app.ring.dropped_overflow) == (3, 133)
    link.open = True
    frames = tick(app, 1, ms=1)  # samples seq 200 first: seq 136 is evicted, never sent
    assert [f[0] for f in frames[:2]] == [STATE, RESULT]
    assert seqs(frames) == [0, 1, 2] + list(range(137, 201))  # noqa: RUF005  (MicroPython: no * in [])
    st = status(command(app, "3 status")[0])
    assert (st[2], st[5], st[10], st[11]) == (201, 134, 0, 3)


def test_commands_wait_unread_while_the_host_does_not_read_and_are_all_answered():
    link = StalledLink()
    app = make_app(link=link)
    for i in range(12):
        link.inbox.extend(line(str(i) + " ping"))
    app.step()
    assert app.tx.free() < 3  # two answers' room is never given away
    assert link.inbox  # the rest of the lines wait in the link, not in the board
    link.open = True
    for _ in range(10):
        app.step()
    frames = link.frames()
    assert [result(f) for f in frames] == [(i, OK) for i in range(12)]
    assert [f[2] for f in frames] == list(range(12))  # no frame lost


def test_slots_the_loop_could_not_sample_on_time_are_counted():
    app = make_app()
    command(app, "1 start")
    tick(app, 1, ms=0)  # the first sample at once, the next slot 10 ms later
    app.clock.now += 65  # the loop stalls: the slots at +10 ... +60 pass, +10 is taken late
    app.step()
    assert seqs(app.link.frames()) == [1]
    assert app.missed_slots == 5
    assert seqs(tick(app, 3, ms=5)) == [2, 3]  # the grid holds: slots at +70 and +80
    assert status(command(app, "2 status")[0])[10] == 5


def test_a_new_period_takes_effect_at_once():
    app = make_app()
    command(app, "1 set period_ms 60000")
    command(app, "2 start")
    assert seqs(tick(app, 1, ms=0)) == [0]
    command(app, "3 set period_ms 10")  # next slot 10 ms after the last sample, not in a minute
    assert seqs(tick(app, 5, ms=10)) == [1, 2, 3, 4, 5]
    app.clock.now += 50
    command(app, "4 set period_ms 20")  # 20 ms after the last sample has passed: at once
    assert seqs(tick(app, 1, ms=0)) == [6]


def test_an_ack_ahead_of_the_newest_sample_is_refused_and_frees_nothing():
    app = make_app()
    command(app, "1 start")
    tick(app, 3)
    command(app, "2 stop")
    assert result(command(app, "3 ack 3")[0]) == (3, BAD_ARGUMENT)
    assert result(command(app, "4 ack 1073741823")[0]) == (4, OK)  # seq -1: behind the oldest
    assert app.ring.count == 3
    assert result(command(app, "5 ack 2")[0]) == (5, OK)
    assert app.ring.count == 0
    assert result(command(app, "6 ack 3")[0]) == (6, BAD_ARGUMENT)


def test_reset_keeps_the_fault_mode_armed():
    app = make_app()
    command(app, "1 fault deterministic 2")
    command(app, "2 start")
    tick(app, 3)
    assert app.device.state == 2
    command(app, "3 reset")
    st = status(command(app, "4 status")[0])
    assert (st[0], st[1], st[13]) == (0, 3, 2)  # Idle, still deterministic 2
    command(app, "5 start")
    assert seqs(tick(app, 3)) == [2, 3]  # two more samples, then SafeState again


class CountingWatchdog:
    def __init__(self):
        self.feeds = 0

    def feed(self):
        self.feeds += 1


def test_every_loop_step_feeds_the_watchdog_and_the_default_is_off():
    import hal

    app = make_app()
    dog = CountingWatchdog()
    app.watchdog = dog
    app.boot()
    for _ in range(5):
        app.step()
    assert dog.feeds == 5
    assert type(hal.watchdog(0)) is hal.Watchdog  # opt-in: 0 starts no machine.WDT
