"""The push side of sync: store a gate's scans exactly once, publish its movements, flag conflicts.

One transaction per batch: the scans are inserted with ``ON CONFLICT (device_id, scan_id) DO NOTHING``
(a retried or overlapping batch stores each scan once), each newly stored ADMIT of a ticket of the
device's event becomes a ``movement`` row of the change feed in the same statement, and every ticket
that moved has its merged record rebuilt to reconcile its conflicts.

Before anything is written, a batch takes transaction-level advisory locks on the tickets it moves,
hashed into 64 buckets per event, in bucket order. So two devices pushing the same ticket at once
cannot both miss the conflict between them (the second waits, then reads the first's scans), batches
of different tickets mostly run side by side, and a batch holds at most 64 entries of PostgreSQL's
shared lock table (one lock per ticket would need 1,000 for a full batch). Advisory locks rather than
row locks because they take no transaction id: a batch waiting its turn does not hold back the change
feed's horizon, which a row lock would (locking a row assigns the transaction id first, and every
pull would then wait behind the queue).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from backend.db import database_errors
from backend.devices import Device
from backend.errors import ScanIdsReused
from backend.timeline import Movement, find_conflicts
from ticketcode.sync_protocol import ScanUpload


def corrected_time(scan: ScanUpload) -> datetime:
    """The scan's time on the server's clock: the device's time plus its measured offset.

    An offset that would leave the calendar (a gate clock set to year 1) is ignored rather than
    refused: refusing the scan would block every upload of that gate behind it.
    """
    if not scan.clock_offset_ms:
        return scan.scanned_at
    try:
        return scan.scanned_at + timedelta(milliseconds=scan.clock_offset_ms)
    except OverflowError:
        return scan.scanned_at


def is_movement(scan: ScanUpload, device: Device) -> bool:
    """An ADMIT of a ticket of the device's event: the ticket went in or out."""
    return scan.verdict == "ADMIT" and scan.event == device.event_code and scan.serial is not None


# The advisory locks' first key: their own space, apart from other advisory locks. The second is the
# event's id and the ticket's bucket.
INGEST_LOCK_CLASS = 7_301_442
LOCK_BUCKETS = 64


def lock_keys(event_id: int, serials: Sequence[int]) -> list[int]:
    """The second keys of the advisory locks a batch moving ``serials`` takes, in the order to take them."""
    return sorted({(event_id * LOCK_BUCKETS + serial % LOCK_BUCKETS) % 2**31 for serial in serials})


# One statement stores the batch and publishes its new movements. The batch travels as one JSON
# document unpacked by PostgreSQL (psycopg's array dumpers cost ~20 ms of CPU per 1,000 scans), and
# the movements' JSON is built there too (as ticketcode.sync_protocol.encode_change writes it).
_STORE_AND_PUBLISH = """
WITH batch AS (
    SELECT * FROM json_to_recordset(%(scans)s::json) AS s(
        scan_id bigint, gate text, scanned_at timestamptz, clock_offset_ms bigint,
        corrected_at timestamptz, direction text, verdict text, reason text, source text, code text,
        scan_event text, serial integer, movement boolean)
), stored AS (
    INSERT INTO scans (device_id, scan_id, event_id, gate, scanned_at, clock_offset_ms, corrected_at,
                       direction, verdict, reason, source, code, scan_event, serial, movement)
    SELECT %(device)s, scan_id, %(event)s, gate, scanned_at, clock_offset_ms, corrected_at,
           direction, verdict, reason, source, code, scan_event, serial, movement
      FROM batch
    ON CONFLICT (device_id, scan_id) DO NOTHING
    RETURNING id, device_id, scan_id, gate, serial, direction, corrected_at, movement
), published AS (
    INSERT INTO sync_feed (event_id, kind, device_id, payload)
    SELECT %(event)s, 'movement', device_id, json_build_object(
               'type', 'movement', 'scan', device_id::text || '/' || scan_id, 'gate', gate,
               'serial', serial, 'direction', direction,
               'at', to_char(corrected_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'))::text
      FROM stored WHERE movement
     ORDER BY corrected_at, scan_id
)
SELECT id, serial, movement, scan_id FROM stored
"""

# The scans already held under the ids a batch repeats: a retry repeats them exactly.
_HELD = "SELECT scan_id, scanned_at, code, direction FROM scans WHERE device_id = %s AND scan_id = ANY(%s)"


async def ingest_scans(pool: AsyncConnectionPool, device: Device, scans: Sequence[ScanUpload]) -> list[int]:
    """Store ``scans`` of ``device`` once each; return the gate's scan ids the server now holds (all)."""
    acknowledged = list(dict.fromkeys(scan.id for scan in scans))
    offset = next((s.clock_offset_ms for s in reversed(scans) if s.clock_offset_ms is not None), None)
    moving = [s.serial for s in scans if s.serial is not None and is_movement(s, device)]
    # A pipeline: statements whose results are not needed yet go out together, so a batch costs
    # about three round trips to the database instead of eight.
    async with database_errors(), pool.connection() as conn, conn.pipeline(), conn.transaction():
        if moving:
            # Waits (up to lock_timeout, then Busy: 503) for batches moving the same tickets.
            await conn.execute(
                "SELECT pg_advisory_xact_lock(%s::integer, k) FROM unnest(%b::integer[]) AS k",
                (INGEST_LOCK_CLASS, lock_keys(device.event_id, moving)),
            )
        if scans:
            cur = await conn.execute(
                _STORE_AND_PUBLISH,
                {"scans": _batch_json(device, scans), "device": device.id, "event": device.event_id},
            )
            stored = await cur.fetchall()
            repeated = set(acknowledged).difference(scan_id for *_, scan_id in stored)
            if repeated:
                await _check_repeats(conn, device, [s for s in scans if s.id in repeated])
            moved = sorted({serial for _, serial, movement, _ in stored if movement})
            if moved:
                await _reconcile(conn, device, moved)
        await conn.execute(
            "UPDATE devices SET last_seen_at = now(), clock_offset_ms = coalesce(%s, clock_offset_ms)"
            " WHERE id = %s",
            (offset, device.id),
        )
    return acknowledged


async def _check_repeats(conn: AsyncConnection[Any], device: Device, repeats: Sequence[ScanUpload]) -> None:
    """ScanIdsReused (rolling the whole batch back) unless every scan sent under an id already held is
    that same scan again. Ids that restart (a gate store replaced, or restored from a backup, while
    its pairing stayed) would otherwise be acknowledged and never stored: admissions lost silently."""
    cur = await conn.execute(_HELD, (device.id, [s.id for s in repeats]))
    held = {scan_id: (at, code, direction) for scan_id, at, code, direction in await cur.fetchall()}
    differ = [s.id for s in repeats if held.get(s.id) != (s.scanned_at, s.code, s.direction)]
    if differ:
        raise ScanIdsReused(
            f"this device already uploaded other scans under {len(differ)} of these ids (the first: "
            f"{min(differ)}): its store was replaced or restored from a backup; pair the gate again "
            "so its scans go up under a new device"
        )


def _batch_json(device: Device, scans: Sequence[ScanUpload]) -> str:
    return json.dumps(
        [
            {
                "scan_id": s.id,
                "gate": s.gate,
                "scanned_at": s.scanned_at.isoformat(),
                "clock_offset_ms": s.clock_offset_ms,
                "corrected_at": corrected_time(s).isoformat(),
                "direction": s.direction,
                "verdict": s.verdict,
                "reason": s.reason,
                "source": s.source,
                "code": s.code,
                "scan_event": s.event,
                "serial": s.serial,
                "movement": is_movement(s, device),
            }
            for s in scans
        ]
    )


async def _reconcile(conn: AsyncConnection[Any], device: Device, serials: list[int]) -> None:
    """Rebuild the records of the tickets that moved; reconcile their conflicts, publish the changes."""
    # After the locks: these statements see every batch that moved these tickets before this one.
    # One index probe per ticket, whatever the statistics say: a LATERAL subquery the planner may not
    # flatten (OFFSET 0). A plain join, on a table grown since it was last analysed, was planned as a
    # read of every movement of the event filtered against the list, for every push of a few scans.
    cur = await conn.execute(
        "SELECT s.id, s.device_id::text, s.scan_id, s.gate, m.serial, s.direction, s.corrected_at"
        " FROM unnest(%b::integer[]) AS m(serial) CROSS JOIN LATERAL ("
        "   SELECT * FROM scans WHERE event_id = %s AND serial = m.serial AND movement OFFSET 0) AS s",
        (serials, device.event_id),
    )
    known_cur = await conn.execute(
        "SELECT c.second_scan, c.id, c.first_scan, c.withdrawn_at IS NOT NULL"
        " FROM unnest(%b::integer[]) AS m(serial) CROSS JOIN LATERAL ("
        "   SELECT * FROM conflicts WHERE event_id = %s AND serial = m.serial OFFSET 0) AS c",
        (serials, device.event_id),
    )
    records: dict[int, list[Movement]] = defaultdict(list)
    for row_id, device_id, scan_id, gate, serial, direction, at in await cur.fetchall():
        records[serial].append(Movement(row_id, device_id, scan_id, gate, direction, at))
    known = {second: (cid, first, withdrawn) for second, cid, first, withdrawn in await known_cur.fetchall()}
    changed = await _reconcile_conflicts(conn, device, serials, records, known)
    if changed:
        await conn.execute(
            "INSERT INTO sync_feed (event_id, kind, conflict_id)"
            " SELECT %s, 'conflict', c.id FROM unnest(%b::bigint[]) AS c(id)",
            (device.event_id, changed),
        )


async def _reconcile_conflicts(
    conn: AsyncConnection[Any],
    device: Device,
    serials: list[int],
    records: dict[int, list[Movement]],
    known: dict[int, tuple[int, int, bool]],
) -> list[int]:
    """Make the stored conflicts of these tickets what their records say now; the ids that changed.

    A new conflict is inserted; one whose reference entry changed (an earlier entry arrived late) is
    updated; one the record no longer shows (a late exit in between) is withdrawn, and one that shows
    again is reinstated. Each change is sent to the gates as the conflict stands. ``known``: the
    stored conflicts of these tickets by their second scan, as (id, first scan, withdrawn).
    """
    found = {
        conflict.second.row: (serial, conflict.first.row)
        for serial in serials
        for conflict in find_conflicts(records[serial])
    }
    new = [(serial, first, second) for second, (serial, first) in found.items() if second not in known]
    revised = [
        (known[second][0], first)
        for second, (_, first) in found.items()
        if second in known and (known[second][2] or known[second][1] != first)
    ]
    withdrawn = [cid for second, (cid, _, gone) in known.items() if second not in found and not gone]
    changed = [cid for cid, _ in revised] + withdrawn
    if new:
        cur = await conn.execute(
            "INSERT INTO conflicts (event_id, serial, first_scan, second_scan)"
            " SELECT %s, serial, first_scan, second_scan"
            "   FROM unnest(%s::integer[], %s::bigint[], %s::bigint[]) AS c(serial, first_scan, second_scan)"
            " RETURNING id",
            (device.event_id, [n[0] for n in new], [n[1] for n in new], [n[2] for n in new]),
        )
        changed += [row[0] for row in await cur.fetchall()]
    if revised:
        await conn.execute(
            "UPDATE conflicts c SET first_scan = r.first_scan, withdrawn_at = NULL"
            " FROM unnest(%s::bigint[], %s::bigint[]) AS r(id, first_scan) WHERE c.id = r.id",
            ([r[0] for r in revised], [r[1] for r in revised]),
        )
    if withdrawn:
        await conn.execute("UPDATE conflicts SET withdrawn_at = now() WHERE id = ANY(%s)", (withdrawn,))
    return sorted(changed)
