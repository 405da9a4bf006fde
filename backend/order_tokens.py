"""The buyer's access token of an order: how it is made, and the hash the database keeps.

A checkout without an Idempotency-Key gets 192 random bits. A checkout with one gets a token derived
from the server's secret and the request's identity (event, email, key): a retry of that request,
the whole point of the key, can then be answered with the same token, although the database keeps
only its hash. Without that, a buyer whose first answer was lost on the way had an order they could
neither read nor cancel.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TOKEN_BYTES = 24  # 192 bits, shown as 32 URL-safe characters
# Domain separation from the ticket-signing keys derived from the same master secret.
_HKDF_SALT = b"ticketgate/order-token/v1"


def order_token_key(master_secret: bytes) -> bytes:
    """The key that derives keyed checkouts' tokens (HKDF-SHA256 of the master secret)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=b"order access tokens")
    return hkdf.derive(master_secret)


def new_access_token(
    token_key: bytes | None = None,
    *,
    event_code: str = "",
    email: str = "",
    idempotency_key: str | None = None,
) -> tuple[str, bytes]:
    """The access token for a new order (shown to the buyer) and the hash that is stored.

    With ``token_key`` and an Idempotency-Key the token is the one ``replay_token`` gives for the same
    request; otherwise it is random.
    """
    if token_key is not None and idempotency_key is not None:
        token = replay_token(token_key, event_code=event_code, email=email, idempotency_key=idempotency_key)
    else:
        token = base64.urlsafe_b64encode(secrets.token_bytes(TOKEN_BYTES)).decode("ascii")
    return token, token_hash(token)


def replay_token(token_key: bytes, *, event_code: str, email: str, idempotency_key: str) -> str:
    """The token of the order a keyed checkout made: the same event, email and key give the same one.

    Fields are length-prefixed, so no two requests share an encoding ("a\\nb" + "c" vs "a" + "b\\nc").
    """
    message = b"".join(
        len(part).to_bytes(4, "big") + part
        for part in (p.encode("utf-8", "surrogateescape") for p in (event_code, email, idempotency_key))
    )
    digest = hmac.new(token_key, message, hashlib.sha256).digest()[:TOKEN_BYTES]
    return base64.urlsafe_b64encode(digest).decode("ascii")


def token_hash(token: str) -> bytes:
    # 192 secret bits need no slow password hash: SHA-256 cannot be reversed or guessed for them.
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
