"""The sale: a crowd races for too few tickets over real HTTP; most pay, some walk away, two pay after
their hold ran out, a payment is forged, the provider repeats itself, and one order is refunded.

The k-th buyer to get an order plays the k-th role (two late payers, then the walk-aways, then
payers), so the story's numbers do not depend on who wins the race; who wins it is the server's call.
Each step records what it promised and what the server answered (``Sale.promises``): the final checks
hold the story to them, and the narration only ever tells what the server answered.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from ticketgate.demo.holds import give_short_hold
from ticketgate.demo.narration import Narrator
from ticketgate.demo.shop import Order, Shop
from ticketgate.demo.system import DemoError, System

LATE_PAYERS = 2
DUPLICATE_EVERY = 10  # every 10th payer's payment is delivered twice at once
# What each late payment's outcome means, as the narration tells it.
LATE_MEANINGS = {
    "late_paid": "tickets still there: re-reserved and paid",
    "refund_due": "sold out now: recorded as refund due",
}


@dataclass(frozen=True)
class Promise:
    """One step of the story: what it was designed to do, and what the server made of it."""

    step: str
    expected: str
    got: str

    @property
    def kept(self) -> bool:
        return self.expected == self.got


@dataclass(frozen=True)
class Crowd:
    """How many buyers race for how many tickets (the issue's story: 200 for 150)."""

    buyers: int = 200
    capacity: int = 150

    @property
    def walk_aways(self) -> int:
        return max(1, self.capacity // 5)

    def problem(self) -> str | None:
        """Why this crowd cannot tell the story (every branch must happen), or None."""
        if self.capacity < 10:
            return f"--capacity must be at least 10, not {self.capacity}"
        # After the reaper, the turned-away buyers must buy every returned seat, so the second late
        # payment finds the event sold out.
        if self.buyers - self.capacity < self.walk_aways + LATE_PAYERS:
            return (
                f"--buyers must be at least {self.capacity + self.walk_aways + LATE_PAYERS} for "
                f"{self.capacity} tickets, so that some are turned away and sell out the returned seats"
            )
        return None


@dataclass
class Sale:
    """What the sale left behind, for the gates and the final checks."""

    event: str
    capacity: int
    paid: list[Order] = field(default_factory=list)  # orders with tickets, in the order they were paid
    tickets: dict[str, list[str]] = field(default_factory=dict)  # order id -> ticket codes
    refunded: Order | None = None
    refunded_tickets: list[str] = field(default_factory=list)
    other_event_ticket: str = ""
    outcomes: Counter[str] = field(default_factory=Counter)  # every webhook outcome the server gave
    forged_status: int = 0
    promises: list[Promise] = field(default_factory=list)

    def promise(self, step: str, expected: str, got: str) -> None:
        self.promises.append(Promise(step, expected, got))


async def run_sale(system: System, event: str, crowd: Crowd, narrator: Narrator) -> Sale:
    """The whole sale of ``event`` (created here) and one ticket of another event."""
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        shop = Shop(system, client)
        sale = Sale(event=event, capacity=crowd.capacity)
        narrator.chapter(f"The sale: {crowd.buyers} buyers, {crowd.capacity} tickets")
        await shop.create_event(event, "Demo night", crowd.capacity)
        narrator.say(f"organiser created event {event}: {crowd.capacity} tickets at 45.00 EUR")
        late, walked, turned_away = await _first_rush(shop, sale, crowd, narrator)
        await _forged(shop, walked[0], sale, narrator)
        await _reaped(shop, sale, late + walked, narrator=narrator)
        await _late_payment(shop, sale, late[0], narrator, "the first late payer", "late_paid")
        await _second_rush(shop, sale, turned_away, returned=len(walked) + len(late) - 1, narrator=narrator)
        await _late_payment(shop, sale, late[1], narrator, "the second late payer", "refund_due")
        await _refund(shop, sale, narrator)
        await _other_event(shop, sale, event, narrator)
        return sale


async def _first_rush(
    shop: Shop, sale: Sale, crowd: Crowd, narrator: Narrator
) -> tuple[list[Order], list[Order], list[str]]:
    winners = 0
    late: list[Order] = []
    walked: list[Order] = []

    async def buyer(n: int) -> Order | None:
        nonlocal winners
        order = await shop.checkout(sale.event, f"buyer{n:03d}@demo.example")
        if order is None:
            return None
        rank, winners = winners, winners + 1
        if rank < LATE_PAYERS:
            late.append(order)
        elif rank < LATE_PAYERS + crowd.walk_aways:
            walked.append(order)
        else:
            await _pay(shop, sale, order, deliveries=2 if rank % DUPLICATE_EVERY == 0 else 1)
        return order

    started = time.monotonic()
    results = await asyncio.gather(*(buyer(n) for n in range(1, crowd.buyers + 1)))
    turned_away = [f"buyer{n:03d}@demo.example" for n, r in enumerate(results, start=1) if r is None]
    stock = await shop.event(sale.event)
    got = f"{crowd.buyers - len(turned_away)} got an order, {len(turned_away)} were told sold out"
    narrator.say(
        f"{crowd.buyers} buyers checked out at once over HTTP in {time.monotonic() - started:.1f} s: "
        f"{got} (409)"
    )
    sale.promise(
        "the first rush sells every ticket once",
        f"{crowd.capacity} got an order, {crowd.buyers - crowd.capacity} were told sold out",
        got,
    )
    payers = crowd.capacity - crowd.walk_aways - LATE_PAYERS
    sale.promise("the first rush's payers all pay", f"{payers} paid", f"{len(sale.paid)} paid")
    duplicates = sale.outcomes["duplicate"]
    narrator.say(
        f"{len(sale.paid)} paid through Stripe-signed webhooks ({duplicates} payments delivered twice "
        f"at once: one set of tickets each); {len(walked)} walked away; {len(late)} are slow to pay"
    )
    narrator.say(
        f"event {sale.event} now: available {stock['available']}, held {stock['held']}, "
        f"sold {stock['sold']} (capacity {stock['capacity']})"
    )
    return late, walked, turned_away


async def _pay(shop: Shop, sale: Sale, order: Order, *, deliveries: int = 1) -> list[str]:
    outcomes = await shop.pay(order, deliveries=deliveries)
    sale.outcomes.update(outcomes)
    if "paid" in outcomes or "late_paid" in outcomes:
        sale.paid.append(order)
        sale.tickets[order.id] = list((await shop.order(order))["tickets"])
    return outcomes


async def _forged(shop: Shop, order: Order, sale: Sale, narrator: Narrator) -> None:
    answer = await shop.forged_payment(order)
    sale.forged_status = answer.status_code
    if answer.status_code != 400:
        raise DemoError(f"a forged webhook was answered {answer.status_code}, not 400: {answer.text[:200]}")
    status = (await shop.order(order))["status"]
    narrator.say(
        f"a forged payment webhook (wrong signing secret) for {order.email}: 400, order still {status}"
    )


async def _reaped(shop: Shop, sale: Sale, abandoned: list[Order], *, narrator: Narrator) -> None:
    hold, interval = shop.system.hold_seconds, shop.system.reaper_interval_seconds
    given = await give_short_hold(shop.system.database_url, [o.id for o in abandoned], hold)
    narrator.say(
        f"the rush is over: the {given} abandoned orders get a short hold, {hold} s from now (set in "
        f"the database); waiting for the reaper to expire them and return the seats"
    )
    deadline = time.monotonic() + hold + interval + 30
    while True:
        stock = await shop.event(sale.event)
        if stock["held"] == 0 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.25)
    statuses = Counter([(await shop.order(order))["status"] for order in abandoned])
    narrator.say(
        f"the reaper expired {statuses['expired']} of the {len(abandoned)} abandoned orders: "
        f"available {stock['available']}, held {stock['held']}, sold {stock['sold']}"
    )
    sale.promise(
        "the reaper expires the abandoned orders",
        f"{len(abandoned)} expired, 0 held",
        f"{statuses['expired']} expired, {stock['held']} held",
    )


async def _late_payment(
    shop: Shop, sale: Sale, order: Order, narrator: Narrator, who: str, expected: str
) -> None:
    [outcome] = await _pay(shop, sale, order)
    meaning = LATE_MEANINGS.get(outcome, f"the story expected {expected}")
    narrator.say(f"{order.email} pays after the hold expired: outcome {outcome} ({meaning})")
    sale.promise(f"{who} is answered {expected}", expected, outcome)


async def _second_rush(
    shop: Shop, sale: Sale, emails: list[str], *, returned: int, narrator: Narrator
) -> None:
    async def buyer(email: str) -> bool:
        order = await shop.checkout(sale.event, email)
        if order is not None:
            await _pay(shop, sale, order)
        return order is not None

    bought = sum(await asyncio.gather(*(buyer(e) for e in emails)))
    stock = await shop.event(sale.event)
    narrator.say(
        f"the {len(emails)} turned-away buyers try again: {bought} buy a returned seat and pay, "
        f"{len(emails) - bought} sold out; available {stock['available']}"
    )
    sale.promise(
        "the turned-away buyers buy every returned seat",
        f"{returned} bought, available 0",
        f"{bought} bought, available {stock['available']}",
    )


async def _refund(shop: Shop, sale: Sale, narrator: Narrator) -> None:
    # An order paid in the first rush, not one of the gates' tickets (those are the first two paid).
    order = sale.paid[len(sale.paid) // 2]
    outcome = await shop.refund(order)
    sale.outcomes[outcome] += 1
    sale.refunded = order
    sale.refunded_tickets = sale.tickets[order.id]
    status = (await shop.order(order))["status"]
    stock = await shop.event(sale.event)
    narrator.say(
        f"{order.email} is refunded (charge.refunded webhook): outcome {outcome}, order {status}, "
        f"available {stock['available']}; its ticket {', '.join(sale.refunded_tickets)} must now be "
        f"turned away as revoked"
    )
    sale.promise(
        "the refund is recorded", "outcome refunded, order refunded", f"outcome {outcome}, order {status}"
    )


async def _other_event(shop: Shop, sale: Sale, event: str, narrator: Narrator) -> None:
    other = "OTHR" + event[4:]
    await shop.create_event(other, "Another night", 10)
    order = await shop.checkout(other, "elsewhere@demo.example")
    if order is None:
        raise DemoError(f"the new event {other} was sold out at its first checkout")
    await _pay(shop, sale, order)
    sale.paid.remove(order)  # not this event's: kept apart from its paid orders
    [sale.other_event_ticket] = sale.tickets.pop(order.id)
    narrator.say(f"someone bought a ticket for another event, {other}: {sale.other_event_ticket}")
