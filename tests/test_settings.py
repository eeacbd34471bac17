"""The config file: defaults, validation, and errors that name the key and the fix."""

import pytest

from gateway.demo.app import DEMO_CONFIG
from gateway.settings import ConfigError, load_settings, reference, settings_from_dict


def test_demo_config_loads_with_every_section():
    s = load_settings(DEMO_CONFIG)
    assert s.mode == "enforce"
    assert {r.action for r in s.routes} == {"like", "comment", "follow"}
    assert s.auth.algorithms == ("RS256",)
    assert s.resolve(s.auth.jwks_file).endswith("gateway/demo/demo-jwks.json")


def test_empty_file_gives_defaults(tmp_path):
    p = tmp_path / "g.yaml"
    p.write_text("")
    s = load_settings(p)
    assert s.state.backend == "memory" and s.log.sink == "stdout"


@pytest.mark.parametrize(
    "data, message",
    [
        ({"mdoe": "shadow"}, "mdoe: unknown key; did you mean 'mode'?"),
        ({"mode": "block-everything"}, "mode: 'block-everything' is not one of enforce, shadow"),
        ({"auth": {"algoritms": ["RS256"]}}, "auth.algoritms: unknown key; did you mean 'algorithms'?"),
        ({"auth": {"algorithms": ["none"]}}, "auth.algorithms[0]: 'none' is never accepted"),
        ({"auth": {"algorithms": ["HS256", "RS256"]}}, "mixing HMAC"),
        ({"auth": {"leeway_s": "soon"}}, "auth.leeway_s: expected a number, got 'soon'"),
        ({"network": {"trusted_proxies": ["10.0.0.0/33"]}}, "network.trusted_proxies[0]: '10.0.0.0/33' is not an IP address or CIDR"),
        ({"routes": [{"path": "/v1/{id}/like", "action": "like", "target": "media"}]}, "routes[0].target: 'media' is not a parameter"),
        ({"routes": [{"path": "like", "action": "like"}]}, "routes[0].path: 'like' must start with '/'"),
        ({"routes": [{"path": "/v1/{idx}/like", "action": "like", "target": "id"}]}, "routes[0].target: 'id' is not a parameter"),
        ({"model_weight": float("nan")}, "model_weight: expected a finite number, got nan"),
        ({"auth": {"leeway_s": float("inf")}}, "auth.leeway_s: expected a finite number"),  # NaN/inf: any exp passes
        ({"model_weight": 10**400}, "model_weight: expected a finite number"),
        ({"routes": [{"path": "/v1/{id:int}/like", "action": "like"}]},
         "routes[0].path: '{id:int}' in '/v1/{id:int}/like' is not a parameter this gateway reads; write {name}"),
        ({"routes": [{"path": "/v1/{id/like", "action": "like"}]}, "routes[0].path: '{id/like' in"),
        ({"routes": [{"path": "/a", "action": "x"}, {"path": "/a", "action": "y"}]}, "POST /a is declared twice"),
        ({"state": {"backend": "etcd"}}, "state.backend: 'etcd' is not one of memory, redis"),
        ({"state": {"backend": "redis", "url": "127.0.0.1:6379"}}, "state.url: '127.0.0.1:6379' is not a Redis URL"),
        ({"state": {"backend": "redis", "cluster": True, "url": "unix:///tmp/r.sock"}},
         "state.url: 'unix:///tmp/r.sock' is not a Redis Cluster node's URL"),
        ({"state": {"backend": "redis", "timeout_ms": 0}}, "state.timeout_ms: must be positive"),
        ({"routes": "nope"}, "routes: expected a list"),
        (["a"], "the top level must be a mapping"),
    ],
)
def test_bad_config_names_the_key_and_the_fix(data, message):
    with pytest.raises(ConfigError) as err:
        settings_from_dict(data, source="gw.yaml")
    assert message in str(err.value)
    assert str(err.value).startswith("gw.yaml")


def test_yaml_syntax_error_has_line_and_column(tmp_path):
    p = tmp_path / "g.yaml"
    p.write_text("mode: enforce\nroutes: [\n  - {path: /a\n")
    with pytest.raises(ConfigError, match=r"g\.yaml:\d+:\d+: YAML syntax error"):
        load_settings(p)


def test_values_yaml_cannot_build_and_bytes_not_utf8_are_clear_errors(tmp_path):
    p = tmp_path / "g.yaml"
    p.write_text("state: {prefix: 2024-02-30}\n")  # a date that does not exist
    with pytest.raises(ConfigError, match=r"g\.yaml: cannot read a value \(day is out of range for month\); quote it"):
        load_settings(p)
    p.write_bytes(b"mode: enforce\nlog: {sink: \xff}\n")
    with pytest.raises(ConfigError, match=r"g\.yaml: not UTF-8 text \(byte 26\)"):
        load_settings(p)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_settings(tmp_path / "nope.yaml")


def test_reference_lists_every_key_with_a_default():
    keys = {k for k, _, _ in reference()}
    assert {"mode", "auth.algorithms", "state.backend", "log.sink", "network.trusted_proxies"} <= keys


def test_builtin_names_the_packs_shipped_in_the_package(tmp_path):
    """`builtin:` reaches the default packs from any config, where an installed package has no rules/ beside it."""
    from gateway.policy.loader import load_and_merge
    from gateway.settings import PACKAGE_DIR

    (tmp_path / "gateway.yaml").write_text("rules: [builtin:rules, builtin:rules/travel.yaml, mine]\n")
    s = load_settings(tmp_path / "gateway.yaml")
    assert [s.resolve(p) for p in s.rules] == [str(PACKAGE_DIR / "rules"), str(PACKAGE_DIR / "rules" / "travel.yaml"),
                                               str(tmp_path / "mine")]
    merged = load_and_merge(["builtin:rules"])
    assert not merged.errors and len(merged.files) == len(list((PACKAGE_DIR / "rules").glob("*.yaml")))
    assert load_and_merge(["builtin:rules/nope.yaml"]).errors == [
        f"{PACKAGE_DIR / 'rules' / 'nope.yaml'}:1:1: no such file or folder"]
