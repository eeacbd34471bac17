"""Verified tokens by SHA-256 of the raw token: bounded, and never served outside the token's validity."""

from __future__ import annotations

from cachetools import LRUCache

from gateway.auth.principal import Principal


class VerifiedTokenCache:
    """An LRU of token hash -> (principal, valid_from, valid_until), judged on the request's clock."""

    __slots__ = ("_entries",)

    def __init__(self, maxsize: int) -> None:
        self._entries: LRUCache[str, tuple[Principal, float, float]] = LRUCache(maxsize=max(1, maxsize))

    def get(self, token_hash: str, now: float) -> Principal | None:
        try:  # on a hit this skips LRUCache.get's extra membership test: the hit path is the hot path
            entry = self._entries[token_hash]
        except KeyError:
            return None
        principal, valid_from, valid_until = entry
        if valid_from <= now < valid_until:
            return principal
        if now >= valid_until:
            self._entries.pop(token_hash, None)
        return None

    def put(self, principal: Principal, valid_from: float, valid_until: float) -> None:
        self._entries[principal.token_hash] = (principal, valid_from, valid_until)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
