"""How much the verified-token cache path costs next to hashing the token alone.

    .venv/bin/python bench/bench_auth.py

Prints the median microseconds per call of: hashlib.sha256 of the token (the
floor), Authenticator.authenticate on a token already verified once (the
cached path every repeat request takes), and a full verification (cache miss).
"""

from __future__ import annotations

import asyncio
import hashlib
import statistics
import tempfile
import time
from pathlib import Path

from gateway.auth import Authenticator
from gateway.facts import RequestFacts
from gateway.settings import settings_from_dict
from gateway.testing import TokenMinter

ROUNDS, PER_ROUND = 31, 2000


def median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


async def main() -> None:
    minter = TokenMinter()
    with tempfile.TemporaryDirectory() as tmp:
        path = minter.write_jwks(Path(tmp) / "jwks.json")
        auth = Authenticator(settings_from_dict({"auth": minter.auth_settings(path)}))
        await auth.start()
        now = time.time()
        token = minter.mint("alice", session_id="s-1", client_id="engage-android", device_id="dev-1")
        facts = RequestFacts(ts=now, method="POST", path="/v1/media/1/like", peer="127.0.0.1",
                             headers={"authorization": f"Bearer {token}", "host": "api.test"})
        await auth.authenticate(facts)  # verified once: later calls take the cached path

        encoded = token.encode()
        sha: list[float] = []
        cached: list[float] = []
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            for _ in range(PER_ROUND):
                hashlib.sha256(encoded).hexdigest()
            sha.append((time.perf_counter() - t0) / PER_ROUND)
            t0 = time.perf_counter()
            for _ in range(PER_ROUND):
                await auth.authenticate(facts)
            cached.append((time.perf_counter() - t0) / PER_ROUND)

        full: list[float] = []
        for i in range(300):
            fresh = minter.mint(f"user-{i}")
            f = RequestFacts(ts=now, method="POST", path="/", peer="127.0.0.1", headers={"authorization": f"Bearer {fresh}"})
            t0 = time.perf_counter()
            await auth.authenticate(f)
            full.append(time.perf_counter() - t0)
        await auth.close()

    floor, hit, miss = median_us(sha), median_us(cached), median_us(full)
    print(f"token length            {len(token)} bytes")
    print(f"sha256 of the token     {floor:8.2f} us  (median)")
    print(f"cached authenticate     {hit:8.2f} us  (median)  {hit / floor:5.1f}x the hash")
    print(f"full RS256 verification {miss:8.2f} us  (median)  {miss / hit:5.0f}x the cached path")


if __name__ == "__main__":
    asyncio.run(main())
