"""The backend's settings, read from ``TICKETGATE_*`` environment variables (command-line flags win)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from backend.errors import ConfigError
from ticketcode.sync_protocol import ProtocolError, normalise_server_url

# A shorter master secret would make every event key guessable offline from one ticket code.
MIN_MASTER_SECRET_BYTES = 16
# The admin token is checked on every POST /api/events over the network: a short one can be guessed
# online (1 character: 95 tries). 16 characters of `openssl rand -hex` are 64 bits.
MIN_ADMIN_TOKEN_CHARS = 16

# Upper bounds beyond which every checkout would fail in the database (an expiry past PostgreSQL's
# last timestamp; a quantity past its integer), so a typo is refused at start instead. A hold of up to
# 30 days leaves room for slow payment methods (bank debits); no event is larger than 10 million.
MAX_HOLD_SECONDS = 30 * 24 * 3600
MAX_TICKETS_PER_ORDER = 10_000_000
# A reaper that waits longer than a day leaves abandoned orders holding stock for days.
MAX_REAPER_INTERVAL_SECONDS = 86_400

# The secrets a command may require, by field name, with the variable that provides each.
SECRET_VARIABLES = {
    "master_secret": "TICKETGATE_MASTER_SECRET",
    "webhook_secret": "TICKETGATE_WEBHOOK_SECRET",
    "admin_token": "TICKETGATE_ADMIN_TOKEN",
}
_HOW_TO_SET = {
    "master_secret": "it derives every event's ticket-signing key; set it once, e.g. `openssl rand -hex 32`",
    "webhook_secret": "it checks the payment provider's webhook signatures; copy it from the provider",
    "admin_token": "it guards POST /api/events; set it to a long random string",
}


@dataclass(frozen=True)
class Settings:
    """Everything the backend needs to run; secrets a command does not need are empty."""

    database_url: str | None
    master_secret: bytes = field(repr=False)
    webhook_secret: str = field(repr=False)
    admin_token: str = field(repr=False)
    hold_seconds: int = 900
    reaper_interval_seconds: float = 60
    max_tickets_per_order: int = 10
    data_dir: Path = Path("var/backend")
    # Holds cannot be hoarded: pending tickets per email per event, and checkouts per client address
    # (a `limits` rate string such as "10/minute"; None: no rate limit).
    max_pending_per_email: int = 10
    checkout_rate: str | None = "10/minute"
    trust_proxy: bool = False
    # Refunds and disputes: whether revoked seats go back on sale, whether a dispute revokes tickets.
    return_refunded_stock: bool = True
    revoke_on_dispute: bool = False
    # Set: `ticketgate orders refund` asks Stripe to refund before it marks an order refunded.
    stripe_api_key: str = field(default="", repr=False)
    stripe_api_base: str | None = None
    # The address gates reach this server at, written into pairing codes (``device add``).
    public_url: str | None = None
    # The database URL points at a pooler in transaction mode (PgBouncer): no prepared statements and no
    # start-up options, which such a pooler cannot carry from one transaction to the next.
    database_pooler: bool = False


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name} must be from {minimum} to {maximum}, not {value}")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float, *, maximum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}") from None
    if not 0 < value <= maximum:  # also refuses nan and inf
        raise ConfigError(f"{name} must be more than 0 and at most {maximum:g} seconds, not {raw}")
    return value


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE | _FALSE:
        return raw in _TRUE
    raise ConfigError(f"{name} must be 1 or 0 (true/false, yes/no, on/off), not {env[name].strip()!r}")


def _rate(env: Mapping[str, str], name: str, default: str) -> str | None:
    """A `limits` rate string (e.g. "10/minute", "10/minute;100/hour"), or None for "off"."""
    raw = env.get(name, "").strip() or default
    if raw.lower() in ("off", "0", "none"):
        return None
    from limits import parse_many  # only the server needs it; keep the other commands' start-up lean

    try:
        parse_many(raw)
    except ValueError:
        raise ConfigError(
            f"{name} must be a rate such as 10/minute (or 10/minute;100/hour, or off), not {raw!r}"
        ) from None
    return raw


def load_settings(
    *,
    database_url: str | None = None,
    require: Iterable[str] = ("master_secret", "webhook_secret", "admin_token"),
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read the settings; raise ConfigError naming the variable when a required secret is missing.

    ``require`` lists the secrets (field names of Settings) this command cannot run without;
    ``database_url`` is the command-line flag and wins over ``TICKETGATE_DATABASE_URL``.
    """
    env = os.environ if environ is None else environ
    required = set(require)
    unknown = required - SECRET_VARIABLES.keys()
    if unknown:
        raise ValueError(f"unknown secret(s) required: {sorted(unknown)}")
    secrets: dict[str, str] = {}
    for name, variable in SECRET_VARIABLES.items():
        value = env.get(variable, "")
        if name in required and not value.strip():
            raise ConfigError(f"{variable} is not set: {_HOW_TO_SET[name]}")
        secrets[name] = value
    master_secret = secrets["master_secret"].encode("utf-8")
    if master_secret and len(master_secret) < MIN_MASTER_SECRET_BYTES:
        raise ConfigError(
            f"TICKETGATE_MASTER_SECRET is too short ({len(master_secret)} bytes): "
            f"use at least {MIN_MASTER_SECRET_BYTES}, e.g. `openssl rand -hex 32`"
        )
    admin_token = secrets["admin_token"].strip()
    if admin_token and len(admin_token) < MIN_ADMIN_TOKEN_CHARS:
        raise ConfigError(
            f"TICKETGATE_ADMIN_TOKEN is too short ({len(admin_token)} characters): anyone could guess "
            f"it over the network; use at least {MIN_ADMIN_TOKEN_CHARS}, e.g. `openssl rand -hex 24`"
        )
    url = database_url or env.get("TICKETGATE_DATABASE_URL", "").strip() or None
    home = env.get("TICKETGATE_HOME", "").strip()
    public_url = env.get("TICKETGATE_PUBLIC_URL", "").strip() or None
    if public_url is not None:
        try:
            public_url = normalise_server_url(public_url)
        except ProtocolError as exc:
            raise ConfigError(f"TICKETGATE_PUBLIC_URL is not usable: {exc}") from None
    return Settings(
        database_url=url,
        master_secret=master_secret,
        webhook_secret=secrets["webhook_secret"],
        admin_token=admin_token,
        hold_seconds=_int(env, "TICKETGATE_HOLD_SECONDS", 900, minimum=1, maximum=MAX_HOLD_SECONDS),
        reaper_interval_seconds=_seconds(
            env, "TICKETGATE_REAPER_INTERVAL_SECONDS", 60.0, maximum=MAX_REAPER_INTERVAL_SECONDS
        ),
        max_tickets_per_order=_int(
            env, "TICKETGATE_MAX_TICKETS_PER_ORDER", 10, minimum=1, maximum=MAX_TICKETS_PER_ORDER
        ),
        max_pending_per_email=_int(
            env, "TICKETGATE_MAX_PENDING_PER_EMAIL", 10, minimum=1, maximum=MAX_TICKETS_PER_ORDER
        ),
        checkout_rate=_rate(env, "TICKETGATE_CHECKOUT_RATE", "10/minute"),
        trust_proxy=_flag(env, "TICKETGATE_TRUST_PROXY", False),
        return_refunded_stock=_flag(env, "TICKETGATE_RETURN_REFUNDED_STOCK", True),
        revoke_on_dispute=_flag(env, "TICKETGATE_REVOKE_ON_DISPUTE", False),
        stripe_api_key=env.get("TICKETGATE_STRIPE_API_KEY", "").strip(),
        stripe_api_base=env.get("TICKETGATE_STRIPE_API_BASE", "").strip() or None,
        # Not "$TICKETGATE_HOME/backend": a folder named like the package in the working directory
        # would shadow it under `python -m ticketgate`.
        data_dir=Path(home) / "backend-data" if home else Path("var/backend"),
        public_url=public_url,
        database_pooler=_flag(env, "TICKETGATE_DATABASE_POOLER", False),
    )
