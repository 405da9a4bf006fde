"""Debouncing: a held code is one scan, a code shown again after it left is a new scan."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scanner.debounce import DEFAULT_GONE_AFTER, Debouncer

A = b"GATE24-0001-89415704"
B = b"GATE24-0002-fc9dbe83"
FRAME = 1 / 30


def test_code_held_for_three_seconds_at_30_fps_is_one_scan() -> None:
    debouncer = Debouncer()
    scans = [debouncer.feed([A], n * FRAME) for n in range(90)]
    assert scans[0] == [A]
    assert all(scan == [] for scan in scans[1:])


def test_code_held_with_missed_frames_is_still_one_scan() -> None:
    # blur or a thumb makes the decoder miss the code in some frames (here a third of a second)
    debouncer = Debouncer()
    new = []
    for n in range(90):
        seen = [] if 30 <= n < 40 else [A]
        new += debouncer.feed(seen, n * FRAME)
    assert new == [A]


def test_same_code_again_after_it_left_the_view_is_a_new_scan() -> None:
    debouncer = Debouncer(gone_after=1.0)
    assert debouncer.feed([A], 0.0) == [A]
    assert debouncer.feed([A], 0.5) == []
    assert debouncer.feed([], 1.0) == []
    assert debouncer.feed([A], 1.6) == [A]  # unseen for 1.1 s > gone_after


def test_code_seen_exactly_gone_after_later_is_still_the_same_scan() -> None:
    debouncer = Debouncer(gone_after=1.0)
    debouncer.feed([A], 0.0)
    assert debouncer.feed([A], 1.0) == []


def test_two_codes_in_one_frame_are_two_scans_in_frame_order_duplicates_once() -> None:
    debouncer = Debouncer()
    assert debouncer.feed([B, A, B], 0.0) == [B, A]
    assert debouncer.feed([A, B], 0.1) == []


def test_second_code_entering_while_first_is_held_is_scanned_alone() -> None:
    debouncer = Debouncer()
    assert debouncer.feed([A], 0.0) == [A]
    assert debouncer.feed([A, B], 0.2) == [B]


def test_reset_forgets_codes() -> None:
    debouncer = Debouncer()
    debouncer.feed([A], 0.0)
    debouncer.reset()
    assert debouncer.feed([A], 0.1) == [A]


def test_default_tolerates_a_one_second_dropout() -> None:
    assert DEFAULT_GONE_AFTER > 1.0


def test_negative_gone_after_is_refused() -> None:
    with pytest.raises(ValueError, match="gone_after"):
        Debouncer(gone_after=-1)


@given(
    st.lists(
        st.tuples(st.floats(min_value=0.0, max_value=0.5), st.lists(st.sampled_from([A, B, b"\xff"]))),
        max_size=60,
    )
)
def test_a_payload_is_new_exactly_when_unseen_for_longer_than_gone_after(
    frames: list[tuple[float, list[bytes]]],
) -> None:
    gone_after = 0.7
    debouncer = Debouncer(gone_after=gone_after)
    last_seen: dict[bytes, float] = {}
    now = 0.0
    for step, payloads in frames:
        now += step
        expected = []
        for payload in payloads:
            gone = payload not in last_seen or now - last_seen[payload] > gone_after
            if gone and payload not in expected:
                expected.append(payload)
        assert debouncer.feed(payloads, now) == expected
        for payload in payloads:
            last_seen[payload] = now
