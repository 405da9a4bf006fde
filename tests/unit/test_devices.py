"""Device names and the Device authorization header, checked before anything reaches the database."""

from __future__ import annotations

import pytest

from backend.devices import (
    new_device_token,
    new_pairing_code,
    normalise_device_name,
    token_from_authorization,
)
from backend.errors import DeviceUnauthorized, InvalidInput
from ticketcode.sync_protocol import normalise_pairing_code


def test_device_names_are_trimmed_and_refused_when_a_terminal_or_gate_could_not_show_them() -> None:
    assert normalise_device_name("  Gate A ") == "Gate A"
    assert normalise_device_name("Nordeingang 北门") == "Nordeingang 北门"
    for bad in ("", "   ", "x" * 41, "Gate\x1b[2JA", "Gate\u202eA", "two\nlines", "nul\x00"):
        with pytest.raises(InvalidInput):
            normalise_device_name(bad)


def test_only_a_device_scheme_with_a_well_formed_token_passes() -> None:
    token = new_device_token()
    assert token_from_authorization(f"Device {token}") == token
    assert token_from_authorization(f"device  {token} ") == token
    for header in (None, "", f"Bearer {token}", "Device", "Device short", f"Device {token}!", f"{token}"):
        with pytest.raises(DeviceUnauthorized):
            token_from_authorization(header)


def test_pairing_codes_are_canonical_and_fresh() -> None:
    codes = {new_pairing_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(normalise_pairing_code(code) == code for code in codes)
