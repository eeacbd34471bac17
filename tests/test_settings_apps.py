"""The apps section: described apps are checked at load, with errors that name the key and the fix."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gateway.settings import ConfigError, settings_from_dict

ANDROID = r"MyApp (?P<version>[\d.]+) (?P<platform>Android) "


def apps(*clients: dict, **rest: object) -> dict:
    return {"apps": {"clients": list(clients), **rest}}


def test_a_described_app_loads() -> None:
    s = settings_from_dict(apps({
        "name": "MyApp", "kind": "first_party", "client_ids": ["my.android"], "platforms": ["android"],
        "user_agents": [ANDROID], "versions": {"current": "3.2.1", "minimum": "3.0"},
        "tls": {"android": "t13d1715h2_5b57614c22b0_3d5424432f57"}, "scopes": ["engage"],
    }, first_party=["legacy-id"]))
    app = s.apps.clients[0]
    assert app.tls == {"android": ("t13d1715h2_5b57614c22b0_3d5424432f57",)}  # one fingerprint is a list of one
    assert s.apps.first_party == ("legacy-id",)


@pytest.mark.parametrize(
    ("client", "message"),
    [
        ({"name": "MyApp", "user_agents": [r"(a)\1"]},
         r"apps.clients\[0\].user_agents\[0\]: '\(a\)\\1' is not a pattern re2 can compile \(invalid escape"),
        ({"name": "MyApp", "user_agents": [r"MyApp/(?=\d)"]}, r"apps.clients\[0\].user_agents\[0\]: .* re2 can compile"),
        ({"name": "MyApp", "user_agents": [r"MyApp/(?P<build>\d+)"]},
         r"apps.clients\[0\].user_agents\[0\]: group 'build' is not read; name groups version, platform"),
        ({"user_agents": [ANDROID]}, r"apps.clients\[0\].name: required"),
        ({"name": "MyApp", "kind": "partner"}, r"apps.clients\[0\].kind: 'partner' is not one of first_party, third_party"),
        ({"name": "MyApp", "platforms": ["symbian"]}, r"apps.clients\[0\].platforms\[0\]: 'symbian' is not one of"),
        ({"name": "MyApp", "versions": {"current": "latest"}},
         r"apps.clients\[0\].versions.current: 'latest' is not a dotted version"),
        ({"name": "MyApp", "versions": {"current": 3.2}}, r"apps.clients\[0\].versions.current: expected a string.*quote it"),
        ({"name": "MyApp", "versions": {"current": "3.0", "minimum": "3.1"}},
         r"apps.clients\[0\].versions: minimum 3.1 is newer than current 3.0; swap them"),
        ({"name": "MyApp", "platforms": ["ios"], "tls": {"android": ["x"]}},
         r"apps.clients\[0\].tls.android: MyApp is not on android; add it to platforms"),
        ({"name": "MyApp", "tls": {"blackberry": ["x"]}}, r"apps.clients\[0\].tls.blackberry: not a platform"),
        ({"name": "MyApp", "user_agent": [ANDROID]}, r"apps.clients\[0\].user_agent: unknown key; did you mean 'user_agents'"),
    ],
)
def test_bad_apps_name_the_key_and_the_fix(client: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings_from_dict(apps(client))


def test_one_client_id_names_one_app() -> None:
    with pytest.raises(ConfigError, match=r"apps.clients\[1\].client_ids: 'shared' is also A's"):
        settings_from_dict(apps({"name": "A", "client_ids": ["shared"]}, {"name": "B", "client_ids": ["shared"]}))


def test_other_stacks_name_a_tls_platform() -> None:
    with pytest.raises(ConfigError, match=r"apps.tls_platforms.abc: 'windows' is not a TLS platform; use one of"):
        settings_from_dict(apps(tls_platforms={"abc": "windows"}))


def test_a_bad_pattern_is_one_clear_line_from_the_command_line(tmp_path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("apps:\n  clients:\n    - name: MyApp\n      user_agents: ['MyApp/(\\d+)\\1']\n")
    done = subprocess.run([sys.executable, "-m", "gateway.cli", "replay", "--config", str(config), "--input", "/dev/null"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "apps.clients[0].user_agents[0]: 'MyApp/(\\d+)\\1' is not a pattern re2 can compile" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_an_app_nothing_can_recognise_is_a_config_error():
    with pytest.raises(ConfigError, match=r"apps.clients\[0\]: Lonely has neither client_ids nor user_agents"):
        settings_from_dict({"apps": {"clients": [{"name": "Lonely"}]}})
