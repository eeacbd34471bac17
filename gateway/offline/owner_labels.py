"""Owners' answers as labels for a backtest: ``gateway replay --labels FILE``.

The file is what the gateway's answer links write (``notify.labels``): one JSON
line per decision id, ``{"decision_id", "label": "false_positive" | "confirmed", ...}``;
the last line for an id wins. A replay record whose ``id`` is such a decision
id is labelled ``benign`` (false_positive: the owner said it was them) or
``abuse`` (confirmed), over any label the record carries, and the summary's
``owner_labels`` says how many of each the replayed rules still stop.
"""

from __future__ import annotations

import json
from pathlib import Path

FALSE_POSITIVE, CONFIRMED = "false_positive", "confirmed"
AS_LABEL = {FALSE_POSITIVE: "benign", CONFIRMED: "abuse"}
MAX_LABELS = 1_000_000


class LabelsError(ValueError):
    pass


def load_labels(path: str | Path) -> dict[str, str]:
    """decision id -> false_positive | confirmed; LabelsError naming the line and the fix."""
    labels: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                    decision_id, label = obj["decision_id"], obj["label"]
                except (ValueError, KeyError, TypeError):
                    raise LabelsError(f"{path}:{n}: not a label line; each line is JSON with decision_id and "
                                      "label (as notify.labels writes them)") from None
                if label not in AS_LABEL or not isinstance(decision_id, str):
                    raise LabelsError(f"{path}:{n}: label {label!r} is not false_positive or confirmed")
                labels[decision_id] = label
                if len(labels) > MAX_LABELS:
                    raise LabelsError(f"{path}: more than {MAX_LABELS} labels; split the file")
    except OSError as exc:
        raise LabelsError(f"{path}: cannot read the labels file ({exc.strerror})") from None
    return labels


class OwnerTally:
    def __init__(self) -> None:
        self.counts = {FALSE_POSITIVE: 0, CONFIRMED: 0, "false_positive_still_stopped": 0, "confirmed_stopped": 0}

    def add(self, owner: str, stopped: bool) -> None:
        self.counts[owner] += 1
        if stopped:
            self.counts["false_positive_still_stopped" if owner == FALSE_POSITIVE else "confirmed_stopped"] += 1

    def line(self) -> str:
        c = self.counts
        return (f"owner labels: {c[FALSE_POSITIVE]} false positive ({c['false_positive_still_stopped']} still stopped), "
                f"{c[CONFIRMED]} confirmed ({c['confirmed_stopped']} stopped)")
