"""Pairing a gate with the backend: a one-time code for the device token, kept in the data folder.

The device's name becomes the gate name and its event the gate's event (saved settings), so a gate
needs nothing but the pairing text. The caller runs the first sync round right after.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from scanner.errors import SyncConfigError
from scanner.gate import MAX_GATE_NAME_CHARS
from scanner.paths import settings_path
from scanner.settings import GateSettings, SettingsError, load_settings, save_settings
from scanner.store import Store
from scanner.sync.client import SyncClient
from scanner.sync.credentials import DeviceCredentials, credentials_path, save_credentials
from ticketcode.sync_protocol import Pairing


def pair_device(
    home: Path, pairing: Pairing, *, store: Store, client: SyncClient | None = None
) -> DeviceCredentials:
    """Exchange the pairing code for a device token and keep it (``var/device.json``, mode 0600).

    Raises PairingRefused (unknown, expired or used code), ServerUnavailable, or SyncConfigError.
    """
    if pairing.server_url is None:
        raise SyncConfigError(
            "the pairing code alone does not say where the server is: give --server URL "
            "(or the whole pairing text, ticketgate-pair:1:CODE:URL)"
        )
    own = client is None
    client = client or SyncClient(pairing.server_url)
    try:
        response, sample = client.pair(pairing.code)
    finally:
        if own:
            client.close()
    name = " ".join(response.device_name.split())[:MAX_GATE_NAME_CHARS] or "Gate"
    credentials = DeviceCredentials(
        server_url=pairing.server_url,
        device_id=response.device_id,
        device_name=name,
        token=response.token,
        event=response.event.code,
        event_name=response.event.name,
        paired_at=datetime.now(UTC),
    )
    try:
        save_credentials(home, credentials)
    except OSError as exc:
        raise SyncConfigError(
            f"paired, but cannot save the device token to {credentials_path(home)}: {exc.strerror or exc}"
        ) from None
    store.reset_for_pairing()
    store.set_clock_offset_ms(sample.offset_ms)
    _adopt_in_settings(home, credentials)
    return credentials


def _adopt_in_settings(home: Path, credentials: DeviceCredentials) -> None:
    """The device's name and event become the gate's, kept for the next start of the gate app."""
    path = settings_path(home)
    try:
        settings = load_settings(path)
    except SettingsError:
        settings = GateSettings()  # a damaged file is replaced by one that works
    try:
        save_settings(path, settings.merged(gate_name=credentials.device_name, event=credentials.event))
    except SettingsError as exc:
        raise SyncConfigError(f"paired, but {exc}") from None
