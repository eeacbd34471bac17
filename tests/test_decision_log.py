"""The decision log: lines reach their file, in order, even when close() lands mid-flush; drops are counted."""

from __future__ import annotations

import asyncio
import json

from gateway.decision_log import DecisionLog
from gateway.settings import DecisionLog as LogSettings


async def test_every_line_reaches_the_file_when_close_lands_mid_flush(tmp_path, capsys) -> None:
    path = tmp_path / "decisions.jsonl"
    log = DecisionLog(LogSettings(sink=str(path), queue_size=100_000))
    await log.start()
    for burst in range(20):
        for i in range(500):
            log.record({"decision_id": f"{burst}-{i}", "risk": 0.5, "rules": ["r"]})
        await asyncio.sleep(0)  # the writer thread starts a flush; the next burst and close() race it
    await log.close()
    lines = path.read_text().splitlines()
    assert [json.loads(line)["decision_id"] for line in lines] == [f"{b}-{i}" for b in range(20) for i in range(500)]
    assert log.written == 10_000 and log.drops == 0
    assert capsys.readouterr().out == ""  # nothing strayed to stdout after the file closed


async def test_a_full_queue_drops_and_counts_instead_of_blocking(tmp_path) -> None:
    log = DecisionLog(LogSettings(sink=str(tmp_path / "d.jsonl"), queue_size=10))
    for i in range(25):  # not started: nothing drains the queue
        log.record({"decision_id": str(i)})
    assert log.drops == 15
    await log.start()
    await log.close()
    assert len((tmp_path / "d.jsonl").read_text().splitlines()) == 10


async def test_a_line_orjson_refuses_is_written_escaped_and_the_writer_goes_on(tmp_path) -> None:
    """A lone surrogate (a token claim may hold one: JSON allows "\\ud800") once stopped the writer for good."""
    path = tmp_path / "d.jsonl"
    log = DecisionLog(LogSettings(sink=str(path), queue_size=100))
    await log.start()
    for session in ("s1", "\ud800", "s3"):
        log.record({"decision_id": session, "session": session})
        await asyncio.sleep(0.05)
    await log.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["session"] for line in lines] == ["s1", "\ud800", "s3"] and log.written == 3


async def test_a_line_given_as_a_function_is_built_by_the_writer_and_a_faulty_one_is_dropped(tmp_path, caplog) -> None:
    """The engine hands the log a function: the line is built off the request path, in the writer."""
    path = tmp_path / "d.jsonl"
    log = DecisionLog(LogSettings(sink=str(path), queue_size=100))
    built = []

    def line(n: int):
        def build() -> dict:
            built.append(n)
            return {"decision_id": str(n), "explain": 1 / n}
        return build

    for n in (1, 0, 2):
        log.record(line(n))
    assert built == []
    await log.start()
    await log.close()
    assert [json.loads(x)["decision_id"] for x in path.read_text().splitlines()] == ["1", "2"]
    assert built == [1, 0, 2] and log.written == 2 and log.drops == 1
    assert "a line could not be built" in caplog.text


async def test_a_refused_token_is_logged_with_where_it_came_from(tmp_path) -> None:
    """A flood of bad tokens must be traceable by address: the line carries the client's ip, not null."""
    import dataclasses

    from gateway.demo.app import DEMO_CONFIG
    from gateway.engine import Engine
    from gateway.facts import RequestFacts
    from gateway.settings import load_settings

    settings = load_settings(DEMO_CONFIG)
    path = tmp_path / "decisions.jsonl"
    engine = Engine(dataclasses.replace(settings, reload=False, log=dataclasses.replace(settings.log, sink=str(path))))
    await engine.start()
    try:
        facts = RequestFacts(ts=1.7e9, method="POST", path="/v1/media/m1/like", peer="198.51.100.9",
                             headers={"authorization": "Bearer forged.token.here"}, action="like", target="m1")
        assert (await engine.decide(facts)).decision.value == "unauthenticated"
    finally:
        await engine.close()
    [line] = [json.loads(x) for x in path.read_text().splitlines()]
    assert line["ip"] == "198.51.100.9" and line["subject"] is None and line["decision"] == "unauthenticated"
