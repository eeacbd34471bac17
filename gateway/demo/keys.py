"""The demo issuer's signing keys: the current one, the next one published ahead, the one just retired.

The JWKS always carries the next key before anything is signed with it, so a
gateway that refreshes its key set on schedule never meets a token whose key
it has not seen; after a rotation the retired key stays published until the
following rotation, so tokens it signed keep verifying meanwhile.

The first current key is ``demo-1``, the key published in this repository
(demo-signing-key.pem): it must never protect anything real. Later keys are
generated in memory when the demo starts or rotates.

The key set is also written to a file (atomically, on every change) so the
gateway in front of the demo reads it the way it reads any ``auth.jwks_file``,
with its background refresher.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DEMO_DIR = Path(__file__).resolve().parent
PUBLISHED_KEY = DEMO_DIR / "demo-signing-key.pem"
FIRST_KID = "demo-1"
ALGORITHM = "RS256"


def _public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": kid, "alg": ALGORITHM, "use": "sig"})
    return jwk


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class DemoKeys:
    """The key ring; ``rotate()`` makes the next key current. Safe to call from any thread."""

    def __init__(self, folder: str | os.PathLike[str] | None = None) -> None:
        self._lock = threading.Lock()
        self._serial = 1
        published = serialization.load_pem_private_key(PUBLISHED_KEY.read_bytes(), password=None)
        assert isinstance(published, rsa.RSAPrivateKey)
        self._current: tuple[str, rsa.RSAPrivateKey] = (FIRST_KID, published)
        self._next = self._fresh()
        self._retired: tuple[str, rsa.RSAPrivateKey] | None = None
        if folder is None:
            folder = tempfile.mkdtemp(prefix="gateway-demo-keys-")
            atexit.register(shutil.rmtree, folder, True)
        self.jwks_path = Path(folder) / "jwks.json"
        self._write()

    def sign(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        kid, key = self._current
        return jwt.encode(claims, key, algorithm=ALGORITHM, headers={**(headers or {}), "kid": kid})

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a token one of the ring's keys signed (expiry checked; audience not); PyJWTError else."""
        kid = jwt.get_unverified_header(token).get("kid")
        ring = {k: key for k, key in (self._retired, self._current, self._next) if k is not None} if self._retired \
            else {k: key for k, key in (self._current, self._next)}
        key = ring.get(kid)
        if key is None:
            raise jwt.InvalidKeyError(f"unknown kid {kid!r}")
        return jwt.decode(token, key.public_key(), algorithms=[ALGORITHM], options={"verify_aud": False})

    def jwks(self) -> dict[str, Any]:
        """The published keys: retired (if any), current, next."""
        ring = [k for k in (self._retired, self._current, self._next) if k is not None]
        return {"keys": [_public_jwk(key, kid) for kid, key in ring]}

    def rotate(self) -> dict[str, Any]:
        """Sign with the next key from now on; publish a new next one; withdraw the key retired before."""
        with self._lock:
            self._retired, self._current, self._next = self._current, self._next, self._fresh()
            self._write()
            return self.describe()

    def describe(self) -> dict[str, Any]:
        return {"current": self._current[0], "next": self._next[0],
                "retired": self._retired[0] if self._retired else None}

    def _fresh(self) -> tuple[str, rsa.RSAPrivateKey]:
        self._serial += 1
        return f"demo-{self._serial}-{uuid.uuid4().hex[:6]}", _new_key()

    def _write(self) -> None:
        tmp = self.jwks_path.with_name(f".{self.jwks_path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(json.dumps(self.jwks(), indent=1))
        os.replace(tmp, self.jwks_path)  # a reader never sees half a file
