"""The decoder on 1280x720 gate-camera frames: real ticket codes under gate conditions, and garbage."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from scanner.decode import FrameDecoder, decode_frame, decode_image, passes, read_symbols
from scanner.errors import ImageUnreadable, ScannerError
from scanner.render import render_ticket, save_ticket_png
from tests.gatecams import GATE_CONDITIONS, Conditions, background, gate_frame
from ticketcode import derive_event_key, issue_code, parse_code

KEY = derive_event_key(b"decoder tests master secret", "GATE24")
CODES = [issue_code(KEY, serial, width=4) for serial in range(1, 40)]


@pytest.mark.parametrize("condition", list(GATE_CONDITIONS))
def test_ticket_under_gate_condition_decodes_to_the_exact_code(condition: str) -> None:
    conditions = GATE_CONDITIONS[condition]
    for index in range(3):
        code = CODES[index]
        frame = gate_frame(code, conditions, seed=index)
        assert frame.shape == (720, 1280, 3)
        assert decode_frame(frame) == [code.encode()], f"{condition}, seed {index}"


def test_decoded_payload_parses_as_the_issued_ticket() -> None:
    (payload,) = decode_frame(gate_frame(CODES[5], GATE_CONDITIONS["tilted"], seed=5))
    parsed = parse_code(payload)
    assert f"{parsed.event}-{parsed.serial:04d}" == CODES[5].rsplit("-", 1)[0]


def test_several_tickets_in_one_frame_all_decode() -> None:
    frame = background(3)
    for code, x in zip(CODES[:3], (60, 480, 900), strict=True):
        image = cv2.cvtColor(render_ticket(code, scale=8), cv2.COLOR_GRAY2BGR)
        frame[200 : 200 + image.shape[0], x : x + image.shape[1]] = image
    assert sorted(decode_frame(frame)) == sorted(code.encode() for code in CODES[:3])


def test_frames_without_a_code_decode_to_nothing() -> None:
    for seed in range(5):
        assert decode_frame(background(seed)) == []


def test_non_ticket_qr_comes_back_as_its_data() -> None:
    frame = gate_frame("https://example.org/not-a-ticket?x=1", Conditions(), seed=1)
    assert decode_frame(frame) == [b"https://example.org/not-a-ticket?x=1"]


def test_binary_payload_comes_back_byte_for_byte() -> None:
    payload = bytes(range(256))[::7] + b"\x00\xff\xfe"
    frame = gate_frame(payload, Conditions(size=420), seed=2)
    assert decode_frame(frame) == [payload]
    (symbol,) = read_symbols(frame)
    assert "\\x00" in symbol.text  # shown escaped, never as raw control characters


def test_non_utf8_text_payload_comes_back_as_raw_bytes() -> None:
    payload = "ﾃﾞｻﾞｲﾝ-チケット".encode("shift_jis")
    assert decode_frame(render_ticket(payload)) == [payload]


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((0,), np.uint8),
        np.zeros((0, 0, 3), np.uint8),
        np.zeros((5, 5), np.uint8),
        np.zeros((4, 4, 4, 4), np.uint8),
        np.zeros((64, 64, 2), np.uint8),
        np.full((64, 64), np.nan),
        np.full((64, 64), np.inf, np.float32),
        np.ones((64, 64), bool),
        np.arange(64 * 64, dtype=np.int64).reshape(64, 64),
        np.zeros((720, 1280, 4), np.uint8),
        np.asfortranarray(np.zeros((100, 80), np.uint8)),
    ],
    ids=lambda a: f"{a.dtype}{a.shape}",
)
def test_any_array_decodes_without_raising(array: np.ndarray) -> None:
    assert decode_frame(array) == []


def test_non_uint8_and_non_contiguous_views_of_a_code_still_decode() -> None:
    image = render_ticket(CODES[0], scale=6)
    assert decode_frame(image.astype(np.float32) / 255.0) == [CODES[0].encode()]
    wide = np.zeros((image.shape[0], image.shape[1] * 2), np.uint8)
    wide[:, ::2] = image  # every other column: a strided view
    assert decode_frame(wide[:, ::2]) == [CODES[0].encode()]
    bgra = cv2.cvtColor(image, cv2.COLOR_GRAY2BGRA)
    assert decode_frame(bgra) == [CODES[0].encode()]


def test_frame_decoder_meets_every_fallback_within_a_few_frames() -> None:
    # a low-contrast ticket needs a fallback pass; the budgeted decoder must reach it while the code
    # is held up, even though each frame only gets a share of the fallbacks
    frame = gate_frame(CODES[7], GATE_CONDITIONS["low contrast"], seed=7)
    decoder = FrameDecoder(fallback_budget=0.0)  # the tightest budget: one fallback per frame
    results = [decoder(frame) for _ in range(5)]
    assert [CODES[7].encode()] in results
    assert decoder(background(1)) == []


def test_frame_decoder_reads_what_the_fast_pass_reads_in_one_frame() -> None:
    decoder = FrameDecoder()
    assert decoder(gate_frame(CODES[8], GATE_CONDITIONS["clear"], seed=8)) == [CODES[8].encode()]


def test_decode_image_reads_a_png(tmp_path: Path) -> None:
    path = save_ticket_png(CODES[9], tmp_path / "ticket.png")
    assert decode_image(path) == [CODES[9].encode()]


def test_decode_image_of_a_missing_or_broken_file_raises_a_scanner_error(tmp_path: Path) -> None:
    with pytest.raises(ImageUnreadable, match="no such file"):
        decode_image(tmp_path / "nope.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(ScannerError, match="not an image"):
        decode_image(broken)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageUnreadable):
        decode_image(empty)
    with pytest.raises(ImageUnreadable, match="not a file"):
        decode_image(tmp_path)


@pytest.mark.parametrize(
    "payload",
    [
        b"GATE24-0001-89415704",
        "ﾃﾞｻﾞｲﾝQR チケット".encode("shift_jis"),
        "MECARD:N:測試;;".encode(),
        bytes([0, 1, 2, 0xFF, 0x80, 0x7F]) * 4,
    ],
    ids=["ticket", "shift-jis", "utf-8", "binary"],
)
def test_every_decoding_pass_returns_the_same_raw_bytes(payload: bytes) -> None:
    # whatever view of the image a pass decodes, it must hand back the symbol's bytes, never a
    # transcoding of them (Shift-JIS stays Shift-JIS)
    image = render_ticket(payload, scale=6)
    readers = {}
    for view in (image, cv2.bitwise_not(image)):
        for name, attempt in passes(view):
            for data, _text, _corners in attempt():
                readers.setdefault(name, set()).add(data)
    every_pass = {"zxing-smoothed", "zxing-adaptive", "zxing-equalized", "zxing-otsu", "zbar-half"}
    assert readers.keys() == every_pass
    assert all(found == {payload} for found in readers.values()), readers


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        dtype=st.sampled_from([np.uint8, np.int16, np.uint16, np.float32, np.float64, np.bool_]),
        shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=64),
    )
)
def test_decode_frame_never_raises_on_any_array(array: np.ndarray) -> None:
    failures: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = failures.append  # type: ignore[method-assign]
    decoder_log = logging.getLogger("scanner.decode")
    decoder_log.addHandler(handler)
    try:
        found = decode_frame(array)
    finally:
        decoder_log.removeHandler(handler)
    assert isinstance(found, list)
    assert all(isinstance(payload, bytes) for payload in found)
    assert failures == []  # refused cleanly, not by a swallowed exception
