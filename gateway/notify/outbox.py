"""One sink's bounded queue and its delivery task: retries with exponential backoff, then a dead-letter file.

``put`` never blocks and never raises: past ``size`` waiting items the new one
is dropped and counted. A failure that may pass (a timeout, a refused
connection, 408, 429, a 5xx) is tried again after ``backoff_s``, doubled each
time (at most ``MAX_BACKOFF_S``); after ``attempts`` tries, or at once for an
answer that will not change (another 4xx), the item goes to the dead-letter
file, one JSON line. Items still waiting at shutdown go there too.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from gateway.metrics import NOTIFY_DELIVERIES, NOTIFY_DROPS, NOTIFY_QUEUED
from gateway.tasks import cancel

logger = logging.getLogger("gateway.notify")
MAX_BACKOFF_S = 300.0


class Permanent(Exception):
    """A failure trying again will not fix (e.g. 400, 401, 404)."""


class Outbox:
    def __init__(self, name: str, send: Callable[[Any], Awaitable[None]], size: int, attempts: int, backoff_s: float,
                 dead_letter: str | None = None, redact: Callable[[Any], Any] | None = None) -> None:
        self.name = name
        self._redact = redact or (lambda item: item)  # what of an item may be written or logged
        self._send = send
        self._size = size
        self._attempts = attempts
        self._backoff = backoff_s
        self._dead = Path(dead_letter) if dead_letter else None
        self._items: deque[Any] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.dropped = 0
        self._queued = NOTIFY_QUEUED.labels(sink=name)

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Any) -> bool:
        if len(self._items) >= self._size:
            self.dropped += 1
            NOTIFY_DROPS.labels(sink=self.name).inc()
            logger.warning("%s: queue full (%d); an event was dropped", self.name, self._size)
            return False
        self._items.append(item)
        self._queued.set(len(self._items))
        self._wake.set()
        return True

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"gateway-notify-{self.name}")

    async def drain(self, timeout: float) -> bool:
        """Wait until nothing is waiting (tests, shutdown); False on timeout."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while self._items and loop.time() < end:
            await asyncio.sleep(0.02)
        return not self._items

    async def close(self) -> None:
        task, self._task = self._task, None
        await cancel(task)
        while self._items:  # nothing is lost at shutdown: what waits goes to the dead-letter file
            self._dead_letter(self._items.popleft(), "shutdown")
        self._queued.set(0)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._items:
                await self._deliver(self._items[0])
                self._items.popleft()
                self._queued.set(len(self._items))

    async def _deliver(self, item: Any) -> None:
        wait = self._backoff
        problem = ""
        for attempt in range(1, self._attempts + 1):
            try:
                await self._send(item)
            except asyncio.CancelledError:
                raise
            except Permanent as exc:
                problem = str(exc)
                break
            except Exception as exc:  # noqa: BLE001 - every other failure may pass: try again
                problem = str(exc) or type(exc).__name__
                if attempt < self._attempts:
                    NOTIFY_DELIVERIES.labels(sink=self.name, outcome="retry").inc()
                    await asyncio.sleep(wait)
                    wait = min(wait * 2, MAX_BACKOFF_S)
                continue
            NOTIFY_DELIVERIES.labels(sink=self.name, outcome="delivered").inc()
            return
        logger.warning("%s: delivery failed (%s); written to the dead-letter file", self.name, problem[:200])
        self._dead_letter(item, problem)

    def _dead_letter(self, item: Any, problem: str) -> None:
        NOTIFY_DELIVERIES.labels(sink=self.name, outcome="dead_letter").inc()
        if self._dead is None:
            logger.error("%s: undeliverable and no dead_letter file configured: %s", self.name,
                         _line(self._redact(item))[:500])
            return
        try:
            with self._dead.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"sink": self.name, "problem": problem[:500], "item": self._redact(item)}, default=str) + "\n")
        except OSError as exc:
            logger.error("%s: cannot write the dead-letter file %s (%s)", self.name, self._dead, exc.strerror)


def _line(item: Any) -> str:
    return json.dumps(item, default=str)
