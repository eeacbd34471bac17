"""Careful campaigns through the real engine: what catches them, and the people next to them left alone."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.frontdoors.replay import replay_main
from gateway.offline.personas import Persona
from gateway.offline.scenarios import Scenario, build

RULE = "same-crowd-target-after-target"
DAY = Scenario("crowd", "tune", 24.0, 1_709_510_400.0,
               (Persona("home_broadband", 20), Persona("power_user", 6), Persona("like_farm", 1, "careful", 30)))
SHARING = Scenario("pace", "tune", 24.0, 1_709_510_400.0,
                   (Persona("home_broadband", 20), Persona("leaked_token", 1, "careful", 4),
                    Persona("password_sharing", 1, "careful", 8)))


def replayed(scenario: Scenario, seed: int, tmp_path: Path, capsys) -> tuple[dict, list[dict]]:
    traffic, out = tmp_path / "traffic.jsonl", tmp_path / "decisions.jsonl"
    traffic.write_text("".join(line + "\n" for line in build(scenario, seed).lines()))
    assert replay_main(["--input", str(traffic), "--output", str(out)]) == 0, capsys.readouterr().err
    records = {r["id"]: r for r in map(json.loads, traffic.read_text().splitlines())}
    return records, [d for d in map(json.loads, out.read_text().splitlines()) if d["meta"].get("kind") != "login"]


def test_a_careful_farms_pool_is_challenged_member_by_member(tmp_path: Path, capsys) -> None:
    """Each session of the pool is challenged where it meets the pool itself; none is pinned by another's match
    (a challenge pinned to a crowd or a session spread one mistaken match over a day of a person's actions)."""
    records, actions = replayed(DAY, 5, tmp_path, capsys)
    farm = [d for d in actions if d["label"] == "abuse"]
    matched = {records[d["id"]]["headers"]["authorization"] for d in farm if RULE in d["rules"]}
    sessions = {records[d["id"]]["headers"]["authorization"] for d in farm}  # one token per farm session
    assert len(matched) * 2 >= len(sessions), "the rule meets most of the pool on its own"
    assert not [d for d in actions if d.get("sticky") or "sticky" in d["explain"]]
    people = [d for d in actions if d["label"] == "benign"]
    assert people and not [d for d in people if d["enforced"] and d["decision"] != "allow"]


def test_a_password_sharing_service_is_caught_by_its_pace_not_the_owners(tmp_path: Path, capsys) -> None:
    _, actions = replayed(SHARING, 6, tmp_path, capsys)
    service = [d for d in actions if d["meta"].get("family") == "password_sharing"]
    paced = [d for d in service if "scheduler-pace-on-home-line" in d["rules"]]
    assert len(paced) > len(service) // 4, "the service's own pace gives it away"
    assert all(d["decision"] == "challenge" for d in paced)
    people = [d for d in actions if d["label"] == "benign"]  # the customers' phones, leaked tokens' victims, others
    assert {d["meta"].get("persona") for d in people} >= {"sharing_customer", "leak_victim", "home_broadband"}
    assert people and not [d for d in people if d["enforced"] and d["decision"] != "allow"]
