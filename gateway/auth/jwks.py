"""The issuer's public keys (JWKS): loaded at start, refreshed in the background, looked up by kid.

Every key is bound to one pinned algorithm when it is loaded (a PyJWK), so a
token can never choose how its signature is checked: an RSA key only ever
verifies RS*/PS*, and symmetric keys are refused unless HS* is what is pinned.
The request path only reads the current dict; fetching and re-reading happen
in an asyncio task, never while a request waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import jwt

from gateway.auth.fetch import FetchError, fetch_document
from gateway.settings import ConfigError, Settings
from gateway.tasks import cancel

log = logging.getLogger("gateway.auth")

# Which algorithms each key type can serve (RFC 7518 section 3.1, RFC 8037).
_KTY_ALGORITHMS: Mapping[str, frozenset[str]] = {
    "RSA": frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
    "EC": frozenset({"ES256", "ES384", "ES512", "ES256K"}),
    "OKP": frozenset({"EdDSA"}),
    "oct": frozenset({"HS256", "HS384", "HS512"}),
}
_EC_CURVE_ALGORITHM = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512", "secp256k1": "ES256K"}
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth")
_SIGNING_OKP_CURVES = ("Ed25519", "Ed448")  # X25519 and X448 are key-agreement curves

KeysByKid = dict[str | None, dict[str, jwt.PyJWK]]


def _material(by_alg: dict[str, jwt.PyJWK] | None) -> list[tuple[str, str]]:
    """What a kid's keys are, comparable across loads."""
    if not by_alg:
        return []
    return sorted((alg, json.dumps(key._jwk_data, sort_keys=True)) for alg, key in by_alg.items())


class JWKSError(ValueError):
    """A JWKS document that cannot be used; the message says why."""


def parse_jwks(document: Any, algorithms: tuple[str, ...]) -> KeysByKid:
    """Keys from a JWKS document, indexed by kid then by the pinned algorithm each may verify."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JWKSError("expected a JSON object with a 'keys' list (RFC 7517 section 5)")
    pinned_hmac = all(alg.startswith("HS") for alg in algorithms)
    keys: KeysByKid = {}
    skipped: list[str] = []
    for i, entry in enumerate(document["keys"]):
        where = f"keys[{i}]"
        if not isinstance(entry, dict):
            raise JWKSError(f"{where} is not a JSON object")
        kid = entry.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise JWKSError(f"{where}: 'kid' must be a string")
        if kid:
            where += f" (kid {kid!r})"
        kty = entry.get("kty")
        if kty not in _KTY_ALGORITHMS or entry.get("use", "sig") != "sig":
            continue  # a key type or use this gateway does not verify with: not ours to judge
        if kty == "oct" and not pinned_hmac:
            raise JWKSError(
                f"{where} is a symmetric secret, but the pinned algorithms ({', '.join(algorithms)}) are "
                "public-key ones; a JWKS must publish public keys only"
            )
        if kty != "oct" and any(member in entry for member in _PRIVATE_MEMBERS):
            raise JWKSError(f"{where} contains private key material; publish only the public key")
        usable = [alg for alg in algorithms if alg in _KTY_ALGORITHMS[kty]]
        if kty == "EC":
            usable = [alg for alg in usable if alg == _EC_CURVE_ALGORITHM.get(entry.get("crv", ""))]
        if kty == "OKP" and entry.get("crv") not in _SIGNING_OKP_CURVES:
            usable = []
        if "alg" in entry:
            usable = [alg for alg in usable if alg == entry["alg"]]
        for alg in usable:
            # A key this gateway cannot use is skipped, not fatal: one odd key must not hold back a rotation
            try:
                key = jwt.PyJWK(entry, algorithm=alg)
            except (jwt.PyJWTError, ValueError, TypeError) as exc:
                skipped.append(f"{where} is not a valid {kty} key for {alg} ({exc})")
                continue
            weak = key.Algorithm.check_key_length(key.key)
            if weak:
                skipped.append(f"{where}: {weak}")
                continue
            keys.setdefault(kid or None, {}).setdefault(alg, key)
    if not keys:
        why = f"; skipped: {'; '.join(skipped)}" if skipped else ""
        raise JWKSError(f"no key in it can verify the pinned algorithms ({', '.join(algorithms)}){why}")
    for reason in skipped:
        log.warning("JWKS: key skipped: %s", reason)
    return keys


class KeySet:
    """The current verification keys, kept fresh by a background task.

    ``early_refresh_min_s`` bounds how often an unknown kid may pull the next
    refresh forward, so a flood of made-up kids cannot hammer the issuer.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        file_poll_s: float = 2.0,
        early_refresh_min_s: float = 10.0,
        http_timeout_s: float = 5.0,
    ) -> None:
        auth = settings.auth
        self._algorithms = auth.algorithms
        self._file = settings.resolve(auth.jwks_file)
        self._url = auth.jwks_url
        if self._file is None and self._url is None:
            raise ConfigError("auth: no JWKS configured; set auth.jwks_file or auth.jwks_url")
        self.source = self._file or self._url or ""
        self._config_key = "auth.jwks_file" if self._file else "auth.jwks_url"
        self._interval = min(auth.jwks_refresh_s, file_poll_s) if self._file else auth.jwks_refresh_s
        self._early_refresh_min_s = early_refresh_min_s
        self._http_timeout_s = http_timeout_s
        self._keys: KeysByKid = {}
        self._sole: dict[str, jwt.PyJWK] | None = None
        self._file_stamp: tuple[int, int, int] | None = None
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._last_early: float = -1e18
        self._closing = False
        self.generation = 0  # bumped on every successful (re)load
        self.withdrawals = 0  # reloads that dropped or changed a key: tokens it verified must be checked again
        self.on_withdrawal: Callable[[], None] | None = None  # called at each, e.g. to empty a token cache

    # -- request path -------------------------------------------------------

    def lookup(self, kid: str | None, alg: str) -> jwt.PyJWK | None:
        """The key for (kid, alg), or None. A token without kid may use the only key there is."""
        by_alg = self._keys.get(kid)
        if by_alg is None and kid is None:
            by_alg = self._sole
        return None if by_alg is None else by_alg.get(alg)

    def knows(self, kid: str | None) -> bool:
        return kid in self._keys or (kid is None and self._sole is not None)

    @property
    def loaded(self) -> bool:
        return bool(self._keys)

    def request_refresh(self) -> None:
        """Pull the next refresh forward (an unknown kid may mean a rotation); rate-limited, never waits."""
        if self._wake is None:
            return
        now = asyncio.get_running_loop().time()
        if now - self._last_early >= self._early_refresh_min_s:
            self._last_early = now
            self._wake.set()

    # -- lifecycle ----------------------------------------------------------

    async def start(self) -> None:
        """Load the keys (a ConfigError naming the source and the fix if they are unusable), then refresh in the background."""
        self._closing = False
        if self._url is not None:
            self._client = httpx.AsyncClient(timeout=self._http_timeout_s, follow_redirects=False)
        try:
            self._install(await self._fetch())
        except (JWKSError, FetchError, OSError, httpx.HTTPError) as exc:
            await self.close()
            raise ConfigError(f"{self._config_key}: {self.source}: {self._describe(exc)}; {self._fix()}") from None
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="gateway-jwks-refresh")

    async def close(self) -> None:
        self._closing = True
        task, self._task = self._task, None
        await cancel(task)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def refresh(self) -> bool:
        """Re-read the file (if it changed) or re-fetch the URL. Keeps the last good keys on failure."""
        try:
            if self._file is not None and self._stamp() == self._file_stamp:
                return False
            self._install(await self._fetch())
        except (JWKSError, FetchError, OSError, httpx.HTTPError) as exc:
            log.warning(
                "%s: %s: %s; keeping the %d key(s) loaded before",
                self._config_key, self.source, self._describe(exc), len(self._keys),
            )
            return False
        return True

    # -- internals ----------------------------------------------------------

    async def _run(self) -> None:
        assert self._wake is not None
        while not self._closing:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that races the wake-up
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            self._wake.clear()
            if self._closing:
                return
            try:
                await self.refresh()
            except Exception:  # the refresher must outlive any surprise; the request path keeps the last keys
                log.exception("%s: %s: refreshing the JWKS failed", self._config_key, self.source)

    async def _fetch(self) -> KeysByKid:
        if self._file is not None:
            stamp = self._stamp()
            text = Path(self._file).read_bytes()
            keys = self._parse(text)
            self._file_stamp = stamp
            return keys
        assert self._client is not None and self._url is not None
        raw = await fetch_document(self._client, "GET", self._url, self._http_timeout_s,
                                   headers={"accept": "application/json"})
        return self._parse(raw)

    def _parse(self, raw: bytes) -> KeysByKid:
        try:
            document = json.loads(raw)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise JWKSError(f"not valid JSON ({type(exc).__name__}: {exc})") from None
        return parse_jwks(document, self._algorithms)

    def _install(self, keys: KeysByKid) -> None:
        if any(_material(keys.get(kid)) != _material(by_alg) for kid, by_alg in self._keys.items()):
            self.withdrawals += 1
            if self.on_withdrawal is not None:
                self.on_withdrawal()
        self._keys = keys
        self._sole = next(iter(keys.values())) if len(keys) == 1 else None
        self.generation += 1
        if self.generation > 1:
            log.info("%s: %s: loaded %d key(s): %s", self._config_key, self.source, len(keys),
                     ", ".join(str(kid) for kid in keys))

    def _stamp(self) -> tuple[int, int, int]:
        assert self._file is not None
        st = os.stat(self._file)
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _describe(self, exc: Exception) -> str:
        if isinstance(exc, TimeoutError):
            return f"no whole answer within {self._http_timeout_s:g} s"
        if isinstance(exc, OSError):
            return f"cannot read it ({exc.strerror or exc})"
        if isinstance(exc, httpx.HTTPError):
            return f"cannot fetch it ({type(exc).__name__}: {exc or 'no answer'})"
        return str(exc)

    def _fix(self) -> str:
        if self._file is not None:
            return "point auth.jwks_file at a JSON Web Key Set holding the issuer's public keys (paths are relative to the config file)"
        return "check that the URL is reachable from the gateway and serves the issuer's JSON Web Key Set"
