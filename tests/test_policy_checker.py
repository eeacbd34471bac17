"""Type and name errors in conditions, with positions and suggestions."""

from __future__ import annotations

import pytest

from gateway.policy.condition import ExprErrors, compile_condition


def first_error(text: str) -> tuple[int, str]:
    with pytest.raises(ExprErrors) as info:
        compile_condition(text)
    e = info.value.errors[0]
    return e.pos, e.message


def test_unknown_name_suggests_the_closest_feature():
    pos, message = first_error('net.class == "hosting" && ip.acounts_1h >= 10')
    assert pos == 26
    assert message == "unknown feature 'ip.acounts_1h'; did you mean 'ip.accounts_1h'?"


def test_unknown_name_without_a_close_match_points_at_the_catalogue():
    _, message = first_error("zzz_qqq > 1")
    assert "gateway features" in message


def test_string_compared_with_number():
    pos, message = first_error("net.class > 3")
    assert pos == 10 and message == "cannot compare a string with an int using '>'"
    _, message = first_error('ip.accounts_1h == "10"')
    assert message == "cannot compare an int with a string using '=='"


def test_non_bool_condition():
    _, message = first_error("ip.accounts_1h + 1")
    assert "must be true or false" in message and "an int" in message


def test_every_error_is_collected():
    with pytest.raises(ExprErrors) as info:
        compile_condition('ip.acounts_1h > 1 && net.class > 2 && net.countyr == "US"')
    assert len(info.value.errors) == 3


@pytest.mark.parametrize(("text", "message"), [
    ("net.anonymizer && 1", "'&&' needs true or false"),
    ("!ip.accounts_1h", "'!' needs true or false"),
    ('-net.class == "x"', "'-' needs a number"),
    ('net.class + 1 == 2', "'+' needs numbers"),
    ("1.5 % 2 == 1", "'%' needs whole numbers"),
    ('net.class in "hosting"', "'in' needs a list"),
    ('net.asn in ["a", "b"]', "can never be in a list of strings"),
    ('[1, "a"] == [1]', "list mixes"),
    ('net.anonymizer ? 1 : "x"', "both branches"),
    ("net.class == null", "has(feature)"),
    ("has(1)", "has() takes one feature name"),
    ('size(1) == 1', "size() needs a string or list"),
    ('net.asn.startsWith("1")', "needs a string before the dot"),
    ('(net.as_org).startsWith(1)', "takes one string argument"),
    ('startsWith(net.as_org, "a")', "is called on a string"),
    ('net.as_org.matches(net.country)', "needs a literal pattern"),
    ('net.as_org.matches("a(b")', "not valid RE2"),
    ('net.as_org.matches("(?<=a)b")', "not valid RE2"),
    ('inCidr(net.ip, "300.1.1.0/24")', "is not a CIDR network"),
    ('inCidr(net.ip, net.prefix)', "literal CIDR"),
    ('sise(net.as_org) > 1', "did you mean 'size'?"),
    ('min() > 1', "one or more numbers"),
    ('(1).foo == 1', "only feature names"),
])
def test_type_errors(text, message):
    _, got = first_error(text)
    assert message in got


def test_bool_equality_and_numbers_mix():
    assert compile_condition("session.device_changed == true").matches({"session.device_changed": True})
    assert compile_condition("token.age_s > 10").matches({"token.age_s": 11})  # float vs int
    assert compile_condition("net.asn in [16509, 14618.0]").matches({"net.asn": 14618})


@pytest.mark.parametrize(("text", "pos", "words"), [
    ("account.actions_1m >= 60", 22, "account.actions_1m is at most 33 (its range is 1..33"),
    ("account.actions_1m > 33", 21, "no request can satisfy account.actions_1m > 33"),
    ("60 <= account.actions_1m", 0, "no request can satisfy account.actions_1m >= 60"),
    ("ip.accounts_1h < 1", 17, "ip.accounts_1h is at least 1"),
    ("target.crowd_24h < 0", 19, "target.crowd_24h is at least 0"),
    ("model.score > 1.0", 14, "model.score is at most 1"),
    ("account.burstiness <= -1.5", 22, "account.burstiness is at least -1"),
    ("headers.missing == 4", 19, "headers.missing is never 4 (its range is 0..3"),
    ("account.actions_1m in [40, 50]", 22, "is never any of [40, 50]"),
    ("account.gaps == 2.5", 16, "account.gaps is a whole number"),
    ('net.class == "hosting" && prefix.accounts_1h >= 200', 48, "compare with a value within 1..128"),
])
def test_comparison_outside_the_documented_range_is_an_error(text, pos, words):
    """A comparison no value in the feature's range can satisfy makes a rule that never fires."""
    got_pos, message = first_error(text)
    assert got_pos == pos and words in message, message


@pytest.mark.parametrize("text", [
    "account.actions_1m >= 33", "account.actions_1m <= 1", "33 >= account.actions_1m",
    "target.crowd_24h <= 0", "model.score >= 1.0", "account.actions_1m != 60", "account.actions_1m in [1, 60]",
    "account.actions_1h >= 100000", "net.asn == 64496", "account.gap_median_s < 0.5",
])
def test_comparison_inside_the_range_is_fine(text):
    compile_condition(text)


def test_the_language_reference_lists_every_function_of_the_table():
    from pathlib import Path

    from gateway.policy.functions import FUNCTIONS

    reference = Path(__file__).parents[1] / "gateway" / "policy" / "README.md"
    [row] = [line for line in reference.read_text().splitlines() if line.startswith("| functions |")]
    listed = {word.split("(")[0].split(".")[-1] for word in row.split("`") if "(" in word}
    assert listed == set(FUNCTIONS)
