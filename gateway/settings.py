"""The config file: its schema, defaults, and validation with errors that name the key and the fix.

Every section is a frozen dataclass. Field defaults are the documented
defaults; ``README.md`` lists them (``gateway config-reference`` prints them
from this module). Loading checks every key: an unknown key is an error naming
its place and the closest known key, a wrong type names the type it wants.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gateway.errors import ConfigError
from gateway.numbers import finite_number

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = Path(__file__).resolve().parent
BUILTIN = "builtin:"  # `builtin:rules` names the default rule packs shipped inside the package


def resolve_path(path: str, base: str | Path | None = None) -> str:
    """A path a person wrote: ``builtin:X`` inside the installed package, a relative one against ``base``."""
    if path.startswith(BUILTIN):
        return str(PACKAGE_DIR / path[len(BUILTIN):].lstrip("/"))
    p = Path(path)
    if not p.is_absolute() and base is not None:
        p = Path(base) / p
    return str(p)

# A route template's parameter: {name} is one path segment, {name:path} the rest of the path (slashes too)
ROUTE_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(:path)?}")


@dataclass(frozen=True, slots=True)
class Route:
    """A protected route: a path template, its methods, its action kind, its target parameter."""

    path: str  # Starlette-style template, e.g. /v1/media/{media_id}/like
    action: str  # like, follow, comment, login, or any name the operator picks
    methods: tuple[str, ...] = ("POST",)
    target: str | None = None  # the path parameter naming the media or user acted on
    absorb_status: int = 200  # what an absorbed request is answered with, as the app would on success
    absorb_body: str = '{"status": "ok"}'


@dataclass(frozen=True, slots=True)
class TokenEndpoint:
    """The OAuth token endpoint the gateway watches to record how sessions are born."""

    path: str = "/oauth/token"
    methods: tuple[str, ...] = ("POST",)


@dataclass(frozen=True, slots=True)
class Claims:
    """Which token claims hold what."""

    subject: str = "sub"
    session: str = "sid"
    client: str = "client_id"
    device: str = "did"


@dataclass(frozen=True, slots=True)
class Introspection:
    """RFC 7662 introspection for opaque (non-JWT) tokens."""

    url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    timeout_s: float = 2.0
    cache_ttl_s: float = 60.0


@dataclass(frozen=True, slots=True)
class DPoP:
    """RFC 9449 proof-of-possession for tokens bound with ``cnf.jkt``."""

    enabled: bool = True
    reject_unproven: bool = True  # a bound token without a valid proof is a 401
    max_age_s: float = 300.0  # how old a proof's iat may be
    jti_window_s: float = 600.0  # replayed proof ids are refused within this window
    algorithms: tuple[str, ...] = ("ES256", "RS256", "EdDSA")


@dataclass(frozen=True, slots=True)
class Auth:
    """Token verification. Algorithms are pinned here, never taken from the token."""

    issuer: str | None = None
    audience: str | None = None
    algorithms: tuple[str, ...] = ("RS256",)
    jwks_file: str | None = None
    jwks_url: str | None = None
    jwks_refresh_s: float = 300.0
    leeway_s: float = 30.0
    max_token_bytes: int = 8192
    cache_size: int = 100_000
    claims: Claims = field(default_factory=Claims)
    introspection: Introspection = field(default_factory=Introspection)
    dpop: DPoP = field(default_factory=DPoP)
    # action -> the OAuth scope a token must hold for it; feeds token.scope_ok and app.out_of_scope
    action_scopes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GeoIP:
    """MaxMind databases, each optional; paths to the operator's own copies."""

    asn: str | None = None
    city: str | None = None  # a City or Country database
    anonymous_ip: str | None = None
    connection_type: str | None = None
    hosting_asns: str | None = None  # a text file: one ASN a line, '#' comments
    vpn_asns: str | None = None  # VPN providers' own ASNs, same format: their addresses are class vpn
    mobile_asns: str | None = None  # mobile carriers' ASNs, same format: mobile where Connection-Type is silent
    cloud_ranges: tuple[str, ...] = ()  # the clouds' published range files (AWS, Google Cloud, Azure JSON)
    cache_size: int = 65_536


@dataclass(frozen=True, slots=True)
class Network:
    """Who to believe about the client: trusted proxies and the headers they set."""

    trusted_proxies: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
    forwarded_header: str = "x-forwarded-for"  # or "forwarded" (RFC 7239)
    device_header: str = "x-device-id"
    tls_header: str = "x-ja4"


@dataclass(frozen=True, slots=True)
class State:
    """Where windowed signals live: in this process (memory) or shared (redis)."""

    backend: str = "memory"
    url: str = "redis://127.0.0.1:6379/0"
    prefix: str = "gw"
    max_keys: int = 500_000  # memory backend: entity records kept at most (session, account, IP, ...), least recently used evicted
    timeout_ms: float = 50.0  # redis: one round trip may take this long
    cluster: bool = False  # redis: url names one node of a Redis Cluster (7.0 or later); the rest are found
    breaker_failures: int = 3  # consecutive failures that open the breaker
    breaker_reset_s: float = 5.0  # how long the breaker stays open before a probe
    fail_closed: bool = False  # on outage: False serves on local state, True challenges


@dataclass(frozen=True, slots=True)
class DecisionLog:
    """One JSON line per protected request."""

    sink: str | None = "stdout"  # "stdout", a file path, or null for none
    queue_size: int = 10_000  # lines waiting to be written; past it, drops are counted
    include_features: bool = False


@dataclass(frozen=True, slots=True)
class AppVersions:
    """The releases of an app that can be in use: a version outside [minimum, current] is one no phone runs."""

    current: str | None = None  # the newest release, e.g. 312.0.0.34.109
    minimum: str | None = None  # the oldest release still allowed to sign in


@dataclass(frozen=True, slots=True)
class App:
    """One client of the platform: its ids, how its User-Agent reads, its TLS stacks."""

    name: str = ""  # required: the product name, e.g. ExampleSocial
    kind: str = "first_party"  # first_party (the platform's own) or third_party (a registered partner)
    client_ids: tuple[str, ...] = ()  # the OAuth client ids its tokens carry
    platforms: tuple[str, ...] = ()  # android, ios, web, windows, macos, linux; server: it acts from its servers
    # re2 patterns matched from the start of the User-Agent; named groups read: version, platform, os_version, device
    user_agents: tuple[str, ...] = ()
    versions: AppVersions = field(default_factory=AppVersions)
    tls: dict[str, tuple[str, ...]] = field(default_factory=dict)  # platform -> the JA4/JA3 its stack presents there
    scopes: tuple[str, ...] = ()  # the OAuth scopes it is granted


@dataclass(frozen=True, slots=True)
class Apps:
    """What the gateway knows of the platform's clients: described apps, plus bare ids and other TLS stacks."""

    clients: tuple[App, ...] = ()  # the apps, described (see README: Apps)
    third_party: tuple[str, ...] = ()  # registered third-party client ids, beyond the described apps'
    first_party: tuple[str, ...] = ()  # the platform's own client ids, beyond the described apps'
    tls_platforms: dict[str, str] = field(default_factory=dict)  # TLS fingerprint -> android, ios, browser or library


@dataclass(frozen=True, slots=True)
class ForwardAuth:
    """`gateway authz`: how a proxy names the original request, and the session-birth notification."""

    # nginx auth_request style: only 2xx/401/403 are understood, so other answers travel in headers.
    original_method_headers: tuple[str, ...] = ("x-original-method",)
    original_uri_headers: tuple[str, ...] = ("x-original-uri",)
    # Traefik forwardAuth style: any non-2xx answer is relayed to the client as is.
    forwarded_method_headers: tuple[str, ...] = ("x-forwarded-method",)
    forwarded_uri_headers: tuple[str, ...] = ("x-forwarded-uri",)
    # Envoy ext_authz HTTP service: the check request is the original one, its path behind this prefix.
    envoy_path_prefix: str = ""
    client_ip_fallback_header: str | None = "x-real-ip"  # read when the forwarding header is absent
    sessions_path: str = "/sessions"  # POST here: a session was born (the token response is not seen)
    sessions_secret_header: str = "x-gateway-secret"
    sessions_secret: str | None = None  # null: read it from the environment variable below
    sessions_secret_env: str = "GATEWAY_SESSIONS_SECRET"


@dataclass(frozen=True, slots=True)
class Messages:
    """What a stopped client reads: the problem type URIs and the message catalogue (README: What the person sees)."""

    catalogue: str = "builtin:messages/locales"  # a folder of <locale>.yaml files
    default_locale: str = "en"  # the fallback when Accept-Language names no locale the catalogue has
    type_base: str = "urn:gateway:problem:"  # problem type = this + the family, e.g. ...:third-party-app


@dataclass(frozen=True, slots=True)
class Webhook:
    """Events as CloudEvents 1.0 JSON (structured mode), HMAC-SHA256 signed, POSTed off the request path."""

    url: str | None = None  # null: no webhook
    secret: str | None = None  # the HMAC key; null: read it from the environment variable below
    secret_env: str = "GATEWAY_WEBHOOK_SECRET"
    timeout_s: float = 5.0  # one delivery attempt may take this long
    attempts: int = 6  # tries per event, the first included
    backoff_s: float = 1.0  # wait before the second try; doubled after each failure (at most 300 s)
    dead_letter: str | None = None  # a file: events every try failed for, one JSON line each


@dataclass(frozen=True, slots=True)
class EventStream:
    """Events XADDed to a Redis stream for the platform's notification service."""

    url: str | None = None  # redis://host:port/db; null: no stream
    stream: str = "gateway:events"
    maxlen: int = 100_000  # XADD MAXLEN ~ this


@dataclass(frozen=True, slots=True)
class Caep:
    """OpenID CAEP session-revoked Security Event Tokens (RFC 8417), pushed per RFC 8935."""

    push_url: str | None = None  # the receiver's push endpoint; null: none sent
    issuer: str = "https://gateway.invalid"  # iss of the SETs
    audience: str | None = None  # aud of the SETs
    signing_key: str | None = None  # a PEM private key file (RSA or EC)
    algorithm: str = "RS256"  # RS256 or ES256
    kid: str | None = None  # the key id the receiver finds in your JWKS


@dataclass(frozen=True, slots=True)
class Revocation:
    """The identity provider's RFC 7009 endpoint: a revoked session's tokens are revoked there too."""

    endpoint: str | None = None  # e.g. https://idp.example.com/oauth/revoke; null: not called
    client_id: str | None = None  # the gateway's client at the identity provider (HTTP Basic)
    client_secret: str | None = None  # null: read it from the environment variable below
    client_secret_env: str = "GATEWAY_REVOCATION_SECRET"
    timeout_s: float = 5.0
    attempts: int = 4


@dataclass(frozen=True, slots=True)
class Links:
    """The owner's signed answers in an event: "this was me" and "this wasn't me"."""

    base_url: str | None = None  # where the gateway is reached, e.g. https://api.example.com; null: no links
    path: str = "/.gateway/feedback"  # the gateway answers POSTs here (before any route)
    secret: str | None = None  # the HMAC key; null: read it from the environment variable below
    secret_env: str = "GATEWAY_LINKS_SECRET"
    ttl_s: int = 7 * 86400  # a link expires this long after the event
    exception_s: int = 86400  # "this was me": the flagged session (that account with that app) passes this long


@dataclass(frozen=True, slots=True)
class Notify:
    """Telling the owner, cutting the app off, listing what it did (README: What the person and the owner see)."""

    webhook: Webhook = field(default_factory=Webhook)
    stream: EventStream = field(default_factory=EventStream)
    caep: Caep = field(default_factory=Caep)
    revocation: Revocation = field(default_factory=Revocation)
    links: Links = field(default_factory=Links)
    source: str = "/gateway"  # the CloudEvents source of every event
    debounce_s: float = 86400.0  # one event of each type per account this often at most
    queue_size: int = 1000  # events waiting per sink; past it, new ones are dropped and counted
    revoke_for_s: int = 30 * 86400  # a revoked session stays refused this long (a session's whole life)
    removals_window_s: float = 86400.0  # the allowed actions listed for removal: this far back
    removals_max: int = 200  # allowed actions kept per session
    removals_sessions: int = 100_000  # memory backend: sessions whose actions are kept (least recent dropped)
    labels: str | None = None  # a file: the owners' answers, one JSON line per decision id (gateway replay --labels)


@dataclass(frozen=True, slots=True)
class Admin:
    """The admin API and console (README: Operations: the admin API and console)."""

    host: str = "127.0.0.1"  # `gateway admin` binds here; never the public interface
    port: int = 9001
    scope: str = "gateway:admin"  # a token from the configured issuer must carry this scope
    secret: str | None = None  # a shared secret accepted as a bearer token; null: read the variable below
    secret_env: str = "GATEWAY_ADMIN_SECRET"
    audit_log: str = "admin-audit.jsonl"  # every change: who, what, why, when (JSON lines)
    record: bool = True  # keep the decision index, rule counts and the facts ring (off the request path)
    queue_size: int = 10_000  # decisions waiting for the index writer; past it, dropped and counted
    per_key: int = 50  # recent decisions kept per account, session, IP and device
    keys: int = 100_000  # memory backend: accounts, sessions, IPs and devices indexed (least recent dropped)
    keep_s: float = 86400.0  # how long a decision stays findable
    facts_ring: int = 5_000  # recent protected requests kept for "what would this change do"
    session_s: int = 3600  # a console sign-in lasts this long
    max_exception_s: int = 30 * 86400  # the longest exception that may be granted


@dataclass(frozen=True, slots=True)
class Settings:
    """The whole config file."""

    mode: str = "enforce"  # enforce or shadow
    routes: tuple[Route, ...] = ()
    token_endpoint: TokenEndpoint | None = field(default_factory=TokenEndpoint)
    auth: Auth = field(default_factory=Auth)
    geoip: GeoIP = field(default_factory=GeoIP)
    network: Network = field(default_factory=Network)
    rules: tuple[str, ...] = ()  # rule pack files or folders
    reload: bool = True  # watch rule files and the model, swap on change
    model: str | None = None  # model artifact; null: rules only
    model_weight: float = 40.0  # risk added = weight x score
    state: State = field(default_factory=State)
    log: DecisionLog = field(default_factory=DecisionLog)
    apps: Apps = field(default_factory=Apps)
    forward_auth: ForwardAuth = field(default_factory=ForwardAuth)
    messages: Messages = field(default_factory=Messages)
    notify: Notify = field(default_factory=Notify)
    admin: Admin = field(default_factory=Admin)
    source: str | None = None  # the file this came from, for messages

    def resolve(self, path: str | None) -> str | None:
        """A path from the config: ``builtin:...`` in the package, else relative to the config file's folder."""
        if path is None:
            return None
        return resolve_path(path, Path(self.source).parent if self.source else None)


_CHOICES: dict[str, tuple[str, ...]] = {
    "mode": ("enforce", "shadow"),
    "state.backend": ("memory", "redis"),
    "network.forwarded_header": ("x-forwarded-for", "forwarded"),
}


def load_settings(path: str | Path) -> Settings:
    """Read and validate a config file. Raises ConfigError naming the place and the fix."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror}); check the path") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: YAML syntax error: {problem}") from None
    except (ValueError, TypeError, RecursionError) as exc:  # a value YAML cannot build, e.g. the date 2024-02-30
        raise ConfigError(f"{path}: cannot read a value ({exc or type(exc).__name__}); quote it if it is text") from None
    if data is None:
        data = {}
    return settings_from_dict(data, source=str(path))


def settings_from_dict(data: Any, source: str | None = None) -> Settings:
    """Validate a mapping (e.g. from YAML) into Settings."""
    where = source or "config"
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: the top level must be a mapping of keys, got {_kind(data)}")
    settings = _build(Settings, {**data, "source": source}, "", where)
    _check(settings, where)
    return settings


def _build(cls: type, data: Any, prefix: str, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: {prefix.rstrip('.') or 'top level'}: expected a mapping, got {_kind(data)}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            near = difflib.get_close_matches(str(key), sorted(names), n=1)
            hint = f"; did you mean '{near[0]}'?" if near else f"; known keys: {', '.join(sorted(n for n in names if n != 'source'))}"
            raise ConfigError(f"{where}: {prefix}{key}: unknown key{hint}")
        kwargs[key] = _coerce(hints[key], value, f"{prefix}{key}", where)
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, key: str, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, key, where)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key + ".", where)
    if origin is tuple:
        if isinstance(value, str | int | float) and not isinstance(value, bool) and not dataclasses.is_dataclass(args[0]):
            value = [value]  # `rules: rules/` means a list of one
        if not isinstance(value, list):
            raise ConfigError(f"{where}: {key}: expected a list, got {_kind(value)}")
        return tuple(_coerce(args[0], v, f"{key}[{i}]", where) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: {key}: expected a mapping, got {_kind(value)}")
        return {str(k): _coerce(args[1], v, f"{key}.{k}", where) for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: {key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: {key}: expected a whole number, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: {key}: expected a number, got {value!r}")
        number = finite_number(value)
        if number is None:  # NaN compares false: a NaN leeway would accept any expired token
            raise ConfigError(f"{where}: {key}: expected a finite number, got {str(value)[:40]}")
        return number
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: {key}: expected a string, got {_kind(value)} {value!r}; quote it")
        return value
    return value


def redis_state_problem(st: State) -> str | None:
    """What is wrong with a Redis ``state`` section (key and fix), or None; also checked by the store itself."""
    schemes = ("redis://", "rediss://") if st.cluster else ("redis://", "rediss://", "unix://")
    if not st.url.startswith(schemes):
        if st.cluster:
            return f"state.url: {st.url!r} is not a Redis Cluster node's URL; use redis://host:port (rediss:// for TLS)"
        return (f"state.url: {st.url!r} is not a Redis URL; use redis://host:port/db (rediss:// for TLS) "
                "or unix:///path/to/redis.sock")
    if st.timeout_ms <= 0:
        return f"state.timeout_ms: must be positive, got {st.timeout_ms}"
    return None


def _check(s: Settings, where: str) -> None:
    for key, choices in _CHOICES.items():
        obj: Any = s
        for part in key.split("."):
            obj = getattr(obj, part)
        if obj not in choices:
            raise ConfigError(f"{where}: {key}: {obj!r} is not one of {', '.join(choices)}")
    seen = set()
    for i, r in enumerate(s.routes):
        if not r.path.startswith("/"):
            raise ConfigError(f"{where}: routes[{i}].path: {r.path!r} must start with '/'")
        odd = [part for part in re.findall(r"{[^}]*}?", r.path) if not ROUTE_PARAM.fullmatch(part)]
        if odd:
            raise ConfigError(
                f"{where}: routes[{i}].path: {odd[0]!r} in {r.path!r} is not a parameter this gateway reads; "
                "write {name} for one path segment or {name:path} for the rest of the path"
            )
        if r.target and r.target not in [m[1] for m in ROUTE_PARAM.finditer(r.path)]:
            raise ConfigError(
                f"{where}: routes[{i}].target: {r.target!r} is not a parameter of {r.path!r}; "
                f"write the path with {{{r.target}}} in it or fix the name"
            )
        for m in r.methods:
            if (m.upper(), r.path) in seen:
                raise ConfigError(f"{where}: routes[{i}]: {m} {r.path} is declared twice")
            seen.add((m.upper(), r.path))
    for i, cidr in enumerate(s.network.trusted_proxies):
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ConfigError(
                f"{where}: network.trusted_proxies[{i}]: {cidr!r} is not an IP address or CIDR (e.g. 10.0.0.0/8)"
            ) from None
    a = s.auth
    if a.jwks_file and a.jwks_url:
        raise ConfigError(f"{where}: auth: give jwks_file or jwks_url, not both")
    for i, alg in enumerate(a.algorithms):
        if alg.lower() == "none":
            raise ConfigError(f"{where}: auth.algorithms[{i}]: 'none' is never accepted; pin RS256, ES256 or EdDSA")
    if any(alg.startswith("HS") for alg in a.algorithms) and any(not alg.startswith("HS") for alg in a.algorithms):
        raise ConfigError(
            f"{where}: auth.algorithms: mixing HMAC (HS*) with public-key algorithms invites key confusion; pick one family"
        )
    if a.max_token_bytes < 256:
        raise ConfigError(f"{where}: auth.max_token_bytes: {a.max_token_bytes} is too small; use at least 256")
    if s.state.max_keys < 1000:
        raise ConfigError(f"{where}: state.max_keys: {s.state.max_keys} is too small; use at least 1000")
    if s.state.backend == "redis" and (problem := redis_state_problem(s.state)):
        raise ConfigError(f"{where}: {problem}")
    if s.log.queue_size < 1:
        raise ConfigError(f"{where}: log.queue_size: must be at least 1")
    _check_apps(s.apps, where)
    _check_action_scopes(s, where)
    _check_notify(s, where)
    _check_admin(s, where)
    from gateway.messages.catalogue import (
        load_catalogue,  # the catalogue is part of the config: checked now
    )

    load_catalogue(s)


def _check_notify(s: Settings, where: str) -> None:
    n = s.notify
    for key, url in (("notify.webhook.url", n.webhook.url), ("notify.caep.push_url", n.caep.push_url),
                     ("notify.revocation.endpoint", n.revocation.endpoint), ("notify.links.base_url", n.links.base_url)):
        if url is not None and not url.startswith(("https://", "http://")):
            raise ConfigError(f"{where}: {key}: {url!r} is not an http(s) URL; write e.g. https://host/path")
    if n.stream.url is not None and not n.stream.url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"{where}: notify.stream.url: {n.stream.url!r} is not a Redis URL; use redis://host:port/db")
    if n.webhook.url and not (n.webhook.secret or n.webhook.secret_env):
        raise ConfigError(f"{where}: notify.webhook: give secret or secret_env (events are always signed)")
    if n.links.base_url and not (n.links.secret or n.links.secret_env):
        raise ConfigError(f"{where}: notify.links: give secret or secret_env (links are always signed)")
    if not n.links.path.startswith("/"):
        raise ConfigError(f"{where}: notify.links.path: {n.links.path!r} must start with '/'")
    if n.caep.push_url and not n.caep.signing_key:
        raise ConfigError(f"{where}: notify.caep.signing_key: a SET is signed; name a PEM private key file")
    if n.caep.algorithm not in ("RS256", "ES256"):
        raise ConfigError(f"{where}: notify.caep.algorithm: {n.caep.algorithm!r} is not one of RS256, ES256")
    if n.revocation.endpoint and not n.revocation.client_id:
        raise ConfigError(f"{where}: notify.revocation.client_id: the endpoint needs the gateway's client id")
    for key, value, low in (("notify.queue_size", n.queue_size, 1), ("notify.removals_max", n.removals_max, 1),
                            ("notify.removals_sessions", n.removals_sessions, 1), ("notify.webhook.attempts",
                            n.webhook.attempts, 1), ("notify.revocation.attempts", n.revocation.attempts, 1),
                            ("notify.stream.maxlen", n.stream.maxlen, 1), ("notify.revoke_for_s", n.revoke_for_s, 60),
                            ("notify.links.ttl_s", n.links.ttl_s, 60), ("notify.links.exception_s", n.links.exception_s, 1)):
        if value < low:
            raise ConfigError(f"{where}: {key}: must be at least {low}, got {value}")
    for key, value in (("notify.webhook.timeout_s", n.webhook.timeout_s), ("notify.webhook.backoff_s",
                       n.webhook.backoff_s), ("notify.revocation.timeout_s", n.revocation.timeout_s),
                       ("notify.debounce_s", n.debounce_s), ("notify.removals_window_s", n.removals_window_s)):
        if value < 0 or (value == 0 and key.endswith("timeout_s")):
            raise ConfigError(f"{where}: {key}: must be positive, got {value}")


def _check_admin(s: Settings, where: str) -> None:
    a = s.admin
    for key, value, low in (("admin.port", a.port, 1), ("admin.queue_size", a.queue_size, 1),
                            ("admin.per_key", a.per_key, 1), ("admin.keys", a.keys, 1),
                            ("admin.facts_ring", a.facts_ring, 0), ("admin.session_s", a.session_s, 60),
                            ("admin.max_exception_s", a.max_exception_s, 60), ("admin.keep_s", a.keep_s, 60)):
        if value < low:
            raise ConfigError(f"{where}: {key}: must be at least {low}, got {value}")
    if a.port > 65535:
        raise ConfigError(f"{where}: admin.port: {a.port} is not a TCP port; use 1-65535")
    if not a.scope.strip():
        raise ConfigError(f"{where}: admin.scope: name the OAuth scope an admin token carries, e.g. gateway:admin")


def _check_action_scopes(s: Settings, where: str) -> None:
    actions = {route.action for route in s.routes}
    for action, scope in s.auth.action_scopes.items():
        key = f"auth.action_scopes.{action}"
        if not scope or any(c.isspace() for c in scope) or '"' in scope or "\\" in scope:
            raise ConfigError(f"{where}: {key}: {scope!r} is not one scope name (RFC 6749 section 3.3), e.g. 'like'")
        if actions and action not in actions:
            raise ConfigError(
                f"{where}: {key}: no route has the action {action!r}; the routes' actions are {', '.join(sorted(actions))}"
            )


APP_KINDS = ("first_party", "third_party")
APP_PLATFORMS = ("android", "ios", "web", "windows", "macos", "linux", "server")
TLS_PLATFORMS = ("android", "ios", "browser", "library")
UA_GROUPS = ("version", "platform", "os_version", "device")


def version_key(version: str) -> tuple[int, ...] | None:
    """A dotted version as numbers to compare (312.0.0.34.109 -> (312, 0, 0, 34, 109)); None if not numeric."""
    parts = version.replace("_", ".").split(".")
    if not all(p.isdigit() and len(p) <= 9 for p in parts):
        return None
    return tuple(int(p) for p in parts)


def _check_apps(apps: Apps, where: str) -> None:
    import re2  # linear-time: patterns run on client-controlled text

    options = re2.Options()
    options.log_errors = False  # the error is reported with its key, not on stderr
    owner: dict[str, str] = {}
    for i, app in enumerate(apps.clients):
        at = f"apps.clients[{i}]"
        if not app.name.strip():
            raise ConfigError(f"{where}: {at}.name: required; give the app's product name, e.g. ExampleSocial")
        if app.kind not in APP_KINDS:
            raise ConfigError(f"{where}: {at}.kind: {app.kind!r} is not one of {', '.join(APP_KINDS)}")
        for j, platform in enumerate(app.platforms):
            if platform not in APP_PLATFORMS:
                raise ConfigError(f"{where}: {at}.platforms[{j}]: {platform!r} is not one of {', '.join(APP_PLATFORMS)}")
        for cid in app.client_ids:
            if cid in owner and owner[cid] != app.name:
                raise ConfigError(f"{where}: {at}.client_ids: {cid!r} is also {owner[cid]}'s; a client id names one app")
            owner[cid] = app.name
        for j, pattern in enumerate(app.user_agents):
            try:
                compiled = re2.compile(pattern, options=options)
            except re2.error as exc:
                reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
                raise ConfigError(
                    f"{where}: {at}.user_agents[{j}]: '{pattern}' is not a pattern re2 can compile ({reason}); "
                    "write it without backreferences or lookaround, e.g. 'MyApp/(?P<version>[\\d.]+)'"
                ) from None
            odd = sorted(set(compiled.groupindex) - set(UA_GROUPS))
            if odd:
                raise ConfigError(
                    f"{where}: {at}.user_agents[{j}]: group {odd[0]!r} is not read; name groups "
                    f"{', '.join(UA_GROUPS)} or leave them unnamed"
                )
        for key in ("current", "minimum"):
            value = getattr(app.versions, key)
            if value is not None and version_key(value) is None:
                raise ConfigError(f"{where}: {at}.versions.{key}: {value!r} is not a dotted version such as 312.0.0.34.109")
        low, high = app.versions.minimum, app.versions.current
        if low and high and version_key(low) > version_key(high):  # type: ignore[operator]
            raise ConfigError(f"{where}: {at}.versions: minimum {low} is newer than current {high}; swap them")
        for platform in app.tls:
            if platform not in APP_PLATFORMS:
                raise ConfigError(f"{where}: {at}.tls.{platform}: not a platform; use one of {', '.join(APP_PLATFORMS)}")
            if app.platforms and platform not in app.platforms:
                raise ConfigError(f"{where}: {at}.tls.{platform}: {app.name} is not on {platform}; add it to platforms")
        if not app.client_ids and not app.user_agents:
            raise ConfigError(f"{where}: {at}: {app.name} has neither client_ids nor user_agents, so no request can "
                              "ever be recognised as it; give its OAuth client ids, its User-Agent patterns, or both")
    for fingerprint, platform in apps.tls_platforms.items():
        if platform not in TLS_PLATFORMS:
            raise ConfigError(
                f"{where}: apps.tls_platforms.{fingerprint}: {platform!r} is not a TLS platform; "
                f"use one of {', '.join(TLS_PLATFORMS)}"
            )


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "nothing"}.get(
        type(value), type(value).__name__
    )


def _type_name(tp: Any) -> str:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    optional = len(args) < len(typing.get_args(tp))
    origin = typing.get_origin(tp)
    if origin is tuple:
        name = f"list of {_type_name(args[0])}"
    elif origin is dict:
        name = "mapping"
    elif origin in (typing.Union, types.UnionType):
        name = _type_name(args[0])
    else:
        name = {str: "string", int: "integer", float: "number", bool: "boolean"}.get(tp, getattr(tp, "__name__", str(tp)))
    return f"{name} or null" if optional else name


def reference() -> list[tuple[str, str, str]]:
    """(key, type, default) for every config key, for the README and `gateway config-reference`."""
    rows: list[tuple[str, str, str]] = []

    def walk(cls: type, prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name == "source":
                continue
            tp = hints[f.name]
            inner = [a for a in typing.get_args(tp) if a is not type(None)]
            sub = tp if dataclasses.is_dataclass(tp) else (inner[0] if inner and dataclasses.is_dataclass(inner[0]) else None)
            if sub is not None and f.name != "routes":
                walk(sub, prefix + f.name + ".")
                continue
            if f.default is not dataclasses.MISSING:
                default = repr(f.default)
            elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                default = repr(f.default_factory())  # type: ignore[misc]
            else:
                default = "(required)"
            rows.append((prefix + f.name, _type_name(tp), default))

    walk(Settings, "")
    return rows
