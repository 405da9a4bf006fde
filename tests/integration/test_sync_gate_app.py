"""The gate app's background sync against a real server, through a proxy that takes the network away
and garbles answers: the app learns Gate A's admission, keeps scanning offline, shows it, and catches
up when the network is back — with no traceback or error notice on the gate screen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from scanner.gate import Gate
from scanner.keystore import KeyStore
from scanner.paths import keys_dir, settings_path, store_path
from scanner.settings import GateSettings, load_settings
from scanner.store import Store
from scanner.sync.credentials import load_credentials, save_credentials
from scanner.tui.app import GateApp
from scanner.tui.screens.pair import PairScreen
from scanner.tui.widgets.status_line import StatusLine
from scanner.verdicts import ScanResult, Verdict
from tests.integration.fault_proxy import FaultProxy
from tests.integration.gatekit_sync import new_event, pair_gate, shared_backend
from tests.integration.synckit import add_device, sell
from tests.tui.gatekit import screen_text, wait_for
from ticketcode.sync_protocol import Pairing

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def backend(template_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    with shared_backend(template_database, tmp_path_factory.mktemp("backend")) as started:
        yield started


@pytest.fixture
def server(backend: tuple[str, str]) -> str:
    return backend[0]


@pytest.fixture
def database_url(backend: tuple[str, str]) -> str:
    """The module's database (each test works in an event of its own)."""
    return backend[1]


@pytest.fixture
def event(server: str) -> str:
    return new_event(server, capacity=50)


async def test_the_app_syncs_in_the_background_scans_offline_and_catches_up(
    server: str, database_url: str, event: str, tmp_path: Path
) -> None:
    # Set-up and Gate A's doings run in threads: they use their own event loops and block.
    first, second = await asyncio.to_thread(sell, server, event, 2)
    gate_a = await asyncio.to_thread(pair_gate, tmp_path, server, database_url, event, "Gate A")
    gate_b = await asyncio.to_thread(pair_gate, tmp_path, server, database_url, event, "Gate B")
    with FaultProxy(urlsplit(server).port or 0) as proxy:
        save_credentials(gate_b.home, replace(load_credentials(gate_b.home), server_url=proxy.url))
        store = Store.open(store_path(gate_b.home))
        gate = Gate(store=store, keys=KeyStore(keys_dir(gate_b.home)), event=event, gate_name="Gate B")
        painted: list[ScanResult] = []
        app = GateApp(
            gate=gate,
            home=gate_b.home,
            settings=GateSettings(gate_name="Gate B", event=event),
            tz=UTC,
            verdict_seconds=0,
            ring=lambda: None,
            refresh_seconds=0,
            on_painted=lambda result, _s, _p: painted.append(result),
            sync_interval_s=0.3,
        )
        try:
            async with app.run_test(size=(120, 30)):
                line = app.gate_screen.query_one(StatusLine)
                await wait_for(lambda: line.status.link == "online", what="online")

                # Gate A admits and syncs; Gate B's worker learns it without anyone asking.
                assert (await asyncio.to_thread(gate_a.check, first)).admitted
                assert (await asyncio.to_thread(gate_a.sync)).ok
                await wait_for(
                    lambda: store.remote_movements(event, int(first.split("-")[1])) != [], what="pull"
                )
                app.submit(first, source="camera")
                await wait_for(lambda: len(painted) == 1, what="a verdict")
                assert (
                    painted[0].verdict is Verdict.ALREADY_USED and painted[0].first_admitted_gate == "Gate A"
                )

                # The network goes: rounds fail, the gate keeps scanning, the line says since when.
                proxy.mode = "refuse"
                proxy.drop_all()
                await wait_for(lambda: line.status.link == "offline", what="offline", timeout=15)
                app.submit(second, source="camera")
                await wait_for(lambda: len(painted) == 2, what="an offline verdict")
                assert painted[1].verdict is Verdict.ADMIT
                proxy.mode = "garble"
                seen = proxy.connections
                app.sync_soon()
                await wait_for(lambda: proxy.connections > seen, what="a garbled round")
                await asyncio.sleep(0.2)
                shown = screen_text(app)
                assert "OFFLINE since" in shown and "Traceback" not in shown
                assert "sync" not in app.problems  # offline is not an error to act on

                # The network is back: the queued scan goes up, the line says online again.
                proxy.mode = "pass"
                app.sync_soon()
                await wait_for(
                    lambda: line.status.link == "online" and line.status.pending_upload == 0,
                    what="online and uploaded",
                    timeout=20,
                )
        finally:
            store.close()
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT s.verdict FROM scans s JOIN devices d ON d.id = s.device_id"
            " JOIN events e ON e.id = d.event_id WHERE d.name = 'Gate B' AND e.code = %s ORDER BY s.scan_id",
            (event,),
        ).fetchall()
    assert rows == [("ALREADY_USED",), ("ADMIT",)]


async def test_pairing_from_the_settings_screen_with_a_handheld_scan_sets_up_the_gate(
    server: str, database_url: str, event: str, tmp_path: Path
) -> None:
    """A gate started for an event it holds no key of (every code UNKNOWN_KEY) is paired from F6: the
    handheld scanner types the pairing text into the dialog; the gate takes the device's name and
    event at once, pulls the key and tickets, and admits."""
    [ticket] = await asyncio.to_thread(sell, server, event, 1)
    code = await asyncio.to_thread(add_device, database_url, event, "Gate C")
    home = tmp_path / "fresh"
    store = Store.open(store_path(home))
    gate = Gate(store=store, keys=KeyStore(keys_dir(home)), event="NOKEY1", gate_name="laptop-7")
    painted: list[ScanResult] = []
    app = GateApp(
        gate=gate,
        home=home,
        settings=GateSettings(event="NOKEY1"),
        tz=UTC,
        verdict_seconds=0,
        ring=lambda: None,
        refresh_seconds=0,
        on_painted=lambda result, _s, _p: painted.append(result),
        sync_interval_s=60,
    )
    try:
        async with app.run_test(size=(120, 30)) as pilot:
            await pilot.press("f6")
            await pilot.click("#pair-open")
            await wait_for(lambda: isinstance(app.screen, PairScreen), what="the pair dialog")
            await pilot.press(*Pairing(code, server).text(), "enter")
            await wait_for(lambda: gate.event == event, what="pairing", timeout=30)
            assert gate.gate_name == "Gate C" and not isinstance(app.screen, PairScreen)
            line = app.gate_screen.query_one(StatusLine)
            await wait_for(lambda: line.status.link == "online" and line.status.event == event, what="online")
            app.submit(ticket, source="wedge")
            await wait_for(lambda: len(painted) == 1, what="a verdict")
            assert painted[0].verdict is Verdict.ADMIT and painted[0].gate == "Gate C"
    finally:
        store.close()
    assert load_settings(settings_path(home)) == GateSettings(gate_name="Gate C", event=event)


async def test_closing_the_app_ends_a_round_stuck_on_a_slow_server_at_once(
    server: str, database_url: str, event: str, tmp_path: Path
) -> None:
    gate_b = await asyncio.to_thread(pair_gate, tmp_path, server, database_url, event, "Gate B")
    with FaultProxy(urlsplit(server).port or 0) as proxy:
        proxy.mode = "slow"
        proxy.drip_seconds = 1.0  # the app's deadline is 30 s: the round would hang that long
        save_credentials(gate_b.home, replace(load_credentials(gate_b.home), server_url=proxy.url))
        store = Store.open(store_path(gate_b.home))
        gate = Gate(store=store, keys=KeyStore(keys_dir(gate_b.home)), event=event, gate_name="Gate B")
        app = GateApp(
            gate=gate,
            home=gate_b.home,
            settings=GateSettings(gate_name="Gate B", event=event),
            tz=UTC,
            refresh_seconds=0,
            ring=lambda: None,
            sync_interval_s=60,
        )
        try:
            async with app.run_test(size=(100, 30)):
                await wait_for(lambda: proxy.connections >= 1, what="a round under way")
                await asyncio.sleep(0.5)
            closed = time.monotonic()
            # The round gives the lock back once its call has ended.
            assert await asyncio.to_thread(app.syncer._lock.acquire, True, 10)
            assert time.monotonic() - closed < 3
        finally:
            store.close()
