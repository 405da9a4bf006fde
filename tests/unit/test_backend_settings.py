"""Settings from TICKETGATE_* variables: flags win, and a missing secret names its variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.db import resolve_database_url
from backend.errors import ConfigError
from backend.settings import load_settings

SECRETS = {
    "TICKETGATE_MASTER_SECRET": "m" * 32,
    "TICKETGATE_WEBHOOK_SECRET": "whsec_test",
    "TICKETGATE_ADMIN_TOKEN": "admin-token-0123456789",
}


@pytest.mark.parametrize("variable", sorted(SECRETS))
def test_a_missing_required_secret_names_its_variable(variable: str) -> None:
    env = {k: v for k, v in SECRETS.items() if k != variable}
    with pytest.raises(ConfigError, match=f"^{variable} is not set"):
        load_settings(environ=env)


def test_commands_without_secrets_need_none() -> None:
    settings = load_settings(require=(), environ={})
    assert settings.master_secret == b""
    assert settings.database_url is None
    assert (settings.hold_seconds, settings.reaper_interval_seconds) == (900, 60)


def test_the_flag_wins_over_the_environment() -> None:
    env = {**SECRETS, "TICKETGATE_DATABASE_URL": "postgresql://env/db"}
    assert load_settings(environ=env).database_url == "postgresql://env/db"
    assert (
        load_settings(database_url="postgresql://flag/db", environ=env).database_url == "postgresql://flag/db"
    )


def test_numbers_and_home_are_read_and_checked(tmp_path: Path) -> None:
    env = {
        **SECRETS,
        "TICKETGATE_HOLD_SECONDS": "30",
        "TICKETGATE_REAPER_INTERVAL_SECONDS": "0.5",
        "TICKETGATE_HOME": str(tmp_path),
    }
    settings = load_settings(environ=env)
    assert (settings.hold_seconds, settings.reaper_interval_seconds) == (30, 0.5)
    assert settings.data_dir == tmp_path / "backend-data"
    with pytest.raises(ConfigError, match="TICKETGATE_HOLD_SECONDS must be a whole number"):
        load_settings(environ={**env, "TICKETGATE_HOLD_SECONDS": "soon"})
    # Values every checkout would then fail on in the database (expiry or quantity out of range).
    for variable, value in (
        ("TICKETGATE_HOLD_SECONDS", "99999999999999"),
        ("TICKETGATE_HOLD_SECONDS", "0"),
        ("TICKETGATE_MAX_TICKETS_PER_ORDER", "99999999999"),
    ):
        with pytest.raises(ConfigError, match=f"{variable} must be from 1 to"):
            load_settings(environ={**env, variable: value})
    with pytest.raises(ConfigError, match="TICKETGATE_MASTER_SECRET is too short"):
        load_settings(environ={**env, "TICKETGATE_MASTER_SECRET": "short"})
    for interval in ("0", "-1", "nan", "inf", "1e308", "86401"):
        with pytest.raises(
            ConfigError, match="REAPER_INTERVAL_SECONDS must be more than 0 and at most 86400"
        ):
            load_settings(environ={**env, "TICKETGATE_REAPER_INTERVAL_SECONDS": interval})


def test_secrets_never_appear_in_the_repr() -> None:
    assert "m" * 32 not in repr(load_settings(environ=SECRETS))


def test_the_money_settings_have_safe_defaults_and_refuse_typos() -> None:
    default = load_settings(require=(), environ={})
    assert (default.max_pending_per_email, default.checkout_rate, default.trust_proxy) == (
        10,
        "10/minute",
        False,
    )
    assert (default.return_refunded_stock, default.revoke_on_dispute, default.stripe_api_key) == (
        True,
        False,
        "",
    )
    set_ = load_settings(
        require=(),
        environ={
            "TICKETGATE_MAX_PENDING_PER_EMAIL": "4",
            "TICKETGATE_CHECKOUT_RATE": "10/minute;100/hour",
            "TICKETGATE_TRUST_PROXY": "yes",
            "TICKETGATE_RETURN_REFUNDED_STOCK": "0",
            "TICKETGATE_REVOKE_ON_DISPUTE": "true",
        },
    )
    assert (set_.max_pending_per_email, set_.checkout_rate, set_.trust_proxy) == (
        4,
        "10/minute;100/hour",
        True,
    )
    assert (set_.return_refunded_stock, set_.revoke_on_dispute) == (False, True)
    assert load_settings(require=(), environ={"TICKETGATE_CHECKOUT_RATE": "off"}).checkout_rate is None
    for name, value in [
        ("TICKETGATE_CHECKOUT_RATE", "ten a minute"),
        ("TICKETGATE_TRUST_PROXY", "maybe"),
        ("TICKETGATE_MAX_PENDING_PER_EMAIL", "0"),
    ]:
        with pytest.raises(ConfigError, match=f"^{name}"):
            load_settings(require=(), environ={name: value})


@pytest.mark.parametrize("token", ["1", "short-token", " " * 20 + "x"])
def test_an_admin_token_anyone_could_guess_is_refused(token: str) -> None:
    with pytest.raises(ConfigError, match=r"^TICKETGATE_ADMIN_TOKEN is too short \(\d+ characters\)"):
        load_settings(environ={**SECRETS, "TICKETGATE_ADMIN_TOKEN": token})


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://bob:s3cret-Pa55@db.example/tickets?sslmode=require extra",
        "postgresql://bob:s3cret Pa55@db.example/tickets",
        "postgresql://bob:s3cret%20Pa55@db.example/tickets?application_name=a b",
        "host=db.example password=s3cret-Pa55 bogus",
        "host=db.example password='s3cret Pa55' user",
        "postgresql://db.example/tickets?password=s3cret-Pa55&user=a b",
        "postgresql://bob:s3cret-Pa55@db\udcff.example/tickets",  # bytes that are not UTF-8
    ],
)
def test_a_malformed_database_url_is_refused_without_echoing_its_password(url: str) -> None:
    with pytest.raises(ConfigError, match="is not a PostgreSQL URL") as refused:
        resolve_database_url(load_settings(database_url=url, require=(), environ={}))
    assert "s3cret" not in str(refused.value) and "Pa55" not in str(refused.value)


def test_the_public_url_gates_reach_the_server_at_is_checked() -> None:
    env = {**SECRETS, "TICKETGATE_PUBLIC_URL": " http://10.0.0.5:8000/ "}
    assert load_settings(environ=env).public_url == "http://10.0.0.5:8000"
    assert load_settings(environ=SECRETS).public_url is None
    with pytest.raises(ConfigError, match=r"^TICKETGATE_PUBLIC_URL is not usable"):
        load_settings(environ={**SECRETS, "TICKETGATE_PUBLIC_URL": "10.0.0.5:8000"})


def test_database_pooler_is_off_unless_set_and_refuses_a_typo() -> None:
    assert load_settings(environ=SECRETS).database_pooler is False
    assert load_settings(environ={**SECRETS, "TICKETGATE_DATABASE_POOLER": "1"}).database_pooler is True
    with pytest.raises(ConfigError, match=r"^TICKETGATE_DATABASE_POOLER must be 1 or 0"):
        load_settings(environ={**SECRETS, "TICKETGATE_DATABASE_POOLER": "pgbouncer"})
