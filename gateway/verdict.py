"""The engine's answer: what to do with a request, and why."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

logger = logging.getLogger("gateway.verdict")


class Decision(StrEnum):
    ALLOW = "allow"
    LOG = "log"
    THROTTLE = "throttle"
    CHALLENGE = "challenge"
    ABSORB = "absorb"
    BLOCK = "block"
    UNAUTHENTICATED = "unauthenticated"


# Which decision wins when several rules match: an explicit allow beats
# everything (allowlists exist to protect known-good traffic), then the
# harshest answer. ``log`` and ``allow``-by-default are the weakest.
PRECEDENCE: tuple[Decision, ...] = (
    Decision.ALLOW,
    Decision.BLOCK,
    Decision.ABSORB,
    Decision.CHALLENGE,
    Decision.THROTTLE,
    Decision.LOG,
)
RANK: dict[Decision, int] = {d: i for i, d in enumerate(PRECEDENCE)}


@dataclass(slots=True)
class Verdict:
    """What the engine decided for one request.

    ``decision`` is what the rules and thresholds concluded; ``enforced`` says
    whether a front door acts on it (False in shadow mode, where the request
    passes and the decision is only logged). ``status`` is what the client
    receives when it is enforced (None: the app answers).
    """

    decision_id: str
    decision: Decision
    enforced: bool
    rules: list[str] = field(default_factory=list)  # enforced rule ids that matched
    shadow_rules: list[str] = field(default_factory=list)  # shadow-mode rule ids that matched
    score: float | None = None  # the model's score, 0..1, None without a model
    risk: float = 0.0  # summed rule weights plus the model's weighted score
    explain: str = ""  # short, human-readable: which rules, which features, why (see LazyText)
    retry_after: int | None = None  # seconds, for throttle
    auth_error: str | None = None  # RFC 6750 error code for unauthenticated
    auth_error_description: str | None = None
    degraded: bool = False  # state store was unavailable; local fallback decided
    sticky: bool = False  # an earlier sticky decision answered
    top_features: list[tuple[str, float]] = field(default_factory=list)  # model's movers
    features: dict[str, object] | None = None  # the feature values, when asked for
    reason: str | None = None  # the reason family the client reads (gateway.messages), for a stop
    revoke: bool = False  # this decision revoked the session (a rule with action revoke)
    decided_by: str | None = None  # the rule id (or threshold:*) whose decision this is, among ``rules``
    stuck: list[tuple[str, str, float]] | None = None  # the sticky decisions it pinned: (entity key, record, until)

    @property
    def passes(self) -> bool:
        """True when the request goes on to the app."""
        if self.decision is Decision.UNAUTHENTICATED:
            return False
        if not self.enforced:
            return True
        return self.decision in (Decision.ALLOW, Decision.LOG)


class LazyText:
    """A dataclass's str field that may be given a function building the text instead: built on the
    first read, then kept. An explanation costs the request nothing unless something reads it (the
    decision log, the console, an owner's notice), and is built where it is read."""

    __slots__ = ("slot", "name")

    def __init__(self, cls: type, name: str) -> None:
        self.slot = cls.__dict__[name]  # the slot the dataclass made for the field
        self.name = f"{cls.__name__}.{name}"

    def __get__(self, obj: object, owner: type | None = None):
        if obj is None:
            return self
        value = self.slot.__get__(obj, owner)
        if value.__class__ is not str:
            try:
                value = value()
            except Exception:  # a fault in an explanation must not fail its reader (a log line, a notice)
                logger.exception("%s could not be built", self.name)
                value = "explanation unavailable (logged)"
            self.slot.__set__(obj, value)
        return value

    def __set__(self, obj: object, value: str | Callable[[], str]) -> None:
        self.slot.__set__(obj, value)

    @classmethod
    def install(cls, owner: type, name: str) -> None:
        setattr(owner, name, cls(owner, name))


LazyText.install(Verdict, "explain")
