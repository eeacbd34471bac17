"""The one entry point for authentication: request facts in, a Principal or an AuthError out."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re

from gateway import metrics
from gateway.auth.dpop import DPoPVerifier
from gateway.auth.introspection import Introspector
from gateway.auth.jose import is_compact_jws
from gateway.auth.jwks import KeySet
from gateway.auth.jwt_verifier import JWTVerifier
from gateway.auth.principal import AuthError, Principal
from gateway.auth.token_cache import VerifiedTokenCache
from gateway.facts import RequestFacts
from gateway.settings import ConfigError, Settings

log = logging.getLogger("gateway.auth")

# RFC 6750 section 2.1: b64token.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")

class Authenticator:
    """Verifies the access token of a request.

    JWTs are checked locally against the JWKS; opaque tokens (or every token,
    when no JWKS is configured) go to RFC 7662 introspection. Verified tokens
    are cached by SHA-256, so a repeat costs a hash and a dict lookup. DPoP
    proofs are checked on every request, since each proof is single-use.
    """

    def __init__(self, settings: Settings) -> None:
        auth = settings.auth
        self._settings = settings
        self._max_token_bytes = auth.max_token_bytes
        self._keys = KeySet(settings) if (auth.jwks_file or auth.jwks_url) else None
        self._jwt = JWTVerifier(auth, self._keys) if self._keys is not None else None
        self._introspector = Introspector(auth) if auth.introspection.url else None
        self._dpop = DPoPVerifier(auth) if auth.dpop.enabled else None
        self._reject_unproven = auth.dpop.reject_unproven
        self._cache = VerifiedTokenCache(auth.cache_size)
        if self._keys is not None:  # a key withdrawn from the JWKS (a compromise) takes its tokens out of the cache
            self._keys.on_withdrawal = self._cache.clear
        # Replay of the admin console's facts ring only: the principal verified when the request was
        # served rides in facts.extra (the ring keeps no tokens). A serving engine never sets this.
        self.accept_given = False

    @property
    def keys(self) -> KeySet | None:
        return self._keys

    async def start(self) -> None:
        """Load the keys and open connections. Raises ConfigError naming what to fix."""
        if self._keys is None and self._introspector is None:
            raise ConfigError(
                "auth: no way to verify tokens; set auth.jwks_file or auth.jwks_url (JWTs) "
                "or auth.introspection.url (opaque tokens)"
            )
        if self._keys is not None:
            await self._keys.start()
        if self._introspector is not None:
            await self._introspector.start()

    async def close(self) -> None:
        if self._keys is not None:
            await self._keys.close()
        if self._introspector is not None:
            await self._introspector.close()

    async def authenticate(self, facts: RequestFacts) -> Principal:
        """The Principal behind the request's token; AuthError (counted by reason) when there is none."""
        if self.accept_given and isinstance(given := facts.extra.get("principal"), Principal):
            return given
        try:
            token = self._token(facts)
            token_hash = hashlib.sha256(token.encode()).hexdigest()
            principal = self._cache.get(token_hash, facts.ts)
            if principal is None:
                if not _B64TOKEN.fullmatch(token):
                    raise AuthError("malformed", "the access token has characters a token cannot have")
                if self._jwt is not None and (self._introspector is None or is_compact_jws(token)):
                    principal, valid_from, valid_until = self._jwt.verify(token, token_hash, facts.ts)
                elif self._introspector is not None:
                    principal, valid_from, valid_until = await self._introspector.introspect(token, token_hash, facts.ts)
                else:
                    raise AuthError("no_keys", "the gateway is not configured to verify tokens")
                self._cache.put(principal, valid_from, valid_until)
            if principal.bound_jkt is not None and self._dpop is not None:
                principal = self._prove(principal, token, facts)
            return principal
        except AuthError as err:
            metrics.AUTH_FAILURES.labels(err.reason).inc()
            raise
        except Exception:  # a bug or a library surprise must be a 401, never a 500
            log.exception("authenticating a request failed unexpectedly")
            metrics.AUTH_FAILURES.labels("internal").inc()
            raise AuthError("internal", "the token could not be verified") from None

    def verify_issued(self, token: str, now: float) -> Principal:
        """Read a JWT the token endpoint just issued, with the same checks; it is cached for its first use."""
        try:
            if self._jwt is None:
                raise AuthError("no_keys", "no JWKS is configured to read issued tokens with")
            if len(token) > self._max_token_bytes:
                raise AuthError("oversized", f"the token is longer than {self._max_token_bytes} bytes")
            if not _B64TOKEN.fullmatch(token):
                raise AuthError("malformed", "the token has characters a token cannot have")
            token_hash = hashlib.sha256(token.encode()).hexdigest()
            principal = self._cache.get(token_hash, now)
            if principal is None:
                principal, valid_from, valid_until = self._jwt.verify(token, token_hash, now)
                self._cache.put(principal, valid_from, valid_until)
            return principal
        except AuthError as err:
            metrics.AUTH_FAILURES.labels(err.reason).inc()
            raise
        except Exception:
            log.exception("reading an issued token failed unexpectedly")
            metrics.AUTH_FAILURES.labels("internal").inc()
            raise AuthError("internal", "the token could not be verified") from None

    # -- internals ----------------------------------------------------------

    def _token(self, facts: RequestFacts) -> str:
        value = facts.headers.get("authorization")
        if not value:
            raise AuthError("missing", "no access token was sent", "")
        if len(value) > self._max_token_bytes + 16:
            raise AuthError("oversized", f"the token is longer than {self._max_token_bytes} bytes")
        scheme, _, token = value.partition(" ")
        scheme = scheme.lower()
        if scheme != "bearer" and scheme != "dpop":
            # RFC 6750 section 3.1: another scheme is no authentication at all for this server, so no error code
            raise AuthError("malformed", "the Authorization header must use the Bearer or DPoP scheme", "")
        token = token.strip()
        if not token:
            raise AuthError("malformed", "the Authorization header holds no token", "invalid_request")
        if len(token) > self._max_token_bytes:
            raise AuthError("oversized", f"the token is longer than {self._max_token_bytes} bytes")
        return token

    def _prove(self, principal: Principal, token: str, facts: RequestFacts) -> Principal:
        assert self._dpop is not None and principal.bound_jkt is not None
        host = facts.headers.get("host")
        if host:
            scheme = facts.extra.get("scheme", "http")
            problem = self._dpop.check(
                facts.headers.get("dpop"),
                method=facts.method,
                url=f"{scheme}://{host}{facts.path}",
                access_token=token,
                jkt=principal.bound_jkt,
                now=facts.ts,
            )
        else:
            problem = "the request has no Host header to check the DPoP proof's htu against"
        if problem is None:
            return dataclasses.replace(principal, dpop_valid=True)
        if self._reject_unproven:
            raise AuthError("dpop", problem, "invalid_dpop_proof")
        return dataclasses.replace(principal, dpop_valid=False)
