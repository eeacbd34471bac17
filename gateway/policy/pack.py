"""Read one rule pack (YAML) into checked, compiled rules, collecting every error with its place.

The file is parsed with PyYAML's safe loader (yaml.safe_load semantics) but via
``yaml.compose``, so every node keeps its line and column. Nothing is
constructed except plain scalars, lists and mappings. Aliases (``*name``) are
refused: each one would be read, checked and compiled again, so a small file
could cost minutes, and a rule is clearer written out.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gateway.messages.families import DEFAULT_REASON, FAMILIES, STOPPING
from gateway.policy.condition import Condition, ExprErrors, compile_condition
from gateway.policy.source import node_place, scalar_offset_place
from gateway.signals import catalogue
from gateway.signals.collector import STICKY_SCOPES
from gateway.verdict import Decision

MAX_PACK_BYTES = 1 << 20
MAX_WEIGHT = 1000.0
MAX_THRESHOLD = 1000.0
MAX_STICKY_S = 30 * 86400
MAX_RETRY_AFTER_S = 86400

PACK_KEYS = ("pack", "description", "thresholds", "allowlists", "rules")
RULE_KEYS = ("id", "description", "on", "when", "action", "reason", "weight", "mode", "sticky", "retry_after", "tests")
THRESHOLD_KEYS = ("challenge", "block")
ALLOWLIST_KEYS = ("clients", "cidrs", "asns", "accounts")
STICKY_KEYS = ("scope", "for")
TEST_KEYS = ("name", "features", "match")
ACTIONS = ("allow", "block", "challenge", "throttle", "log", "absorb", "revoke")
REVOKE = "revoke"  # a block that also revokes the session (its tokens are refused from then on)
MODES = ("enforce", "shadow")
STICKY_ACTIONS = ("block", "challenge", "throttle", "absorb")
CROWD_ACTIONS = (Decision.CHALLENGE, Decision.THROTTLE)  # what a pin on a whole crowd may do

# libyaml's safe loader when present: same semantics and node marks, ten times faster.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
_KIND = re.compile(r"^[^\s,]+$")  # an action kind, as a route names it: one word
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_FEATURE_TYPES: dict[str, tuple[type, ...]] = {
    "bool": (bool,), "int": (int,), "float": (int, float), "string": (str,), "list": (list,),
}


@dataclass(frozen=True, slots=True)
class StickySpec:
    scope: str  # session, account, device, prefix or ip
    ttl_s: int


@dataclass(frozen=True, slots=True)
class RuleTest:
    name: str
    features: dict[str, object]
    match: bool
    place: str


@dataclass(slots=True)
class Rule:
    id: str
    description: str
    on: frozenset[str] | None  # None: every action kind
    condition: Condition
    action: Decision | None
    weight: float
    mode: str
    sticky: StickySpec | None
    retry_after: int | None
    tests: list[RuleTest]
    place: str  # file:line:col of the rule
    pack: str
    reason: str | None = None  # the reason family a stopped client reads (None: allow, log, weight only)
    revoke: bool = False  # action: revoke (a block that also revokes the session)

    @property
    def shadow(self) -> bool:
        return self.mode == "shadow"

    def applies_to(self, action: object) -> bool:
        return self.on is None or action in self.on

    def matches(self, features: Mapping[str, object]) -> bool:
        """Whether the rule fires for these features (its ``on`` kinds, then its condition)."""
        if "action" in features and not self.applies_to(features["action"]):
            return False
        try:
            return self.condition.matches(features)
        except Exception:  # a feature of the wrong type behaves as absent
            return False


@dataclass(slots=True)
class Pack:
    name: str
    description: str
    path: str
    thresholds: dict[str, tuple[float, str]] = field(default_factory=dict)  # key -> (value, place)
    allowlists: dict[str, list[tuple[object, str]]] = field(default_factory=dict)  # key -> [(value, place)]
    rules: list[Rule] = field(default_factory=list)


def read_pack(path: Path, errors: list[str]) -> Pack | None:
    """Parse and compile one pack file; append every problem to ``errors``."""
    where = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        errors.append(f"{where}:1:1: cannot read the file: {exc.strerror or exc}")
        return None
    if len(data) > MAX_PACK_BYTES:
        errors.append(f"{where}:1:1: file is {len(data)} bytes; a pack may be at most {MAX_PACK_BYTES} (split it)")
        return None
    try:
        source = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        errors.append(f"{where}:{line}:{column}: not UTF-8 text (byte {exc.start}); save the file as UTF-8")
        return None
    try:
        return _read_document(path, where, source, errors)
    except RecursionError:  # in YAML's composer or in the reader
        errors.append(f"{where}:1:1: the pack is nested too deeply to read; flatten it")
        return None


def _read_document(path: Path, where: str, source: str, errors: list[str]) -> Pack | None:
    try:
        root = yaml.compose(source, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        errors.append(f"{where}:{line}:{col}: YAML syntax error: {problem}")
        return None
    except yaml.YAMLError as exc:
        errors.append(f"{where}:1:1: YAML error: {exc}")
        return None
    if root is None:
        errors.append(f"{where}:1:1: the pack is empty; it needs at least 'rules:' or 'thresholds:'")
        return None
    alias = _first_alias(root)
    if alias is not None:
        errors.append(f"{node_place(where, alias)}: this value is used again through a YAML alias (*name); "
                      "aliases are not read in rule packs: write each value out")
        return None
    return _PackReader(where, source, errors).read(root, path.stem)


def _first_alias(root: Node) -> Node | None:
    """A node the document reaches twice (an anchor used by an alias), or None."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            return node
        seen.add(id(node))
        if isinstance(node, SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, MappingNode):
            for key, value in node.value:
                stack.extend((key, value))
    return None


class _PackReader:
    def __init__(self, path: str, source: str, errors: list[str]) -> None:
        self.path = path
        self.source = source
        self.errors = errors
        self.constructor = SafeConstructor()

    # --- generic helpers --------------------------------------------------------
    def err(self, node: Node, message: str) -> None:
        self.errors.append(f"{node_place(self.path, node)}: {message}")

    def place(self, node: Node) -> str:
        return node_place(self.path, node)

    def mapping(self, node: Node, what: str, allowed: tuple[str, ...]) -> dict[str, tuple[Node, Node]] | None:
        if not isinstance(node, MappingNode):
            self.err(node, f"{what} must be a mapping (key: value lines)")
            return None
        out: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            if not isinstance(key, str):
                self.err(key_node, f"{what}: keys must be plain names")
                continue
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                hint = f"; did you mean '{close[0]}'?" if close else f" (allowed: {', '.join(allowed)})"
                self.err(key_node, f"unknown key '{key}' in {what}{hint}")
                continue
            if key in out:
                self.err(key_node, f"key '{key}' appears twice in {what}")
                continue
            out[key] = (key_node, value_node)
        return out

    def scalar(self, node: Node) -> object:
        if not isinstance(node, ScalarNode):
            return _NOT_SCALAR
        return self.value(node)

    def value(self, node: Node) -> object:
        """The node as plain data; _NOT_SCALAR (the error reported) when YAML cannot build it."""
        try:
            return self.constructor.construct_object(node, deep=True)
        except ConstructorError as exc:
            self.err(node, f"cannot read this value: {exc.problem}")
        except (ValueError, TypeError, KeyError, OverflowError) as exc:  # e.g. a date that does not exist: 2024-02-30
            self.err(node, f"cannot read this value: {exc}; quote it if it is text")
        return _NOT_SCALAR

    def text(self, node: Node, what: str) -> str | None:
        value = self.scalar(node)
        if not isinstance(value, str) or not value.strip():
            self.err(node, f"{what} must be non-empty text")
            return None
        return value

    def number(self, node: Node, what: str, low: float, high: float, *, integer: bool = False,
               low_inclusive: bool = True) -> float | None:
        value = self.scalar(node)
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            self.err(node, f"{what} must be {'a whole number' if integer else 'a number'}")
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self.err(node, f"{what} is {value}; it must be a finite number")
            return None
        too_low = value < low if low_inclusive else value <= low
        if too_low or value > high:
            bound = f"{'at least' if low_inclusive else 'above'} {low:g} and at most {high:g}"
            self.err(node, f"{what} is {value}; it must be {bound}")
            return None
        return value

    def sequence(self, node: Node, what: str) -> list[Node] | None:
        if not isinstance(node, SequenceNode):
            self.err(node, f"{what} must be a list")
            return None
        return list(node.value)

    # --- the pack -------------------------------------------------------------------
    def read(self, root: Node, default_name: str) -> Pack | None:
        top = self.mapping(root, "the pack", PACK_KEYS)
        if top is None:
            return None
        name = default_name
        if "pack" in top:
            name = self.text(top["pack"][1], "pack (the pack's name)") or default_name
        description = ""
        if "description" in top:
            description = self.text(top["description"][1], "description") or ""
        pack = Pack(name, description, self.path)
        if "thresholds" in top:
            self.thresholds(top["thresholds"][1], pack)
        if "allowlists" in top:
            self.allowlists(top["allowlists"][1], pack)
        if "rules" in top:
            for item in self.sequence(top["rules"][1], "rules") or []:
                rule = self.rule(item, pack.name)
                if rule is not None:
                    pack.rules.append(rule)
        return pack

    def thresholds(self, node: Node, pack: Pack) -> None:
        fields = self.mapping(node, "thresholds", THRESHOLD_KEYS)
        if fields is None:
            return
        for key, (_, value_node) in fields.items():
            value = self.number(value_node, f"thresholds.{key}", 0, MAX_THRESHOLD, low_inclusive=False)
            if value is not None:
                pack.thresholds[key] = (float(value), self.place(value_node))

    def allowlists(self, node: Node, pack: Pack) -> None:
        fields = self.mapping(node, "allowlists", ALLOWLIST_KEYS)
        if fields is None:
            return
        for key, (_, value_node) in fields.items():
            entries: list[tuple[object, str]] = []
            for item in self.sequence(value_node, f"allowlists.{key}") or []:
                value = self.allow_entry(key, item)
                if value is not None:
                    entries.append((value, self.place(item)))
            pack.allowlists[key] = entries

    def allow_entry(self, key: str, node: Node) -> object:
        if key == "asns":
            value = self.number(node, "an ASN", 0, 4294967295, integer=True)
            return None if value is None else int(value)
        text = self.text(node, f"an entry of allowlists.{key}")
        if text is None or key != "cidrs":
            return text
        try:
            return ipaddress.ip_network(text.strip(), strict=False)
        except ValueError:
            self.err(node, f"{text!r} is not a CIDR network (e.g. 203.0.113.0/24 or 2001:db8::/32)")
            return None

    # --- one rule -------------------------------------------------------------------
    def rule(self, node: Node, pack_name: str) -> Rule | None:
        fields = self.mapping(node, "a rule", RULE_KEYS)
        if fields is None:
            return None
        ok = True
        for required in ("id", "description", "on", "when"):
            if required not in fields:
                self.err(node, f"the rule needs '{required}:'")
                ok = False
        rule_id = ""
        if "id" in fields:
            rule_id = self.text(fields["id"][1], "id") or ""
            if rule_id and not _RULE_ID.match(rule_id):
                self.err(fields["id"][1], f"id {rule_id!r} may use only a-z, 0-9, '.', '_' and '-' (at most 100)")
                ok = False
            ok = ok and bool(rule_id)
        description = self.text(fields["description"][1], "description") if "description" in fields else None
        on = self.on(fields["on"][1]) if "on" in fields else None
        condition = self.condition(fields["when"][1], rule_id) if "when" in fields else None
        action = self.action(fields["action"][1]) if "action" in fields else None
        revoke = "action" in fields and self.scalar(fields["action"][1]) == REVOKE
        reason = self.reason(fields.get("reason"), action, revoke)
        weight = 0.0
        if "weight" in fields:
            w = self.number(fields["weight"][1], "weight", -MAX_WEIGHT, MAX_WEIGHT)
            ok = ok and w is not None
            weight = float(w or 0.0)
        if "action" not in fields and "weight" not in fields:
            self.err(node, "the rule needs 'action:', 'weight:' or both")
            ok = False
        mode = "enforce"
        if "mode" in fields:
            mode = self.choice(fields["mode"][1], "mode", MODES) or ""
        sticky = self.sticky(fields["sticky"][1], action, fields.get("action")) if "sticky" in fields else None
        retry_after = None
        if "retry_after" in fields:
            value_node = fields["retry_after"][1]
            retry_after = self.duration(value_node, "retry_after", MAX_RETRY_AFTER_S)
            if action is not Decision.THROTTLE:
                self.err(value_node, "retry_after only applies to 'action: throttle'")
                retry_after = None
        if revoke and "sticky" in fields:
            self.err(fields["sticky"][1], "action: revoke pins itself on the session until it ends; drop 'sticky:'")
            return None
        tests = self.tests(fields["tests"][1], rule_id) if "tests" in fields else []
        if reason is False:
            return None
        if not ok or description is None or on is False or condition is None or not mode:
            return None
        if "action" in fields and action is None or "sticky" in fields and sticky is None:
            return None
        if "retry_after" in fields and retry_after is None or tests is None:
            return None
        return Rule(rule_id, description, on, condition, action, weight, mode, sticky, retry_after,
                    tests, self.place(node), pack_name, reason or None, revoke)

    def on(self, node: Node) -> frozenset[str] | None | bool:
        """The action kinds; None for "*"; False after an error."""
        value = self.scalar(node) if isinstance(node, ScalarNode) else None
        if value == "*":
            return None
        if isinstance(value, str) and value.strip():
            kinds = [value.strip()]
            nodes = [node]
        else:
            items = self.sequence(node, "on (a list of action kinds, or \"*\")")
            if items is None:
                return False
            nodes = items
            kinds = [self.text(i, "an action kind in 'on'") for i in items]
            if not kinds or any(k is None for k in kinds):
                if not kinds:
                    self.err(node, "on: lists no action kinds; use \"*\" for all")
                return False
            kinds = [k.strip() for k in kinds if k]
        if "*" in kinds:
            return None
        ok = True
        for kind, kind_node in zip(kinds, nodes, strict=True):
            if not _KIND.match(kind):
                self.err(kind_node, f"'{kind}' is not one action kind; list several as on: [like, follow]")
                ok = False
        return frozenset(kinds) if ok else False

    def condition(self, node: Node, rule_id: str) -> Condition | None:
        if not isinstance(node, ScalarNode):
            self.err(node, "when: must be one condition (text), e.g. net.class == \"hosting\" && ip.accounts_1h >= 10")
            return None
        try:
            return compile_condition(node.value)
        except ExprErrors as exc:
            for e in exc.errors:
                place = scalar_offset_place(self.path, self.source, node, e.pos)
                self.errors.append(f"{place}: {_in_rule(rule_id)}{e.message}")
            return None

    def choice(self, node: Node, what: str, options: tuple[str, ...]) -> str | None:
        value = self.scalar(node) if isinstance(node, ScalarNode) else _NOT_SCALAR
        if isinstance(value, str) and value in options:
            return value
        if isinstance(value, str):
            close = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            self.err(node, f"{what} '{value}' is not one of {', '.join(options)}{hint}")
        elif value is not _NOT_SCALAR or not isinstance(node, ScalarNode):  # else reported by scalar()
            self.err(node, f"{what} must be one of {', '.join(options)}; found {_found(node, value)}")
        return None

    def action(self, node: Node) -> Decision | None:
        value = self.choice(node, "action", ACTIONS)
        if value == REVOKE:
            return Decision.BLOCK  # decided as a block; the engine also revokes the session
        return Decision(value) if value else None

    def reason(self, field: tuple[Node, Node] | None, action: Decision | None, revoke: bool) -> str | bool | None:
        """The rule's reason family: given, or its action's default; None where no client reads one; False: error."""
        name = REVOKE if revoke else action.value if action is not None else None
        if field is None:
            return DEFAULT_REASON.get(name) if name else None
        node = field[1]
        if name not in STOPPING:
            self.err(node, f"reason: only a rule that stops ({', '.join(STOPPING)}) has one; "
                           f"this rule's action is {name or 'none (weight only)'}: drop 'reason:'")
            return False
        value = self.choice(node, "reason", FAMILIES)
        return value if value else False

    def duration(self, node: Node, what: str, limit: int) -> int | None:
        value = self.scalar(node)
        seconds: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            seconds = value
        elif isinstance(value, str) and (m := _DURATION.match(value)):
            seconds = int(m.group(1)) * _UNITS[m.group(2)]
        if seconds is None:
            self.err(node, f"{what} must be seconds or a duration like \"30m\", \"1h\", \"1d\"")
            return None
        if not 1 <= seconds <= limit:
            self.err(node, f"{what} is {seconds}s; it must be between 1s and {limit}s")
            return None
        return seconds

    def sticky(self, node: Node, action: Decision | None, action_field: tuple[Node, Node] | None) -> StickySpec | None:
        fields = self.mapping(node, "sticky", STICKY_KEYS)
        if fields is None:
            return None
        missing = [k for k in STICKY_KEYS if k not in fields]
        if missing:
            self.err(node, f"sticky needs {' and '.join(repr(k + ':') for k in missing)}")
            return None
        scope = self.choice(fields["scope"][1], "sticky.scope", STICKY_SCOPES)
        ttl = self.duration(fields["for"][1], "sticky.for", MAX_STICKY_S)
        if action_field is None or (action is not None and action.value not in STICKY_ACTIONS):
            self.err(node, f"sticky needs 'action:' one of {', '.join(STICKY_ACTIONS)} (what is remembered)")
            return None
        if scope is None or ttl is None:
            return None
        if scope == "crowd" and action not in CROWD_ACTIONS:
            # it pins sessions other than the one that matched, which someone else can steer
            self.err(node, f"sticky scope 'crowd' also pins other sessions: its action must be "
                           f"{' or '.join(a.value for a in CROWD_ACTIONS)}, never block or absorb")
            return None
        return StickySpec(scope, ttl)

    def tests(self, node: Node, rule_id: str) -> list[RuleTest] | None:
        items = self.sequence(node, "tests")
        if items is None:
            return None
        out: list[RuleTest] = []
        ok = True
        for item in items:
            fields = self.mapping(item, "a test", TEST_KEYS)
            if fields is None:
                ok = False
                continue
            missing = [k for k in TEST_KEYS if k not in fields]
            if missing:
                self.err(item, f"the test needs {' and '.join(repr(k + ':') for k in missing)}")
                ok = False
                continue
            name = self.text(fields["name"][1], "test name")
            match = self.scalar(fields["match"][1])
            if not isinstance(match, bool):
                self.err(fields["match"][1], "match must be true or false")
                ok = False
            features = self.test_features(fields["features"][1], f"{_in_rule(rule_id)}test '{name}': ")
            if name is None or features is None or not isinstance(match, bool):
                ok = False
                continue
            out.append(RuleTest(name, features, match, self.place(item)))
        return out if ok else None

    def test_features(self, node: Node, where: str) -> dict[str, object] | None:
        if isinstance(node, ScalarNode) and node.tag.endswith(":null"):
            return {}
        if not isinstance(node, MappingNode):
            self.err(node, "features must be a mapping of feature names to values")
            return None
        out: dict[str, object] = {}
        ok = True
        for key_node, value_node in node.value:
            name = key_node.value if isinstance(key_node, ScalarNode) else None
            feature = catalogue.lookup(name) if isinstance(name, str) else None
            if feature is None:
                close = difflib.get_close_matches(str(name), catalogue.names(), n=1, cutoff=0.6)
                hint = f"; did you mean '{close[0]}'?" if close else " (run 'gateway features')"
                self.err(key_node, f"unknown feature '{name}'{hint}")
                ok = False
                continue
            value = self.value(value_node)
            if value is _NOT_SCALAR:
                ok = False
                continue
            if value is not None and (not isinstance(value, _FEATURE_TYPES[feature.type])
                                      or (feature.type != "bool" and isinstance(value, bool))):
                self.err(value_node, f"feature '{name}' is {feature.type}, not {type(value).__name__}")
                ok = False
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool) and not feature.in_range(value):
                # a test no request can reproduce proves nothing about the rule
                self.err(value_node, f"{where}{name} is {value}, which no request can produce: its range is "
                                     f"{feature.range_text} (see 'gateway features'); use a value within it")
                ok = False
                continue
            if value is not None:
                out[name] = value
        return out if ok else None


_NOT_SCALAR = object()


def _found(node: Node, value: object) -> str:
    """What YAML made of a value, in a few words on one line."""
    if isinstance(node, MappingNode):
        return "a mapping (key: value)"
    if isinstance(node, SequenceNode):
        return "a list"
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a bool)"
    if isinstance(value, (int, float)):
        return f"{value} (a number)"
    return f"{type(value).__name__} {str(value)[:40]!r}"  # a date, bytes, ...


def _in_rule(rule_id: str) -> str:
    """The rule an error belongs to, as a message prefix (nothing when the id is itself broken)."""
    return f"rule {rule_id}: " if rule_id else ""
