"""Sync as the gate app runs it in the background: a round when paired, pairing on request, one at
a time. No Textual here: the app's worker calls ``run_once`` and shows the outcome."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from scanner.errors import NotPaired
from scanner.keystore import KeyStore
from scanner.store import Store
from scanner.sync.client import SyncClient
from scanner.sync.credentials import DeviceCredentials, credentials_path, load_credentials
from scanner.sync.pairing import pair_device
from scanner.sync.round import RoundReport, run_round
from ticketcode.sync_protocol import Pairing

# Shorter than the command line's: a gate being closed waits for a call in flight to end.
APP_TIMEOUT_S = 8.0
APP_DEADLINE_S = 30.0


@dataclass(frozen=True)
class SyncOutcome:
    """What a background round found: not paired (nothing sent), or the round's report."""

    paired: bool
    report: RoundReport | None = None
    problem: str | None = None  # device credentials present but unusable


class BackgroundSync:
    """Rounds and pairing over the gate's own store and key store, serialised by a lock: a pairing
    resets the cursor, and a round of the old pairing must not write its cursor after that."""

    def __init__(self, *, home: Path, store: Store, keys: KeyStore) -> None:
        self.home = home
        self.store = store
        self.keys = keys
        self._lock = threading.Lock()
        self._clients: set[SyncClient] = set()
        self._stopped = threading.Event()

    @contextmanager
    def _client(self, credentials: DeviceCredentials | None, server_url: str) -> Iterator[SyncClient]:
        client = SyncClient(
            server_url,
            token=credentials.token if credentials else None,
            timeout_s=APP_TIMEOUT_S,
            deadline_s=APP_DEADLINE_S,
        )
        self._clients.add(client)
        if self._stopped.is_set():
            client.abort()
        try:
            yield client
        finally:
            self._clients.discard(client)
            client.close()

    def stop(self) -> None:
        """The app is closing: end any call in flight now rather than at its deadline."""
        self._stopped.set()
        for client in list(self._clients):
            client.abort()

    def run_once(self) -> SyncOutcome:
        """One round if this gate is paired; never raises for the network's or server's doing."""
        with self._lock:
            try:
                credentials = load_credentials(self.home)
            except NotPaired as exc:
                damaged = credentials_path(self.home).exists()
                return SyncOutcome(paired=False, problem=str(exc) if damaged else None)
            with self._client(credentials, credentials.server_url) as client:
                report = run_round(store=self.store, keys=self.keys, credentials=credentials, client=client)
            return SyncOutcome(paired=True, report=report)

    def pair(self, pairing: Pairing) -> tuple[DeviceCredentials, RoundReport]:
        """Pair (raises SyncError when refused or unreachable), then run the first round."""
        with self._lock:
            with self._client(None, pairing.server_url or "") as client:
                credentials = pair_device(self.home, pairing, store=self.store, client=client)
            with self._client(credentials, credentials.server_url) as client:
                report = run_round(store=self.store, keys=self.keys, credentials=credentials, client=client)
            return credentials, report
