"""``gateway doctor``: what the configured data allows, and which rules it leaves with nothing to match.

    gateway doctor --config gateway.yaml

Lists the GeoIP databases (type and build date), ASN lists and cloud range
files present and missing, the network classes the data can give, the
features that are always absent or always one value with it, and the loaded
rules that can therefore never match (gateway.fingerprint.sources holds the
table of what each source gives). Exit code 0 when every rule can fire, 1
when some can never fire, 2 on a config or rule-pack error. The engine logs
the same report when it starts, at WARNING for what is missing.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass, field

from gateway.fingerprint.geoip import ASN_LISTS, SLOTS, GeoIP
from gateway.fingerprint.sources import Coverage, coverage, sources_of
from gateway.policy.reach import Known, never_true
from gateway.policy.ruleset import RuleSet

log = logging.getLogger("gateway.doctor")


@dataclass(frozen=True, slots=True)
class DeadRule:
    id: str
    place: str  # file:line:col
    why: tuple[str, ...]


@dataclass(slots=True)
class Report:
    present: list[tuple[str, str]] = field(default_factory=list)  # (config key, what it holds)
    missing: list[str] = field(default_factory=list)  # config keys not set
    coverage: Coverage = field(default_factory=lambda: coverage(frozenset()))
    rules: int = 0
    dead: list[DeadRule] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return not self.dead


def build_report(geoip: GeoIP, rules: RuleSet | None) -> Report:
    report = Report(coverage=coverage(sources_of(geoip)))
    databases = geoip.databases
    for slot in SLOTS:
        if slot in databases:
            report.present.append((f"geoip.{slot}", f"{databases[slot]}, built {geoip.built(slot)}: {geoip.paths[slot]}"))
        else:
            report.missing.append(f"geoip.{slot}")
    for key in ASN_LISTS:
        if key in geoip.asn_lists:
            report.present.append((f"geoip.{key}", f"{len(geoip.asn_lists[key])} ASNs: {geoip.paths[key]}"))
        else:
            report.missing.append(f"geoip.{key}")
    if geoip.cloud_ranges:
        for f in geoip.cloud_ranges.files:
            stamp = f", published {f.published}" if f.published else ""
            report.present.append(("geoip.cloud_ranges", f"{f.provider}, {f.prefixes} prefixes{stamp}: {f.path}"))
    else:
        report.missing.append("geoip.cloud_ranges")
    if rules is not None:
        report.rules = len(rules.rules)
        cov = report.coverage
        known = Known(frozenset(cov.absent), {k: v for k, (v, _) in cov.constant.items()}, cov.domains)
        for rule in rules.rules:
            why = never_true(rule.condition.root, known)
            if why is not None:
                report.dead.append(DeadRule(rule.id, rule.place, tuple(why)))
    return report


def render(report: Report) -> list[str]:
    """The report as lines of text, for people."""
    cov = report.coverage
    width = max(len(k) for k, _ in report.present + [(m, "") for m in report.missing])
    lines = ["Data sources:"]
    lines += [f"  {key:<{width}}  {text}" for key, text in report.present]
    lines += [f"  {key:<{width}}  (not configured)" for key in report.missing]
    lines.append(f"Network classes this data can give: {', '.join(cov.classes)}")
    lines += [f"  never {cls}: needs {needs}" for cls, needs in cov.missing_classes.items()]
    if cov.absent or cov.constant:
        lines.append("Features this data leaves empty:")
        lines += [f"  {name}: always absent; needs {needs}" for name, needs in cov.absent.items()]
        lines += [f"  {name}: always {_value(value)}; needs {needs}" for name, (value, needs) in cov.constant.items()]
    else:
        lines.append("Features: every GeoIP-based feature can be present.")
    if report.dead:
        lines.append(f"Rules that can never match with this data: {len(report.dead)} of {report.rules}")
        lines += [f"  {d.id} ({d.place}): {'; '.join(d.why)}" for d in report.dead]
    else:
        lines.append(f"Rules: all {report.rules} can match with this data.")
    return lines


def log_report(report: Report, logger: logging.Logger = log) -> None:
    """The report in the log: what is present at INFO, what is missing at WARNING."""
    cov = report.coverage
    for key, text in report.present:
        logger.info("data source %s: %s", key, text)
    if cov.missing_classes:
        logger.warning("network classes %s never occur with this data (only %s): %s",
                       ", ".join(cov.missing_classes), ", ".join(cov.classes),
                       "; ".join(f"{c} needs {n}" for c, n in cov.missing_classes.items()))
    for name, needs in cov.absent.items():
        logger.warning("feature %s is always absent with this data; it needs %s", name, needs)
    for name, (value, needs) in cov.constant.items():
        logger.warning("feature %s is always %s with this data; it needs %s", name, _value(value), needs)
    for d in report.dead:
        logger.warning("rule %s (%s) can never match with this data: %s", d.id, d.place, "; ".join(d.why))


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def doctor_main(argv: list[str]) -> int:
    from gateway.policy.errors import PolicyError
    from gateway.settings import ConfigError, load_settings

    parser = argparse.ArgumentParser(
        prog="gateway doctor",
        description="what the configured GeoIP data allows: sources, missing features, rules that can never match; "
                    "exit 0 all usable, 1 some rules can never match, 2 config error",
    )
    parser.add_argument("--config", required=True, help="the gateway's config file")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
        geoip = GeoIP(settings.geoip, resolve=settings.resolve)
        paths = [settings.resolve(p) for p in settings.rules]
        rules = RuleSet.load(paths) if paths else RuleSet.empty()
    except ConfigError as exc:
        print(f"gateway doctor: {exc}", file=sys.stderr)
        return 2
    except PolicyError as exc:
        geoip.close()  # the rules load after the databases opened
        print(f"gateway doctor: the rule packs do not load:\n{exc}", file=sys.stderr)
        return 2
    try:
        report = build_report(geoip, rules)
    finally:
        geoip.close()
    print(f"gateway doctor: {args.config}")
    print("\n".join(render(report)))
    return 0 if report.usable else 1
