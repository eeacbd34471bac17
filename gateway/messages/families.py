"""The reason families a stop is explained by (no dependencies: the rule loader reads these too)."""

from __future__ import annotations

THIRD_PARTY_APP, TOO_FAST, VERIFY_IDENTITY, TOKEN_MISUSE = "third_party_app", "too_fast", "verify_identity", "token_misuse"
REVOKED = "session_revoked"  # the 401 of a revoked session: not a rule's reason, its own message
FAMILIES = (THIRD_PARTY_APP, TOO_FAST, VERIFY_IDENTITY, TOKEN_MISUSE)
ENTRIES = (*FAMILIES, REVOKED)

# A rule without ``reason:`` is explained by its action's family (a threshold's decision likewise).
DEFAULT_REASON = {"block": THIRD_PARTY_APP, "revoke": THIRD_PARTY_APP, "absorb": THIRD_PARTY_APP,
                  "challenge": VERIFY_IDENTITY, "throttle": TOO_FAST}
STOPPING = ("block", "revoke", "challenge", "throttle")  # the actions whose reason a client reads


def family_slug(family: str) -> str:
    """The family as it appears in a problem type URI: third_party_app -> third-party-app."""
    return family.replace("_", "-")
