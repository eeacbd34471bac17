"""Labelled feature rows for the model tests, in the shape 'gateway replay --features' writes.

Abuse campaigns share infrastructure, act at regular gaps and often from
hosting networks; benign accounts act at irregular gaps from mobile or home
networks; the classes overlap so the fit is not trivial.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any


def feature_row(rng: random.Random, abusive: bool) -> dict[str, Any]:
    cls = rng.choice(["hosting", "hosting", "residential", "mobile"] if abusive else ["mobile", "residential", "residential", "vpn"])
    row: dict[str, Any] = {
        "action": rng.choice(["like", "follow", "comment"]),
        "account.id": f"acct-{rng.randrange(10**6)}",
        "net.class": cls,
        "net.anonymizer": cls in ("hosting", "vpn"),
        "ip.accounts_1h": rng.randint(2, 40) if abusive else rng.randint(1, 4),
        "session.gap_cv": round(rng.uniform(0.05, 0.9) if abusive else rng.uniform(0.5, 3.0), 4),
        "session.regular_share": round(rng.uniform(0.3, 1.0) if abusive else rng.uniform(0.0, 0.5), 4),
        "account.hour_entropy": round(rng.uniform(3.0, 4.58) if abusive else rng.uniform(1.0, 3.8), 4),
        "session.ua_changed": rng.random() < (0.4 if abusive else 0.05),
        "ua.family": rng.choice(["app", "http-library"] if abusive else ["app", "app", "browser"]),
    }
    if rng.random() < 0.7:
        row["token.age_s"] = round(rng.uniform(10, 90000), 3)
    if rng.random() < 0.5:
        row["session.speed_kmh"] = round(rng.expovariate(1 / (400 if abusive else 40)), 3)
    return row


def labelled_lines(seed: int, campaigns: int = 12, accounts: int = 40, per_group: int = 25) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for c in range(campaigns):
        for _ in range(per_group):
            features = feature_row(rng, True)
            meta = {"account": features["account.id"], "campaign": f"camp-{c}", "family": "like-farm"}
            lines.append(json.dumps({"id": f"a{len(lines)}", "label": "abuse", "meta": meta, "features": features}))
    for a in range(accounts):
        for _ in range(per_group):
            features = feature_row(rng, False)
            features["account.id"] = f"user-{a}"
            lines.append(json.dumps({"id": f"b{len(lines)}", "label": "benign", "meta": {"account": f"user-{a}"},
                                     "features": features}))
    rng.shuffle(lines)
    return lines


def write_labelled(path: Path, seed: int = 1, extra: list[str] | None = None, **sizes: int) -> Path:
    path.write_text("\n".join(labelled_lines(seed, **sizes) + (extra or [])) + "\n", encoding="utf-8")
    return path
