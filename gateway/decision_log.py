"""The decision log: one JSON line per protected request, written off the request path.

``record()`` only appends to a bounded queue; a background task builds (an
entry given as a function is called there), serialises and writes. If the writer falls behind, new lines are dropped and counted (the
metric ``gateway_decision_log_drops_total`` and ``drops``), never blocking a
request and never silently.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import IO

import orjson

from gateway.metrics import LOG_DROPS
from gateway.settings import DecisionLog as LogSettings
from gateway.tasks import cancel

logger = logging.getLogger("gateway.decision_log")


class DecisionLog:
    def __init__(self, settings: LogSettings, resolve=lambda p: p) -> None:
        self.sink = settings.sink
        self._path = None if settings.sink in (None, "stdout") else resolve(settings.sink)
        self._queue: deque[dict | Callable[[], dict]] = deque()
        self._max = settings.queue_size
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._file: IO[bytes] | None = None
        self._writing = threading.Lock()  # one flush at a time: the writer thread's, or close()'s last
        self.drops = 0
        self.written = 0

    @property
    def enabled(self) -> bool:
        return self.sink is not None

    def record(self, entry: dict | Callable[[], dict]) -> None:
        """Queue one line, or a function building it; O(1), never blocks, drops (counted) when full."""
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
            self._file = open(self._path, "ab", buffering=1 << 16)  # noqa: SIM115 - closed in close()
        self._task = asyncio.create_task(self._run(), name="gateway-decision-log")

    async def close(self) -> None:
        task, self._task = self._task, None
        await cancel(task)
        # A flush may still be running in its thread (cancelling the task does not stop
        # it): the lock waits for it, so no line is lost or written after the file closes.
        with self._writing:
            self._flush_locked()
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
        with self._writing:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._queue or (self._path is not None and self._file is None):
            return  # nothing to write, or the file is closed: lines wait (bounded) for the next start
        lines = []
        dumps = orjson.dumps
        while self._queue:
            entry = self._queue.popleft()
            if entry.__class__ is not dict:
                try:
                    entry = entry()  # type: ignore[operator]
                except Exception:  # a fault building one line must not stop the writer
                    logger.exception("decision log: a line could not be built; dropped")
                    self.drops += 1
                    LOG_DROPS.inc()
                    continue
            try:
                lines.append(dumps(entry, default=str))
            except TypeError:  # e.g. a lone surrogate in a token claim, which orjson refuses: escaped instead
                lines.append(json.dumps(entry, default=str, ensure_ascii=True).encode())
        if not lines:
            return
        data = b"\n".join(lines) + b"\n"
        try:
            if self._file is not None:
                self._file.write(data)
                self._file.flush()
            else:
                sys.stdout.write(data.decode())
                sys.stdout.flush()
            self.written += len(lines)
        except OSError as exc:  # a full disk must not take requests down with it
            self.drops += len(lines)
            LOG_DROPS.inc(len(lines))
            logger.error("decision log: cannot write to %s: %s", self.sink, exc)
