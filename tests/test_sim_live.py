"""Live mock clients over real HTTP: the demo API behind the gateway, served by uvicorn."""

from __future__ import annotations

from gateway.demo.app import build_protected_demo
from gateway.offline import Persona, run_live
from gateway.offline.live import outcome


async def test_abusive_clients_are_blocked_and_people_are_served(serve) -> None:
    personas = [Persona("home_broadband", 8), Persona("like_farm", 1, "crude", 10)]
    with serve(build_protected_demo()) as url:
        result = await run_live(url, personas, seed=4, concurrency=8, limit=6000)
    assert result.errors == 0
    logins = [s for s in result.sent if s.meta["kind"] == "login"]
    assert logins and all(s.status == 200 for s in logins), "the demo token endpoint issued every session"
    people = [s for s in result.sent if s.label == "benign" and s.meta["kind"] != "login"]
    farm = [s for s in result.sent if s.label == "abuse" and s.meta["kind"] != "login"]
    assert people and farm
    assert all(outcome(s.status) == "served" for s in people), [s.status for s in people if s.status != 200][:5]
    stopped = [s for s in farm if outcome(s.status, s.step_up) in ("blocked", "challenged")]
    assert len(stopped) > len(farm) * 0.5 and all(s.decision_id for s in stopped)
    assert any(outcome(s.status) == "blocked" for s in farm)
