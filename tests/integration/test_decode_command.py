"""``ticketgate decode IMAGE...`` as a user runs it: a real subprocess on the qr-bench images."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from scanner.render import save_ticket_png

# Ten qr-bench images (ZXing's test images, Apache-2.0) travel with the tests: see data/qr-bench/README.md.
BENCH = Path(__file__).resolve().parents[1] / "data" / "qr-bench"


# A sample across the three folders: camera photos, Shift-JIS and UTF-8 text, multi-line payloads, a
# code only the zbar fallback reads (qrcode-2/28) and one with control characters (qrcode-2/33).
SAMPLE = [
    "qrcode-1/1",
    "qrcode-1/14",
    "qrcode-2/1",
    "qrcode-2/17",
    "qrcode-2/28",
    "qrcode-2/30",
    "qrcode-2/32",
    "qrcode-2/33",
    "qrcode-3/12",
    "qrcode-3/20",
]


def decode(*images: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ticketgate", "decode", *map(str, images)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def expected_text(name: str) -> str:
    """The bench's expected text, compared as its README says: CRLF as LF, surrounding space stripped."""
    return (BENCH / f"{name}.txt").read_text(encoding="utf-8").replace("\r\n", "\n").strip()


def printed_text(line: str) -> str:
    """The text behind one printed line (decode escapes line breaks and control characters)."""
    named = {"n": "\n", "r": "\r", "t": "\t"}
    text = re.sub(
        r"\\(x[0-9a-f]{2}|[nrt])",
        lambda m: chr(int(m[1][1:], 16)) if m[1][0] == "x" else named[m[1]],
        line,
    )
    return text.replace("\r\n", "\n").strip()


def test_decode_prints_the_expected_text_of_bench_images() -> None:
    images = [BENCH / f"{name}.png" for name in SAMPLE]
    result = decode(*images)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == len(SAMPLE), lines  # one code per image, one line per code
    for name, image, line in zip(SAMPLE, images, lines, strict=True):
        prefix = f"{image}: "
        assert line.startswith(prefix), line
        assert printed_text(line[len(prefix) :]) == expected_text(name), name


def test_one_image_prints_just_the_text() -> None:
    result = decode(BENCH / "qrcode-2/28.png")
    assert (result.returncode, result.stdout) == (0, "http://www.webtech.co.jp/k/\n")


def test_several_images_print_one_prefixed_line_per_code_and_nothing_for_none(tmp_path: Path) -> None:
    ticket = save_ticket_png("GATE24-0001-89415704", tmp_path / "ticket.png")
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200), 255, np.uint8))
    result = decode(ticket, blank, BENCH / "qrcode-2/30.png")
    assert result.stdout.splitlines() == [
        f"{ticket}: GATE24-0001-89415704",
        f"{BENCH / 'qrcode-2/30.png'}: MECARD:N:測試;;",
    ]
    assert result.returncode == 1  # an image held no code


def test_unreadable_image_is_one_clear_error_line_and_the_others_still_decode(tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_text("not an image")
    ticket = save_ticket_png("GATE24-0002-fc9dbe83", tmp_path / "ticket.png")
    result = decode(tmp_path / "missing.png", broken, tmp_path / "not\udcffutf8.png", ticket)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"ticketgate: error: {tmp_path / 'missing.png'}: no such file",
        f"ticketgate: error: {broken}: not an image OpenCV can read",
        f"ticketgate: error: {tmp_path / 'not'}\\xffutf8.png: no such file",  # the byte as bash writes it
    ]
    assert result.stdout.splitlines() == [f"{ticket}: GATE24-0002-fc9dbe83"]
