"""The admin audit log: one JSON line per change, who made it, what, why and when."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger("gateway.audit")
_lock = threading.Lock()


class AuditLog:
    def __init__(self, path: str | None) -> None:
        self.path = Path(path) if path else None

    def write(self, who: str, via: str, action: str, reason: str, **details: Any) -> dict[str, Any]:
        entry = {"ts": time.time(), "who": who, "via": via, "action": action, "reason": reason, **details}
        line = json.dumps(entry, default=str)
        logger.info("admin: %s", line)
        if self.path is not None:
            try:
                with _lock, self.path.open("a", encoding="utf-8") as f:
                    f.write(line + "\n")
            except OSError as exc:  # the change is made; the log line is in the process log above
                logger.error("cannot write the admin audit log %s (%s)", self.path, exc.strerror)
        return entry

    def tail(self, n: int = 50) -> list[dict[str, Any]]:
        if self.path is None or not self.path.exists():
            return []
        lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()[-n:]
        out = []
        for line in reversed(lines):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out
