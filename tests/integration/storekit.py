"""The gate store's side of sync, for its tests: one event and key, a settable clock, a gate on a
store, and the pulled changes a backend sends (a ticket, another gate's movement)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from scanner.gate import Gate
from scanner.keystore import KeyStore
from scanner.store import Store
from ticketcode import derive_event_key, issue_code
from ticketcode.sync_protocol import MovementChange, TicketChange

EVENT = "SYNC01"
KEY = derive_event_key(b"store-sync-test-master-secret-32", EVENT)
T0 = datetime(2026, 6, 20, 19, 0, tzinfo=UTC)
DEVICE_A = "0f1e2d3c-0000-4000-8000-00000000000a"  # the device of "Gate A", another gate


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def gate(store: Store, tmp_path: Path, clock: Clock, name: str = "Gate B") -> Gate:
    keys = KeyStore(tmp_path / "keys")
    keys.add(KEY)
    return Gate(store=store, keys=keys, event=EVENT, gate_name=name, clock=clock)


def movement(n: int, serial: int, direction: str, minute: int, gate_name: str = "Gate A") -> MovementChange:
    return MovementChange(
        scan=f"{DEVICE_A}/{n}",
        gate=gate_name,
        serial=serial,
        direction=direction,  # type: ignore[arg-type]
        at=T0 + timedelta(minutes=minute),
    )


def ticket(serial: int, *, revoked: bool = False, reason: str | None = None) -> TicketChange:
    return TicketChange(
        serial=serial,
        code=issue_code(KEY, serial),
        status="revoked" if revoked else "valid",
        changed_at=T0,
        reason=reason,
        order="7d9f7c1e-1111-4222-8333-444455556666",
        holder=None,
    )
