"""The rule tooling behind `gateway rules lint`, `gateway rules test` and `gateway features`."""

from __future__ import annotations

import argparse
import sys

from gateway.policy.loader import load_and_merge
from gateway.policy.ruleset import format_value
from gateway.signals import catalogue


def lint_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gateway rules lint", description="Check rule packs; print every error as file:line:col: message.")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="rule pack files or folders of *.yaml")
    args = parser.parse_args(argv)
    merged = load_and_merge(args.paths)
    for error in merged.errors:
        print(error)
    if merged.errors:
        count = len(merged.errors)
        print(f"{count} error{'s' if count != 1 else ''} in {len(merged.files)} file{'s' if len(merged.files) != 1 else ''}", file=sys.stderr)
        return 1
    print(f"ok: {len(merged.rules)} rules in {len(merged.files)} files")
    return 0


def test_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gateway rules test", description="Run the tests written inside each rule.")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="rule pack files or folders of *.yaml")
    parser.add_argument("-q", "--quiet", action="store_true", help="print failures only")
    args = parser.parse_args(argv)
    merged = load_and_merge(args.paths)
    if merged.errors:
        for error in merged.errors:
            print(error)
        print("the packs have errors; fix them first (gateway rules lint)", file=sys.stderr)
        return 1
    passed = failed = 0
    untested = [r.id for r in merged.rules if not r.tests]
    for rule in merged.rules:
        for test in rule.tests:
            got = rule.matches(test.features)
            if got == test.match:
                passed += 1
                if not args.quiet:
                    print(f"PASS {rule.id}: {test.name}")
                continue
            failed += 1
            print(f"FAIL {rule.id}: {test.name} ({test.place}): {describe_failure(rule, test)}")
    if untested:
        print(f"note: {len(untested)} rules have no tests: {', '.join(untested)}", file=sys.stderr)
    print(f"{passed} passed, {failed} failed", file=sys.stderr)
    return 1 if failed else 0


def describe_failure(rule, test) -> str:
    """What a failing rule test got, in words: the outcome and the values it read."""
    features = test.features
    expected = "match" if test.match else "no match"
    action = features.get("action")
    if action is not None and not rule.applies_to(action):
        return f"expected {expected}, got no match: the rule is not 'on' action {action!r}"
    outcome = rule.condition.outcome(features)
    got = "match" if outcome == "true" else f"no match (condition is {outcome})"
    values = ", ".join(f"{n}={format_value(features.get(n))}" for n in rule.condition.features)
    return f"expected {expected}, got {got}; {values}"


def features_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gateway features", description="Print the feature catalogue.")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table (for the README)")
    args = parser.parse_args(argv)
    rows = [(f.name, f.type, f.range_text or "-", f.window or "-", f.cost, f.meaning) for f in catalogue.all_features()]
    header = ("name", "type", "range", "window", "cost", "meaning")
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" for _ in header) + "|")
        for row in rows:
            name, *rest = row
            cells = [f"`{name}`", *(c.replace("|", "\\|") for c in rest)]
            print("| " + " | ".join(cells) + " |")
        return 0
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    for row in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row[:5], widths, strict=True)) + "  " + row[5])
    return 0
