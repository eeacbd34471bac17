"""A Principal as the admin console's facts ring keeps it (to_dict) and what-if reads it back (from_dict)."""

from __future__ import annotations

import json

import pytest

from gateway.auth.principal import Principal

FULL = Principal("alice", "s-1", "engage-android", "dev-1", 1_700_000_000.0, 1_700_000_600.0, "jwt", "ab" * 32,
                 {"sub": "alice", "scope": "likes:write", "n": [1, 2]}, bound_jkt="jkt-1", dpop_valid=True,
                 scopes=("likes:write",))
BARE = Principal("bob", "tok:0123", None, None, None, None, "opaque", "cd" * 32)


@pytest.mark.parametrize("principal", [FULL, BARE, Principal("c", "s", None, None, None, None, "jwt", "h", scopes=())])
def test_to_dict_is_json_and_reads_back_as_the_same_principal(principal: Principal) -> None:
    stored = json.loads(json.dumps(principal.to_dict()))
    assert Principal.from_dict(stored) == principal
    assert stored["scopes"] is None if principal.scopes is None else stored["scopes"] == list(principal.scopes)


def test_a_record_from_before_a_field_existed_takes_the_defaults() -> None:
    p = Principal.from_dict({"subject": "alice", "session_id": "s-1"})
    assert (p.kind, p.token_hash, dict(p.claims), p.scopes, p.bound_jkt, p.dpop_valid) == ("jwt", "", {}, None, None, None)
    with pytest.raises(KeyError):
        Principal.from_dict({"subject": "alice"})
