# The loop through a recording link: boot frames, sending, hello resend, ack, status, short writes.
from codec import FLAG_RESEND, LINE_TOO_LONG, OK
from support import (
    ERROR,
    HELLO,
    RESULT,
    SAMPLES,
    STATE,
    ShortLink,
    command,
    make_app,
    result,
    samples,
    seqs,
    status,
    tick,
)


def test_boot_sends_hello_then_state_boot():
    app = make_app()
    app.boot()
    frames = app.link.frames()
    assert [f[0] for f in frames] == [HELLO, STATE]
    assert [f[2] for f in frames] == [0, 1]  # frame_seq per boot
    assert frames[1][3][:2] == b"\x00\x00"  # Idle, cause boot


def test_samples_follow_the_period_and_go_out_in_frames_of_at_most_16():
    app = make_app(capacity=128)
    command(app, "1 start")  # first sample at once, then every 10 ms
    frames = tick(app, 10, ms=5)
    assert seqs(frames) == [0, 1, 2, 3, 4, 5]
    for _ in range(40):
        app.sample(app.clock.now)
    app.flush()
    frames = app.link.frames()
    assert [len(samples(f)) for f in frames] == [16, 16, 8]
    assert seqs(frames) == list(range(6, 46))


def test_hello_resends_unacked_samples_flagged_resend():
    app = make_app()
    command(app, "1 start")
    tick(app, 5)
    command(app, "2 ack 2")
    frames = command(app, "3 hello")
    assert [f[0] for f in frames[:2]] == [HELLO, RESULT]
    app.flush()
    frames = app.link.frames()
    assert frames[0][1] == FLAG_RESEND
    assert seqs(frames) == [3, 4]
    frames = tick(app, 1)
    assert frames[0][1] == 0
    assert seqs(frames) == [5]


def test_status_reports_the_counters():
    app = make_app(capacity=4)
    command(app, "1 start")
    tick(app, 6)
    command(app, "2 hello")
    app.flush()
    command(app, "3 bogus")
    st = status(command(app, "4 status")[0])
    # state, mode, taken, sent, resent, dropped, rejected, read_failures, ring_used, period
    assert st == (1, 0, 6, 6, 4, 2, 1, 0, 4, 10)


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
