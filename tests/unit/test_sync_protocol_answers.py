"""What the sync protocol answers to each message broken one field at a time, pinned whole.

Every field of every message (nested ones too) is removed, or replaced by a value of the wrong kind,
and decoded; what comes back (the message decoded, or the ProtocolError naming the field) must be
what `sync_protocol_answers.txt` records. A change to any refusal's wording or to which field it
names, or a field quietly dropped or defaulted, shows here as a changed line. After a deliberate
change to the protocol, regenerate the file and read its diff:

    .venv/bin/python tests/unit/test_sync_protocol_answers.py
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script to regenerate the file
    sys.path.insert(0, str(ROOT))

from ticketcode import derive_event_key, derive_verify_key  # noqa: E402
from ticketcode.sync_protocol import (  # noqa: E402
    ConflictChange,
    EventInfo,
    MovementChange,
    PairRequest,
    PairResponse,
    ProtocolError,
    PullPage,
    PushRequest,
    PushResponse,
    ScanUpload,
    TicketChange,
    decode_pair_request,
    decode_pair_response,
    decode_pull_page,
    decode_push_request,
    decode_push_response,
    encode_pair_request,
    encode_pair_response,
    encode_pull_page,
    encode_push_request,
    encode_push_response,
)

ANSWERS = Path(__file__).with_name("sync_protocol_answers.txt")
NOW = datetime(2026, 11, 30, 19, 42, 7, 123456, tzinfo=UTC)
EVENT = EventInfo(code="VL9IHU", name="Vienna Live", capacity=150, signing="hmac")
SCAN = ScanUpload(
    id=7, scanned_at=NOW, gate="Gate A", direction="out", verdict="ADMIT", reason="exit recorded",
    source="camera", clock_offset_ms=-1250, code="VL9IHU-001-f3a2b1c0", event="VL9IHU", serial=1,
)  # fmt: skip
PAGE = PullPage(
    event=EventInfo(code="RTEV1", name="Rotated", capacity=40, signing="ed25519"),
    keys=(
        derive_event_key(b"k" * 32, "RTEV1", 1),
        derive_verify_key(b"k" * 32, "RTEV1", 2, scheme="ed25519"),
    ),
    changes=(
        TicketChange(
            serial=1, code="RTEV1-001-f3a2b1c0", status="valid", changed_at=NOW, order="o-1", holder="Ada"
        ),
        TicketChange(
            serial=2, code="RTEV1-002-0badc0de", status="revoked", changed_at=NOW, reason="refunded"
        ),
        MovementChange(
            scan="3f1c0a9e-0000-4000-8000-000000000001/17", gate="Gate A", serial=1, direction="in", at=NOW
        ),
        ConflictChange(
            id="c1", serial=1, scans=("a/1", "b/2"), gates=("Gate A", "Gate B"), at=(NOW, NOW), withdrawn=True
        ),
    ),
    cursor="opaque-1",
    more=True,
    server_time=NOW,
    remaining=12,
)
MESSAGES: dict[str, tuple[Any, Callable[[object], object]]] = {
    "pull page": (encode_pull_page(PAGE), decode_pull_page),
    "push request": (encode_push_request(PushRequest(scans=(SCAN,))), decode_push_request),
    "push response": (encode_push_response(PushResponse((7, 8), NOW)), decode_push_response),
    "pair request": (encode_pair_request(PairRequest(code="K7QXM2PA9TRD")), decode_pair_request),
    "pair response": (
        encode_pair_response(
            PairResponse(device_id="d1", device_name="Gate A", token="t", event=EVENT, server_time=NOW)
        ),
        decode_pair_response,
    ),
}
# What replaces a field: none of the kinds the protocol sends, or one out of its bounds.
WRONG: dict[str, object] = {
    "null": None, "list": [], "object": {}, "empty": "", "negative": -1, "huge": 10**12, "true": True,
    "long": "x" * 300, "surrogate": "\ud800", "bad time": "2026-11-30T25:00:00+00:00",
}  # fmt: skip


def _paths(data: object, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield (*path, key)
            yield from _paths(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield (*path, index)
            yield from _paths(value, (*path, index))


def _changed(data: Any, path: tuple[Any, ...], how: str) -> Any:
    copy = json.loads(json.dumps(data))
    holder = copy
    for step in path[:-1]:
        holder = holder[step]
    if how == "removed":
        del holder[path[-1]]
    else:
        holder[path[-1]] = WRONG[how]
    return copy


def _answer(decode: Callable[[object], object], data: object, *, whole: bool = False) -> str:
    try:
        decoded = decode(data)
    except ProtocolError as exc:
        return f"refused: {exc}"
    except Exception as exc:  # never expected: recorded so that the test names it
        return f"RAISED {type(exc).__name__}: {exc}"
    # What a changed message decodes to, as a digest: the message as sent is written out whole.
    text = repr(decoded)
    return f"decoded: {text}" if whole else f"decoded: {hashlib.sha256(text.encode()).hexdigest()[:16]}"


def answers() -> list[str]:
    """One line per message, field and change: ``message | path | change -> answer``."""
    lines = []
    for name, (encoded, decode) in MESSAGES.items():
        lines.append(f"{name} | - | as sent -> {_answer(decode, encoded, whole=True)}")
        lines.append(f"{name} | - | not an object -> {_answer(decode, [encoded])}")
        for path in _paths(encoded):
            where = ".".join(map(str, path))
            for how in ("removed", *WRONG):
                answer = _answer(decode, _changed(encoded, path, how))
                lines.append(
                    f"{name} | {where} | {how} -> {answer}".encode("utf-8", "backslashreplace").decode()
                )
    return lines


def test_each_message_broken_one_field_at_a_time_is_answered_as_recorded() -> None:
    recorded = ANSWERS.read_text(encoding="utf-8").splitlines()
    now = answers()
    assert not [line for line in now if line.split(" -> ", 1)[1].startswith("RAISED")]
    changed = [f"- {old}\n+ {new}" for old, new in zip(recorded, now, strict=False) if old != new]
    assert len(now) == len(recorded) and not changed, "\n".join(changed[:20])


if __name__ == "__main__":
    ANSWERS.write_text("\n".join(answers()) + "\n", encoding="utf-8")
    print(f"wrote {ANSWERS.relative_to(ROOT)}")
