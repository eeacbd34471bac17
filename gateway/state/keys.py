"""The state store's key scheme and its sticky-decision record, written once.

Every entity is one record under ``"<kind>:<id>"`` (gateway.state.store). The
scopes a sticky decision can pin, and the prefixes of their keys, are here; so
is ``safe``, which keeps client-controlled key parts short and unambiguous, and
the one format of a sticky record: ``"<decision>|<rule id>|<until>"``.
"""

from __future__ import annotations

from typing import NamedTuple
from zlib import crc32

SESSION_PREFIX, ACCOUNT_PREFIX, TARGET_PREFIX, CROWD_PREFIX = "s:", "a:", "t:", "c:"
IP_PREFIX, NET_PREFIX, DEVICE_PREFIX, ASN_PREFIX, TLS_UA_PREFIX = "ip:", "pfx:", "dev:", "asn:", "tu:"
# The entities a sticky decision can be pinned on, by scope name, in the collector's order.
SCOPE_PREFIX = {"session": SESSION_PREFIX, "account": ACCOUNT_PREFIX, "device": DEVICE_PREFIX,
                "prefix": NET_PREFIX, "ip": IP_PREFIX}

_DIGESTS: dict[str, str] = {}
_DIGESTS_MAX = 65_536  # user agents, TLS fingerprints and device ids repeat: remember the recent ones
_CACHED_MAX_CHARS = 512  # longer values are digested each time, not kept


def digest(value: str | None) -> str:
    """A short stable digest (CRC-32, 8 hex) for equality checks and bounded keys."""
    if not value:
        return ""
    d = _DIGESTS.get(value)
    if d is None:
        d = f"{crc32(value.encode('utf-8', 'surrogatepass')):08x}"
        if len(value) > _CACHED_MAX_CHARS:  # a long value would make the cache's keys its memory
            return d
        if len(_DIGESTS) >= _DIGESTS_MAX:
            _DIGESTS.clear()  # a flood of fresh values costs a recomputation, never memory
        _DIGESTS[value] = d
    return d


def safe(part: str) -> str:
    """A key part from client-controlled text: itself when short and plain, else a digest."""
    if len(part) <= 64 and "#" not in part and "{" not in part and "}" not in part:
        return part
    return "~" + digest(part)


def entity_key(scope: str, value: str) -> str:
    """The key of a session, account, device, prefix or IP entity, as the collector builds it."""
    if scope in ("ip", "prefix"):
        return SCOPE_PREFIX[scope] + value
    if scope == "device":
        return DEVICE_PREFIX + digest(value)
    return SCOPE_PREFIX[scope] + safe(value)


def scope_of(key: str) -> str:
    """The sticky scope an entity key belongs to; ``shared`` for an ASN or TLS+UA entity."""
    for scope, prefix in SCOPE_PREFIX.items():
        if key.startswith(prefix):
            return scope
    return "shared"


class Pin(NamedTuple):
    """A sticky decision as stored on an entity until ``until``."""

    decision: str  # a Decision value, or "revoke"
    rule: str
    until: float

    def encode(self) -> str:
        return f"{self.decision}|{self.rule}|{self.until:.0f}"

    @classmethod
    def parse(cls, raw: str) -> Pin:
        decision, rule, until = raw.split("|", 2)
        return cls(decision, rule, float(until))
