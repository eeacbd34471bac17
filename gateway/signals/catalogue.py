"""The feature catalogue: every value rules, the model and the decision log can name.

One registry. Rules are type-checked against it when a pack loads, the model
is trained on (and refuses artifacts not made from) it, the decision log
records it, ``gateway features`` prints it and the README's feature reference
is generated from it.

Missing values. A feature can be absent for a request (no GeoIP database, the
first request of a session, no device header). Absent features are simply not
in the request's feature mapping. In a rule condition, any comparison or
function involving an absent value is false, ``!`` of such a comparison is
true only if written as ``!has(x)``; ``has(x)`` tests presence. Nothing ever
raises at request time. The model reads an absent number as its documented
``default``.

Ranges. A number's ``min``/``max`` are the bounds its computation can produce
(a count is never negative, a capped count saturates at its cap, a share lies
in 0..1), set only where the code guarantees them. Rule packs are checked
against them: a comparison no value in range can satisfy, or an inline test
feeding a value out of range, is an error at load.

Definitions. Windows are fixed per feature so a rule names exactly one: ``ip.accounts_1h``.
The signal code that computes each lives in gateway.signals (collector: the
plan and the decoding; context, provenance, timing, travel, lockstep: one
family each); keep this list and that code in step (tests/test_catalogue.py
checks every feature is produced, with its type).

Bounds and their one-sided errors: distinct counts saturate at their caps
(shared infrastructure 128, per account 64); timing reads the last 32
actions; a target's lockstep figures read its newest 32 actions;
``account.actions_1h``/``_24h`` are sliding estimates from fixed buckets
(this bucket plus the uncovered part of the previous one).

Ranges (``min``/``max``) follow from that code and the store's contract
(gateway.state.store): a count "this request's included" is at least 1, a
capped one at most its cap, a share within 0..1. Rules are checked against
them at load, so set one only where the code guarantees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import log2, pi

from gateway.fingerprint import EXPECTED_HEADERS
from gateway.fingerprint.net_class import NET_CLASSES
from gateway.signals.lockstep import MAX_RECENT
from gateway.signals.travel import EARTH_RADIUS_KM, MIN_DT_S
from gateway.state.store import ACCOUNT_CAP, CROWD_CAP, HOURS, MOVES_MAX, SHARED_CAP, TIMES_MAX

# Types a feature can have, as rule authors write them.
TYPES = ("bool", "int", "float", "string", "list")

# Cost classes: how a feature is obtained, for people budgeting latency.
COSTS = ("request", "lookup", "state")


@dataclass(frozen=True, slots=True)
class Feature:
    name: str  # dotted: namespace.what_window, e.g. ip.accounts_1h
    type: str  # one of TYPES
    window: str  # "" for point-in-time, else e.g. "10m", "1h", "24h", "last 32 actions"
    meaning: str  # one sentence a security engineer can act on
    cost: str  # "request" (parsed from the request), "lookup" (cached GeoIP/UA), "state" (state store)
    default: float | None = None  # what the model reads when the value is absent
    min: float | None = None  # the least value the computation can produce (None: unbounded or unknown)
    max: float | None = None  # the greatest, e.g. a capped count's cap

    def in_range(self, value: float) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    @property
    def range_text(self) -> str:
        """The documented range as people read it: ``0..1``, ``>= 0``, or ``""`` when unknown."""
        if self.min is not None and self.max is not None:
            return f"{number_text(self.min)}..{number_text(self.max)}"
        if self.min is not None:
            return f">= {number_text(self.min)}"
        if self.max is not None:
            return f"<= {number_text(self.max)}"
        return ""


def number_text(value: float) -> str:
    """A bound as written in a rule: 33, 0.5, 4.584962501."""
    return f"{value:.10g}"


CATALOGUE_VERSION = "1"

_REGISTRY: dict[str, Feature] = {}


def register(name: str, type: str, window: str, meaning: str, cost: str, default: float | None = None,
             *, min: float | None = None, max: float | None = None) -> Feature:
    if type not in TYPES:
        raise ValueError(f"feature {name}: type {type!r} is not one of {TYPES}")
    if cost not in COSTS:
        raise ValueError(f"feature {name}: cost {cost!r} is not one of {COSTS}")
    if name in _REGISTRY:
        raise ValueError(f"feature {name} is registered twice")
    if (min is not None or max is not None) and type not in ("int", "float"):
        raise ValueError(f"feature {name}: only numbers have a range, not {type}")
    if min is not None and max is not None and min > max:
        raise ValueError(f"feature {name}: min {min} is above max {max}")
    f = Feature(name, type, window, meaning, cost, default, min, max)
    _REGISTRY[name] = f
    return f


def all_features() -> list[Feature]:
    return sorted(_REGISTRY.values(), key=lambda f: f.name)


def names() -> frozenset[str]:
    return frozenset(_REGISTRY)


def lookup(name: str) -> Feature | None:
    return _REGISTRY.get(name)


r = register

SHARE = {"min": 0.0, "max": 1.0}
HALF_CIRCLE_KM = pi * EARTH_RADIUS_KM  # the farthest two points on Earth are apart (haversine's maximum)

# --- context: read from this request alone -------------------------------------
r("action", "string", "", "The route's action kind: like, follow, comment, login, ...", "request")
r("target", "string", "", "The media or user acted on (the route's target parameter).", "request")
r("account.id", "string", "", "The acting account (the token's subject).", "request")
r("client_id", "string", "", "The client/app id the token was issued to.", "request")
r("app.third_party", "bool", "", "The client id is a registered third-party app's (a third_party app in apps.clients, or apps.third_party).", "request")
r("app.first_party", "bool", "", "The client id is one of the platform's own apps' (a first_party app in apps.clients, or apps.first_party).", "request")
r("client.registered", "bool", "", "The client id is a known app's, first or third party; false: a token issued to a client the config does not name.", "request")
r("app.server_side", "bool", "", "The client id is a described app that acts from its servers (server among its platforms in apps.clients): its requests come from datacenters by design.", "request")
r("token.kind", "string", "", "The token kind: jwt or opaque.", "request")
r("token.age_s", "float", "", "Seconds since the token was issued (iat).", "request", min=0)  # clamped at 0
r("token.bound", "bool", "", "The token is sender-constrained (cnf.jkt, RFC 9449 DPoP).", "request")
r("token.dpop_valid", "bool", "", "A valid DPoP proof came with a bound token (false: bound but unproven).", "request")
r("token.scopes", "list", "", "The OAuth scopes the token grants (its scope or scp claim); absent when it names none.", "request")
r("token.scope_ok", "bool", "",
  "The token grants the scope auth.action_scopes asks for this action; absent when the action needs none or the "
  "token names no scopes.", "request")
r("app.out_of_scope", "bool", "",
  "A registered third-party app's token used for an action its scopes do not grant (e.g. a read-only partner "
  "liking): the app, or someone holding its token, acts beyond what the person consented to.", "request")
r("net.ip", "string", "", "The client IP (behind trusted proxies only); use with inCidr().", "request")
r("net.prefix", "string", "", "The client's /24 (IPv4) or /64 (IPv6) prefix.", "request")
r("net.class", "string", "", "Network class: hosting, vpn, tor, mobile, residential or unknown.", "lookup")
r("net.asn", "int", "", "Autonomous system number of the client IP.", "lookup")
r("net.as_org", "string", "", "Organisation that holds the ASN.", "lookup")
r("net.country", "string", "", "ISO country code of the client IP.", "lookup")
r("net.anonymizer", "bool", "", "The class is hosting, vpn or tor: the IP hides where the person is.", "lookup")
r("net.residential_proxy", "bool", "",
  "The anonymous-IP database flags the address as a residential proxy exit. A real home line whose owner may also "
  "use the platform, and the databases cover such exits only in part: weigh it, never decide on it alone.", "lookup")
r("ua.family", "string", "", "User agent family: app (one of apps.clients: its pattern matched, or it starts with the app's name), browser, http-library, automation or unknown.", "lookup")
r("ua.platform", "string", "", "Platform the user agent claims: android, ios, windows, macos, linux, web or unknown.", "lookup")
r("ua.official_app", "bool", "", "The user agent matches one of a first-party app's user_agents patterns, on a platform the app ships on.", "lookup")
r("ua.app", "string", "", "The described app (apps.clients name) the user agent matches or claims by name; absent for other clients.", "lookup")
r("ua.app_version", "string", "", "The app version the user agent states (its pattern's version group).", "lookup")
r("app.version_age", "int", "",
  "Major versions the user agent's app version is behind the app's versions.current (first numbers subtracted; 0 at "
  "or past it). Apps that ship a major a week read it as weeks. Absent without versions.current.", "lookup", 0, min=0)
r("app.version_impossible", "bool", "",
  "The stated app version is older than versions.minimum or newer than versions.current: no phone runs it, a "
  "frozen string automation gives itself. Absent without version bounds.", "lookup")
r("tls.fingerprint", "string", "", "The TLS fingerprint (JA3/JA4) the edge proxy saw.", "request")
r("tls.platform", "string", "", "Stack the TLS fingerprint is known on: android, ios, browser or library (apps.clients tls, web as browser, and apps.tls_platforms); the claimed platform when it is one of several.", "lookup")
r("tls.consistent", "bool", "",
  "The TLS fingerprint is one the claimed client uses: for an app, one of its tls fingerprints for the platform the "
  "user agent claims; for a browser a browser stack; absent without a TLS header or when no table speaks to it.", "lookup")
r("headers.missing", "int", "", "How many headers every real client sends are missing (accept, accept-language, user-agent).", "request",
  min=0, max=len(EXPECTED_HEADERS))
r("device.id", "string", "", "Device id from the trusted device header or the token's device claim.", "request")

# --- session birth: compared with how the token was issued ----------------------
r("session.known", "bool", "", "A birth record exists: seen at the token endpoint or recorded at an earlier use; false on the first use of a session never seen born.", "state")
r("session.birth_observed", "bool", "", "The birth was seen at the token endpoint (false: recorded at the session's first use, so comparisons start there).", "state")
r("session.age_s", "float", "", "Seconds since the session was born.", "state", min=0)  # clamped at 0
r("session.born_class", "string", "", "Network class the session was born on.", "state")
r("session.born_country", "string", "", "Country the session was born in.", "state")
r("session.device_changed", "bool", "", "Device id differs from the one the session was born with.", "state")
r("session.ua_changed", "bool", "", "User agent differs from the one the session was born with.", "state")
r("session.platform_changed", "bool", "", "Claimed platform differs from the one the session was born with.", "state")
r("session.tls_changed", "bool", "", "TLS fingerprint differs from the one the session was born with.", "state")
r("session.class_changed", "bool", "", "Network class differs from birth (e.g. born mobile, used from hosting).", "state")
r("session.asn_changed", "bool", "", "ASN differs from birth.", "state")
r("session.country_changed", "bool", "", "Country differs from birth.", "state")
r("session.client_changed", "bool", "", "Client/app id differs from the one the session was born with.", "state")
r("session.fixed_line_moves_24h", "int", "24h",
  "Times the session, on one device, switched from one residential /24 or /64 to another within 30 minutes of its "
  "previous action, both ends residential (saturates at 16): a residential-proxy pool rotating exits. Home to cafe "
  "is one move; mobile data and anonymizers never count.", "state", 0, min=0, max=MOVES_MAX)
r("session.device_switches_24h", "int", "24h",
  "Times the session's device id changed from one action to the next (saturates at 16): one token used by two "
  "devices in turn, a stolen or exported token next to its owner's. A session lives on the device it was issued "
  "to; without a device id nothing counts.", "state", 0, min=0, max=MOVES_MAX)

# --- sharing: how many identities share one piece of infrastructure ------------
for ns, what in (
    ("ip", "client IP"),
    ("prefix", "/24 or /64 prefix"),
    ("asn", "ASN within this network class"),
    ("device", "device id"),
    ("tls_ua", "TLS fingerprint plus user agent"),
):
    for w in ("10m", "1h", "24h"):
        r(f"{ns}.accounts_{w}", "int", w, f"Distinct accounts seen on this {what} (saturates at 128).", "state", 0,
          min=1, max=SHARED_CAP)
    r(f"{ns}.sessions_1h", "int", "1h", f"Distinct sessions seen on this {what} (saturates at 128).", "state", 0,
      min=1, max=SHARED_CAP)
for what, w in (("ips", "24h"), ("prefixes", "24h"), ("asns", "24h"), ("countries", "24h"), ("devices", "24h"), ("clients", "24h")):
    r(f"account.{what}_{w}", "int", w, f"Distinct {what} this account acted from (saturates at 64).", "state", 1,
      min=1, max=ACCOUNT_CAP)
r("account.live_sessions", "int", "15m", "Sessions of this account active in the last 15 minutes.", "state", 1,
  min=1, max=ACCOUNT_CAP)
r("account.live_prefixes", "int", "15m", "Distinct prefixes the account's live sessions act from.", "state", 1,
  min=1, max=ACCOUNT_CAP)
r("account.live_classes", "int", "15m", "Distinct network classes the account's live sessions act from.", "state", 1,
  min=1, max=len(NET_CLASSES))

# --- timing: how regular, how tireless ------------------------------------------
for ns in ("session", "account"):
    r(f"{ns}.gaps", "int", "last 32 actions", f"Gaps the {ns} timing features are computed from.", "state", 0, min=0, max=TIMES_MAX)
    r(f"{ns}.gap_median_s", "float", "last 32 actions", "Median seconds between actions.", "state", 3600, min=0)  # negative gaps count as 0
    r(f"{ns}.gap_cv", "float", "last 32 actions", "Coefficient of variation of the gaps (0: metronome).", "state", 1, min=0)
    r(f"{ns}.burstiness", "float", "last 32 actions", "B = (CV-1)/(CV+1): -1 regular, 0 random, near 1 bursty like people.", "state", 0,
      min=-1, max=1)
    r(f"{ns}.regular_share", "float", "last 32 actions", "Share of gaps within 10% of the median gap.", "state", 0, **SHARE)
    r(f"{ns}.gap_min_s", "float", "last 32 actions", "Shortest gap between two actions.", "state", 3600, min=0)
r("account.hour_entropy", "float", "24h", "Shannon entropy (bits) of the account's activity over the last 24 hours, hour by hour, counted in active 10-minute slots; 24/7 bots near 4.58.", "state", 0, min=0, max=log2(HOURS))
r("account.active_hours_24h", "int", "24h", "Distinct hours of the day with actions in the last day.", "state", 0,
  min=1, max=HOURS)
r("account.actions_1m", "int", "1m", "Actions by this account in the last minute (from its last 32 timestamps: saturates at 33).", "state", 0,
  min=1, max=TIMES_MAX + 1)
r("account.actions_1h", "int", "1h", "Actions by this account in the last hour (sliding estimate from hourly counters).", "state", 0, min=1)
r("account.actions_24h", "int", "24h", "Actions by this account in the last day (sliding estimate from daily counters).", "state", 0, min=1)

# --- travel: speed between consecutive uses --------------------------------------
for ns in ("session", "account"):
    r(f"{ns}.travel_km", "float", "previous use", "Great-circle km from the previous use.", "state", 0, min=0, max=HALF_CIRCLE_KM)
    r(f"{ns}.speed_kmh", "float", "previous use", "Speed in km/h needed to get here from the previous use (over at least a minute).", "state", 0,
      min=0, max=HALF_CIRCLE_KM * 3600 / MIN_DT_S)
    r(f"{ns}.prev_class", "string", "previous use", "Network class of the previous use.", "state")
    r(f"{ns}.travel_anonymized", "bool", "previous use", "Either end of the hop is hosting, vpn or tor (a VPN hop, not a flight).", "state")

# --- lockstep: many accounts on one target at once -------------------------------
r("target.actions_5m", "int", "5m", "Actions on this target in the last 5 minutes (over its newest 32: saturates at 33).", "state", 0,
  min=1, max=MAX_RECENT + 1)
r("target.accounts_5m", "int", "5m", "Distinct accounts acting on this target in the last 5 minutes (among its newest 33 actions).", "state", 0,
  min=1, max=MAX_RECENT + 1)
r("target.anonymized_share_5m", "float", "5m", "Share of the target's recent actions from hosting, vpn or tor.", "state", 0, **SHARE)
r("target.top_prefix_share_5m", "float", "5m", "Share of the target's recent actions from its busiest prefix.", "state", 0, **SHARE)
r("target.top_asn_share_5m", "float", "5m", "Share of the target's recent actions from its busiest ASN.", "state", 0, **SHARE)
r("account.burst_targets_1h", "int", "1h", "Distinct targets this account acted on in the last hour that were in a lockstep burst when it acted (thresholds: gateway.signals.lockstep).", "state", 0,
  min=0, max=ACCOUNT_CAP)
r("account.burst_share_1h", "float", "1h", "Share of the distinct targets this account acted on in the last hour that were in lockstep bursts.", "state", 0, **SHARE)

# --- crowd: the same pool of sessions, target after target ------------------------
r("target.crowd_24h", "int", "24h", "Other sessions that acted on this target in the last day (saturates at 64: a fuller crowd is a popular target's).", "state", 0,
  min=0, max=CROWD_CAP)
r("account.crowd_known", "int", "24h", "Sessions in this target's crowd that this account already met on its recent small targets (its peers; 0 on a popular target).", "state", 0,
  min=0, max=CROWD_CAP - 1)  # a crowd below its cap, without this session
r("account.crowd_targets_24h", "int", "24h", "Distinct targets this account acted on in the last day where it met at least 4 known sessions (this one included).", "state", 0,
  min=0, max=ACCOUNT_CAP + 1)  # the marked ones plus this one
r("account.targets_24h", "int", "24h", "Distinct targets (action and target) this account acted on in the last day (saturates at 64).", "state", 0,
  min=0, max=ACCOUNT_CAP)

# --- model ---------------------------------------------------------------------
r("model.score", "float", "", "The model's calibrated probability of abuse (0..1); absent without a model.", "request", 0, **SHARE)
