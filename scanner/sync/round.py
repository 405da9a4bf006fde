"""One sync round: push every scan not yet uploaded, then pull what changed since the cursor.

Push first, so what this gate admitted reaches the other gates as soon as possible; a failed push
does not stop the pull. Only scans the server acknowledged are marked uploaded, so a batch whose
answer never arrived is simply sent again next round (the server stores each scan once). Each
pulled page is kept with the cursor after it (``Store.apply_pulled``), so an interrupted pull
resumes where it stopped. A round never raises for what the network or server did: the report says
what happened, and ``exit_code`` is 0 (done), 1 (unreachable or busy: try later) or 2 (act).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from scanner.errors import (
    DeviceRevoked,
    DeviceUnauthorized,
    ScannerError,
    ServerUnavailable,
    SyncConfigError,
    SyncError,
)
from scanner.keystore import KeyStore
from scanner.store import Store
from scanner.store.remote import Applied
from scanner.store.sync_state import Link
from scanner.sync.client import BadCursor, ClockSample, SyncClient
from scanner.sync.credentials import DeviceCredentials
from scanner.verdicts import ScanResult
from ticketcode import EventKey
from ticketcode.sync_protocol import DEFAULT_PULL_LIMIT, MAX_PUSH_BATCH, PullPage, ScanUpload

# (changes kept so far this round, changes the server says remain) after each page
Progress = Callable[[int, int | None], None]


@dataclass
class RoundReport:
    """What one round did. ``errors`` holds at most one error of the push and one of the pull."""

    pushed: int = 0
    pulled: Applied = field(default_factory=Applied)
    pages: int = 0
    clock_offset_ms: int | None = None
    pending_upload: int = 0
    conflicts: int = 0
    errors: list[ScannerError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def exit_code(self) -> int:
        """0 done; 1 only "unreachable or busy" (nothing lost, try later); 2 someone must act."""
        if not self.errors:
            return 0
        return 1 if all(isinstance(e, ServerUnavailable) for e in self.errors) else 2

    @property
    def link(self) -> Link:
        if any(isinstance(e, DeviceRevoked | DeviceUnauthorized) for e in self.errors):
            return "refused"
        if any(isinstance(e, ServerUnavailable) for e in self.errors):
            return "offline"
        return "online"

    @property
    def problem(self) -> str | None:
        return "; ".join(dict.fromkeys(str(e) for e in self.errors)) or None


def run_round(
    *,
    store: Store,
    keys: KeyStore,
    credentials: DeviceCredentials,
    client: SyncClient | None = None,
    on_progress: Progress | None = None,
    pull_limit: int = DEFAULT_PULL_LIMIT,
) -> RoundReport:
    """Push, then pull; record how it went in the store (link, last sync, clock offset)."""
    report = RoundReport()
    own_client = client is None
    client = client or SyncClient(credentials.server_url, token=credentials.token)
    clock = RoundClock(store.clock_offset_ms())
    try:
        try:
            push_scans(store, client, clock, report=report)
        except ScannerError as exc:  # SyncError among them
            report.errors.append(exc)
        try:
            report.pages, report.pulled = pull_changes(
                store, keys, credentials, client, clock, on_progress=on_progress, limit=pull_limit
            )
        except ScannerError as exc:
            report.errors.append(exc)
    finally:
        if own_client:
            client.close()
    report.clock_offset_ms = clock.best.offset_ms if clock.best else clock.stored_ms
    try:
        store.record_sync(
            report.link,
            at=datetime.now(UTC),
            problem=report.problem,
            clock_offset_ms=clock.best.offset_ms if clock.best else None,
        )
        state = store.sync_state(credentials.event)
        report.pending_upload, report.conflicts = state.pending_upload, state.conflicts
    except ScannerError as exc:
        report.errors.append(exc)
    return report


class RoundClock:
    """The round's clock samples; the one with the shortest round trip is the most accurate."""

    def __init__(self, stored_ms: int | None) -> None:
        self.stored_ms = stored_ms
        self.best: ClockSample | None = None

    def add(self, sample: ClockSample) -> None:
        if self.best is None or sample.round_trip_ms < self.best.round_trip_ms:
            self.best = sample

    @property
    def offset_ms(self) -> int:
        if self.best is not None:
            return self.best.offset_ms
        return self.stored_ms or 0


def upload_of(scan: ScanResult, offset_ms: int | None) -> ScanUpload:
    """A recorded scan as the protocol carries it (its id is the gate's own)."""
    return ScanUpload(
        id=scan.scan_id,
        scanned_at=scan.scanned_at,
        gate=scan.gate,
        direction=scan.direction.value,
        verdict=scan.verdict.value,
        reason=scan.reason[:300],
        source=scan.source[:20],
        clock_offset_ms=offset_ms,
        code=scan.code,
        event=scan.event,
        serial=scan.serial,
    )


def push_scans(
    store: Store, client: SyncClient, clock: RoundClock, *, report: RoundReport | None = None
) -> int:
    """Every scan not yet uploaded, oldest first, in batches; returns how many were acknowledged
    (counted in ``report.pushed`` batch by batch too, so a push cut off half way says how far it got)."""
    pushed = 0
    after = 0
    while True:
        batch = store.unsynced_scans(MAX_PUSH_BATCH, after=after)
        if not batch:
            return pushed
        # The offset measured last: scans made offline carry the best estimate there is when sent.
        offset = clock.offset_ms if clock.best is not None or clock.stored_ms is not None else None
        response, sample = client.push([upload_of(s, offset) for s in batch])
        clock.add(sample)
        sent = {s.scan_id for s in batch}
        acknowledged = [i for i in response.acknowledged if i in sent]
        store.mark_synced(acknowledged)
        pushed += len(acknowledged)
        if report is not None:
            report.pushed = pushed
        # An id the server did not acknowledge stays queued for the next round; moving past it
        # keeps this round from sending it again and again.
        after = batch[-1].scan_id


def pull_changes(
    store: Store,
    keys: KeyStore,
    credentials: DeviceCredentials,
    client: SyncClient,
    clock: RoundClock,
    *,
    on_progress: Progress | None,
    limit: int,
) -> tuple[int, Applied]:
    """Pages until the server has no more ready; returns (pages, what they held).

    The next page is fetched while this one is written to the store (one request in flight, in a
    helper thread): the server composes page n+1 while the gate keeps page n, instead of each
    waiting for the other. Each page is kept with the cursor after it, in order.
    """
    cursor = store.sync_cursor()
    applied = Applied()
    pages = 0
    restarted = False
    held: set[tuple[str, int, str, bool]] = set()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-pull") as fetcher:
        ahead: Future[tuple[PullPage, ClockSample]] = fetcher.submit(client.pull, cursor, limit=limit)
        while True:
            try:
                page, sample = ahead.result()
            except BadCursor:
                if restarted:
                    raise SyncError("the server refused the sync cursor twice; try again later") from None
                # Another server, or its database was reset: every change states the current state,
                # so pulling everything again is harmless.
                restarted = True
                store.reset_cursor()
                cursor = ""
                ahead = fetcher.submit(client.pull, cursor, limit=limit)
                continue
            clock.add(sample)
            _check_event(page, credentials)
            if page.more:
                if page.cursor == cursor and not page.changes:
                    raise ServerUnavailable(
                        "the server says more changes are ready but sends none; try later"
                    )
                ahead = fetcher.submit(client.pull, page.cursor, limit=limit)
            _keep_keys(keys, page.keys, held)
            applied += store.apply_pulled(
                credentials.event, page.changes, cursor=page.cursor, clock_offset_ms=clock.offset_ms
            )
            pages += 1
            if on_progress is not None:
                done = applied.tickets + applied.movements + applied.conflicts
                on_progress(done, page.remaining)
            if not page.more:
                return pages, applied
            cursor = page.cursor


def _check_event(page: PullPage, credentials: DeviceCredentials) -> None:
    if page.event.code != credentials.event:
        raise SyncConfigError(
            f"the server sent event {page.event.code}, but this gate is paired for {credentials.event}: "
            "pair it again"
        )
    bad = sorted({k.event for k in page.keys if k.event != credentials.event})
    if bad:
        raise SyncConfigError(f"the server sent keys of other events ({', '.join(bad)}); refusing them")


def _keep_keys(keys: KeyStore, pulled: tuple[EventKey, ...], held: set[tuple[str, int, str, bool]]) -> None:
    """Keep every key version pulled, and whether it is retired (each page carries them all; added once
    per round)."""
    for key in pulled:
        ident = (key.event, key.version, key.fingerprint, key.retired)
        if ident in held:
            continue
        mine = {k.version: k for k in keys.keys_for(key.event)}.get(key.version)
        if mine is not None and (mine.key, mine.tag_hex_digits, mine.algorithm) != (
            key.key,
            key.tag_hex_digits,
            key.algorithm,
        ):
            raise SyncConfigError(
                f"this gate holds a different key for {key.event} v{key.version} than the server sends: it "
                "was set up for another server (or the backend's master secret changed). Use a separate "
                "data folder for this server (`--home DIR`), or, if the old key is obsolete, remove "
                f"{keys.directory / f'{key.event}.v{key.version}.json'} and sync again"
            )
        keys.add(key)
        held.add(ident)
