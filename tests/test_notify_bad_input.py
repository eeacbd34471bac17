"""What a person can get wrong around notifications: a webhook that hangs, refuses or fails, a catalogue with a
missing entry or a placeholder typo, a tampered or expired link, a rule's reason."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from conftest import free_port, running
from test_owner_notice import Receiver, verified

from gateway.demo.app import DEMO_CONFIG, issue_token
from gateway.engine import Engine
from gateway.facts import RequestFacts
from gateway.messages import Catalogue
from gateway.messages.catalogue import BUILTIN_FOLDER
from gateway.notify.links import NOT_ME, Link, LinkError, LinkSigner
from gateway.policy.errors import PolicyError
from gateway.policy.ruleset import RuleSet
from gateway.settings import ConfigError, settings_from_dict
from gateway.verdict import Decision

PACK = """
pack: block-hosting
description: every like from a datacenter is an app's
rules:
  - id: like-from-datacenter
    description: a like from a hosting network
    on: [like]
    when: net.class == "hosting"
    action: block
    reason: third_party_app
"""


def engine(tmp_path: Path, webhook: dict) -> Engine:
    pack = tmp_path / "pack.yaml"
    pack.write_text(PACK)
    data = yaml.safe_load(DEMO_CONFIG.read_text())
    data.update(log={"sink": None}, reload=False, rules=[str(pack)], model=None,
                notify={"webhook": {"secret": "s3cret", "backoff_s": 0.05, "attempts": 3, "timeout_s": 1.0,
                                    "dead_letter": str(tmp_path / "dead.jsonl"), **webhook}, "queue_size": 4})
    return Engine(settings_from_dict(data, source=str(DEMO_CONFIG)))


def like(i: int) -> RequestFacts:
    token = issue_token(f"owner-{i}", client_id="engage-android", device_id=f"emu-{i}", session_id=f"s-{i}")
    return RequestFacts(time.time(), "POST", f"/v1/media/m{i}/like", "127.0.0.1",
                        {"authorization": f"Bearer {token}", "x-forwarded-for": "21.0.0.10", "user-agent": "okhttp/4.12.0"},
                        "like", f"m{i}")


async def stops(e: Engine, n: int) -> float:
    """Decide n blocked likes (each another account: no debounce); the slowest decision, in seconds."""
    slowest = 0.0
    for i in range(n):
        started = time.perf_counter()
        v = await e.decide(like(i))
        slowest = max(slowest, time.perf_counter() - started)
        assert v.decision is Decision.BLOCK
    return slowest


@pytest.mark.parametrize("behaviour", ["hangs", "fails-then-recovers"])
async def test_a_slow_or_failing_webhook_never_slows_a_request_and_loses_nothing_below_the_bound(tmp_path, behaviour):
    receiver = Receiver(hang_s=0.6) if behaviour == "hangs" else Receiver(statuses=[500, 503])
    port = free_port()
    with running(receiver.app, port):
        e = engine(tmp_path, {"url": f"http://127.0.0.1:{port}/hook", "timeout_s": 5.0})
        await e.start()
        try:
            assert await stops(e, 4) < 0.25  # the decisions never wait for the webhook
            assert await e.notifier.settle(20.0)
        finally:
            await e.close()
    assert len(receiver.got) == 4 and all(verified("s3cret", h, b) for h, b in receiver.got)
    assert not (tmp_path / "dead.jsonl").exists()


async def test_a_refusing_webhook_dead_letters_every_event_and_drops_above_the_bound_are_counted(tmp_path):
    e = engine(tmp_path, {"url": f"http://127.0.0.1:{free_port()}/hook"})  # nothing listens there
    await e.start()
    try:
        assert await stops(e, 10) < 0.25
        box = e.notifier.outboxes[0]
        await e.notifier.settle(20.0)
    finally:
        await e.close()
    dead = [json.loads(x) for x in (tmp_path / "dead.jsonl").read_text().splitlines()]
    dropped = box.dropped + e.notifier.dropped_jobs
    assert dropped + len(dead) == 10 and dropped > 0  # every event: dead-lettered or counted as dropped
    assert all(d["item"]["type"] == "gateway.third_party_app.detected" for d in dead)


def catalogue_folder(tmp_path: Path, edit) -> Path:
    folder = tmp_path / "messages"
    folder.mkdir()
    for f in BUILTIN_FOLDER.glob("*.yaml"):
        (folder / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    edit(folder)
    return folder


def test_a_catalogue_missing_an_entry_is_a_config_error_naming_file_key_and_fix(tmp_path):
    def drop(folder: Path) -> None:
        data = yaml.safe_load((folder / "de.yaml").read_text(encoding="utf-8"))
        del data["messages"]["too_fast"]["detail"]
        (folder / "de.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")

    with pytest.raises(ConfigError) as info:
        Catalogue.load(catalogue_folder(tmp_path, drop))
    assert "de.yaml: messages.too_fast.detail: missing; translate it from en.yaml" in str(info.value)


def test_a_placeholder_typo_is_a_config_error(tmp_path):
    def typo(folder: Path) -> None:
        text = (folder / "es.yaml").read_text(encoding="utf-8")
        (folder / "es.yaml").write_text(text.replace("{retry_after}", "{retry_afer}"), encoding="utf-8")

    with pytest.raises(ConfigError) as info:
        Catalogue.load(catalogue_folder(tmp_path, typo))
    assert "es.yaml: messages.too_fast.detail: unknown placeholder {retry_afer}; did you mean {retry_after}?" \
        in str(info.value)


def test_a_config_naming_a_bad_catalogue_refuses_to_load(tmp_path):
    folder = catalogue_folder(tmp_path, lambda f: (f / "en.yaml").write_text("locale: en\nmessages: {}\n"))
    data = yaml.safe_load(DEMO_CONFIG.read_text())
    data["messages"] = {"catalogue": str(folder)}
    with pytest.raises(ConfigError, match="messages.third_party_app.title: missing"):
        settings_from_dict(data, source=str(DEMO_CONFIG))


def test_accept_language_picks_the_locale_and_falls_back_to_english():
    c = Catalogue.load()
    assert [c.negotiate(h) for h in ("de-AT", "fr, es;q=0.8", "es;q=0, de;q=0.1", "xx", None, "*", "q=;;,,")] == \
        ["de", "es", "de", "en", "en", "en", "en"]


def test_links_are_signed_expiring_and_cannot_be_turned_into_the_other_answer():
    signer = LinkSigner(b"k", "https://api.example.com", "/.gateway/feedback", 60)
    token = signer.token(Link(NOT_ME, "olivia", "s1", "app", ("d1",), int(time.time()) + 60, "r"))
    assert signer.verify(token, time.time()).answer == NOT_ME
    for bad, reason in ((token.replace(".", "x.", 1), "signature"), ("a.b.c", "malformed"), ("", "malformed")):
        with pytest.raises(LinkError) as info:
            signer.verify(bad, time.time())
        assert info.value.reason == reason
    with pytest.raises(LinkError, match="expired"):
        signer.verify(token, time.time() + 61)


@pytest.mark.parametrize(("rule", "error"), [
    ("action: log\n    reason: too_fast", "reason: only a rule that stops"),
    ("action: block\n    reason: too_quick", "reason 'too_quick' is not one of"),
    ("action: revoke\n    sticky: {scope: account, for: 1h}", "action: revoke pins itself on the session"),
])
def test_a_rules_reason_and_revoke_are_linted(tmp_path, rule, error):
    (tmp_path / "p.yaml").write_text(f"""
rules:
  - id: r
    description: d
    on: [like]
    when: net.class == "hosting"
    {rule}
""")
    with pytest.raises(PolicyError) as info:
        RuleSet.load(tmp_path / "p.yaml")
    assert error in str(info.value)


def test_a_revoke_rule_decides_a_block_that_revokes_with_its_reason(tmp_path):
    (tmp_path / "p.yaml").write_text("""
rules:
  - id: b
    description: d
    on: [like]
    when: net.class == "hosting"
    action: block
    reason: token_misuse
  - id: r
    description: d
    on: [like]
    when: net.class == "hosting"
    action: revoke
""")
    ev = RuleSet.load(tmp_path / "p.yaml").evaluate({"action": "like", "net.class": "hosting"})
    assert (ev.decision, ev.revoke, ev.reason) == (Decision.BLOCK, True, "third_party_app")


REVOKE_AFTER_A_HINT = """
pack: p
description: d
rules:
  - id: a-weight-only-hint
    description: adds a little risk
    on: [like]
    when: net.class == "hosting"
    weight: 1
  - id: revoke-from-datacenter
    description: revokes
    on: [like]
    when: net.class == "hosting"
    action: revoke
    reason: third_party_app
"""


async def test_a_revocation_names_its_rule_and_a_shadow_replica_only_reports_it(tmp_path):
    """The rule that revoked, not the first that matched, is named; a replica in shadow mode lets the session go."""
    import time as _time

    import yaml as _yaml

    from gateway.demo.app import DEMO_CONFIG, issue_token
    from gateway.engine import Engine
    from gateway.facts import RequestFacts
    from gateway.settings import settings_from_dict

    (tmp_path / "p.yaml").write_text(REVOKE_AFTER_A_HINT)
    data = _yaml.safe_load(DEMO_CONFIG.read_text())
    data.update(log={"sink": None}, reload=False, rules=[str(tmp_path / "p.yaml")], model=None)
    engine = Engine(settings_from_dict(data, source=str(DEMO_CONFIG)))
    await engine.start()
    try:
        token = issue_token("alice", client_id="engage-android", device_id="d1", session_id="s1")
        verdicts = []
        for i in range(2):
            engine.shadow = i == 1
            verdicts.append(await engine.decide(RequestFacts(
                _time.time(), "POST", f"/v1/media/m{i}/like", "127.0.0.1",
                {"authorization": f"Bearer {token}", "x-forwarded-for": "21.0.0.10", "user-agent": "okhttp/4.12.0"},
                "like", f"m{i}")))
        first, second = verdicts
        assert first.revoke and first.decided_by == "revoke-from-datacenter"
        assert [record for _, record, _ in first.stuck if record.startswith("revoke|")][0].split("|")[1] \
            == "revoke-from-datacenter"
        assert second.decision.value == "unauthenticated" and "revoke-from-datacenter" in second.explain
        assert second.enforced is False
    finally:
        await engine.close()


async def test_an_answer_link_with_too_many_query_fields_is_a_400_not_a_500():
    import httpx
    import yaml as _yaml

    from gateway.demo.app import DEMO_CONFIG
    from gateway.engine import Engine
    from gateway.frontdoors.middleware import GatewayMiddleware
    from gateway.settings import settings_from_dict

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    data = _yaml.safe_load(DEMO_CONFIG.read_text())
    data.update(log={"sink": None}, reload=False, model=None,
                notify={"links": {"base_url": "http://gw.example", "secret": "x" * 32}})
    settings = settings_from_dict(data, source=str(DEMO_CONFIG))
    engine = Engine(settings)
    protected = GatewayMiddleware(app, engine=engine)
    transport = httpx.ASGITransport(app=protected, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.get(settings.notify.links.path + "?a=1&b=2&c=3&d=4&e=5")
    await engine.close()
    assert answer.status_code == 400 and "link_malformed" in answer.text


def test_console_links_keep_a_subject_in_one_path_segment():
    from gateway.admin.templates import decision_rows

    html = decision_rows([{"decision_id": "d-1", "subject": "a/b?c#d", "action": "like"}])
    assert 'href="account/a%2Fb%3Fc%23d"' in html
