"""The shipped default model: it loads against today's catalogue and scores like a model should."""

from __future__ import annotations

from gateway.model import DEFAULT_MODEL, ModelWatcher, Scorer
from gateway.signals import catalogue

# A phone on its carrier network, acting irregularly, on the device it logged in with.
PERSON = {
    "action": "like", "net.class": "mobile", "net.anonymizer": False, "ua.family": "app", "ua.platform": "android",
    "ua.official_app": True, "tls.platform": "android", "tls.consistent": True, "app.first_party": True,
    "session.known": True, "session.born_class": "mobile", "session.ua_changed": False,
    "session.device_changed": False, "session.country_changed": False, "session.gap_cv": 1.8,
    "session.burstiness": 0.3, "session.gap_median_s": 240.0, "session.gap_min_s": 4.0,
    "ip.accounts_1h": 3, "prefix.sessions_1h": 12, "device.sessions_1h": 1, "account.live_sessions": 1,
}
# A session born on a phone, now replayed from a hosting network with another user agent at a steady beat.
REPLAYED = {
    **PERSON, "net.class": "hosting", "net.anonymizer": True, "ua.family": "http-library", "ua.official_app": False,
    "tls.platform": "linux", "tls.consistent": False, "session.ua_changed": True, "session.class_changed": True,
    "session.asn_changed": True, "session.gap_cv": 0.05, "session.burstiness": -0.9, "session.gap_median_s": 30.0,
    "session.gap_min_s": 28.0, "prefix.sessions_1h": 300, "device.sessions_1h": 1,
}


def test_shipped_model_loads_against_this_catalogue():
    scorer = Scorer.load(DEFAULT_MODEL)
    doc = scorer.document
    assert doc["catalogue_version"] == catalogue.CATALOGUE_VERSION
    assert all(catalogue.lookup(name) is not None for name in scorer.feature_names)
    assert doc["metrics"]["pr_auc"] > 0.5 and "recall_at_fpr_0.001" in doc["metrics"]
    assert ModelWatcher(DEFAULT_MODEL).current.checksum == scorer.checksum


def test_shipped_model_scores_a_replayed_session_above_a_person():
    scorer = Scorer.load(DEFAULT_MODEL)
    person, person_movers = scorer.score(PERSON)
    replayed, movers = scorer.score(REPLAYED)
    assert 0.0 <= person < replayed <= 1.0
    assert len(movers) == 3 and len(person_movers) == 3
    assert all(name in scorer.feature_names for name, _ in movers)
    assert scorer.score({})[0] == scorer.score({})[0]  # every feature absent: still a number
