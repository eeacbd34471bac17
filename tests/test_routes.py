from gateway.routes import TOKEN_ACTION, RouteTable
from gateway.settings import settings_from_dict


def table():
    return RouteTable(settings_from_dict({
        "routes": [
            {"path": "/v1/media/{media_id}/like", "action": "like", "target": "media_id"},
            {"path": "/v1/users/{user_id}/follow", "methods": ["POST", "PUT"], "action": "follow", "target": "user_id"},
            {"path": "/login", "action": "login"},
        ]
    }))


def test_templates_name_action_and_target():
    t = table()
    m = t.match("POST", "/v1/media/abc/like")
    assert (m.action, m.target) == ("like", "abc")
    assert t.match("PUT", "/v1/users/u9/follow").target == "u9"
    assert t.match("POST", "/login").action == "login"


def test_unprotected_paths_and_methods_pass():
    t = table()
    assert t.match("GET", "/v1/media/abc/like") is None
    assert t.match("POST", "/v1/media/abc/like/extra") is None
    assert t.match("POST", "/v1/media/like") is None
    assert t.match("POST", "/v1/media//like") is None
    assert t.match("POST", "/healthz") is None


def test_token_endpoint_is_recognised():
    assert table().match("POST", "/oauth/token").action == TOKEN_ACTION


def test_repeated_and_trailing_slashes_cannot_walk_around_a_route():
    t = table()
    for path in ("/v1/media/abc/like/", "//v1/media/abc/like", "/v1//media/abc//like", "/login/"):
        m = t.match("POST", path)
        assert m is not None, path
    assert t.match("POST", "/v1/media/abc/like/").target == "abc"
    assert t.match("POST", "/healthz/") is None
