"""The signal collector: plans one request's state ops, then turns the answers into features.

``plan`` lists the request's ops, one per entity it touches (one
``store.exchange``); ``features`` decodes the answers, in the same order, into
the flat feature mapping named by the catalogue (gateway.signals.catalogue).
``birth_ops`` records how a session was born when the token endpoint issues
its token. Writes that are only known after the answers (a target found in a
burst, a sticky decision) wait in ``pending`` and travel with the next
exchange, so a request stays one round trip (the engine may send them sooner,
off the request path).

What is computed: a ``Demand`` names the features someone reads for a kind of
action (the engine builds one per action kind from the loaded rules and
model). The families of ``FAMILIES`` (the birth comparison, timing, hours,
travel) are computed only when one of their features is read; the rest costs
an assignment each, or its work teaches the state something, and is always
done.

What is kept: every entity is read and updated on every request whatever the
rules read, and so are the burst marks, crowd marks and peers learned from the
answers. The state is write-only where nobody reads it today, so a rule
loaded later (a hot reload, a deploy, another replica) reads windows as full
as they would be had it always been loaded, and a count it compares with
``<`` is never low because nobody kept it.

Entity keys (gateway.state.store):

=====================================  =========================================
``s:<session>``                         birth, recent action times, last location
``a:<account>``                         networks, devices, clients, live sessions,
                                        targets and burst marks; times, active
                                        slots, hour/day counts, last location
``ip:<ip>``, ``pfx:<prefix>``,          who shares the address, prefix, ASN (within
``asn:<asn>/<class>``, ``dev:<d>``,     its class), device, TLS stack + user agent
``tu:<tls d><ua d>``
``t:<action>:<target>``                 the target's recent actions (lockstep)
``c:<action>:<target>``                 the target's crowd: the sessions on it today
=====================================  =========================================

Client-controlled parts of keys (session, account, target) that are long or
hold ``#``, ``{`` or ``}`` are replaced by a digest, so keys stay short and
unambiguous. Device ids, TLS fingerprints and user agents are always digested.
Sticky decisions live on the session, account, device, prefix and IP entities.

The crowd: a pool of accounts run by one farm or ring turns up together,
target after target, however slowly and from wherever it acts. Each target
keeps the sessions that acted on it over the last day; each account keeps the
sessions it met on its recent *small* targets (a crowd below ``CROWD_CAP``: a
popular post's crowd says nothing), its *peers*, in the order first met. The
known crowd is the part of this target's crowd already among the peers. Peers
and crowd marks are learned after the answers, so they travel with the next
exchange, like burst marks.
"""

from __future__ import annotations

from collections import deque

from gateway.auth.principal import Principal
from gateway.facts import RequestFacts
from gateway.fingerprint.apps import client_ids, server_client_ids
from gateway.fingerprint.fingerprint import Fingerprint
from gateway.settings import Settings
from gateway.signals import lockstep, provenance, timing, travel
from gateway.signals.app_claims import app_features
from gateway.signals.context import context_features
from gateway.state.keys import (
    ACCOUNT_PREFIX,
    ASN_PREFIX,
    CROWD_PREFIX,
    DEVICE_PREFIX,
    IP_PREFIX,
    NET_PREFIX,
    SESSION_PREFIX,
    TARGET_PREFIX,
    TLS_UA_PREFIX,
    digest,
    safe,
)
from gateway.state.store import (
    ACCOUNT_KINDS,
    ACCOUNT_WINDOWS,
    CROWD_CAP,
    DAY,
    HOUR,
    LIVE,
    MINUTE,
    SHARED_CAP,
    Account,
    Birth,
    Crowd,
    Mark,
    Op,
    Peers,
    Session,
    Shared,
    Target,
)

SHARING_NAMESPACES = ("ip", "prefix", "asn", "device", "tls_ua")
SHARING_CAP = SHARED_CAP
_SHARING_KEYS = {ns: (f"{ns}.accounts_10m", f"{ns}.accounts_1h", f"{ns}.accounts_24h", f"{ns}.sessions_1h")
                 for ns in SHARING_NAMESPACES}
STICKY_SCOPES = ("session", "account", "device", "prefix", "ip", "crowd")  # crowd: the session and its known crowd
CROWD_MIN = 4  # known sessions on a target that make it a crowd mark for the account


def _count_index(kind: str, window: float) -> int:
    """Where the Account op's answer counts ``kind`` over ``window`` (its counts are flat, kind by kind)."""
    i = ACCOUNT_KINDS.index(kind)
    return sum(len(w) for w in ACCOUNT_WINDOWS[:i]) + ACCOUNT_WINDOWS[i].index(window)


_IPS_24H, _PREFIXES_LIVE = _count_index("ip", DAY), _count_index("prefix", LIVE)
_PREFIXES_24H = _count_index("prefix", DAY)
_SESSIONS_LIVE, _CLASSES_LIVE = _count_index("session", LIVE), _count_index("class", LIVE)
_ASNS_24H, _COUNTRIES_24H = _count_index("asn", DAY), _count_index("country", DAY)
_DEVICES_24H, _CLIENTS_24H = _count_index("device", DAY), _count_index("client", DAY)
_TARGETS_1H, _TARGETS_24H = _count_index("target", HOUR), _count_index("target", DAY)
_BURSTS_1H, _CROWDS_24H = _count_index("burst", HOUR), _count_index("crowd", DAY)
BORN_MAX = 65_536  # sessions remembered as having a birth; past it the table starts over
PENDING_MAX = 4096  # writes waiting for the next exchange; past it the oldest are dropped

_TIMING = ("gaps", "gap_median_s", "gap_min_s", "gap_cv", "burstiness", "regular_share")
_TRAVEL = ("prev_class", "travel_anonymized", "travel_km", "speed_kmh")
# The collector's optional work, by family: computed when a reader wants any of its features.
FAMILIES: dict[str, tuple[str, ...]] = {
    "birth": tuple(f"session.{n}" for n in (
        "birth_observed", "age_s", "born_class", "born_country", "asn_changed", "class_changed", "country_changed",
        "device_changed", "platform_changed", "tls_changed", "client_changed", "ua_changed")),
    "session_timing": tuple(f"session.{n}" for n in _TIMING),
    "session_travel": tuple(f"session.{n}" for n in _TRAVEL),
    "account_timing": tuple(f"account.{n}" for n in _TIMING),
    "account_hours": ("account.hour_entropy", "account.active_hours_24h"),
    "account_travel": tuple(f"account.{n}" for n in _TRAVEL),
}


class Demand:
    """Which optional families a request computes: those with a feature in ``features`` (None: every one)."""

    __slots__ = ("features", *FAMILIES)

    def __init__(self, features: frozenset[str] | None = None) -> None:
        self.features = features
        for family, names in FAMILIES.items():
            setattr(self, family, features is None or not features.isdisjoint(names))

    def skipped(self) -> list[str]:
        """The families this demand leaves out."""
        return [family for family in FAMILIES if not getattr(self, family)]

    def __repr__(self) -> str:
        return f"Demand(skips {', '.join(self.skipped()) or 'nothing'})"


EVERYTHING = Demand()


class Plan:
    """One request's ops, and what ``features`` needs to decode their answers."""

    __slots__ = (
        "ops", "out", "ts", "sharing", "i_account", "i_target", "net_class", "asn", "country", "device_digest",
        "platform", "tls_digest", "client", "ua_digest", "lat", "lon", "account_hash", "prefix", "asn_key", "anon",
        "account_key", "target_member", "scope_keys", "i_session", "i_crowd", "known", "demand",
    )


class SignalCollector:
    """Computes the catalogue features (except model.score) a request's readers ask for."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.first_party, self.third_party = client_ids(settings.apps)
        self.registered = self.first_party | self.third_party
        self.server_side = server_client_ids(settings.apps)
        self.action_scopes = settings.auth.action_scopes
        self.pending: deque[Op] = deque(maxlen=PENDING_MAX)
        # Sessions whose birth the store has answered with: their requests need not
        # carry a first-use birth record (formatting one costs more than the rest of the op).
        self._born: dict[str, None] = {}
        self._windows: dict = {}  # hot targets' lockstep counts, followed from read to read (gateway.signals.lockstep)

    def defer(self, op: Op) -> None:
        """Send ``op`` with the next exchange (a write known only after this one)."""
        self.pending.append(op)

    def take_pending(self) -> list[Op]:
        pending = self.pending
        if not pending:
            return []
        ops = list(pending)
        pending.clear()
        return ops

    # -- the token endpoint ------------------------------------------------------
    def birth_ops(self, facts: RequestFacts, principal: Principal, fp: Fingerprint) -> list[Op]:
        """Ops that record how the session was born (kept if the session already has a birth)."""
        prefix, asn, net_class, country = provenance.birth_values(
            principal.claims, fp.prefix, fp.asn, fp.net_class, fp.country)
        record = provenance.encode(
            "t", facts.ts, prefix, asn, net_class, country, digest(principal.device_id or fp.device_id),
            fp.ua_platform, digest(fp.tls), principal.client_id, digest(fp.user_agent))
        ops = self.take_pending()
        ops.append(Birth(SESSION_PREFIX + safe(principal.session_id), record))
        return ops

    # -- a protected request -----------------------------------------------------
    def plan(self, facts: RequestFacts, principal: Principal, fp: Fingerprint, demand: Demand = EVERYTHING) -> Plan:
        """The request's ops: pending writes first, then session, shared entities, account, target.

        ``demand``: the features ``features`` is to compute (every one by default); the ops are the same.
        """
        ts = facts.ts
        p = Plan()
        p.demand = demand
        ops = p.ops = self.take_pending()
        p.ts = ts
        device_id = fp.device_id or principal.device_id
        p.out = context_features(facts, principal, fp, device_id, self.third_party, self.first_party,
                                 self.action_scopes)
        app_features(fp, principal.client_id, self.registered, self.server_side, p.out)

        account = principal.subject
        sid = principal.session_id
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
        loc = travel.encode(ts, fp.lat, fp.lon, net_class)

        # Session: birth (first use records one), times, last location.
        s_key = SESSION_PREFIX + safe(sid)
        a_key = p.account_key = ACCOUNT_PREFIX + safe(account)
        ip_key = IP_PREFIX + fp.ip
        pfx_key = NET_PREFIX + prefix
        dev_key = DEVICE_PREFIX + device_digest if device_digest else None
        p.i_session = len(ops)
        first_use = "" if s_key in self._born else provenance.encode(
            "u", ts, prefix, asn, net_class, country, device_digest, fp.ua_platform, tls_digest, client, ua_digest)
        ops.append(Session(s_key, first_use, loc, prefix, device_digest, net_class == "residential"))

        # Sharing: who else is on this address, prefix, ASN (within its class), device, TLS stack.
        asn_key = f"{asn}/{net_class}" if asn is not None else f"-/{net_class}"
        sharing = p.sharing = [("ip", len(ops))]
        ops.append(Shared(ip_key, account, sid))
        sharing.append(("prefix", len(ops)))
        ops.append(Shared(pfx_key, account, sid))
        if asn is not None:
            sharing.append(("asn", len(ops)))
            ops.append(Shared(ASN_PREFIX + asn_key, account, sid))
        if dev_key is not None:
            sharing.append(("device", len(ops)))
            ops.append(Shared(dev_key, account, sid))
        if tls_digest:
            sharing.append(("tls_ua", len(ops)))
            ops.append(Shared(TLS_UA_PREFIX + tls_digest + ua_digest, account, sid))

        # Account: where it acts from, its live sessions, its timing and travel, its targets.
        target = facts.target
        t_member = f"{facts.action or ''}:{target}" if target else ""
        p.i_account = len(ops)
        ops.append(Account(a_key, (
            fp.ip, prefix, sid, net_class, "" if asn is None else str(asn), country or "", device_digest,
            client or "", t_member, "", ""), loc))

        # Lockstep: the target's recent crowd.
        if target:
            p.account_hash = digest(account)
            p.asn_key = asn_key
            p.target_member = t_member
            p.i_target = len(ops)
            ops.append(Target(TARGET_PREFIX + safe(t_member), lockstep.encode(ts, p.account_hash, prefix, asn_key, anon)))
            p.i_crowd = len(ops)
            ops.append(Crowd(CROWD_PREFIX + safe(t_member), s_key))
        else:
            p.i_target = p.i_crowd = -1
        p.known = ()
        p.scope_keys = (s_key, a_key, dev_key, pfx_key, ip_key)  # in STICKY_SCOPES order
        return p

    def features(self, plan: Plan, values: list) -> dict[str, object]:
        """The features the plan's demand asks for (and the cheap ones), from the exchange's answers."""
        out = plan.out
        ts = plan.ts
        demand = plan.demand
        i = plan.i_session
        birth, times, loc, _, moves, switches = values[i]
        out["session.fixed_line_moves_24h"] = moves
        out["session.device_switches_24h"] = switches
        key = plan.ops[i].key
        if birth is None:
            out["session.known"] = False
            self._born.pop(key, None)  # the store lost it (evicted, flushed): send a first-use birth again
        else:
            if key not in self._born:
                if len(self._born) >= BORN_MAX:
                    self._born.clear()
                self._born[key] = None
            if demand.birth:
                provenance.compare(birth, ts, plan.asn, plan.net_class, plan.country, plan.device_digest,
                                   plan.platform, plan.tls_digest, plan.client, plan.ua_digest, out)
        if demand.session_timing:
            timing.gap_features("session", ts, times, out)
        if demand.session_travel:
            travel.travel_features("session", ts, plan.lat, plan.lon, plan.net_class, loc, out)

        for ns, j in plan.sharing:
            k10, k1h, k24, ks = _SHARING_KEYS[ns]
            a10, a1h, a24, s1h, _ = values[j]
            out[k10] = a10
            out[k1h] = a1h
            out[k24] = a24
            out[ks] = s1h

        counts, times, hours, hour_n, hour_prev, day_n, day_prev, loc, peers, _ = values[plan.i_account]
        out["account.ips_24h"] = counts[_IPS_24H]
        out["account.live_prefixes"] = counts[_PREFIXES_LIVE]
        out["account.prefixes_24h"] = counts[_PREFIXES_24H]
        out["account.live_sessions"] = counts[_SESSIONS_LIVE]
        out["account.live_classes"] = counts[_CLASSES_LIVE]
        if plan.asn is not None:
            out["account.asns_24h"] = counts[_ASNS_24H]
        if plan.country:
            out["account.countries_24h"] = counts[_COUNTRIES_24H]
        if plan.device_digest:
            out["account.devices_24h"] = counts[_DEVICES_24H]
        if plan.client:
            out["account.clients_24h"] = counts[_CLIENTS_24H]
        if demand.account_timing:
            timing.gap_features("account", ts, times, out)
        out["account.actions_1m"] = timing.actions_within(ts, times, MINUTE)
        if demand.account_hours:
            timing.hour_features(hours, out)
        out["account.actions_1h"] = _sliding(ts, HOUR, hour_n, hour_prev)
        out["account.actions_24h"] = _sliding(ts, DAY, day_n, day_prev)
        out["account.targets_24h"] = counts[_TARGETS_24H]
        if demand.account_travel:
            travel.travel_features("account", ts, plan.lat, plan.lon, plan.net_class, loc, out)

        k = plan.i_target
        if k >= 0:
            in_burst = lockstep.target_features(ts, plan.account_hash, plan.prefix, plan.asn_key, plan.anon,
                                                values[k], out, plan.target_member, self._windows)
            lockstep.burst_features(counts[_TARGETS_1H], counts[_BURSTS_1H], in_burst, out)
            if in_burst:
                # Known only now; written with the next exchange (this replica's next request).
                self.pending.append(Mark(plan.account_key, plan.target_member))
            self._crowd(plan, values[plan.i_crowd], peers, counts[_CROWDS_24H], out)
        return out

    def _crowd(self, plan: Plan, crowd: list[str] | None, peers: list[str], marked: int, out: dict) -> None:
        """The target's crowd today, the part of it this account met before, and what the account learns."""
        if crowd is None:  # full: a popular target's crowd says nothing
            out["target.crowd_24h"] = CROWD_CAP
            out["account.crowd_known"] = 0
            out["account.crowd_targets_24h"] = marked
            return
        me = plan.ops[plan.i_session].key
        others = [m for m in crowd if m != me]
        out["target.crowd_24h"] = len(others)
        # On a target this session already acted on today, the crowd is already among
        # the peers: a second visit counts and teaches nothing.
        small = len(others) == len(crowd)
        known: list[str] = []
        new = others
        if small and others and peers:
            met = set(peers)
            known = [m for m in others if m in met]
            if known:
                new = [m for m in others if m not in met]
        plan.known = known
        out["account.crowd_known"] = len(known)
        if len(known) >= CROWD_MIN:
            marked += 1  # this target too (its mark is written with the next exchange)
            self.pending.append(Mark(plan.account_key, plan.target_member, "crowd"))
        out["account.crowd_targets_24h"] = marked
        if small and new:  # peers in the order first met; the store keeps the last PEERS_MAX
            self.pending.append(Peers(plan.account_key, (*peers, *new)))

    @staticmethod
    def stickies(plan: Plan, values: list) -> list[tuple[str, str]]:
        """The live sticky decisions on the request's entities, as (scope, decision record)."""
        found = []
        i = plan.i_session
        session, account = values[i][3], values[plan.i_account][-1]
        if session:
            found.append(("session", session))
        if account:
            found.append(("account", account))
        for ns, j in plan.sharing:
            if ns in ("device", "prefix", "ip") and (raw := values[j][4]):
                found.append((ns, raw))
        return found

    @staticmethod
    def sticky_keys(plan: Plan, scope: str) -> list[str]:
        """The entities a sticky decision on ``scope`` is pinned to, for this request.

        ``crowd``: this session and the sessions of its known crowd (they move together).
        """
        if scope == "crowd":
            return [plan.scope_keys[0], *plan.known]
        key = plan.scope_keys[STICKY_SCOPES.index(scope)]
        return [key] if key else []


def _sliding(ts: float, width: float, current: int, previous: int) -> int:
    """Sliding-window count from fixed buckets: this bucket plus the previous one's uncovered part."""
    if not previous:
        return current
    covered = (ts % width) / width
    return current + int(previous * (1.0 - covered) + 0.5)
