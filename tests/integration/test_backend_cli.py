"""The backend's commands run as a user runs them: ``ticketgate ...`` in a subprocess, on a real database."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from backend import events, payments, reaper
from backend.db import make_pool, migration_files
from tests.integration.conftest import ADMIN_URL, paid_event, policy, reserve
from ticketcode import derive_event_key, load_key_file

MASTER = "cli-test-master-secret-0123456789"


def ticketgate(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ticketgate", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETGATE_")}
    env["TICKETGATE_DATABASE_URL"] = database_url
    env.update(extra)
    return env


def test_migrate_is_idempotent(empty_database_url: str) -> None:
    env = _env(empty_database_url)
    first = ticketgate("migrate", env=env)
    assert first.returncode == 0, first.stderr
    shipped = [version for version, _ in migration_files()]
    assert shipped[0] == "001_initial"
    assert f"applied {len(shipped)} migration(s): {', '.join(shipped)}" in first.stdout
    second = ticketgate("migrate", env=env)
    assert second.returncode == 0, second.stderr
    assert "up to date" in second.stdout
    with psycopg.connect(empty_database_url) as conn:
        applied = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert applied == [(version,) for version in shipped]


def test_commands_on_an_unmigrated_database_say_to_migrate(empty_database_url: str) -> None:
    result = ticketgate("orders", "refund-due", env=_env(empty_database_url))
    assert result.returncode == 2
    assert "run `ticketgate migrate` first" in result.stderr
    assert "Traceback" not in result.stderr


def test_event_create_then_keys_export_gives_the_key_that_signs_its_tickets(
    database_url: str, tmp_path: Path
) -> None:
    env = _env(database_url)
    created = ticketgate(
        "event",
        "create",
        "--code",
        "cli1",
        "--name",
        "CLI night",
        "--capacity",
        "250",
        "--price-cents",
        "1999",
        env=env,
    )
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == (
        "created event CLI1 (CLI night): 250 tickets, 19.99 EUR, hmac signing, key version 1"
    )
    again = ticketgate("event", "create", "--code", "CLI1", "--name", "Again", "--capacity", "5", env=env)
    assert again.returncode == 2
    assert again.stderr.strip() == "ticketgate: error: an event with code CLI1 already exists"

    key_file = tmp_path / "CLI1.key.json"
    exported = ticketgate(
        "keys",
        "export",
        "--event",
        "CLI1",
        "--output",
        str(key_file),
        env={**env, "TICKETGATE_MASTER_SECRET": MASTER},
    )
    assert exported.returncode == 0, exported.stderr
    assert key_file.stat().st_mode & 0o777 == 0o600
    key = load_key_file(key_file.read_text())
    assert key == derive_event_key(MASTER.encode(), "CLI1", 1)
    to_stdout = ticketgate(
        "keys", "export", "--event", "cli1", env={**env, "TICKETGATE_MASTER_SECRET": MASTER}
    )
    assert json.loads(to_stdout.stdout) == json.loads(key_file.read_text())


def test_a_missing_secret_is_one_clear_line(database_url: str) -> None:
    result = ticketgate("keys", "export", "--event", "CLI1", env=_env(database_url))
    assert result.returncode == 2
    assert result.stderr.startswith("ticketgate: error: TICKETGATE_MASTER_SECRET is not set")
    assert len(result.stderr.strip().splitlines()) == 1


def test_unknown_event_and_unreachable_database_are_clear_errors(database_url: str) -> None:
    env = {**_env(database_url), "TICKETGATE_MASTER_SECRET": MASTER}
    unknown = ticketgate("keys", "export", "--event", "NOPE", env=env)
    assert (unknown.returncode, unknown.stderr.strip()) == (
        2,
        "ticketgate: error: no event has the code NOPE",
    )
    down = ticketgate("reaper", "--once", env=_env("postgresql://postgres@127.0.0.1:1/nothing"))
    assert down.returncode == 2
    assert "ticketgate: error: the database is unavailable" in down.stderr
    assert "Traceback" not in down.stderr
    for malformed in ("localhost", "postgresql://%zz@127.0.0.1/x"):
        typo = ticketgate("migrate", "--database-url", malformed, env=_env(database_url))
        assert typo.returncode == 2, typo.stderr
        assert typo.stderr.startswith("ticketgate: error: TICKETGATE_DATABASE_URL (or --database-url) is not")
        assert len(typo.stderr.strip().splitlines()) == 1, typo.stderr


async def _late_payment_without_stock(database_url: str) -> uuid.UUID:
    """The real path to refund_due: hold 2 of 2, the hold ends, others buy them, then the payment."""
    async with make_pool(database_url, min_size=1, max_size=2) as pool:
        await events.create_event(pool, code="LATE1", name="Late", capacity=2, price_cents=2000)
        late = await reserve(pool, "LATE1", 2, email="late@example.org")
        with psycopg.connect(database_url) as conn:
            conn.execute("UPDATE orders SET expires_at = now() - interval '1 minute'")
        assert await reaper.reap_once(pool) == 1
        await reserve(pool, "LATE1", 2)
        result = await payments.apply_payment_event(
            pool, paid_event(late, "evt_late", reference="pi_late_123"), policy=policy(MASTER.encode())
        )
        assert result.outcome == "refund_due"
        return late.id


def test_orders_refund_due_lists_late_payments_without_stock(database_url: str) -> None:
    env = _env(database_url)
    empty = ticketgate("orders", "refund-due", env=env)
    assert (empty.returncode, empty.stdout.strip()) == (0, "no payments are due a refund")
    order_id = asyncio.run(_late_payment_without_stock(database_url))
    listed = ticketgate("orders", "refund-due", env=env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("1 payment(s) with money due back")
    assert str(order_id) in listed.stdout
    assert "late@example.org" in listed.stdout and "due 40.00 EUR" in listed.stdout
    assert "pi_late_123" in listed.stdout  # what the operator refunds with the provider
    as_json = json.loads(ticketgate("orders", "refund-due", "--json", env=env).stdout)
    assert [(p["order"], p["due_cents"], p["payment_reference"]) for p in as_json] == [
        (str(order_id), 4000, "pi_late_123")
    ]


def test_listings_show_escape_sequences_in_stored_text_escaped_never_raw(database_url: str) -> None:
    # A buyer's e-mail was printed raw: `\x1b[2J` cleared the operator's screen, `\x1b]0;...` retitled it.
    hostile = "ann\x1b[2J\x1b]0;pwned\x07@example.org"
    asyncio.run(_late_payment_without_stock(database_url))
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE orders SET email = %s WHERE status = 'refund_due'", (hostile,))
        # As an earlier release could have stored it: names are refused at creation now.
        conn.execute("UPDATE events SET name = %s WHERE code = 'LATE1'", ("Late\r\x1b[31mnight",))
    listed = ticketgate("orders", "refund-due", env=_env(database_url))
    assert listed.returncode == 0, listed.stderr
    assert "\x1b" not in listed.stdout and "\r" not in listed.stdout and "\x07" not in listed.stdout
    assert "ann\\x1b[2J\\x1b]0;pwned\\x07@example.org" in listed.stdout  # shown, escaped
    as_json = json.loads(ticketgate("orders", "refund-due", "--json", env=_env(database_url)).stdout)
    assert as_json[0]["email"] == hostile  # machine-readable output keeps the exact value, JSON-escaped


def test_event_names_with_control_characters_are_refused(database_url: str) -> None:
    for name in ("Vienna\x1b[2J", "two\nlines", "bell\x07"):
        made = ticketgate(
            "event", "create", "--code", "CTRL1", "--name", name, "--capacity", "5", env=_env(database_url)
        )
        assert made.returncode == 2 and made.stdout == ""
        assert (
            made.stderr == "ticketgate: error: the event name must be 1 to 200 characters of printable text\n"
        )


def test_keys_export_replaces_a_symlink_instead_of_writing_through_it(
    database_url: str, tmp_path: Path
) -> None:
    env = {**_env(database_url), "TICKETGATE_MASTER_SECRET": MASTER}
    assert (
        ticketgate("event", "create", "--code", "LINK1", "--name", "L", "--capacity", "5", env=env).returncode
        == 0
    )
    notes = tmp_path / "world-readable.txt"
    notes.write_text("notes\n")
    notes.chmod(0o644)
    key_file = tmp_path / "LINK1.key.json"
    key_file.symlink_to(notes)
    exported = ticketgate("keys", "export", "--event", "LINK1", "-o", str(key_file), env=env)
    assert exported.returncode == 0, exported.stderr
    assert notes.read_text() == "notes\n"  # the secret never went where the link pointed
    assert not key_file.is_symlink() and key_file.stat().st_mode & 0o777 == 0o600
    assert load_key_file(key_file.read_text()) == derive_event_key(MASTER.encode(), "LINK1", 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["LINK1.key.json", "world-readable.txt"]


def test_reaper_once_expires_overdue_orders(database_url: str) -> None:
    env = _env(database_url)
    created = ticketgate("event", "create", "--code", "RPR1", "--name", "R", "--capacity", "10", env=env)
    assert created.returncode == 0, created.stderr

    async def hold_three() -> None:
        async with make_pool(database_url, min_size=1, max_size=1) as pool:
            await reserve(pool, "RPR1", 3)

    asyncio.run(hold_three())
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE orders SET expires_at = now() - interval '1 minute'")
    result = ticketgate("reaper", "--once", env=env)
    assert (result.returncode, result.stdout.strip()) == (0, "expired 1 order(s)")
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT sum(available), sum(held) FROM event_stock").fetchone() == (10, 0)
        assert conn.execute("SELECT status FROM orders").fetchall() == [("expired",)]


@pytest.fixture
def home() -> Iterator[Path]:
    """A TICKETGATE_HOME outside pytest's tmp_path: as root, pgserver runs PostgreSQL as another user,
    and a concurrent pytest session resets /tmp/pytest-of-root to mode 0700, locking that user out."""
    folder = Path(tempfile.mkdtemp(prefix="tg_home_"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_without_a_database_url_an_embedded_postgresql_in_the_data_folder_is_used(home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETGATE_")}
    env["TICKETGATE_HOME"] = str(home)
    first = ticketgate("migrate", env=env, cwd=home)
    assert first.returncode == 0, first.stderr
    assert f"applied {len(migration_files())} migration(s)" in first.stdout
    assert (home / "backend-data" / "pgdata" / "PG_VERSION").exists()
    # Said once, when the database is made: a server configured without its URL shows at once.
    [said] = first.stderr.splitlines()
    assert said.endswith(
        f"WARNING backend.embedded: no TICKETGATE_DATABASE_URL: creating an embedded PostgreSQL in "
        f"{(home / 'backend-data' / 'pgdata').resolve()}"
    )
    created = ticketgate("event", "create", "--code", "EMB1", "--name", "Emb", "--capacity", "5", env=env)
    assert created.returncode == 0, created.stderr
    # The data outlives the process: the next command finds the schema and the event. A one-shot
    # command prints its result and no log lines.
    again = ticketgate("migrate", env=env, cwd=home)
    assert "up to date" in again.stdout, again.stderr
    assert (created.stderr, again.stderr) == ("", "")
    duplicate = ticketgate("event", "create", "--code", "EMB1", "--name", "Again", "--capacity", "5", env=env)
    last_line = duplicate.stderr.strip().splitlines()[-1]
    assert last_line == "ticketgate: error: an event with code EMB1 already exists"


def test_a_wrong_event_argument_is_refused_before_any_database_starts(home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETGATE_")}
    env["TICKETGATE_HOME"] = str(home)
    for arguments, why in [
        (["--code", "no!", "--name", "Show", "--capacity", "5"], "event code 'no!' must be 4 to 12"),
        (["--code", "SHOW1", "--name", "Show", "--capacity", "0"], "capacity must be a whole number"),
        (["--code", "SHOW1", "--name", "Show", "--capacity", "5", "--currency", "E1"], "currency must be"),
        # A ligature upper-cases into letters; an override reorders what operators and buyers read.
        (["--code", "\ufb00ab", "--name", "Show", "--capacity", "5"], "event code 'ﬀab' must be 4 to 12"),
        (["--code", "SHOW1", "--name", "a\u202eb", "--capacity", "5"], "the event name must be 1 to 200"),
    ]:
        result = ticketgate("event", "create", *arguments, env=env, cwd=home)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(f"ticketgate: error: {why}"), result.stderr
    # No embedded PostgreSQL was made (it takes seconds) only to refuse a typo.
    assert not (home / "backend-data" / "pgdata").exists()


def test_a_database_user_without_privileges_is_one_clear_line(empty_database_url: str) -> None:
    # PostgreSQL 15+ gives ordinary users no CREATE on schema public: a common first set-up.
    role = f"tg_weak_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        with psycopg.connect(empty_database_url, autocommit=True) as conn:
            conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")  # as PostgreSQL 15+, on any version
        parts = urlsplit(empty_database_url)
        as_role = urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port or 5432}"))
        result = ticketgate("migrate", "--database-url", as_role, env=_env(as_role))
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("ticketgate: error: the database user lacks a privilege"), result.stderr
    assert "permission denied" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
