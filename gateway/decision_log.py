"""The decision log: one JSON line per protected request, written off the request path.

``record()`` only appends to a bounded queue; a background task serialises and
writes. If the writer falls behind, new lines are dropped and counted (the
metric ``gateway_decision_log_drops_total`` and ``drops``), never blocking a
request and never silently.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections import deque
from typing import IO

from gateway.metrics import LOG_DROPS
from gateway.settings import DecisionLog as LogSettings

logger = logging.getLogger("gateway.decision_log")


class DecisionLog:
    def __init__(self, settings: LogSettings, resolve=lambda p: p) -> None:
        self.sink = settings.sink
        self._path = None if settings.sink in (None, "stdout") else resolve(settings.sink)
        self._queue: deque[dict] = deque()
        self._max = settings.queue_size
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._file: IO[str] | None = None
        self.drops = 0
        self.written = 0

    @property
    def enabled(self) -> bool:
        return self.sink is not None

    def record(self, entry: dict) -> None:
        """Queue one line; O(1), never blocks, drops (counted) when full."""
        if self.sink is None:
            return
        if len(self._queue) >= self._max:
            self.drops += 1
            LOG_DROPS.inc()
            return
        self._queue.append(entry)
        if self._task is not None and not self._wake.is_set():
            self._wake.set()

    async def start(self) -> None:
        if self.sink is None or self._task is not None:
            return
        if self._path is not None:
            self._file = open(self._path, "a", buffering=1 << 16)  # noqa: SIM115 - closed in close()
        self._task = asyncio.create_task(self._run(), name="gateway-decision-log")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self._flush()
        if self._file is not None:
            self._file.close()
            self._file = None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            # Serialising a batch is cheap next to the syscall; a thread keeps
            # a slow disk from ever stalling the event loop.
            await asyncio.to_thread(self._flush)

    def _flush(self) -> None:
        if not self._queue:
            return
        lines = []
        while self._queue:
            lines.append(json.dumps(self._queue.popleft(), separators=(",", ":"), default=str))
        text = "\n".join(lines) + "\n"
        try:
            out = self._file if self._file is not None else sys.stdout
            out.write(text)
            out.flush()
            self.written += len(lines)
        except OSError as exc:  # a full disk must not take requests down with it
            self.drops += len(lines)
            LOG_DROPS.inc(len(lines))
            logger.error("decision log: cannot write to %s: %s", self.sink, exc)
