"""API keys on a real database: shown once, stored as digests, verified, revoked."""

from __future__ import annotations

import hashlib

import pytest

from vsl_pipelines.db.api_keys import KeyNameTaken
from vsl_pipelines.db.database import Database
from vsl_pipelines.services.keys import (
    KeyRefused,
    create_key,
    list_keys,
    parse_rate,
    revoke_key,
    verify_key,
)


def test_a_key_is_verified_until_revoked(db: Database) -> None:
    _, key = create_key(db, "acme-crm", user_id="user-7", rate_per_minute=120)
    assert key.startswith("vsl_") and len(key) > 40
    verified = verify_key(db, key)
    assert verified is not None
    assert (verified.name, verified.user_id, verified.rate_per_minute) == (
        "acme-crm",
        "user-7",
        120,
    )
    assert verify_key(db, key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert verify_key(db, "not-a-key") is None

    revoke_key(db, "acme-crm")
    assert verify_key(db, key) is None
    with pytest.raises(KeyRefused, match="no live key named 'acme-crm'"):
        revoke_key(db, "acme-crm")


def test_only_a_digest_is_stored_and_listings_never_show_the_key(db: Database) -> None:
    _, key = create_key(db, "studio")
    with db.connect() as conn:
        stored = conn.execute("SELECT * FROM api_keys").fetchone()
    assert key not in repr(stored)
    assert bytes(stored["key_sha256"]) == hashlib.sha256(key.encode()).digest()
    listed = list_keys(db)
    assert [k.name for k in listed] == ["studio"]
    assert key not in repr(listed) and not hasattr(listed[0], "key_sha256")
    assert key.startswith(listed[0].prefix)


def test_names_and_rates_are_checked(db: Database) -> None:
    create_key(db, "one")
    with pytest.raises(KeyNameTaken):
        create_key(db, "one")
    for bad in ("", "has space", "x" * 65, "bad\nname", "-leading"):
        with pytest.raises(KeyRefused, match="name"):
            create_key(db, bad)
    assert parse_rate("120/minute") == parse_rate("120/min") == parse_rate("120") == 120
    for bad_rate in ("0", "fast", "10/second", "1e9", "-5", "100001"):
        with pytest.raises(KeyRefused, match="rate"):
            parse_rate(bad_rate)
    assert [k.name for k in list_keys(db)] == ["one"]
