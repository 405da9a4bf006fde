"""The sale's invariants (docs/architecture.md), checked against the database: what the tests assert
after every concurrent scenario and what ``ticketgate demo --headless`` reports at its end.

Each check has a name a person reads ("no oversell") and the problems it found, each naming the event
or order concerned; a check with no problems holds. Read-only: one snapshot (REPEATABLE READ), so a
sale still running cannot make a consistent database look broken.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

NO_OVERSELL = "no oversell"
STOCK_ADDS_UP = "capacity = available + held + sold"
PAID_HAVE_TICKETS = "every paid order has its tickets"
PAYMENTS_ACCOUNTED = "every payment accounted for"
ORDERS_TRACEABLE = "every order's stock allocation and audit trail"


@dataclass(frozen=True)
class InvariantCheck:
    """One named invariant and what violates it (nothing: it holds)."""

    name: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def check_invariants(database_url: str) -> list[InvariantCheck]:
    """Every invariant, in a fixed order, checked in one read-only snapshot of the database."""
    with psycopg.connect(database_url) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction():
            found: dict[str, list[str]] = {
                name: []
                for name in (
                    NO_OVERSELL,
                    STOCK_ADDS_UP,
                    PAID_HAVE_TICKETS,
                    PAYMENTS_ACCOUNTED,
                    ORDERS_TRACEABLE,
                )
            }
            _stock(conn, found)
            _tickets(conn, found)
            _payments(conn, found)
            _orders(conn, found)
    return [InvariantCheck(name, tuple(problems)) for name, problems in found.items()]


def _stock(conn: psycopg.Connection[Any], found: dict[str, list[str]]) -> None:
    rows = conn.execute(
        """
        SELECT e.code, e.capacity,
               s.available, s.held, s.sold, s.withdrawn, s.negative,
               coalesce(o.pending, 0), coalesce(o.paid, 0),
               (SELECT count(*) FROM tickets t WHERE t.event_id = e.id AND t.status = 'valid'),
               e.next_serial - 1,
               (SELECT coalesce(max(serial), 0) FROM tickets t WHERE t.event_id = e.id)
          FROM events e
          JOIN (SELECT event_id, sum(available) AS available, sum(held) AS held, sum(sold) AS sold,
                       sum(withdrawn) AS withdrawn,
                       bool_or(available < 0 OR held < 0 OR sold < 0 OR withdrawn < 0) AS negative
                  FROM event_stock GROUP BY event_id) s ON s.event_id = e.id
          LEFT JOIN (SELECT event_id,
                            sum(quantity) FILTER (WHERE status = 'pending') AS pending,
                            sum(quantity) FILTER (WHERE status = 'paid') AS paid
                       FROM orders GROUP BY event_id) o ON o.event_id = e.id
         ORDER BY e.code
        """
    ).fetchall()
    for row in rows:
        code, capacity, available, held, sold, kept_off, negative, pending, paid, tickets, issued, top = row
        where = f"event {code}"
        if negative:
            found[NO_OVERSELL].append(f"{where}: a stock shard went negative")
        if tickets > capacity:
            found[NO_OVERSELL].append(f"{where}: {tickets} valid tickets for {capacity} seats")
        if top > issued:
            found[NO_OVERSELL].append(f"{where}: serial {top} beyond the counter {issued}")
        if available + held + sold + kept_off != capacity:
            found[STOCK_ADDS_UP].append(
                f"{where}: available {available} + held {held} + sold {sold} + withdrawn {kept_off}"
                f" != capacity {capacity}"
            )
        if held != pending:
            found[STOCK_ADDS_UP].append(f"{where}: held {held} != pending quantity {pending}")
        if sold != paid:
            found[STOCK_ADDS_UP].append(f"{where}: sold {sold} != paid quantity {paid}")
        if tickets != paid:
            found[PAID_HAVE_TICKETS].append(f"{where}: {tickets} valid tickets != paid quantity {paid}")
    withdrawn = conn.execute(
        """
        SELECT e.code, (SELECT sum(withdrawn) FROM event_stock s WHERE s.event_id = e.id),
               (SELECT coalesce(sum(quantity), 0) FROM orders o
                 WHERE o.event_id = e.id AND o.stock_withdrawn)
          FROM events e ORDER BY e.code
        """
    ).fetchall()
    for code, kept_off, revoked in withdrawn:
        if kept_off != revoked:
            found[STOCK_ADDS_UP].append(
                f"event {code}: withdrawn {kept_off} != revoked seats kept off sale {revoked}"
            )


def _tickets(conn: psycopg.Connection[Any], found: dict[str, list[str]]) -> None:
    orphans = conn.execute(
        """
        SELECT count(*) FROM tickets t JOIN orders o ON o.id = t.order_id
         WHERE (t.status = 'valid') <> (o.status = 'paid')
        """
    ).fetchone()
    if orphans != (0,):
        found[PAID_HAVE_TICKETS].append(
            f"{orphans[0] if orphans else '?'} valid ticket(s) without a paid order or revoked on a paid one"
        )
    per_order = conn.execute(
        """
        SELECT o.id, o.quantity, count(t.id) FROM orders o LEFT JOIN tickets t ON t.order_id = o.id
         WHERE o.status = 'paid' GROUP BY o.id HAVING count(t.id) <> o.quantity
        """
    ).fetchall()
    if per_order:
        found[PAID_HAVE_TICKETS].append(
            f"paid orders whose ticket count differs from their quantity: {per_order}"
        )


def _payments(conn: psycopg.Connection[Any], found: dict[str, list[str]]) -> None:
    unaccounted = conn.execute(
        """
        SELECT p.reference, p.status, o.status FROM payments p JOIN orders o ON o.id = p.order_id
         WHERE NOT ((p.status = 'paid' AND o.status IN ('paid', 'disputed')
                     AND p.currency = o.currency AND p.amount_cents >= o.amount_cents)
                    OR (p.status = 'refund_due' AND (p.due_cents > 0 OR p.amount_cents = 0))
                    OR (p.status = 'refunded' AND p.refunded_cents >= p.amount_cents))
        """
    ).fetchall()
    if unaccounted:
        found[PAYMENTS_ACCOUNTED].append(
            f"payments neither paying their order nor due back nor refunded: {unaccounted}"
        )
    paid_by = conn.execute(
        """
        SELECT o.id, count(p.id) FROM orders o
          LEFT JOIN payments p ON p.order_id = o.id AND p.status = 'paid'
         WHERE o.status IN ('paid', 'disputed') GROUP BY o.id HAVING count(p.id) <> 1
        """
    ).fetchall()
    if paid_by:
        found[PAYMENTS_ACCOUNTED].append(f"paid orders without exactly one payment that paid them: {paid_by}")


def _orders(conn: psycopg.Connection[Any], found: dict[str, list[str]]) -> None:
    allocations = conn.execute(
        """
        SELECT id FROM orders
         WHERE status IN ('pending', 'paid')
           AND (SELECT coalesce(sum(q), 0) FROM unnest(alloc_quantities) q) <> quantity
        """
    ).fetchall()
    if allocations:
        found[ORDERS_TRACEABLE].append(
            f"orders whose shard allocation does not sum to their quantity: {allocations}"
        )
    trails = conn.execute(
        """
        SELECT o.id, o.status,
               array_agg(a.from_status ORDER BY a.id) FILTER (WHERE a.id IS NOT NULL),
               array_agg(a.to_status ORDER BY a.id) FILTER (WHERE a.id IS NOT NULL)
          FROM orders o
          LEFT JOIN audit_log a
            ON a.order_id = o.id AND a.from_status IS DISTINCT FROM a.to_status
         GROUP BY o.id, o.status
        """
    ).fetchall()
    for order_id, status, froms, tos in trails:
        # Every status an order went through is in the audit log, in order: created pending by
        # checkout, each change starting where the previous one ended, ending at its status now.
        if not (froms and tos):
            found[ORDERS_TRACEABLE].append(f"order {order_id} has no audit trail")
            continue
        if not (froms[0] is None and tos[0] == "pending"):
            found[ORDERS_TRACEABLE].append(f"order {order_id}: trail starts {froms[0]}->{tos[0]}")
            continue
        chained = all(froms[i] == tos[i - 1] for i in range(1, len(froms)))
        if not (chained and tos[-1] == status):
            found[ORDERS_TRACEABLE].append(
                f"order {order_id} ({status}): audit trail {list(zip(froms, tos, strict=True))} is broken"
            )


def uploaded_scan_ids(database_url: str, event_code: str) -> dict[str, list[int]]:
    """The gate scan ids the server holds for ``event_code``, by device name (a repeat would show)."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT d.name, s.scan_id FROM scans s JOIN devices d ON d.id = s.device_id"
            " JOIN events e ON e.id = s.event_id WHERE e.code = %s ORDER BY d.name, s.scan_id",
            (event_code,),
        ).fetchall()
    found: dict[str, list[int]] = {}
    for name, scan_id in rows:
        found.setdefault(name, []).append(scan_id)
    return found
