"""Opaque tokens through RFC 7662 token introspection, with a cache on both answers."""

from __future__ import annotations

import base64
import json
import logging
import math
import time
from urllib.parse import quote_plus

import httpx
from cachetools import LRUCache

from gateway.auth.claims import build_principal, check_issuer_audience, check_times
from gateway.auth.fetch import FetchError, fetch_document
from gateway.auth.principal import AuthError, Principal
from gateway.settings import Auth

log = logging.getLogger("gateway.auth")

_WARN_EVERY_S = 30.0  # an outage is logged, not once per request


class Introspector:
    """Asks the authorization server whether a token is active (RFC 7662 section 2)."""

    def __init__(self, auth: Auth, *, inactive_cache_size: int = 10_000) -> None:
        config = auth.introspection
        assert config.url is not None
        self._auth = auth
        self._url = config.url
        self._timeout_s = config.timeout_s
        self._ttl_s = config.cache_ttl_s
        self._headers = {"accept": "application/json"}
        if config.client_id is not None:
            # RFC 6749 section 2.3.1: form-encode the credentials before Basic.
            pair = f"{quote_plus(config.client_id)}:{quote_plus(config.client_secret or '')}"
            self._headers["authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        # A revoked token tends to be retried; remember "inactive" briefly instead of asking again.
        self._inactive: LRUCache[str, float] = LRUCache(maxsize=inactive_cache_size)
        self._client: httpx.AsyncClient | None = None
        self._last_warning = -math.inf
        self.failures = 0  # endpoint unreachable or unusable answers, since start

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self._timeout_s, follow_redirects=False)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def introspect(self, token: str, token_hash: str, now: float) -> tuple[Principal, float, float]:
        """(principal, valid_from, cache_until) for an active token; AuthError otherwise."""
        inactive_until = self._inactive.get(token_hash)
        if inactive_until is not None and now < inactive_until:
            raise AuthError("inactive", "the token is not active (revoked, expired or unknown)")
        answer = await self._ask(token)
        if answer.get("active") is not True:
            self._inactive[token_hash] = now + self._ttl_s
            raise AuthError("inactive", "the token is not active (revoked, expired or unknown)")
        auth = self._auth
        if "iss" in answer:
            check_issuer_audience(answer, auth.issuer, None)
        if "aud" in answer:
            check_issuer_audience(answer, None, auth.audience)
        valid_from, exp = check_times(answer, now, auth.leeway_s, require_exp=False)
        principal = build_principal(answer, auth, kind="opaque", token_hash=token_hash)
        return principal, valid_from, min(now + self._ttl_s, exp)

    async def _ask(self, token: str) -> dict[str, object]:
        if self._client is None:
            raise AuthError("introspection_unavailable", "the token could not be checked: introspection is not started")
        try:
            raw = await fetch_document(self._client, "POST", self._url, self._timeout_s,
                                       data={"token": token, "token_type_hint": "access_token"}, headers=self._headers)
        except (httpx.HTTPError, TimeoutError) as exc:
            self._unavailable(f"{type(exc).__name__}: {exc or 'no whole answer in time'}")
            raise AuthError(
                "introspection_unavailable", "the token could not be checked: the authorization server did not answer"
            ) from None
        except FetchError as exc:  # not a 200, or too long
            self._unavailable(str(exc))
            raise AuthError(
                "introspection_unavailable", f"the token could not be checked: {exc}") from None
        try:
            answer = json.loads(raw)
        except (ValueError, RecursionError):
            answer = None
        if not isinstance(answer, dict):
            self._unavailable("the answer is not a JSON object")
            raise AuthError(
                "introspection_unavailable", "the token could not be checked: the authorization server's answer is unusable"
            )
        return answer

    def _unavailable(self, problem: str) -> None:
        self.failures += 1
        wall = time.monotonic()
        if wall - self._last_warning >= _WARN_EVERY_S:
            self._last_warning = wall
            log.warning(
                "auth.introspection.url: %s: %s; tokens that need introspection are refused with 401 until it answers "
                "(%d failures so far)", self._url, problem, self.failures,
            )
