"""A decision computes what its readers read: the plan per action kind, the state kept, pins, explanations.

The engine plans, per action kind, the features the loaded rules (enforced and shadow, limited by
``on``) and the loaded model read; the collector skips the families nobody reads, and every
decision is the one computing every feature gives. The state stays write-only where nobody reads it,
so a rule loaded later reads full windows. Sticky decisions reach the store right after the
decision, and explanations are built where they are read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from pathlib import Path

from frontdoor_support import APP_UA, HOME_IP, HOSTING_IP, rule_pack
from signals_support import T0, Driver, moved, office, phone, principal, server

from gateway.demo.app import DEMO_CONFIG, issue_token
from gateway.engine import Engine
from gateway.facts import RequestFacts
from gateway.frontdoors.replay import Problems, decide, read_records
from gateway.model.scorer import Scorer
from gateway.offline.personas import Persona
from gateway.offline.scenarios import Scenario, build
from gateway.policy import RuleSet
from gateway.settings import PACKAGE_DIR, load_settings
from gateway.signals.collector import EVERYTHING, FAMILIES, Demand
from gateway.state.keys import Pin
from gateway.state.memory import MemoryStore
from gateway.state.store import Stick
from gateway.verdict import Decision, LazyText, Verdict

RULES = PACKAGE_DIR / "rules"
# People and one campaign of each abuse family, over a few hours: every default pack decides something.
MIX = Scenario("plan", "tune", 4.0, 1_709_510_400.0 + 12 * 3600, (
    Persona("home_broadband", 10), Persona("mobile_cgnat", 12), Persona("traveller", 4), Persona("household", 3),
    Persona("like_farm", 1, "crude", 30), Persona("collusion_ring", 1, "medium", 15),
    Persona("password_sharing", 1, "crude", 6), Persona("leaked_token", 1, "crude", 3), Persona("cyborg", 1, "medium", 3)))


def rule(rid: str, when: str, *, action: str = "block", on: str = '"*"', extra: str = "") -> str:
    return f"\n  - id: {rid}\n    description: {rid}\n    on: {on}\n    when: {when}\n    action: {action}\n{extra}"


def settings_with(tmp_path: Path, pack: str | None, *, model: bool = False):
    """The demo config with only ``pack`` (None: the default packs), and the default model or none."""
    s = load_settings(DEMO_CONFIG)
    rules = tuple(s.resolve(r) for r in s.rules)
    if pack is not None:
        (tmp_path / "pack.yaml").write_text(pack)
        rules = (str(tmp_path / "pack.yaml"),)
    return dataclasses.replace(s, rules=rules, reload=False, model=s.model if model else None,
                               log=dataclasses.replace(s.log, sink=None))


def like(token: str, ts: float, ip: str = HOME_IP, target: str = "m1", device: str = "dev-1") -> RequestFacts:
    headers = {"authorization": f"Bearer {token}", "user-agent": APP_UA, "accept": "application/json",
               "accept-language": "en-US", "x-forwarded-for": ip, "x-device-id": device}
    return RequestFacts(ts=ts, method="POST", path=f"/v1/media/{target}/like", peer="127.0.0.1", headers=headers,
                        action="like", target=target)


# -- what the rules and the model read ----------------------------------------------------------------


def test_the_rules_read_their_conditions_features_for_the_kinds_they_run_on(tmp_path) -> None:
    pack = (rule_pack("p", rule("likes-only", "session.travel_km > 100", on="[like]"),
                      rule("everywhere-in-shadow", "account.hour_entropy > 4", extra="    mode: shadow\n"))
            + "\nallowlists:\n  accounts: [brand]\n")
    (tmp_path / "p.yaml").write_text(pack)
    rules = RuleSet.load(tmp_path / "p.yaml")
    assert rules.kinds == {"like"}
    assert rules.reads("like") == {"action", "account.id", "session.travel_km", "account.hour_entropy"}
    assert rules.reads("follow") == {"action", "account.id", "account.hour_entropy"}
    assert rules.reads(None) == rules.reads("follow")


def test_the_engine_plans_from_the_loaded_rules_and_model_and_plans_again_when_they_change(tmp_path, caplog) -> None:
    engine = Engine(settings_with(tmp_path, rule_pack("p", rule("far", "session.travel_km > 100", on="[like]"))),
                    decision_log=False, metrics=False)
    with caplog.at_level(logging.INFO, logger="gateway.engine"):
        like_plan, other = engine._demand("like"), engine._demand("follow")
    assert like_plan.session_travel and like_plan.skipped() == [
        "birth", "session_timing", "account_timing", "account_hours", "account_travel"]
    assert "session_travel" in other.skipped()
    assert engine._demand("like") is like_plan  # planned once per rule set and model
    assert "like: all but birth, session_timing" in caplog.text

    (tmp_path / "q.yaml").write_text(rule_pack("q", rule("pinned", "account.hour_entropy > 4", on="[follow]",
                                                          extra="    sticky: {scope: account, for: 1h}\n")))
    engine.rules.current = RuleSet.load(tmp_path / "q.yaml")  # what a hot reload does
    assert engine._demand("like").account_hours  # a sticky answer to a like shows its rule's features
    assert engine._demand("like").skipped() == ["birth", "session_timing", "session_travel", "account_timing",
                                                  "account_travel"]

    class Model:  # what the engine reads of a model watcher
        current = Scorer.load(PACKAGE_DIR / "model" / "default-model.json")

    engine.scorer = Model()
    model_reads = set(Model.current.feature_names)
    assert {"session.gap_min_s", "account.gap_min_s", "session.speed_kmh"} <= model_reads
    assert engine._demand("like").skipped() == ["account_travel"]  # the model's inputs are read too

    full = Engine(dataclasses.replace(engine.settings), record_features=True, decision_log=False, metrics=False)
    assert full._demand("like") is EVERYTHING and full._demand(None) is EVERYTHING  # replay --features: every one


def test_a_demand_skips_exactly_the_families_none_of_whose_features_it_names() -> None:
    for family, names in FAMILIES.items():
        assert not getattr(Demand(frozenset(n for ns in FAMILIES.values() for n in ns if n not in names)), family)
        assert getattr(Demand(frozenset([names[-1]])), family)
        assert Demand(frozenset([names[0]])).skipped() == [f for f in FAMILIES if f != family]
    assert not EVERYTHING.skipped()


async def test_a_pruned_demand_computes_every_feature_it_reads_as_the_full_one_and_sends_the_same_ops() -> None:
    """Two collectors on their own stores, one computing everything, one what a few rules read."""
    reads = frozenset(["session.ua_changed", "account.gap_cv", "target.accounts_5m", "ip.accounts_1h"])
    pruned = Demand(reads)
    assert pruned.skipped() == ["session_timing", "session_travel", "account_hours", "account_travel"]
    skipped = {n for family in pruned.skipped() for n in FAMILIES[family]}
    full_run, pruned_run = Driver(), Driver()
    own, web = principal("owner", device="android-dev-1"), principal("owner", session="web", client="engage-web")
    ring = [principal(f"ring-{i}", client="partner-scheduler") for i in range(12)]
    steps = [(own, phone(), "p-1"), (own, phone(), "p-2"), (web, office(device="laptop"), "p-2"),
             (own, moved(phone(), ip="100.65.1.9", lat=40.7, lon=-74.0), "p-3"),
             *((who, server(ip=f"203.0.113.{i + 1}"), "bought") for i, who in enumerate(ring)),
             (own, server(ip="203.0.113.99"), "bought"), (own, phone(), "p-4")]
    await full_run.birth(own, phone(), T0)
    await pruned_run.birth(own, phone(), T0)
    computed: set[str] = set()
    for n, (who, fp, target) in enumerate(steps):
        ts = T0 + 30.0 + 47.0 * n
        facts = RequestFacts(ts=ts, method="POST", path="/x", peer="127.0.0.1", headers={}, action="like",
                             target=target)
        plans = [run.collector.plan(facts, who, fp, demand) for run, demand in ((full_run, EVERYTHING),
                                                                               (pruned_run, pruned))]
        assert plans[0].ops == plans[1].ops  # the state is kept whatever is read
        full, part = [run.collector.features(plan, (await run.store.exchange(plan.ops, ts)).values)
                      for run, plan in zip((full_run, pruned_run), plans, strict=True)]
        assert part == {k: v for k, v in full.items() if k not in skipped}
        computed.update(part)
    assert reads <= computed
    assert full_run.collector.pending == pruned_run.collector.pending  # and so are the marks and peers learned


async def test_decisions_with_the_pruned_plan_are_those_with_every_feature_on_a_generated_scenario(tmp_path) -> None:
    """Each default pack alone (their plans skip families) and all of them with the model (skipping none)."""
    lines = list(build(MIX, 11).lines())

    async def verdicts(settings, features: bool) -> list[tuple]:
        out = []
        async for _, v, status, _ in decide(settings, read_records(lines, strict=True, problems=Problems()),
                                            features=features):
            if v is not None:
                out.append((v.decision, v.enforced, v.rules, v.shadow_rules, v.risk, v.score, v.sticky, v.explain,
                            v.reason, status))
        return out

    s = load_settings(DEMO_CONFIG)
    cases = [dataclasses.replace(s, rules=(str(RULES / pack),), model=None, reload=False)
             for pack in ("like-farms.yaml", "lockstep.yaml", "token-replay.yaml", "travel.yaml")]
    cases.append(dataclasses.replace(s, reload=False))
    stops = 0
    for settings in cases:
        engine = Engine(settings, decision_log=False, metrics=False)
        assert settings.model or engine._demand("like").skipped(), settings.rules
        pruned, full = await verdicts(settings, False), await verdicts(settings, True)
        assert pruned == full, settings.rules
        stops += sum(1 for v in pruned if v[0] is not Decision.ALLOW)
    assert stops > 100  # the rules decided things, on both sides


# -- the state nobody reads is kept -------------------------------------------------------------------


async def test_a_rule_loaded_later_reads_windows_kept_before_anything_read_them(tmp_path) -> None:
    """Write-only state: twelve accounts act from one hosting ASN under rules that never read the ASN's
    accounts; a hot reload brings rules that do, with ``<``. The thirteenth account's request is seen with
    thirteen accounts on the ASN: the busy-ASN rule fires, the few-accounts one does not."""
    engine = Engine(settings_with(tmp_path, rule_pack("p", rule("tor", 'net.class == "tor"'))),
                    decision_log=False, metrics=False)
    await engine.start()
    try:
        assert not {"asn.accounts_1h", "tls_ua.accounts_1h"} & engine.rules.current.reads("like")
        now = time.time()
        for i in range(12):
            token = issue_token(f"acct-{i}", client_id="engage-android", device_id=f"dev-{i}", now=now)
            v = await engine.decide(like(token, now + i, ip=f"21.0.0.{10 + i}", target=f"m{i}", device=f"dev-{i}"))
            assert v.decision is Decision.ALLOW
        (tmp_path / "later.yaml").write_text(rule_pack(
            "later", rule("few-on-the-asn", "asn.accounts_1h < 3", on="[like]"),
            rule("busy-asn", "asn.accounts_1h >= 13", action="log", on="[like]")))
        engine.rules.current = RuleSet.load(tmp_path / "later.yaml")
        token = issue_token("acct-12", client_id="engage-android", device_id="dev-12", now=now)
        v = await engine.decide(like(token, now + 20, ip=HOSTING_IP, target="m-new", device="dev-12"))
        assert v.rules == ["busy-asn"] and v.decision is Decision.LOG
    finally:
        await engine.close()


# -- sticky decisions reach the store right after the decision ----------------------------------------


PIN_HOSTING = rule_pack("p", rule("hosting", 'net.class == "hosting"', on="[like]",
                                  extra="    sticky: {scope: account, for: 1h}\n"))


async def test_a_sticky_decision_is_written_right_after_it_is_made_and_a_lift_after_it_stands(tmp_path) -> None:
    settings = settings_with(tmp_path, PIN_HOSTING)
    store = MemoryStore()
    here, there = Engine(settings, store=store, decision_log=False), Engine(settings, store=store, decision_log=False)
    await here.start()
    await there.start()
    try:
        now = time.time()
        token = issue_token("carol", client_id="engage-android", device_id="dev-1", now=now)
        first = await here.decide(like(token, now, ip=HOSTING_IP))
        assert first.decision is Decision.BLOCK and not first.sticky and first.stuck
        await asyncio.sleep(0)  # the write runs off the request path, at once
        assert not here.collector.pending
        other_session = issue_token("carol", client_id="engage-android", device_id="dev-1", now=now + 1)
        seen = await there.decide(like(other_session, now + 1))  # another replica, from home
        assert seen.sticky and seen.decision is Decision.BLOCK and seen.rules == ["hosting"]

        lift = Pin("allow", "lifted", now + 2).encode()
        await store.exchange([Stick(key, lift, now + 2) for key, _, _ in first.stuck], now + 2)  # an operator
        after = await here.decide(like(token, now + 3))  # the replica that pinned it, from home
        assert after.decision is Decision.ALLOW and not after.sticky
    finally:
        await here.close()
        await there.close()


async def test_a_backtest_sends_its_sticky_decisions_with_its_next_exchange(tmp_path) -> None:
    """Replay stays reproducible: no task, the pin goes first in the next request's one exchange."""
    engine = Engine(settings_with(tmp_path, PIN_HOSTING), decision_log=False, metrics=False)
    await engine.start()
    try:
        now = time.time()
        token = issue_token("dave", client_id="engage-android", device_id="dev-2", now=now)
        assert (await engine.decide(like(token, now, ip=HOSTING_IP, device="dev-2"))).decision is Decision.BLOCK
        await asyncio.sleep(0)
        assert [op.key for op in engine.collector.pending] == ["a:dave"]
        again = await engine.decide(like(token, now + 1, device="dev-2"))
        assert again.sticky and not engine.collector.pending
    finally:
        await engine.close()


# -- explanations are built where they are read ----------------------------------------------------------


async def test_an_explanation_is_built_when_first_read_and_the_log_writes_it(tmp_path) -> None:
    settings = settings_with(tmp_path, rule_pack("p", rule("hosting", 'net.class == "hosting"')), model=True)
    log = tmp_path / "decisions.jsonl"
    settings = dataclasses.replace(settings, log=dataclasses.replace(settings.log, sink=str(log)))
    engine = Engine(settings, metrics=False)
    await engine.start()
    try:
        now = time.time()
        v = await engine.decide(like(issue_token("erin", client_id="engage-android", device_id="dev-1", now=now),
                                     now, ip=HOSTING_IP))
        assert not isinstance(Verdict.explain.slot.__get__(v), str)  # nothing read it yet
        assert v.explain.startswith("block by hosting: hosting (net.class=hosting); model ")
        assert isinstance(Verdict.explain.slot.__get__(v), str)  # built once, kept
    finally:
        await engine.close()
    assert f'"explain":"{v.explain}"' in log.read_text()


def test_a_fault_building_an_explanation_is_logged_and_named_not_raised(caplog) -> None:
    v = Verdict("d-1", Decision.BLOCK, True, explain=lambda: f"{1 / 0}")
    with caplog.at_level(logging.ERROR, logger="gateway.verdict"):
        assert v.explain == "explanation unavailable (logged)"
    assert "Verdict.explain could not be built" in caplog.text
    assert isinstance(Verdict.explain, LazyText)
    assert dataclasses.replace(Verdict("d-2", Decision.LOG, True, explain=lambda: "why"), enforced=False).explain == "why"
