"""Traffic generation: deterministic by seed, valid records, real tokens, labels and the network split."""

from __future__ import annotations

import ipaddress
import json
from urllib.parse import parse_qs

import jwt
import pytest

from gateway.offline.cli import simulate_main
from gateway.offline.personas import ABUSE, BENIGN, EVASIONS, Persona
from gateway.offline.records import parse_record
from gateway.offline.scenarios import SCENARIOS, Scenario, build, get_scenario
from gateway.offline.tokens import DEMO_DIR
from gateway.offline.world import load_world

JWKS = json.loads((DEMO_DIR / "demo-jwks.json").read_text())
PUBLIC_KEY = jwt.PyJWK(JWKS["keys"][0]).key


def lines_of(name: str, seed: int) -> list[str]:
    return list(build(get_scenario(name), seed).lines())


def test_same_seed_same_bytes_other_seed_other_traffic() -> None:
    a, b, c = lines_of("smoke", 7), lines_of("smoke", 7), lines_of("smoke", 8)
    assert a == b
    assert a != c


def test_cli_writes_the_same_file_for_a_seed(tmp_path) -> None:
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    assert simulate_main(["--scenario", "like_farm-crude", "--seed", "3", "--out", str(one)]) == 0
    assert simulate_main(["--scenario", "like_farm-crude", "--seed", "3", "--out", str(two)]) == 0
    assert one.read_bytes() == two.read_bytes() and one.stat().st_size > 0


def test_cli_rejects_an_unknown_scenario(capsys) -> None:
    assert simulate_main(["--scenario", "nope"]) == 2
    assert "unknown scenario 'nope'" in capsys.readouterr().err


def test_records_validate_are_ordered_and_labelled() -> None:
    last = 0.0
    ids = set()
    for n, line in enumerate(lines_of("smoke", 1), 1):
        rec = parse_record(line, n)
        assert rec.ts >= last
        last = rec.ts
        assert rec.id not in ids
        ids.add(rec.id)
        assert rec.label in ("abuse", "benign")
        assert rec.meta["scenario"] == "smoke" and rec.meta["account"]
        assert ("persona" in rec.meta) != ("family" in rec.meta)
        if rec.label == "abuse":
            assert rec.meta["evasion"] in EVASIONS and rec.meta["campaign"]
        assert rec.client == "127.0.0.1"
        ipaddress.ip_address(rec.headers["x-forwarded-for"])


def test_sessions_are_born_at_the_token_endpoint_with_real_tokens() -> None:
    born: dict[str, dict] = {}
    for n, line in enumerate(lines_of("password_sharing-crude", 2), 1):
        rec = parse_record(line, n)
        if rec.path == "/oauth/token":
            form = parse_qs(rec.body or "")
            assert form["grant_type"] == ["password"] and form["username"] == [rec.meta["account"]]
            assert rec.response is not None and rec.response.status == 200
            body = json.loads(rec.response.body)
            assert body["token_type"] == "Bearer" and body["expires_in"] > 0
            claims = jwt.decode(body["access_token"], PUBLIC_KEY, algorithms=["RS256"], audience="engagement-api",
                                issuer="https://demo.gateway.local", options={"verify_exp": False, "verify_iat": False})
            assert jwt.get_unverified_header(body["access_token"])["kid"] == "demo-1"
            assert claims["sub"] == rec.meta["account"] and claims["client_id"] == form["client_id"][0]
            assert {"sid", "jti", "iat", "exp"} <= set(claims)
            born[body["access_token"]] = claims
        else:
            token = rec.headers["authorization"].removeprefix("Bearer ")
            assert token in born, "every action uses a token issued earlier in the file"
            assert born[token]["sub"] == rec.meta["account"]
            assert born[token]["iat"] <= rec.ts < born[token]["exp"]


@pytest.mark.parametrize("name", ["tune", "holdout"])
def test_networks_honour_the_split(name: str) -> None:
    world = load_world()
    scenario = get_scenario(name)
    small = Scenario(name, scenario.split, 3.0, scenario.start,
                     tuple(Persona(p.name, min(p.count, 3), p.evasion, p.size and min(p.size, 4)) for p in scenario.personas))
    splits = set()
    for line in build(small, 5).lines():
        ip = ipaddress.ip_address(json.loads(line)["headers"]["x-forwarded-for"])
        net = next(n for n in world.networks if ip in ipaddress.ip_network(n.cidr))
        splits.add(net.split)
    assert splits == ({"tune"} if name == "tune" else {"tune", "holdout"})


def test_every_persona_and_family_has_a_small_scenario_with_its_label() -> None:
    for persona in BENIGN:
        labels = {json.loads(x)["label"] for x in lines_of(persona, 1)}
        assert labels == {"benign"}, persona
    for family in ABUSE:
        for ev in EVASIONS:
            recs = [json.loads(x) for x in lines_of(f"{family}-{ev}", 1)]
            abuse = [r for r in recs if r["label"] == "abuse"]
            assert abuse, f"{family}-{ev} made no abuse"
            assert {r["meta"]["family"] for r in abuse} == {family}
            assert {r["meta"]["evasion"] for r in abuse} == {ev}


def test_crude_and_careful_differ_as_documented() -> None:
    crude = [json.loads(x) for x in lines_of("password_sharing-crude", 1)]
    careful = [json.loads(x) for x in lines_of("password_sharing-careful", 1)]
    crude_ua = {r["headers"]["user-agent"] for r in crude if r["label"] == "abuse"}
    careful_ua = {r["headers"]["user-agent"] for r in careful if r["label"] == "abuse"}
    assert len(crude_ua) == 1 and not next(iter(crude_ua)).startswith("Engage/")
    assert all(ua.startswith("Engage/") for ua in careful_ua)


def test_scenarios_are_named_as_documented() -> None:
    assert {"tune", "holdout", "smoke"} <= set(SCENARIOS)
    assert get_scenario("tune").split == "tune" and get_scenario("holdout").split == "holdout"
