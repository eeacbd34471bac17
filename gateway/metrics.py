"""Prometheus metrics, in a registry of the gateway's own (mountable as an ASGI app)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_asgi_app

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "gateway_requests", "Protected requests by action kind, decision and whether it was enforced",
    ["action", "decision", "enforced"], registry=REGISTRY,
)
RULE_HITS = Counter("gateway_rule_hits", "Rule matches by rule id and mode", ["rule", "mode"], registry=REGISTRY)
STICKY_REPEATS = Counter(
    "gateway_sticky_repeats", "Requests answered by an earlier sticky decision, by the rule that made it and its scope",
    ["rule", "scope"], registry=REGISTRY,
)
AUTH_FAILURES = Counter("gateway_auth_failures", "Authentication failures by reason", ["reason"], registry=REGISTRY)
DECISION_SECONDS = Histogram(
    "gateway_decision_seconds", "Time the engine took to decide",
    buckets=(25e-6, 50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 50e-3, 0.1),
    registry=REGISTRY,
)
LOG_DROPS = Counter("gateway_decision_log_drops", "Decision log lines dropped because the writer fell behind", registry=REGISTRY)
RELOADS = Counter("gateway_reloads", "Rule pack and model reloads by kind and outcome", ["kind", "outcome"], registry=REGISTRY)
DEGRADED = Counter("gateway_degraded_decisions", "Decisions made on local state because the shared store failed", registry=REGISTRY)


NOTIFY_EVENTS = Counter("gateway_notify_events", "Owner events by type and outcome (sent, debounced)", ["type", "outcome"],
                        registry=REGISTRY)
NOTIFY_DELIVERIES = Counter("gateway_notify_deliveries", "Deliveries by sink and outcome (delivered, retry, dead_letter)",
                            ["sink", "outcome"], registry=REGISTRY)
NOTIFY_DROPS = Counter("gateway_notify_drops", "Items dropped because a sink's queue was full", ["sink"], registry=REGISTRY)
NOTIFY_QUEUED = Gauge("gateway_notify_queued", "Items waiting per sink", ["sink"], registry=REGISTRY)
REVOCATIONS = Counter("gateway_session_revocations", "Sessions revoked by a rule", registry=REGISTRY)
FEEDBACK = Counter("gateway_owner_answers", "Owners' answers to events by answer and outcome", ["answer", "outcome"],
                   registry=REGISTRY)


def metrics_app():
    """The /metrics endpoint as an ASGI app."""
    return make_asgi_app(registry=REGISTRY)


ADMIN_LIFTS = Counter("gateway_admin_lifts", "Sticky decisions lifted from the admin API, by scope", ["scope"],
                      registry=REGISTRY)
ADMIN_EXCEPTIONS = Counter("gateway_admin_exceptions", "Temporary exceptions granted or revoked, by scope and op",
                           ["scope", "op"], registry=REGISTRY)
ADMIN_RECORD_DROPS = Counter("gateway_admin_record_drops",
                             "Decisions not indexed because the index writer fell behind", registry=REGISTRY)
ADMIN_REFUSED = Counter("gateway_admin_refused", "Admin requests refused, by reason", ["reason"], registry=REGISTRY)
