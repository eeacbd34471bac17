"""The mock client users get for their own tests, against the demo API behind the gateway in process."""

import dataclasses

from gateway.demo.app import DEMO_CONFIG, build_protected_demo, issue_token
from gateway.settings import load_settings
from gateway.testing import MockClient, Persona


def protected(tmp_path, rules: str | None = None):
    s = load_settings(DEMO_CONFIG)
    s = dataclasses.replace(s, reload=False, log=dataclasses.replace(s.log, sink=None))
    if rules:
        (tmp_path / "p.yaml").write_text(rules)
        s = dataclasses.replace(s, rules=(str(tmp_path / "p.yaml"),))
    return build_protected_demo(settings=s)


async def test_a_person_on_home_broadband_likes_and_follows(tmp_path):
    app = protected(tmp_path)
    async with MockClient(app=app, ip="11.1.0.20") as alice:
        await alice.login("alice")
        assert (await alice.like("m1")).status_code == 200
        assert (await alice.follow("bob")).status_code == 200
    await app.engine.close()


async def test_a_script_in_a_datacenter_is_stopped_by_a_rule(tmp_path):
    app = protected(tmp_path, """
rules:
  - id: no-dc
    description: test rule
    on: [like]
    when: net.class == "hosting"
    action: block
""")
    async with MockClient(app=app, ip="21.0.0.10", user_agent="python-requests/2.32") as bot:
        await bot.login("carol")
        r = await bot.like("m1")
        assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    await app.engine.close()


def test_personas_are_importable_from_testing():
    assert Persona.__name__ == "Persona"


async def test_concurrent_first_requests_start_the_engine_without_a_lifespan(tmp_path):
    """Without a lifespan, concurrent first requests start the engine once and are all decided normally."""
    import asyncio


    app = protected(tmp_path)
    clients = [MockClient(app=app, ip=f"11.1.0.{20 + i}", device_id=f"d{i}") for i in range(5)]
    for i, c in enumerate(clients):
        c.token = issue_token(f"user{i}", client_id="engage-android", device_id=f"d{i}")
    statuses = await asyncio.gather(*(c.like("m1") for c in clients))
    assert [r.status_code for r in statuses] == [200] * 5
    for c in clients:
        await c.aclose()
    await app.engine.close()


async def test_against_your_own_api_a_minted_token_and_any_request(tmp_path):
    """Your API has no demo token endpoint: give the client a token and send your own paths."""
    from gateway.demo.app import issue_token

    app = protected(tmp_path)
    async with MockClient(app=app, token=issue_token("dana", client_id="engage-android", device_id="d9"),
                          device_id="d9") as dana:
        assert (await dana.request("POST", "/v1/media/m7/like")).status_code == 200
        refused = await dana.request("POST", "/v1/media/m7/like", headers={"authorization": "Bearer forged.token.x"})
        assert refused.status_code == 401
    await app.engine.close()


def test_a_refused_token_is_not_counted_as_a_challenge():
    from gateway.offline.live import outcome

    assert outcome(401) == "unauthenticated" and outcome(401, step_up=True) == "challenged"
    assert (outcome(403), outcome(429), outcome(0), outcome(204)) == ("blocked", "throttled", "failed", "served")


async def test_the_device_id_follows_the_token_unless_one_is_given():
    """A mock that sent a fixed device id beside a token naming another device looked like a borrowed token."""
    seen: list[str] = []

    async def echo(scope, receive, send):
        seen.append(dict(scope["headers"])[b"x-device-id"].decode())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    phone = issue_token("erin", client_id="engage-android", device_id="phone-7")
    async with MockClient(app=echo, token=phone) as erin:
        await erin.request("GET", "/")
    async with MockClient(app=echo, token=phone, device_id="tablet-2") as erin:
        await erin.request("GET", "/")
    async with MockClient(app=echo, token=issue_token("erin", client_id="engage-android", device_id=None)) as erin:
        await erin.request("GET", "/")
    async with MockClient(app=echo, token="opaque-token") as erin:
        await erin.request("GET", "/")
    assert seen == ["phone-7", "tablet-2", "mock-device-1", "mock-device-1"]
