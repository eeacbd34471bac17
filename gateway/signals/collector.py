"""The signal collector: plans one request's state ops, then turns the answers into features.

``plan`` lists every read and write the request needs (one ``store.exchange``);
``features`` decodes the answers, in the same order, into the flat feature
mapping named by the catalogue (gateway.signals.features). ``birth_ops``
records how a session was born when the token endpoint issues its token.

Keys follow the store's ``"<entity>#<field>"`` convention:

=================================  =============================================
``s:<session>#birth|ts|loc``        birth record, recent timestamps, last location
``ip:<ip>#acct|sess``               who shares the address (also ``pfx:``, ``asn:<asn>/<class>``,
                                    ``dev:<digest>``, ``tu:<tls digest><ua digest>``)
``a:<account>#...``                 the account's networks, devices, clients, live sessions,
                                    timestamps, active slots, action counters, last location,
                                    recent targets and burst marks
``t:<action>:<target>#acts``        the target's recent actions (lockstep)
=================================  =============================================

Client-controlled parts of keys (session, account, target) that are long or
hold ``#``, ``{`` or ``}`` are replaced by a digest, so keys stay short and
unambiguous. Device ids, TLS fingerprints and user agents are always digested.
"""

from __future__ import annotations

from collections import deque

from gateway.auth.principal import Principal
from gateway.facts import RequestFacts
from gateway.fingerprint.fingerprint import Fingerprint
from gateway.settings import Settings
from gateway.signals import lockstep, provenance, timing, travel
from gateway.signals.context import context_features
from gateway.signals.ops import append, distinct, get, incr, put_if_absent
from gateway.signals.provenance import digest
from gateway.signals.store import Op

MIN = 60.0
M10 = 600.0
M15 = 900.0
HOUR = 3600.0
DAY = 86400.0

SHARING_WINDOWS = (M10, HOUR, DAY)  # <ns>.accounts_10m / _1h / _24h
SESSION_WINDOWS = (HOUR,)  # <ns>.sessions_1h
SHARING_CAP = 128  # distinct accounts/sessions kept per shared key: counts saturate here (rules compare with <= 50)
ACCOUNT_CAP = 64  # distinct ips/prefixes/... kept per account: counts saturate here
DAY_ONLY = (DAY,)
LIVE_ONLY = (M15,)
LIVE_AND_DAY = (M15, DAY)
HOUR_ONLY = (HOUR,)
TIMING_TTL = DAY  # timestamps of a session or account idle for a day are dropped
LOC_TTL = DAY
PENDING_MAX = 4096  # burst marks waiting for the next exchange; past it the oldest are dropped

SHARING_NAMESPACES = ("ip", "prefix", "asn", "device", "tls_ua")
_ACCT_KEYS = tuple(f"{ns}.accounts_{w}" for ns in SHARING_NAMESPACES for w in ("10m", "1h", "24h"))
_SESS_KEYS = tuple(f"{ns}.sessions_1h" for ns in SHARING_NAMESPACES)


def safe(part: str) -> str:
    """A key part from client-controlled text: itself when short and plain, else a digest."""
    if len(part) <= 64 and "#" not in part and "{" not in part and "}" not in part:
        return part
    return "~" + digest(part)


class Plan:
    """One request's ops, and what ``features`` needs to decode their answers."""

    __slots__ = (
        "ops", "out", "ts", "sharing", "i_birth", "i_sess", "i_acct", "i_asn", "i_cc", "i_dev", "i_cli",
        "i_target", "net_class", "asn", "country", "device_digest", "platform", "tls_digest", "client",
        "ua_digest", "lat", "lon", "account_hash", "prefix", "asn_key", "anon", "burst_key", "target_member",
    )

    def __init__(self) -> None:
        self.ops: list[Op] = []


class SignalCollector:
    """Computes every catalogue feature (except model.score) for a request."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.third_party = frozenset(settings.apps.third_party)
        self.first_party = frozenset(settings.apps.first_party)
        self._pending: deque[Op] = deque(maxlen=PENDING_MAX)

    # -- the token endpoint ------------------------------------------------------
    def birth_ops(self, facts: RequestFacts, principal: Principal, fp: Fingerprint) -> list[Op]:
        """Ops that record how the session was born (kept if the session already has a birth)."""
        prefix, asn, net_class, country = provenance.birth_values(
            principal.claims, fp.prefix, fp.asn, fp.net_class, fp.country)
        record = provenance.encode(
            "t", facts.ts, prefix, asn, net_class, country, digest(principal.device_id or fp.device_id),
            fp.ua_platform, digest(fp.tls), principal.client_id, digest(fp.user_agent))
        ops: list[Op] = self._take_pending()
        ops.append(put_if_absent(f"s:{safe(principal.session_id)}#birth", record, provenance.BIRTH_TTL_S))
        return ops

    def _take_pending(self) -> list[Op]:
        pending = self._pending
        if not pending:
            return []
        ops = list(pending)
        pending.clear()
        return ops

    # -- a protected request -----------------------------------------------------
    def plan(self, facts: RequestFacts, principal: Principal, fp: Fingerprint) -> Plan:
        ts = facts.ts
        p = Plan()
        ops = p.ops = self._take_pending()
        p.ts = ts
        device_id = fp.device_id or principal.device_id
        p.out = context_features(facts, principal, fp, device_id, self.third_party, self.first_party)

        account = principal.subject
        sid = principal.session_id
        s_key = "s:" + safe(sid)
        a_key = "a:" + safe(account)
        net_class = fp.net_class
        asn = fp.asn
        country = fp.country
        prefix = fp.prefix
        client = principal.client_id
        device_digest = digest(device_id)
        tls_digest = digest(fp.tls)
        ua_digest = digest(fp.user_agent)
        p.net_class, p.asn, p.country, p.prefix, p.client = net_class, asn, country, prefix, client
        p.device_digest, p.tls_digest, p.ua_digest, p.platform = device_digest, tls_digest, ua_digest, fp.ua_platform
        p.lat, p.lon = fp.lat, fp.lon
        anon = p.anon = net_class in travel.ANONYMIZING

        # Session: birth (first use records one), timestamps, last location.
        p.i_birth = len(ops)
        ops.append(put_if_absent(s_key + "#birth", provenance.encode(
            "u", ts, prefix, asn, net_class, country, device_digest, fp.ua_platform, tls_digest, client, ua_digest),
            provenance.BIRTH_TTL_S))
        loc = travel.encode(ts, fp.lat, fp.lon, net_class)
        ops.append(append(s_key + "#ts", ts, TIMING_TTL, timing.MAX_ACTIONS))
        ops.append(append(s_key + "#loc", loc, LOC_TTL, 1))

        # Sharing: who else is on this address, prefix, ASN (within its class), device, TLS stack.
        asn_key = f"{asn}/{net_class}" if asn is not None else f"-/{net_class}"
        sharing = [("ip", len(ops))]
        ops.append(distinct(f"ip:{fp.ip}#acct", account, ts, SHARING_WINDOWS, DAY, SHARING_CAP))
        ops.append(distinct(f"ip:{fp.ip}#sess", sid, ts, SESSION_WINDOWS, HOUR, SHARING_CAP))
        sharing.append(("prefix", len(ops)))
        ops.append(distinct(f"pfx:{prefix}#acct", account, ts, SHARING_WINDOWS, DAY, SHARING_CAP))
        ops.append(distinct(f"pfx:{prefix}#sess", sid, ts, SESSION_WINDOWS, HOUR, SHARING_CAP))
        if asn is not None:
            sharing.append(("asn", len(ops)))
            ops.append(distinct(f"asn:{asn_key}#acct", account, ts, SHARING_WINDOWS, DAY, SHARING_CAP))
            ops.append(distinct(f"asn:{asn_key}#sess", sid, ts, SESSION_WINDOWS, HOUR, SHARING_CAP))
        if device_digest:
            sharing.append(("device", len(ops)))
            ops.append(distinct(f"dev:{device_digest}#acct", account, ts, SHARING_WINDOWS, DAY, SHARING_CAP))
            ops.append(distinct(f"dev:{device_digest}#sess", sid, ts, SESSION_WINDOWS, HOUR, SHARING_CAP))
        if tls_digest:
            sharing.append(("tls_ua", len(ops)))
            ops.append(distinct(f"tu:{tls_digest}{ua_digest}#acct", account, ts, SHARING_WINDOWS, DAY, SHARING_CAP))
            ops.append(distinct(f"tu:{tls_digest}{ua_digest}#sess", sid, ts, SESSION_WINDOWS, HOUR, SHARING_CAP))
        p.sharing = sharing

        # Account: where it acts from, its live sessions, its timing and travel.
        p.i_acct = len(ops)
        ops.append(distinct(a_key + "#ips", fp.ip, ts, DAY_ONLY, DAY, ACCOUNT_CAP))
        ops.append(distinct(a_key + "#pfx", prefix, ts, LIVE_AND_DAY, DAY, ACCOUNT_CAP))
        ops.append(distinct(a_key + "#sess", sid, ts, LIVE_ONLY, M15, ACCOUNT_CAP))
        ops.append(distinct(a_key + "#cls", net_class, ts, LIVE_ONLY, M15, ACCOUNT_CAP))
        ops.append(append(a_key + "#ts", ts, TIMING_TTL, timing.MAX_ACTIONS))
        ops.append(distinct(a_key + "#slots", str(int(ts // timing.SLOT_S)), ts, timing.HOUR_WINDOWS, DAY,
                            timing.SLOTS_PER_DAY))
        hour_bucket = int(ts // HOUR)
        day_bucket = int(ts // DAY)
        ops.append(incr(f"{a_key}#n1h:{hour_bucket}", 1, 2 * HOUR))
        ops.append(get(f"{a_key}#n1h:{hour_bucket - 1}"))
        ops.append(incr(f"{a_key}#n1d:{day_bucket}", 1, 2 * DAY))
        ops.append(get(f"{a_key}#n1d:{day_bucket - 1}"))
        ops.append(append(a_key + "#loc", loc, LOC_TTL, 1))
        n = len(ops)
        p.i_asn = n if asn is not None else -1
        if asn is not None:
            ops.append(distinct(a_key + "#asns", str(asn), ts, DAY_ONLY, DAY, ACCOUNT_CAP))
            n += 1
        p.i_cc = n if country else -1
        if country:
            ops.append(distinct(a_key + "#cc", country, ts, DAY_ONLY, DAY, ACCOUNT_CAP))
            n += 1
        p.i_dev = n if device_digest else -1
        if device_digest:
            ops.append(distinct(a_key + "#devs", device_digest, ts, DAY_ONLY, DAY, ACCOUNT_CAP))
            n += 1
        p.i_cli = n if client else -1
        if client:
            ops.append(distinct(a_key + "#clis", client, ts, DAY_ONLY, DAY, ACCOUNT_CAP))
            n += 1

        # Lockstep: the target's recent crowd, and the account's recent targets.
        target = facts.target
        if target:
            account_hash = p.account_hash = digest(account)
            p.asn_key = asn_key
            t_member = p.target_member = f"{facts.action or ''}:{target}"
            p.burst_key = a_key + "#bursts"
            p.i_target = n
            ops.append(append("t:" + safe(t_member) + "#acts",
                              lockstep.encode(ts, account_hash, prefix, asn_key, anon),
                              lockstep.WINDOW_S, lockstep.MAX_RECENT))
            ops.append(distinct(a_key + "#tgts", t_member, ts, HOUR_ONLY, HOUR, ACCOUNT_CAP))
            ops.append(distinct(p.burst_key, lockstep.PRESENT, ts, HOUR_ONLY, HOUR, ACCOUNT_CAP))
        else:
            p.i_target = -1
        return p

    def features(self, plan: Plan, values: list) -> dict[str, object]:
        """Every feature computable for the planned request, from the exchange's answers."""
        out = plan.out
        ts = plan.ts

        birth = values[plan.i_birth]
        if birth is None:
            out["session.known"] = False
        else:
            provenance.compare(birth, ts, plan.asn, plan.net_class, plan.country, plan.device_digest,
                               plan.platform, plan.tls_digest, plan.client, plan.ua_digest, out)
        i = plan.i_birth
        timing.gap_features("session", ts, values[i + 1], out)
        travel.travel_features("session", ts, plan.lat, plan.lon, plan.net_class, values[i + 2], out)

        for ns, j in plan.sharing:
            a10, a1h, a24 = values[j]
            out[ns + ".accounts_10m"] = a10
            out[ns + ".accounts_1h"] = a1h
            out[ns + ".accounts_24h"] = a24
            out[ns + ".sessions_1h"] = values[j + 1][0]

        j = plan.i_acct
        out["account.ips_24h"] = values[j][0]
        live_prefixes, prefixes = values[j + 1]
        out["account.prefixes_24h"] = prefixes
        out["account.live_prefixes"] = live_prefixes
        out["account.live_sessions"] = values[j + 2][0]
        out["account.live_classes"] = values[j + 3][0]
        previous = values[j + 4]
        timing.gap_features("account", ts, previous, out)
        out["account.actions_1m"] = timing.actions_within(ts, previous, MIN)
        timing.hour_features(values[j + 5], out)
        out["account.actions_1h"] = _sliding(ts, HOUR, values[j + 6], values[j + 7])
        out["account.actions_24h"] = _sliding(ts, DAY, values[j + 8], values[j + 9])
        travel.travel_features("account", ts, plan.lat, plan.lon, plan.net_class, values[j + 10], out)
        if plan.i_asn >= 0:
            out["account.asns_24h"] = values[plan.i_asn][0]
        if plan.i_cc >= 0:
            out["account.countries_24h"] = values[plan.i_cc][0]
        if plan.i_dev >= 0:
            out["account.devices_24h"] = values[plan.i_dev][0]
        if plan.i_cli >= 0:
            out["account.clients_24h"] = values[plan.i_cli][0]

        k = plan.i_target
        if k >= 0:
            in_burst = lockstep.target_features(ts, plan.account_hash, plan.prefix, plan.asn_key, plan.anon,
                                                values[k], out, plan.target_member)
            lockstep.burst_features(values[k + 1][0], values[k + 2][0], in_burst, out)
            if in_burst:
                # Known only now; written with the next exchange (this replica's next request).
                self._pending.append(distinct(plan.burst_key, plan.target_member, ts, HOUR_ONLY, HOUR, ACCOUNT_CAP))
        return out


def _sliding(ts: float, width: float, current: object, previous: object) -> int:
    """Sliding-window count from fixed buckets: this bucket plus the previous one's uncovered part."""
    cur = int(current or 0)
    prev = int(previous or 0)
    if not prev:
        return cur
    covered = (ts % width) / width
    return cur + int(prev * (1.0 - covered) + 0.5)
