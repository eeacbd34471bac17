"""``gateway replay``: recorded traffic through the serving engine, on a virtual clock.

Each record is decided by the same ``Engine`` that serves (same config, rules,
model and state backend), with the clock set to the record's ``ts``. Token
endpoint records feed the engine the response the app gave, so sessions are
born as in production. One output line per input line, in order.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import io
import itertools
import json
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from gateway.facts import RequestFacts
from gateway.frontdoors.door import FrontDoor, TokenResponse
from gateway.model.errors import ModelError
from gateway.offline.decisions import TOKEN_BIRTH, UNPROTECTED, DecisionLines, decision_dict
from gateway.offline.owner_labels import AS_LABEL, LabelsError, OwnerTally, load_labels
from gateway.offline.progress import Progress, count_lines, wanted
from gateway.offline.records import Record, RecordError, open_bytes, parse_record
from gateway.offline.summary import Tally, format_summary
from gateway.policy.errors import PolicyError
from gateway.policy.ruleset import RuleSet
from gateway.routes import Match
from gateway.settings import ConfigError, Settings, load_settings
from gateway.verdict import Decision, Verdict

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "demo" / "config.yaml"
_FATAL = 1
_USAGE = 2
_BATCH = 512  # output lines joined into one write
_READ_AHEAD = 128  # records read, then decided, then written, at a time


class _Clock:
    """The engine's clock in replay: the timestamp of the record being decided."""

    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclasses.dataclass(slots=True)
class Malformed:
    line: int
    error: str


KEPT_PROBLEMS = 100
MAX_LINE_CHARS = 1 << 20  # a record is a request's method, path, headers and a small body


class Problems(list):
    """Malformed lines: the first KEPT_PROBLEMS kept whole, every one counted (memory stays bounded).

    The reader also notes how many lines it read and how many were blank, so a
    summary can say how many lines a file had, not only how many were records.
    """

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.read = 0
        self.blank = 0

    def add(self, problem: Malformed) -> None:
        self.count += 1
        if len(self) < KEPT_PROBLEMS:
            self.append(problem)


def read_records(lines: Iterable[str], *, strict: bool, problems: Problems) -> Iterator[Record]:
    """Parse lines into records; a bad line is recorded in ``problems`` and skipped, or raised if ``strict``.

    Files are read with ``surrogateescape``: a line that is not UTF-8 is one bad line, not the end of the replay.
    """
    n = 0
    for n, text in enumerate(lines, 1):  # once the loop ends, n is the count of lines read
        if not text or text.isspace():
            problems.blank += 1
            continue
        try:
            if len(text) > MAX_LINE_CHARS:
                raise RecordError(n, "json", f"the line is longer than {MAX_LINE_CHARS} characters")
            if not text.isascii():
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError as exc:
                    raise RecordError(n, "json", f"not UTF-8 text (at character {exc.start})") from None
            yield parse_record(text, n)
        except RecordError as exc:
            if strict:
                raise
            problems.add(Malformed(n, str(exc)))
    problems.read = n


REPLAY_STATE_TIMEOUT_MS = 5000.0


def replay_settings(settings: Settings, rules: tuple[str, ...] | None = None) -> Settings:
    """The settings replay runs with: no reloading, and optionally another rule set.

    A backtest wants the exact decisions, not protection from a slow answer: with
    Redis, a short request-path timeout under load would turn some into
    ``degraded`` ones on local state, so replay waits longer.
    """
    changes: dict[str, Any] = {"reload": False}
    if rules is not None:
        changes["rules"] = tuple(str(Path(r).resolve()) for r in rules)
    if settings.state.backend == "redis" and settings.state.timeout_ms < REPLAY_STATE_TIMEOUT_MS:
        changes["state"] = dataclasses.replace(settings.state, timeout_ms=REPLAY_STATE_TIMEOUT_MS)
    return dataclasses.replace(settings, **changes)


Outcome = tuple[Record, Verdict | None, int, str]


async def decide(settings: Settings, records: Iterable[Record], *, features: bool = False, notifier: Any = None
                 ) -> AsyncIterator[Outcome]:
    """Yield (record, verdict, status, explain) for every record, deciding with a fresh engine.

    ``verdict`` is None for a record that passes without a decision (unprotected,
    or the token endpoint, whose response is observed); ``explain`` says which.
    With the memory backend nothing here waits: the whole replay runs without
    handing control to the event loop. With Redis, each exchange does.
    """
    async for batch in decided_batches(settings, records, features=features, notifier=notifier):
        for outcome in batch:
            yield outcome


async def decided_batches(settings: Settings, records: Iterable[Record], *, features: bool = False,
                          notifier: Any = None) -> AsyncIterator[list[Outcome]]:
    """``decide``'s outcomes a batch at a time, in order (one step of an async generator per record costs
    more than replay's bookkeeping of it)."""
    from gateway.engine import Engine

    clock = _Clock()
    engine = Engine(settings, clock=clock, record_features=features, decision_log=False, metrics=False,
                    notifier=notifier)
    await engine.start()
    door = FrontDoor(engine, render=False)  # a backtest reads only the status the client got
    answer = door.answer
    source = iter(records)
    try:
        with fewer_collections():
            while True:
                # A batch at a time: read ahead (parse, check, build facts), decide, then hand
                # the decisions out. Each step runs long enough to keep its code and data in the
                # CPU's caches, which deciding one record in between would evict.
                work, stopped = _read_ahead(source, door.match, _READ_AHEAD)
                decided = []
                for rec, facts, hit, token in work:
                    clock.now = rec.ts
                    response = rec.response
                    app_status = 200 if response is None else response.status
                    if hit is None:
                        decided.append((rec, None, app_status, UNPROTECTED))
                        continue
                    verdict, status, _ = await answer(facts, hit, token)
                    if verdict is None:
                        decided.append((rec, None, app_status, TOKEN_BIRTH))
                    else:
                        decided.append((rec, verdict, app_status if status is None else status, ""))
                yield decided
                if stopped is not None:  # the records before the line that stopped the read are decided, as before
                    raise stopped
                if len(work) < _READ_AHEAD:
                    return
    finally:
        await engine.close()


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """Python collects its youngest objects every 700 allocations; a replay makes thousands per record
    and keeps few, so most of those collections walk the same survivors again (6 to 17 us a record on
    the tune scenario; 1 to 2 us at 10,000). While a replay runs, every 10,000; older generations as before."""
    young, *older = gc.get_threshold()
    gc.set_threshold(max(young, 10_000), *older)
    try:
        yield
    finally:
        gc.set_threshold(young, *older)


Work = tuple[Record, RequestFacts, Match | None, TokenResponse | None]


def record_request(rec: Record, match: Callable[[str, str], Match | None]) -> Work:
    """A record as the engine sees it: the record, its facts, its route match (None: not protected) and, at
    the token endpoint, the app's response to it (``match`` is the engine's ``match(method, path)``)."""
    path, _, query = rec.path.partition("?")
    hit = match(rec.method, path)
    body = rec.body.encode("utf-8", "surrogatepass") if rec.body else b""
    facts = FrontDoor.facts(rec.ts, hit, rec.method, path, rec.client, rec.headers, query, None, body, rec.id)
    response = rec.response
    if response is None or hit is None or hit.route is not None:
        return rec, facts, hit, None
    return rec, facts, hit, TokenResponse(response.status, response.body.encode("utf-8", "surrogatepass"))


def _read_ahead(source: Iterator[Record], match: Callable[[str, str], Match | None], size: int
                ) -> tuple[list[Work], Exception | None]:
    """Up to ``size`` records with their facts, route match and token response, and the error that stopped
    reading, if any."""
    work = []
    try:
        for rec in itertools.islice(source, size):
            work.append(record_request(rec, match))
    except Exception as exc:  # noqa: BLE001 - raised again once the records read before it are decided
        return work, exc
    return work, None


async def decide_records(settings: Settings, records: Iterable[Record], *, features: bool = False
                         ) -> AsyncIterator[tuple[Record, dict[str, Any], bool]]:
    """Yield (record, output line, protected) for every record, deciding with a fresh engine."""
    async for rec, verdict, status, explain in decide(settings, records, features=features):
        yield rec, decision_dict(rec, verdict, status, explain, features), verdict is not None


async def replay(settings: Settings, lines: Iterable[str], output: IO[str] | None = None, *,
                 features: bool = False, by: tuple[str, ...] = (), strict: bool = False,
                 keep: dict[str, tuple[str, bool, tuple[str, ...], Any]] | None = None,
                 labels: dict[str, str] | None = None, removals: IO[str] | None = None) -> dict[str, Any]:
    """Replay ``lines`` and return the summary; write output lines to ``output`` when given.

    ``keep`` (when given) is filled with id -> (decision, enforced, rules, label) for diffs. ``labels``
    (owners' answers by decision id) relabel the records they name; ``removals`` receives the events the
    gateway would have sent, each with the session's allowed actions listed for removal.
    """
    notifier = None
    if removals is not None:
        from gateway.notify import Notifier

        notifier = Notifier(settings, inline=True)
    owners = OwnerTally() if labels is not None else None
    problems = Problems()
    tally = Tally(by=by)
    count, passed = tally.count, tally.passed
    alike: dict[tuple[str, bool, tuple[str, ...], tuple[str, ...], Any], int] = {}  # without by: counted at the end
    encode = DecisionLines(features).encode
    names = {d: d.value for d in Decision}
    pending: list[str] = []  # output lines, written a batch at a time
    records = read_records(lines, strict=strict, problems=problems)
    try:
        async for batch in decided_batches(settings, records, features=features, notifier=notifier):
            for rec, verdict, _, explain in batch:
                if verdict is None:  # a token-endpoint record or an unprotected request: no decision to count
                    passed(explain == TOKEN_BIRTH)
                    continue
                decision = names.get(verdict.decision) or str(verdict.decision)
                label = rec.label
                if owners is not None and (owner := labels.get(rec.id)) is not None:  # type: ignore[union-attr]
                    label = AS_LABEL[owner]
                    owners.add(owner, not verdict.passes)
                rules = tuple(verdict.rules)
                if by:
                    count(decision, verdict.enforced, rules, verdict.shadow_rules, label, rec.meta)
                else:
                    key = (decision, verdict.enforced, rules, tuple(verdict.shadow_rules), label)
                    alike[key] = alike.get(key, 0) + 1
                if keep is not None:
                    keep[rec.id] = (decision, verdict.enforced, rules, rec.label)
            if output is not None:
                pending.extend([encode(rec, verdict, status, explain) for rec, verdict, status, explain in batch])
                if len(pending) >= _BATCH:
                    _write(output, pending)
    finally:  # a line that stops a --strict replay keeps the decisions before it, as written so far
        if output is not None:
            _write(output, pending)
    for (decision, enforced, rules, shadow_rules, label), times in alike.items():  # first seen first, as one by one
        count(decision, enforced, rules, shadow_rules, label, None, times)
    tally.malformed, tally.blank, tally.lines_read = problems.count, problems.blank, problems.read
    summary = tally.as_dict()
    summary["malformed_lines"] = [{"line": p.line, "error": p.error} for p in problems]
    if owners is not None:
        summary["owner_labels"] = owners.counts
    if notifier is not None and removals is not None:
        for event in notifier.events:
            removals.write(json.dumps(event) + "\n")
        summary["events"] = len(notifier.events)
        summary["removals"] = sum(len(e["data"]["removals"]) for e in notifier.events)
    return summary


def _write(output: IO[str], lines: list[str]) -> None:
    if lines:
        lines.append("")  # the last line's newline
        output.write("\n".join(lines))
        lines.clear()


async def replay_file(settings: Settings, path: Path, output: IO[str] | None = None, *, progress: bool = False,
                      desc: str = "replay", **options: Any) -> dict[str, Any]:
    """``replay`` of the lines of ``path``; with ``progress``, a bar of lines read on stderr."""
    total = count_lines(path) if progress else None
    with open_text(path) as f, Progress(desc, enabled=progress, total=total, unit="lines") as bar:
        return await replay(settings, bar.counted(f), output, **options)


def open_text(path: Path) -> IO[str]:
    """A traffic file's lines (gzip when its name ends in .gz); bytes not UTF-8 stay, to be one bad line each."""
    return io.TextIOWrapper(open_bytes(path), encoding="utf-8", errors="surrogateescape")


async def diff(settings: Settings, path: Path, other_rules: tuple[str, ...], *, by: tuple[str, ...] = (),
               strict: bool = False, output: IO[str] | None = None, progress: bool = False) -> dict[str, Any]:
    """Replay twice (fresh engines, the second with ``other_rules``) and compare per request."""
    before: dict[str, tuple[str, bool, tuple[str, ...], Any]] = {}
    after: dict[str, tuple[str, bool, tuple[str, ...], Any]] = {}
    base = await replay_file(settings, path, output, progress=progress, desc="replay 1/2", by=by, strict=strict,
                             keep=before)
    other = await replay_file(replay_settings(settings, other_rules), path, None, progress=progress,
                              desc="replay 2/2", by=by, strict=strict, keep=after)
    changes = []
    transitions: dict[str, int] = {}
    for rid, (d0, e0, r0, label) in before.items():
        d1, e1, r1, _ = after.get(rid, (d0, e0, r0, label))
        if (d0, e0) != (d1, e1):
            key = f"{d0}{'' if e0 else '(shadow)'} -> {d1}{'' if e1 else '(shadow)'}"
            transitions[key] = transitions.get(key, 0) + 1
            changes.append({"id": rid, "from": d0, "to": d1, "enforced": [e0, e1], "rules_before": list(r0),
                            "rules_after": list(r1), "label": label})
    rules = set(base["rule_hits"]) | set(other["rule_hits"])
    deltas = {r: {"before": base["rule_hits"].get(r, 0), "after": other["rule_hits"].get(r, 0),
                  "delta": other["rule_hits"].get(r, 0) - base["rule_hits"].get(r, 0)} for r in sorted(rules)}
    return {"before": base, "after": other, "changed": len(changes), "transitions": transitions,
            "rule_deltas": {r: d for r, d in deltas.items() if d["delta"]}, "changes": changes}


def replay_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gateway replay", description="Run recorded traffic through the engine.")
    p.add_argument("--config", help="the gateway config (default: the embedded demo config)")
    p.add_argument("--input", required=True, help="replay records, one JSON object a line, in time order")
    p.add_argument("--output", help="decisions, one JSON line per input line (default: none)")
    p.add_argument("--features", action="store_true", help="add the feature values to each decision line")
    p.add_argument("--by", nargs="+", action="extend", default=[], metavar="FIELD",
                   help="break labelled metrics down by these meta fields")
    p.add_argument("--diff", nargs="+", metavar="RULES", help="also replay with these rule files/folders and compare")
    p.add_argument("--diff-output", help="write every request whose decision changes here (JSON lines)")
    p.add_argument("--strict", action="store_true", help="stop at the first malformed line instead of skipping it")
    p.add_argument("--labels", help="owners' answers (notify.labels): records whose id is a labelled decision id "
                                    "are benign (this was me) or abuse (this wasn't me)")
    p.add_argument("--removals", help="write the events the gateway would send (JSON lines), each listing the "
                                      "session's allowed actions of the last day for removal")
    p.add_argument("--json", action="store_true", help="print the summary as JSON instead of text")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar (it is shown on stderr only when stderr is a terminal)")
    return p


def load_config(path: str | None) -> Settings:
    if path:
        return load_settings(path)
    return load_settings(DEMO_CONFIG)


def replay_main(argv: list[str] | None = None) -> int:
    args = replay_parser().parse_args(argv)
    progress = wanted(sys.stderr, quiet=args.quiet)
    try:
        settings = replay_settings(load_config(args.config))
        # every rule set is checked before any traffic runs: a bad one is found now, not after a whole replay
        for rules in ([settings.resolve(p) for p in settings.rules], args.diff):
            if rules:
                RuleSet.load(rules)
    except ConfigError as exc:
        print(f"gateway replay: {exc}", file=sys.stderr)
        return _USAGE
    except PolicyError as exc:
        print(f"gateway replay: {exc}", file=sys.stderr)
        return _USAGE
    source = Path(args.input)
    if not source.is_file():
        print(f"gateway replay: {source}: no such file; give the traffic file with --input", file=sys.stderr)
        return _USAGE
    labels = None
    if args.labels:
        try:
            labels = load_labels(args.labels)
        except LabelsError as exc:
            print(f"gateway replay: {exc}", file=sys.stderr)
            return _USAGE
    out = removals = None
    try:
        out = open(args.output, "w", encoding="utf-8") if args.output else None  # noqa: SIM115
        removals = open(args.removals, "w", encoding="utf-8") if args.removals else None  # noqa: SIM115
        if args.diff:
            result = asyncio.run(diff(settings, source, tuple(args.diff), by=tuple(args.by), strict=args.strict,
                                      output=out, progress=progress))
            summary = result["before"]
            if args.diff_output:
                with open(args.diff_output, "w", encoding="utf-8") as f:
                    for c in result["changes"]:
                        f.write(json.dumps(c) + "\n")
        else:
            summary = asyncio.run(replay_file(settings, source, out, progress=progress, features=args.features,
                                              by=tuple(args.by), strict=args.strict, labels=labels,
                                              removals=removals))
            result = None
    except RecordError as exc:
        print(f"gateway replay: {source}: {exc} (the line is malformed; fix it or drop --strict to skip it)",
              file=sys.stderr)
        return _FATAL
    except (ConfigError, PolicyError, ModelError) as exc:  # the engine refused its config, rules or model
        print(f"gateway replay: {exc}", file=sys.stderr)
        return _USAGE
    except OSError as exc:
        print(f"gateway replay: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return _USAGE
    except UnicodeDecodeError as exc:
        print(f"gateway replay: {source}: not UTF-8 text ({exc.reason} at byte {exc.start})", file=sys.stderr)
        return _USAGE
    finally:
        if out is not None:
            out.close()
        if removals is not None:
            removals.close()
    for p in summary["malformed_lines"]:
        print(f"gateway replay: {source}: skipped {p['error']}", file=sys.stderr)
    if args.json:
        print(json.dumps(result if result is not None else summary, indent=2, default=str), file=sys.stderr)
    else:
        print(format_summary(summary), file=sys.stderr)
        if "owner_labels" in summary:
            tally = OwnerTally()
            tally.counts = summary["owner_labels"]
            print(tally.line(), file=sys.stderr)
        if "events" in summary:
            print(f"events: {summary['events']}, listing {summary['removals']} allowed actions for removal "
                  f"(in {args.removals})", file=sys.stderr)
        if result is not None:
            print(format_diff(result), file=sys.stderr)
    return 0


def format_diff(result: dict[str, Any], show: int = 20) -> str:
    lines = [f"diff: {result['changed']} requests change decision"]
    lines.extend(f"  {k}: {v}" for k, v in sorted(result["transitions"].items(), key=lambda kv: -kv[1]))
    if result["rule_deltas"]:
        lines.append("rule hits, before -> after:")
        lines.extend(f"  {r}: {d['before']} -> {d['after']} ({d['delta']:+d})" for r, d in result["rule_deltas"].items())
    for c in result["changes"][:show]:
        lines.append(f"  {c['id']}: {c['from']} -> {c['to']} (label {c['label']}; rules {c['rules_before']} -> {c['rules_after']})")
    if result["changed"] > show:
        lines.append(f"  ... {result['changed'] - show} more (--diff-output FILE writes them all)")
    return "\n".join(lines)
