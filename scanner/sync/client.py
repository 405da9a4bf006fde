"""The gate's HTTP client for the sync API (httpx): pair, pull a page, push a batch of scans.

Every call is bounded: connect and read timeouts per operation, a deadline for the whole exchange
(a server dripping a byte every second never trips a read timeout: a watchdog shuts the socket down
when the deadline passes, wherever the call is blocked), and a size limit. Every
answer is decoded by the protocol's strict ``decode_*``; whatever goes wrong on the way — refused
connection, reset, timeout, 5xx, a body cut short or garbled — is one ``ServerUnavailable`` ("try
later, nothing lost"), never another exception. Refusals the gate must act on have their own errors
(``DeviceRevoked``, ``DeviceUnauthorized``, ``PairingRefused``).

Each call also samples the clock: ``offset = server_time - (sent + received) / 2``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx

from scanner.errors import (
    DeviceRevoked,
    DeviceUnauthorized,
    PairingRefused,
    ScanIdsReused,
    ServerUnavailable,
    SyncConfigError,
    SyncError,
)
from ticketcode.sync_protocol import (
    AUTH_SCHEME,
    PAIR_PATH,
    PULL_PATH,
    PUSH_PATH,
    PairRequest,
    PairResponse,
    ProtocolError,
    PullPage,
    PushRequest,
    PushResponse,
    ScanUpload,
    decode_pair_response,
    decode_pull_page,
    decode_push_response,
    encode_pair_request,
    encode_push_request,
)

T = TypeVar("T")

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 15.0
# The whole answer, however it trickles in. A 20,000-change page is a few MB: seconds on a slow LAN.
ANSWER_DEADLINE_S = 60.0
MAX_ANSWER_BYTES = 64 * 1024 * 1024


class BadCursor(SyncError):
    """The server cannot read the cursor (another server, a reset database): pull from the start."""

    code = "bad_cursor"


@dataclass(frozen=True)
class ClockSample:
    """One measurement of the server's clock against this laptop's."""

    offset_ms: int  # server clock minus this laptop's
    round_trip_ms: float


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: httpx.Headers
    sent: datetime
    round_trip_s: float


class SyncClient:
    """One server, one device token (none while pairing). Not thread-safe: one per round."""

    def __init__(
        self,
        server_url: str,
        *,
        token: str | None = None,
        timeout_s: float = READ_TIMEOUT_S,
        deadline_s: float = ANSWER_DEADLINE_S,
    ) -> None:
        headers = {"User-Agent": "ticketgate-gate", "Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"{AUTH_SCHEME} {token}"
        self.server_url = server_url
        self._deadline_s = deadline_s
        self._socket: socket.socket | None = None  # of the one connection, for the watchdog
        self._aborted = threading.Event()
        self._http = httpx.Client(
            base_url=server_url,
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=min(CONNECT_TIMEOUT_S, timeout_s)),
            # One connection, kept alive between the calls of a round: the watchdog knows its socket.
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def abort(self) -> None:
        """End a call in flight now, and refuse later ones, from another thread (the gate app is
        closing): they fail as ServerUnavailable, and nothing unfinished is marked done."""
        self._aborted.set()
        self._abort(threading.Event())

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the three calls -----------------------------------------------------------------------

    def pair(self, code: str) -> tuple[PairResponse, ClockSample]:
        """Exchange a one-time pairing code for the device's token."""
        body = json.dumps(encode_pair_request(PairRequest(code=code))).encode()
        answer = self._call("POST", PAIR_PATH, content=body)
        response = self._decode(answer, decode_pair_response)
        return response, _sample(answer, response.server_time)

    def pull(self, cursor: str, *, limit: int) -> tuple[PullPage, ClockSample]:
        """The page of changes after ``cursor``; BadCursor when the server cannot read it."""
        answer = self._call("GET", PULL_PATH, params={"cursor": cursor, "limit": str(limit)})
        page = self._decode(answer, decode_pull_page)
        return page, _sample(answer, page.server_time)

    def push(self, scans: Sequence[ScanUpload]) -> tuple[PushResponse, ClockSample]:
        """Upload a batch; the answer lists the ids the server now holds."""
        body = json.dumps(encode_push_request(PushRequest(scans=tuple(scans))), ensure_ascii=False)
        answer = self._call("POST", PUSH_PATH, content=body.encode("utf-8"))
        response = self._decode(answer, decode_push_response)
        return response, _sample(answer, response.server_time)

    # -- transport -----------------------------------------------------------------------------

    def _trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's trace hook: remember the socket of each new connection."""
        if event == "connection.connect_tcp.complete" and info.get("return_value") is not None:
            self._socket = info["return_value"].get_extra_info("socket")

    def _abort(self, fired: threading.Event) -> None:
        """The deadline passed: shut the socket down, which wakes a call blocked on it."""
        fired.set()
        sock = self._socket
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed: the call ends by itself

    def _call(self, method: str, path: str, **kwargs: Any) -> Answer:
        if "content" in kwargs:
            kwargs["headers"] = {"Content-Type": "application/json"}
        if self._aborted.is_set():
            raise ServerUnavailable("sync stopped: the gate app is closing")
        sent = datetime.now(UTC)
        started = time.monotonic()
        deadline = started + self._deadline_s
        fired = threading.Event()
        watchdog = threading.Timer(self._deadline_s, self._abort, args=(fired,))
        watchdog.daemon = True
        watchdog.start()
        try:
            with self._http.stream(method, path, extensions={"trace": self._trace}, **kwargs) as response:
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_ANSWER_BYTES:
                        raise ServerUnavailable(
                            f"the server's answer to {path} is larger than {MAX_ANSWER_BYTES} bytes"
                        )
                    if time.monotonic() > deadline:
                        raise ServerUnavailable(
                            f"the server took over {self._deadline_s:.0f} s to answer {path}"
                        )
                    chunks.append(chunk)
                answer = Answer(
                    status=response.status_code,
                    body=b"".join(chunks),
                    headers=response.headers,
                    sent=sent,
                    round_trip_s=time.monotonic() - started,
                )
        except httpx.HTTPError as exc:
            if self._aborted.is_set():
                raise ServerUnavailable("sync stopped: the gate app is closing") from None
            if fired.is_set():
                raise ServerUnavailable(
                    f"the server took over {self._deadline_s:.0f} s to answer {path}"
                ) from None
            if isinstance(exc, httpx.TimeoutException):
                raise ServerUnavailable(f"{self.server_url} did not answer in time") from None
            if isinstance(exc, httpx.ConnectError):
                raise ServerUnavailable(f"cannot reach {self.server_url}: {_why(exc)}") from None
            # Reset, closed half way, a body shorter than announced, a malformed answer...
            raise ServerUnavailable(f"the connection to {self.server_url} failed: {_why(exc)}") from None
        finally:
            watchdog.cancel()
        _raise_for_status(answer, self.server_url)
        return answer

    @staticmethod
    def _decode(answer: Answer, decode: Callable[[object], T]) -> T:
        try:
            return decode(json.loads(answer.body))
        except (ValueError, RecursionError) as exc:  # JSON and UTF-8 errors are ValueErrors
            raise ServerUnavailable(f"the server's answer is not JSON ({exc})") from None
        except ProtocolError as exc:
            raise ServerUnavailable(f"the server's answer does not follow the sync protocol: {exc}") from None


def _sample(answer: Answer, server_time: datetime) -> ClockSample:
    midpoint = answer.sent + timedelta(seconds=answer.round_trip_s / 2)
    offset = (server_time - midpoint) / timedelta(milliseconds=1)
    return ClockSample(offset_ms=round(offset), round_trip_ms=answer.round_trip_s * 1000)


def _why(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


def _error(answer: Answer) -> tuple[str, str]:
    """The API's error code and message, as well as a body we cannot trust allows."""
    try:
        error = json.loads(answer.body)["error"]
        code, message = error["code"], error["message"]
        if isinstance(code, str) and isinstance(message, str):
            return code[:100], message[:300]
    except (ValueError, RecursionError, KeyError, TypeError):
        pass
    return "", ""


def _raise_for_status(answer: Answer, server: str) -> None:
    status = answer.status
    if 200 <= status < 300:
        return
    code, message = _error(answer)
    if status == 401 and code == "pairing_invalid":
        raise PairingRefused(
            "the pairing code is unknown, expired or already used: ask the operator for a new one "
            "(`ticketgate device add` on the backend)"
        )
    if status == 403 and code == "device_revoked":
        raise DeviceRevoked(
            "this device was revoked on the backend: it gets no data; ask the operator for a new "
            "pairing code and pair again"
        )
    if status == 401:
        raise DeviceUnauthorized(
            f"the server at {server} does not know this device (a reset or different server?): "
            "pair again with a new pairing code"
        )
    if status == 409 and code == "scan_ids_reused":
        raise ScanIdsReused(
            "the server already holds other scans under this gate's scan ids: its store was replaced "
            "or restored from a backup since it was paired. Nothing was uploaded and nothing is lost: "
            "pair the gate again (ticketgate device add on the backend, then ticketgate pair here) and "
            "its scans go up under the new device"
        )
    if status == 400 and code == "bad_cursor":
        raise BadCursor(message or "the server cannot read the sync cursor")
    if status >= 500 or status in (408, 429):
        retry = answer.headers.get("Retry-After", "")
        later = f", retry after {retry} s" if retry.isdigit() else ""
        raise ServerUnavailable(
            f"the server is busy or failing (HTTP {status}{f' {code}' if code else ''}{later})"
        )
    if status == 404:
        raise SyncConfigError(
            f"{server} has no sync API (HTTP 404): is the URL right, and the server a ticketgate with sync?"
        )
    raise SyncError(f"the server refused the request (HTTP {status} {code}): {message or 'no reason given'}")
