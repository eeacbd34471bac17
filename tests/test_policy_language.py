"""The condition language: every operator, the MISSING semantics and the bounds."""

from __future__ import annotations

import pytest

from gateway.policy.condition import ExprErrors, compile_condition
from gateway.policy.parser import MAX_DEPTH, MAX_LENGTH, MAX_NODES


def outcome(text: str, **features: object) -> str:
    named = {k.replace("__", "."): v for k, v in features.items()}
    return compile_condition(text).outcome(named)


def errors(text: str) -> list[str]:
    with pytest.raises(ExprErrors) as info:
        compile_condition(text)
    return [e.message for e in info.value.errors]


@pytest.mark.parametrize(("text", "expected"), [
    ("1 + 2 == 3", "true"),
    ("7 - 10 == -3", "true"),
    ("6 * 7 == 42", "true"),
    ("7 / 2 == 3.5", "true"),
    ("-7 % 3 == -1", "true"),  # truncated like CEL
    ("7 % 3 == 1", "true"),
    ("-(2 + 3) == -5", "true"),
    ("1 < 2 && 2 <= 2 && 3 > 2 && 3 >= 3 && 1 != 2", "true"),
    ('"abc" < "abd"', "true"),
    ("2 in [1, 2, 3]", "true"),
    ('"x" in ["a", "b"]', "false"),
    ("true ? 1 == 1 : false", "true"),
    ("false ? true : 1 > 2", "false"),
    ("!(1 > 2)", "true"),
    ("true || false && false", "true"),  # && binds tighter than ||
    ("(true || false) && false", "false"),
    ('size("héllo") == 5 && size([1, 2]) == 2 && "abc".size() == 3', "true"),
    ('"a\\"b\\n".size() == 4 && r"\\d".size() == 2 && "\\x41\\u00e9" == "Aé"', "true"),
    ("min(3, 1.5, 2) == 1.5 && max(1, 4) == 4", "true"),
    ('"ab" + "cd" == "abcd" && [1] + [2] == [1, 2]', "true"),
    ("0x10 == 16 && 1e3 == 1000.0 && .5 == 0.5", "true"),
    ("1 / 0 == 1", "missing"),  # division by zero is MISSING, never an exception
    ("5 % 0 == 1", "missing"),
])
def test_operators_on_constants(text, expected):
    assert outcome(text) == expected


def test_feature_comparisons():
    text = 'net.class == "hosting" && ip.accounts_1h >= 10'
    assert outcome(text, net__class="hosting", ip__accounts_1h=23) == "true"
    assert outcome(text, net__class="hosting", ip__accounts_1h=3) == "false"
    assert outcome(text, net__class="mobile") == "false"  # false && MISSING
    assert outcome(text, net__class="hosting") == "missing"


def test_longest_dotted_prefix_is_the_feature():
    assert outcome("session.device_changed", session__device_changed=True) == "true"
    assert "feature 'net.asn' (int) has no field 'x'" in errors("net.asn.x > 1")[0]


@pytest.mark.parametrize(("text", "features", "expected"), [
    ("ip.accounts_1h > 3", {}, "missing"),
    ("!(ip.accounts_1h > 3)", {}, "missing"),
    ("ip.accounts_1h + 1 > 3", {}, "missing"),
    ("-ip.accounts_1h < 0", {}, "missing"),
    ("false && ip.accounts_1h > 3", {}, "false"),
    ("ip.accounts_1h > 3 && false", {}, "false"),  # commutative, like CEL
    ("true || ip.accounts_1h > 3", {}, "true"),
    ("ip.accounts_1h > 3 || true", {}, "true"),
    ("ip.accounts_1h > 3 || false", {}, "missing"),
    ("has(ip.accounts_1h)", {}, "false"),
    ("!has(ip.accounts_1h)", {}, "true"),
    ("has(ip.accounts_1h)", {"ip.accounts_1h": 0}, "true"),
    ('net.country in ["US", "CA"]', {}, "missing"),
    ('!(net.country in ["US", "CA"])', {"net.country": "FR"}, "true"),
    ('net.as_org.startsWith("Amazon")', {}, "missing"),
    ("size(net.as_org) > 0", {}, "missing"),
    ("max(ip.accounts_1h, 2) > 1", {}, "missing"),
    ("has(net.country) ? net.country == \"US\" : true", {}, "true"),
    ("net.anonymizer ? true : false", {}, "missing"),
    ("ip.accounts_1h / ip.sessions_1h > 1", {"ip.accounts_1h": 4, "ip.sessions_1h": 0}, "missing"),
    ("ip.accounts_1h > 3", {"ip.accounts_1h": None}, "missing"),  # None is absent
])
def test_missing_values(text, features, expected):
    assert compile_condition(text).outcome(features) == expected


def test_rule_matches_only_when_definitely_true():
    cond = compile_condition("!(ip.accounts_1h > 3)")
    assert cond.matches({}) is False
    assert cond.matches({"ip.accounts_1h": 1}) is True


def test_wrong_runtime_type_never_raises_in_outcome():
    cond = compile_condition("ip.accounts_1h > 3")
    assert cond.outcome({"ip.accounts_1h": "many"}) == "missing"


def test_string_functions_and_regex():
    f = {"net.as_org": "Amazon.com, Inc.", "net.country": "US"}
    assert compile_condition('net.as_org.startsWith("Amazon")').matches(f)
    assert compile_condition('net.as_org.endsWith("Inc.")').matches(f)
    assert compile_condition('net.as_org.contains(".com")').matches(f)
    assert compile_condition('net.as_org.contains(net.country) == false').matches(f)
    assert compile_condition('net.as_org.matches("(?i)^amazon")').matches(f)
    assert compile_condition('matches(net.as_org, "Inc\\\\.$")').matches(f)
    assert not compile_condition('net.as_org.matches("^Google")').matches(f)


def test_in_cidr():
    cond = compile_condition('inCidr(net.ip, ["203.0.113.0/24", "2001:db8::/32"])')
    assert cond.matches({"net.ip": "203.0.113.9"})
    assert cond.matches({"net.ip": "2001:db8::1"})
    assert not cond.matches({"net.ip": "198.51.100.1"})
    assert cond.outcome({"net.ip": "not an ip"}) == "missing"
    assert compile_condition('inCidr(net.ip, "10.0.0.0/8")').matches({"net.ip": "10.9.8.7"})


def test_bounds():
    assert "limit is 4096" in errors("1 == 1 && " + "true && " * (MAX_LENGTH // 8) + "true")[0]
    assert f"nested deeper than {MAX_DEPTH}" in errors("(" * 40 + "true" + ")" * 40)[0]
    assert f"nested deeper than {MAX_DEPTH}" in errors("!" * 40 + "true")[0]
    assert f"nested deeper than {MAX_DEPTH}" in errors("1" + " + 1" * 40 + " > 0")[0]
    long_chain = " && ".join("true" for _ in range(500))
    assert len(long_chain) <= MAX_LENGTH
    assert compile_condition(long_chain).matches({})  # a flat chain stays shallow


def test_node_bound():
    text = "[" + ",".join("1" for _ in range(1100)) + "] == []"
    assert len(text) < MAX_LENGTH
    assert f"more than {MAX_NODES} nodes" in errors(text)[0]


@pytest.mark.parametrize(("text", "message"), [
    ("a = 1", "use == to compare"),
    ("a & b", "use && and || for logic"),
    ('"open', "string is not closed"),
    ('"\\q"', "unknown escape"),
    ("1 +", "ends where a value was expected"),
    ("(1 == 1", "expected ')'"),
    ("1 == 1 1", "after a complete condition"),
    ("99999999999999999999 > 1", "64-bit range"),
    ("", "empty"),
    ("ip.accounts_1h[0] > 1", "indexing"),
])
def test_syntax_errors(text, message):
    assert message in errors(text)[0]


def test_constant_folding_keeps_semantics():
    assert compile_condition("ip.accounts_1h >= 2 * 5").matches({"ip.accounts_1h": 10})
    assert not compile_condition("ip.accounts_1h >= 2 * 5").matches({"ip.accounts_1h": 9})
    assert compile_condition("10 <= ip.accounts_1h").matches({"ip.accounts_1h": 10})


def positions(text: str) -> list[tuple[int, str]]:
    with pytest.raises(ExprErrors) as info:
        compile_condition(text)
    return [(e.pos, e.message) for e in info.value.errors]


def test_every_syntax_error_in_a_condition_is_reported_not_just_the_first():
    found = positions('ip.accounts_1h >= && net.class == "hosting" || device.accounts_24h > ) && x.y > 1')
    assert found == [
        (18, "expected a value, found '&&'"),
        (69, "expected a value, found ')'"),
        (74, "unknown feature 'x.y' (run 'gateway features' for the catalogue)"),
    ]


@pytest.mark.parametrize(("text", "places"), [
    ("a > 1 b > 2 && c >", [6, 18, 0]),  # a stray term, a clause cut short, then the unknown name
    ('(net.class == "hosting" && ) || size(ip.accounts_1h b, 3) > 1', [27, 52]),  # inside a group, inside a call
    ('net.class = "x" && ip.accounts_1h > 3 & net.asn == 12abc', [10, 38, 53]),  # lexical errors go on reading
    ("has(net.country)) && [1, , 2] == [1] && model.score > 0.5)", [16, 25, 57]),  # stray closers
    ('"\\q" == "\\z" || ip.accounts_1h > 0x', [1, 9, 33]),  # escapes and a bare 0x
    ("ip.accounts_1h > 1 ? : 3", [21]),  # no cascade from the broken branch
])
def test_parser_recovers_at_logic_commas_and_closers(text, places):
    assert [pos for pos, _ in positions(text)] == places


@pytest.mark.parametrize("text", ["1e999 > 0", "ip.accounts_1h > 1E400", "model.score < 2e308"])
def test_a_number_that_overflows_to_infinity_is_an_error_at_its_place(text):
    pos, message = positions(text)[0]
    assert pos == text.index(text.split()[-1] if not text.startswith("1e") else "1e999")
    assert "too large: it would be infinite; write a finite number" in message


def test_a_constant_part_that_overflows_is_an_error():
    assert positions("ip.accounts_1h > 1e308 * 10") == [
        (23, "this constant part is inf, not a finite number; write the number it should be")]


def test_recovery_never_loops_or_raises_on_garbage():
    import random

    pieces = ["ip.accounts_1h", "net.class", '"x"', "1", "1e999", "(", ")", "[", "]", ",", "&&", "||", "!", "-",
              "?", ":", ">=", "=", "&", "size(", "has(", ".", "in", "@", '"\\q"', "'", "0x", "12ab", "a.b("]
    rng = random.Random(7)
    for _ in range(3000):
        text = " ".join(rng.choice(pieces) for _ in range(rng.randint(1, 14)))
        try:
            compile_condition(text)
        except ExprErrors as exc:
            assert exc.errors and all(0 <= e.pos <= len(text) for e in exc.errors), text
