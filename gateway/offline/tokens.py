"""Access tokens as the demo token endpoint issues them: RS256 JWTs signed with the demo key."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_private_key

DEMO_DIR = Path(__file__).resolve().parent.parent / "demo"
DEMO_KEY = DEMO_DIR / "demo-signing-key.pem"
ISSUER = "https://demo.gateway.local"
AUDIENCE = "engagement-api"
KID = "demo-1"
TOKEN_TTL_S = 86_400


@lru_cache(maxsize=4)
def _private_key(path: str):  # type: ignore[no-untyped-def]
    return load_pem_private_key(Path(path).read_bytes(), password=None)


class DemoIssuer:
    """Signs tokens with the demo key; every random part comes from the caller, so output is reproducible."""

    def __init__(self, key_path: str | Path = DEMO_KEY, issuer: str = ISSUER, audience: str = AUDIENCE,
                 kid: str = KID, ttl_s: int = TOKEN_TTL_S) -> None:
        self._key = _private_key(str(key_path))
        self.issuer, self.audience, self.kid, self.ttl_s = issuer, audience, kid, ttl_s

    def mint(self, *, sub: str, sid: str, client_id: str, did: str | None, iat: int, jti: str) -> str:
        claims: dict[str, object] = {
            "iss": self.issuer, "aud": self.audience, "sub": sub, "sid": sid, "client_id": client_id,
            "iat": iat, "exp": iat + self.ttl_s, "jti": jti,
        }
        if did:
            claims["did"] = did
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})
