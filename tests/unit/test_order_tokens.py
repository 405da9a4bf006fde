"""Order access tokens: random without a key, the same for a keyed request's retry, never shared."""

from __future__ import annotations

import base64

from backend.order_tokens import new_access_token, order_token_key, replay_token, token_hash

KEY = order_token_key(b"k" * 32)


def test_a_keyed_checkout_and_its_retry_derive_one_token_and_store_its_hash() -> None:
    token, stored = new_access_token(KEY, event_code="EV1", email="a@x.org", idempotency_key="k1")
    assert token == replay_token(KEY, event_code="EV1", email="a@x.org", idempotency_key="k1")
    assert stored == token_hash(token) and len(base64.urlsafe_b64decode(token)) == 24


def test_any_other_event_email_key_or_secret_gives_another_token() -> None:
    base = {"event_code": "EV1", "email": "a@x.org", "idempotency_key": "k1"}
    tokens = {
        replay_token(KEY, **base),
        replay_token(KEY, **{**base, "event_code": "EV2"}),
        replay_token(KEY, **{**base, "email": "b@x.org"}),
        replay_token(KEY, **{**base, "idempotency_key": "k2"}),
        # The fields cannot run into one another: "a\nb" + "c" is not "a" + "b\nc".
        replay_token(KEY, **{**base, "email": "a@x.org" + "k", "idempotency_key": "1"}),
        replay_token(order_token_key(b"j" * 32), **base),
    }
    assert len(tokens) == 6


def test_without_a_key_or_an_idempotency_key_tokens_are_random() -> None:
    drawn = {new_access_token()[0] for _ in range(50)}
    drawn |= {new_access_token(KEY, event_code="EV1", email="a@x.org")[0] for _ in range(50)}
    assert len(drawn) == 100
    assert all(len(base64.urlsafe_b64decode(t)) == 24 for t in drawn)


def test_the_token_key_is_derived_from_the_master_secret_with_its_own_salt() -> None:
    # Known answers: a change to the derivation would leave every keyed order's retry without its token.
    assert KEY.hex() == "efead254dbff5649b76dc9b4ef95f7a15b5ffb64c0c33e8e0b76ab91a2109ab5"
    token = replay_token(KEY, event_code="EV1", email="a@x.org", idempotency_key="k1")
    assert token == "Xd45y6yIpLksNxok8eGPCBK-dDyQzsnd"
    assert order_token_key(b"k" * 33) != KEY
