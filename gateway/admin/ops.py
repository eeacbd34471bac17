"""What an admin can do: find decisions, lift sticky decisions, grant and revoke exceptions.

A lift overwrites the entity's sticky decision with an expired one, and an
exception pins a sticky ``allow`` on the account, device or prefix until its
time: both are one write to the state store, which every replica reads in
the exchange it makes anyway, so they hold on every replica from the next
request and cost the request path nothing. ``allow`` outranks every other
sticky decision (gateway.engine ``_sticky_verdict``), and while it is live
no rule is evaluated, so no rule can pin a stop over it.
"""

from __future__ import annotations

import ipaddress
import secrets
from typing import Any

from gateway.admin.audit import AuditLog
from gateway.admin.auth import Admin
from gateway.admin.records import AdminRecords
from gateway.metrics import ADMIN_EXCEPTIONS, ADMIN_LIFTS
from gateway.state.keys import entity_key, scope_of
from gateway.state.store import Stick

LIFTED = "lifted"  # the rule id a lift's expired record carries
EXCEPTION_SCOPES = ("account", "device", "prefix")
LIFT_SCOPES = ("session", "account", "device", "prefix", "ip")
FIND_KINDS = ("account", "session", "ip", "device")
REASON_MAX = 500


class BadInput(ValueError):
    """A request the admin can fix: names the field and says how."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def reason_of(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadInput("reason", "say why (it goes to the audit log), e.g. 'support ticket 4411: likes fail'")
    if len(value) > REASON_MAX:
        raise BadInput("reason", f"at most {REASON_MAX} characters")
    return value.strip()


def text_of(field: str, value: Any, limit: int = 256) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadInput(field, "required")
    if len(value) > limit:
        raise BadInput(field, f"at most {limit} characters")
    return value.strip()


def prefix_of(value: str) -> str:
    """A client network as the gateway keys it: an IPv4 /24 or an IPv6 /64."""
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise BadInput("key", f"{value!r} is not a network; write e.g. 203.0.113.0/24 or 2001:db8:1:2::/64") from None
    want = 24 if net.version == 4 else 64
    if net.prefixlen != want:
        raise BadInput("key", f"the gateway groups addresses by /{want} for IPv{net.version}; write "
                              f"{net.supernet(new_prefix=want) if net.prefixlen > want else value + ' as a /' + str(want)}")
    return str(net)


class Operations:
    def __init__(self, engine: Any, records: AdminRecords, audit: AuditLog) -> None:
        self.engine = engine
        self.records = records
        self.audit = audit
        self.max_exception_s = engine.settings.admin.max_exception_s

    # -- find ----------------------------------------------------------------------
    async def find(self, kind: str, value: str, limit: int = 50) -> list[dict[str, Any]]:
        if kind not in FIND_KINDS:
            raise BadInput(kind, f"find decisions by one of {', '.join(FIND_KINDS)}")
        return await self.records.decisions(kind, text_of(kind, value), limit)

    async def stickies(self, scope: str, key: str, now: float) -> list[dict[str, Any]]:
        if scope not in LIFT_SCOPES:
            raise BadInput("scope", f"one of {', '.join(LIFT_SCOPES)}")
        value = prefix_of(key) if scope == "prefix" else text_of("key", key)
        return await self.records.stickies(entity_key(scope, value), now)

    # -- lift ----------------------------------------------------------------------
    async def lift(self, admin: Admin, reason: Any, now: float, *, account: str | None = None,
                   scope: str | None = None, key: str | None = None) -> dict[str, Any]:
        """Lift every live sticky stop of ``account``, or the one on (``scope``, ``key``)."""
        why = reason_of(reason)
        excepted = {e["entity"] for e in await self.records.exceptions(now)}
        if account is not None:
            account = text_of("account", account)
            notes = await self.records.stickies(entity_key("account", account), now)
            keys = {n["key"]: n["scope"] for n in notes if n["decision"] != "allow"}
            a_key = entity_key("account", account)
            if a_key not in excepted:
                keys.setdefault(a_key, "account")  # its own slot, noted or not
            target = {"account": account}
        elif scope == "entity" and key is not None:  # a key as the sticky list shows it
            value = text_of("key", key)
            if scope_of(value) == "shared":
                raise BadInput("key", "an entity key starts with s:, a:, ip:, pfx: or dev:")
            keys = {value: scope_of(value)}
            target = {"entity": value}
        elif scope is not None and key is not None:
            if scope not in LIFT_SCOPES:
                raise BadInput("scope", f"one of {', '.join(LIFT_SCOPES)}")
            value = prefix_of(key) if scope == "prefix" else text_of("key", key)
            keys = {entity_key(scope, value): scope}
            target = {"scope": scope, "key": value}
        else:
            raise BadInput("account", "name the account, or a scope and key")
        keys = {k: s for k, s in keys.items() if k not in excepted}
        record = f"allow|{LIFTED}|{now:.0f}"
        result = await self.engine.store.exchange([Stick(k, record, now) for k in keys], now)
        await self.records.note_sticky([{"key": k, "scope": s, "decision": LIFTED, "rule": LIFTED, "until": now,
                                         "account": account, "at": now, "by": admin.who, "reason": why}
                                        for k, s in keys.items()])
        for s in keys.values():
            ADMIN_LIFTS.labels(scope=s).inc()
        entry = self.audit.write(admin.who, admin.via, "lift", why, **target, lifted=sorted(keys),
                                 degraded=result.degraded)
        return {"lifted": sorted(keys), "degraded": result.degraded, "audit": entry}

    # -- exceptions ----------------------------------------------------------------
    async def grant(self, admin: Admin, body: dict[str, Any], now: float) -> dict[str, Any]:
        scope = body.get("scope")
        if scope not in EXCEPTION_SCOPES:
            raise BadInput("scope", f"an exception names one of {', '.join(EXCEPTION_SCOPES)}")
        value = prefix_of(text_of("key", body.get("key"))) if scope == "prefix" else text_of("key", body.get("key"))
        until = self._until(body, now)
        why = reason_of(body.get("reason"))
        xid = "x-" + secrets.token_hex(4)
        key = entity_key(scope, value)
        result = await self.engine.store.exchange([Stick(key, f"allow|exception:{xid}|{until:.0f}", until)], now)
        entry = {"id": xid, "op": "grant", "scope": scope, "key": value, "entity": key, "until": until, "at": now,
                 "by": admin.who, "reason": why}
        await self.records.note_exception(entry)
        await self.records.note_sticky([{"key": key, "scope": scope, "decision": "allow", "rule": f"exception:{xid}",
                                         "until": until, "account": value if scope == "account" else None,
                                         "at": now, "by": admin.who, "reason": why}])
        ADMIN_EXCEPTIONS.labels(scope=scope, op="grant").inc()
        self.audit.write(admin.who, admin.via, "exception.grant", why, id=xid, scope=scope, key=value, until=until,
                         degraded=result.degraded)
        return {**entry, "degraded": result.degraded}

    async def revoke(self, admin: Admin, body: dict[str, Any], now: float) -> dict[str, Any]:
        why = reason_of(body.get("reason"))
        live = await self.records.exceptions(now)
        xid = body.get("id")
        found = [e for e in live if e["id"] == xid or (e["scope"] == body.get("scope") and e["key"] == body.get("key"))]
        if not found:
            raise BadInput("id", "no live exception has this id (or scope and key); list them with "
                                 "`gateway exceptions list`")
        e = found[0]
        result = await self.engine.store.exchange([Stick(e["entity"], f"allow|{LIFTED}|{now:.0f}", now)], now)
        await self.records.note_exception({**e, "op": "revoke", "at": now, "by": admin.who, "reason": why})
        await self.records.note_sticky([{"key": e["entity"], "scope": e["scope"], "decision": LIFTED, "rule": LIFTED,
                                         "until": now, "account": None, "at": now, "by": admin.who, "reason": why}])
        ADMIN_EXCEPTIONS.labels(scope=e["scope"], op="revoke").inc()
        self.audit.write(admin.who, admin.via, "exception.revoke", why, id=e["id"], scope=e["scope"], key=e["key"],
                         degraded=result.degraded)
        return {"revoked": e["id"], "degraded": result.degraded}

    def _until(self, body: dict[str, Any], now: float) -> float:
        until, for_s = body.get("until"), body.get("for_s")
        try:
            if until not in (None, ""):
                value = float(until)
            elif for_s not in (None, ""):
                value = now + float(for_s)
            else:
                raise BadInput("until", "give until (epoch seconds) or for_s (seconds from now)")
        except (TypeError, ValueError):
            raise BadInput("until", "a number of seconds (until: epoch seconds, for_s: seconds from now)") from None
        if not now < value <= now + self.max_exception_s:
            raise BadInput("until", f"must be in the future and at most admin.max_exception_s "
                                    f"({self.max_exception_s} s) away")
        return value
