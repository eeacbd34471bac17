"""The owner-facing event: CloudEvents 1.0, structured mode (one JSON object, data inline)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

DETECTED = "gateway.third_party_app.detected"  # a session found driven by a credential-sharing app
REVOKED = "gateway.session.revoked"  # ... and revoked
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"


def cloud_event(kind: str, source: str, now: float, subject: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": uuid.uuid4().hex,
        "source": source,
        "type": kind,
        "time": datetime.fromtimestamp(now if now > 0 else time.time(), UTC).isoformat().replace("+00:00", "Z"),
        "subject": subject,
        "datacontenttype": "application/json",
        "data": data,
    }
