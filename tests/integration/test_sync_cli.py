"""The operator's sync commands as a user runs them: ``ticketgate device ...``, ``scans summary``,
``conflicts``, in subprocesses, against a real database and a real server the gates talk to."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.integration.live_server import live_server, settings_for
from tests.integration.synckit import T0, create_event, error_code, pair_request, paired_gate, sell
from tests.integration.test_backend_cli import _env, ticketgate
from ticketcode.sync_protocol import PULL_PATH, parse_pairing


@pytest.fixture
def base_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    with live_server(settings_for(database_url, tmp_path)) as url:
        yield url


def cli(database_url: str, *args: str, **env: str) -> tuple[int, str, str]:
    done = ticketgate(*args, env=_env(database_url, **env))
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout, done.stderr


def test_device_add_prints_the_pairing_text_and_its_qr_code_and_says_what_it_needs(
    base_url: str, database_url: str
) -> None:
    create_event(base_url, "CLIDEV")
    code, out, err = cli(database_url, "device", "add", "--event", "CLIDEV", "--name", "Gate A")
    assert code == 2 and "--server-url" in err and "TICKETGATE_PUBLIC_URL" in err
    assert len(err.strip().splitlines()) == 1
    code, out, err = cli(
        database_url, "device", "add", "--event", "CLIDEV", "--name", "Gate A", "--server-url", base_url + "/"
    )
    assert code == 0, err
    [text] = [word for word in out.split() if word.startswith("ticketgate-pair:1:")]
    assert text.endswith(":" + base_url)
    assert "▄" in out or "█" in out  # the QR code, drawn with half blocks
    # --json, and a second code for the same device waiting to pair replaces the first.
    code, out, err = cli(
        database_url,
        "device",
        "add",
        "--event",
        "CLIDEV",
        "--name",
        "Gate A",
        "--json",
        TICKETGATE_PUBLIC_URL=base_url,
    )
    assert code == 0, err
    answer = json.loads(out)
    assert set(answer) == {"pairing", "expires_at"}
    expires = datetime.fromisoformat(answer["expires_at"])
    assert timedelta(minutes=14) < expires - datetime.now(UTC) <= timedelta(minutes=15)
    assert error_code(pair_request(base_url, parse_pairing(text).code)) == "pairing_invalid"
    assert pair_request(base_url, parse_pairing(answer["pairing"]).code).status_code == 200
    # Now paired: the name is taken until that device is revoked.
    code, _, err = cli(
        database_url, "device", "add", "--event", "CLIDEV", "--name", "Gate A", "--server-url", base_url
    )
    assert code == 2 and "already paired" in err
    code, _, err = cli(
        database_url, "device", "add", "--event", "CLIDEV", "--name", "Gate\x1b[2JA", "--server-url", base_url
    )
    assert code == 2 and err.startswith("ticketgate: error: the device name must not contain control"), err


def test_device_list_and_revoke_by_name_or_id(base_url: str, database_url: str) -> None:
    create_event(base_url, "CLIREV")
    create_event(base_url, "CLIRV2")
    codes = sell(base_url, "CLIREV", 2)
    gate = paired_gate(base_url, database_url, "CLIREV", "Gate A")
    other = paired_gate(base_url, database_url, "CLIRV2", "Gate A")
    gate.push([gate.scan(codes[0]), gate.scan(codes[1], verdict="INVALID")])
    gate.pull()
    code, out, err = cli(database_url, "device", "list", "--event", "CLIREV", "--json")
    assert code == 0, err
    [listed] = json.loads(out)
    assert (listed["name"], listed["event"], listed["state"], listed["scans"]) == (
        "Gate A",
        "CLIREV",
        "paired",
        2,
    )
    assert listed["paired_at"] and listed["last_seen_at"] and listed["last_sync_at"]
    code, out, _ = cli(database_url, "device", "list")
    assert "CLIREV" in out and "CLIRV2" in out and "paired" in out
    # Two events have a "Gate A": the name alone is refused, the id or --event say which.
    code, _, err = cli(database_url, "device", "revoke", "Gate A")
    assert code == 2 and "CLIREV, CLIRV2" in err and "id" in err
    code, out, err = cli(database_url, "device", "revoke", "Gate A", "--event", "CLIREV")
    assert code == 0 and "revoked device 'Gate A' of event CLIREV" in out, err
    code, out, err = cli(database_url, "device", "revoke", other.device_id)
    assert code == 0 and "CLIRV2" in out, err
    code, out, _ = cli(database_url, "device", "revoke", other.device_id)
    assert code == 0 and "revoked already" in out
    code, _, err = cli(database_url, "device", "revoke", "Gate Z")
    assert code == 2 and "no device is named 'Gate Z'" in err
    for revoked in (gate, other):
        response = httpx.get(f"{base_url}{PULL_PATH}", headers=revoked.headers)
        assert response.status_code == 403 and error_code(response) == "device_revoked"
    # The name is free again for a replacement laptop.
    paired_gate(base_url, database_url, "CLIREV", "Gate A")


def test_scans_summary_and_conflicts_are_counted_on_the_server(base_url: str, database_url: str) -> None:
    create_event(base_url, "CLISUM")
    one, two, three = sell(base_url, "CLISUM", 3)
    gate_a = paired_gate(base_url, database_url, "CLISUM", "Gate A")
    gate_b = paired_gate(base_url, database_url, "CLISUM", "Gate B")
    # A gate's own name for itself, as it uploads it, may hold anything: printed safely.
    gate_b.name = "Gate B\x1b[31m"
    gate_a.push(
        [
            gate_a.scan(one, at=T0),
            gate_a.scan(two, at=T0 + timedelta(minutes=1)),
            gate_a.scan(two, at=T0 + timedelta(minutes=30), direction="out"),
            gate_a.scan(three, at=T0, verdict="REVOKED"),
        ]
    )
    gate_b.push(
        [gate_b.scan(one, at=T0 + timedelta(minutes=5)), gate_b.scan(two, at=T0 + timedelta(minutes=40))]
    )
    code, out, err = cli(database_url, "scans", "summary", "--event", "CLISUM", "--json")
    assert code == 0, err
    assert json.loads(out) == {
        "scans": 6,
        "admitted": 4,
        "rejected": 1,
        "exits": 1,
        "devices": 2,
        "conflicts": 1,
    }
    code, out, err = cli(database_url, "conflicts", "--event", "CLISUM", "--json")
    assert code == 0, err
    [conflict] = json.loads(out)
    assert (conflict["serial"], conflict["code"]) == (1, one)
    assert (conflict["first"]["gate"], conflict["second"]["gate"]) == ("Gate A", "Gate B\x1b[31m")
    assert (conflict["first"]["device"], conflict["second"]["device"]) == ("Gate A", "Gate B")
    code, out, _ = cli(database_url, "conflicts", "--event", "CLISUM")
    assert (
        f"{one}: in at Gate A 2026-11-24 19:00:00 UTC, again at Gate B\\x1b[31m 2026-11-24 19:05:00 UTC"
        in out
    )
    assert "\x1b" not in out
    code, out, _ = cli(database_url, "scans", "summary", "--event", "CLISUM")
    assert "6 scan(s) uploaded by 2 device(s): 4 admitted, 1 rejected, 1 exit(s); 1 conflict(s)" in out
    code, _, err = cli(database_url, "conflicts", "--event", "NOSUCH")
    assert code == 2 and "no event has the code NOSUCH" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["device", "revoke", "Gate \udcff"], "no device is named 'Gate \\xff'"),
        (["device", "add", "--event", "CLIBAD", "--name", "Gate \udcff"], "the device name must be text"),
        (["device", "add", "--event", "CLIBAD", "--name", "Gate \x1b[2J"], "must not contain control"),
        (["device", "list", "--event", "CLI\udcff"], "no event has the code 'CLI\\xff'"),
        (["scans", "summary", "--event", "\udcff"], "no event has the code '\\xff'"),
        (["conflicts", "--event", "\udcff"], "no event has the code '\\xff'"),
        (["orders", "cancel", "\udcff\udcfe"], "'\\xff\\xfe' is not an order id"),
        (["orders", "attention", "--clear", "nope"], "'nope' is not an order id"),
        (
            ["device", "add", "--event", "CLIBAD", "--name", "G", "--server-url", "http://\udcff:8011"],
            "not a server URL (it holds bytes that are not text): 'http://\\xff:8011'",
        ),
        (["device", "add", "--event", "CLIBAD", "--name", "G", "--server-url", "http://a..b:1"], "host name"),
        (
            ["device", "add", "--event", "CLIBAD", "--name", "G", "--server-url", "http://h:1/\udcff"],
            "not a server URL (it holds bytes that are not text): 'http://h:1/\\xff'",
        ),
        (
            ["pair", "ticketgate-pair:1:K7QX-M2PA-9TRD:http://127.0.0.1:1/\udcff", "--home", "/tmp"],
            "bytes that are not text",
        ),
        (["pair", "K7QX-M2PA-9TRD", "--server", "http://xn--a:8011", "--home", "/tmp"], "host name"),
        (["pair", "ticketgate-pair:1:K7QX-M2PA-9TRD:http://a..b:8011", "--home", "/tmp"], "host name"),
    ],
)
def test_operator_commands_fed_bytes_that_are_not_text_say_so_in_one_line(
    base_url: str, database_url: str, args: list[str], message: str
) -> None:
    create_event(base_url, "CLIBAD")
    code, out, err = cli(database_url, *args, TICKETGATE_PUBLIC_URL="http://127.0.0.1:9")
    assert code == 2 and out == "", (code, out, err)
    assert err.startswith("ticketgate: error: ") and err.count("\n") == 1 and message in err, err
    code, out, _ = cli(database_url, "device", "list", "--event", "CLIBAD", "--json")
    assert code == 0 and json.loads(out) == []  # nothing half-made
