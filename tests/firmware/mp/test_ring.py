# Ring buffer: seq numbering, ack, send cursor and resend mark, overflow.
from ring import Ring


def filled(capacity: int, n: int) -> Ring:
    ring = Ring(capacity)
    for i in range(n):
        ring.push(100 + i, 42000 + i, 0)
    return ring


def held(ring: Ring) -> list:
    return [ring.seq[ring.index(k)] for k in range(ring.count)]


def test_push_numbers_from_zero_and_keeps_columns():
    ring = filled(8, 3)
    assert held(ring) == [0, 1, 2]
    i = ring.index(2)
    assert (ring.t_ms[i], ring.value[i], ring.channel[i]) == (102, 42002, 0)
    ring.push(5, -12345, 1)
    i = ring.index(3)
    assert (ring.value[i], ring.channel[i]) == (-12345, 1)


def test_ack_frees_every_sample_up_to_seq():
    ring = filled(8, 5)
    assert ring.ack(2) == 3
    assert held(ring) == [3, 4]
    assert ring.ack(2) == 0  # already freed
    assert ring.ack(4) == 2
    assert ring.count == 0


def test_ack_ahead_of_the_newest_sample_is_refused_and_frees_nothing():
    ring = filled(8, 5)
    for seq in (5, 100, (1 << 29) + 4):  # ahead: the 2^29 seqs after the newest (4)
        assert ring.ack(seq) == -1, seq
    assert held(ring) == [0, 1, 2, 3, 4]
    assert ring.ack((1 << 29) + 5) == 0  # 2^29 behind next_seq: an old seq, nothing held
    assert Ring(4).ack(0) == -1  # no sample taken yet: every seq is ahead


def test_cursor_sends_each_sample_once_and_hello_rewinds_to_oldest_unacked():
    ring = filled(8, 5)
    assert ring.pending() == 5
    assert not ring.is_resend()
    ring.advance(5)
    assert ring.pending() == 0
    ring.ack(1)
    ring.rewind()
    assert ring.pending() == 3
    assert ring.is_resend()
    assert ring.sent_mark - ring.cursor == 3
    ring.push(200, 1, 0)
    ring.advance(3)
    assert not ring.is_resend()
    assert ring.pending() == 1


def test_overflow_evicts_oldest_and_counts_sent_and_never_sent_apart():
    ring = filled(4, 4)
    ring.advance(2)  # seqs 0 and 1 were sent, 2 and 3 not
    for _ in range(3):
        ring.push(1, 2, 0)
    assert (ring.evicted_sent, ring.dropped_overflow) == (2, 1)  # 0, 1 sent; 2 lost for good
    assert held(ring) == [3, 4, 5, 6]
    assert ring.cursor == 0
    assert ring.sent_mark == 0
    assert ring.count == ring.capacity
    assert ring.oldest_seq() == 3


def test_oldest_seq_is_next_seq_when_empty():
    ring = filled(4, 3)
    assert (ring.oldest_seq(), ring.next_seq) == (0, 3)
    ring.ack(2)
    assert (ring.oldest_seq(), ring.next_seq) == (3, 3)


def test_seq_and_t_ms_wrap_at_30_bits():
    ring = Ring(4)
    ring.next_seq = (1 << 30) - 1
    ring.push((1 << 30) + 7, 0, 0)
    ring.push(8, 0, 0)
    assert held(ring) == [(1 << 30) - 1, 0]
    assert ring.t_ms[ring.index(0)] == 7
    assert ring.ack(0) == 2  # ack across the wrap


def test_ack_of_an_older_seq_frees_nothing():
    ring = filled(8, 4)
    ring.ack(1)
    assert ring.ack(0) == 0
    assert held(ring) == [2, 3]
