"""OpenID Shared Signals CAEP ``session-revoked``: a Security Event Token (RFC 8417), signed, pushed (RFC 8935)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import jwt

from gateway.settings import Caep, ConfigError

SESSION_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
CONTENT_TYPE = "application/secevent+jwt"


class SetSigner:
    def __init__(self, caep: Caep, key_path: str) -> None:
        try:
            self._key = Path(key_path).read_bytes()
            jwt.encode({}, self._key, algorithm=caep.algorithm)  # a key that cannot sign is a config error now
        except OSError as exc:
            raise ConfigError(f"notify.caep.signing_key: {key_path}: cannot read it ({exc.strerror})") from None
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise ConfigError(f"notify.caep.signing_key: {key_path}: not a PEM private key for "
                              f"{caep.algorithm} ({exc})") from None
        self._caep = caep

    def session_revoked(self, account: str, session: str, now: float, reason: str) -> str:
        c = self._caep
        claims: dict[str, object] = {
            "iss": c.issuer, "jti": uuid.uuid4().hex, "iat": int(time.time()),
            # the Subject Identifier (RFC 9493): this account's session
            "sub_id": {"format": "complex", "user": {"format": "opaque", "id": account},
                       "session": {"format": "opaque", "id": session}},
            "events": {SESSION_REVOKED: {"event_timestamp": int(now), "initiating_entity": "policy",
                                         "reason_admin": {"en": reason}}},
        }
        if c.audience:
            claims["aud"] = c.audience
        headers = {"typ": "secevent+jwt"}
        if c.kid:
            headers["kid"] = c.kid
        return jwt.encode(claims, self._key, algorithm=c.algorithm, headers=headers)
