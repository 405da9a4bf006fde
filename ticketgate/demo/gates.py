"""The gate laptops of the demo: each a data folder of its own, paired with a ``device add`` pairing
code (what ``ticketgate pair`` does), synced by the real sync round, and scanning camera frames
through the real reader (decode, debounce) into the real verdicts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path

from backend import devices
from backend.db import make_pool
from scanner.capture import FrameSource
from scanner.gate import Gate
from scanner.keystore import KeyStore
from scanner.paths import keys_dir, store_path
from scanner.reader import CameraStatus, run_reader
from scanner.store import Store
from scanner.sync.client import SyncClient
from scanner.sync.credentials import load_credentials
from scanner.sync.pairing import pair_device
from scanner.sync.round import RoundReport, run_round
from scanner.verdicts import ScanResult
from ticketcode.sync_protocol import Pairing
from ticketgate.demo.camera import Shot, ShotCamera
from ticketgate.demo.narration import Narrator
from ticketgate.demo.system import DemoError, System

HEADLESS_FPS = 4.0  # frames a second of camera time; headless frames come as fast as they decode


def pairing_code(system: System, event: str, name: str) -> Pairing:
    """What ``ticketgate device add --event EVENT --name NAME`` hands the operator."""

    async def add() -> devices.NewPairing:
        async with make_pool(system.database_url, min_size=1, max_size=1) as pool:
            return await devices.add_device(pool, event_code=event, name=name)

    added = asyncio.run(add())
    return Pairing(code=added.code, server_url=system.base_url)


def pair(system: System, event: str, name: str, narrator: Narrator) -> Path:
    """A new gate laptop ``name``: its folder, paired and synced once (keys and tickets pulled)."""
    pairing = pairing_code(system, event, name)
    narrator.say(
        f"`ticketgate device add --event {event} --name '{name}'` gave the pairing code {pairing.text()}"
    )
    home = system.gate_home(name)
    with Store.open(store_path(home)) as store:
        pair_device(home, pairing, store=store)
    sync(home)
    narrator.say(f"{name} paired (data folder {home.name}/) and synced: the event key and the sold tickets")
    return home


def sync(home: Path) -> RoundReport:
    """One sync round of the gate in ``home`` (push its scans, pull changes); DemoError if it failed."""
    credentials = load_credentials(home)
    with (
        Store.open(store_path(home)) as store,
        SyncClient(credentials.server_url, token=credentials.token) as client,
    ):
        report = run_round(store=store, keys=KeyStore(keys_dir(home)), credentials=credentials, client=client)
    if not report.ok:
        raise DemoError(f"{credentials.device_name} could not sync: {report.problem}")
    return report


def open_gate(home: Path) -> Gate:
    """The gate of a paired data folder, named and for the event it was paired with."""
    credentials = load_credentials(home)
    return Gate(
        store=Store.open(store_path(home)),
        keys=KeyStore(keys_dir(home)),
        event=credentials.event,
        gate_name=credentials.device_name,
    )


def play(
    home: Path,
    shots: Sequence[Shot],
    *,
    on_shot: Callable[[int], None] | None = None,
    on_result: Callable[[ScanResult], None] | None = None,
) -> list[ScanResult]:
    """The gate in ``home`` sees ``shots`` through its camera loop; the verdicts, in order."""
    gate = open_gate(home)
    results: list[ScanResult] = []
    statuses: list[CameraStatus] = []

    def scanned(payload: bytes) -> None:
        result = gate.check(payload, source="camera")
        results.append(result)
        if on_result is not None:
            on_result(result)

    def camera() -> FrameSource:
        return ShotCamera(shots, fps=HEADLESS_FPS, realtime=False, on_shot=on_shot)

    try:
        run_reader(
            camera,
            on_payload=scanned,
            on_status=statuses.append,
            should_stop=lambda: False,
            retry_forever=False,
        )
    finally:
        gate.store.close()
    if statuses and statuses[-1].state != "ended":
        raise DemoError(f"the camera loop of {gate.gate_name} stopped: {statuses[-1].message}")
    return results


def scan_ids(home: Path) -> tuple[list[int], int]:
    """The ids of every scan the gate in ``home`` recorded, and how many still wait for upload."""
    with Store.open(store_path(home)) as store:
        return [s.scan_id for s in store.recent_scans(1_000_000)], store.pending_upload_count()
