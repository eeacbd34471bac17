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


def test_a_method_matches_whatever_its_case():
    """Servers and clients on the way upper-case methods (httpx does): 'post' reaches the app as POST."""
    t = table()
    for method in ("post", "Post", "pOST"):
        assert t.match(method, "/v1/media/abc/like").target == "abc"
    assert t.match("put", "/v1/users/u9/follow").action == "follow"
    assert t.match("get", "/v1/media/abc/like") is None


def test_a_path_parameter_takes_the_rest_of_the_path():
    t = RouteTable(settings_from_dict({"routes": [
        {"path": "/v1/files/{file_path:path}/like", "action": "like", "target": "file_path"},
        {"path": "/v1/media/{media_id}/like", "action": "like", "target": "media_id"},
    ]}))
    assert t.match("POST", "/v1/files/dir/a/like").target == "dir/a"  # as Starlette's :path converter
    assert t.match("POST", "/v1/files/a/like").target == "a"
    assert t.match("POST", "/v1/files//like").target == ""  # Starlette routes it too, with an empty file_path
    assert t.match("POST", "/v1/media/dir/a/like") is None  # a plain parameter is one segment


def test_token_endpoint_is_recognised():
    assert table().match("POST", "/oauth/token").action == TOKEN_ACTION


def test_repeated_and_trailing_slashes_cannot_walk_around_a_route():
    t = table()
    for path in ("/v1/media/abc/like/", "//v1/media/abc/like", "/v1//media/abc//like", "/login/"):
        m = t.match("POST", path)
        assert m is not None, path
    assert t.match("POST", "/v1/media/abc/like/").target == "abc"
    assert t.match("POST", "/healthz/") is None


def test_each_method_matches_only_its_own_routes():
    t = RouteTable(settings_from_dict({
        "routes": [
            {"path": "/v1/users/{user_id}/follow", "methods": ["PUT"], "action": "follow", "target": "user_id"},
            {"path": "/v1/users/{user_id}/follow", "methods": ["DELETE"], "action": "unfollow", "target": "user_id"},
            {"path": "/{media_id}/comments", "methods": ["PATCH"], "action": "comment", "target": "media_id"},
        ]
    }))
    assert t.match("PUT", "/v1/users/u1/follow").action == "follow"
    assert t.match("DELETE", "/v1/users/u1/follow").action == "unfollow"
    assert t.match("PATCH", "/v1/users/u1/follow") is None
    assert t.match("put", "/v1/users/u1/follow").action == "follow"  # as the app will see it (upper-cased on the way)
    # A template whose first segment is a parameter is tried on every path of its method.
    assert t.match("PATCH", "/m7/comments").target == "m7"
    assert t.match("PATCH", "//m7//comments/").target == "m7"
    assert t.match("PUT", "/m7/comments") is None


def test_a_template_is_tried_only_on_paths_with_its_literal_text():
    t = table()
    assert t.match("POST", "/v1/mediaX/abc/like") is None
    assert t.match("POST", "/v2/media/abc/like") is None
    assert t.match("POST", "/v1/media/a.b-c~/like").target == "a.b-c~"


def test_a_long_target_is_kept_as_its_head_and_a_digest():
    """A client picks the path segment: 65,000 characters must not become 65,000 characters of state and log."""
    from gateway.routes import MAX_TARGET_CHARS

    t = table()
    assert t.match("POST", "/v1/media/" + "m" * MAX_TARGET_CHARS + "/like").target == "m" * MAX_TARGET_CHARS
    one = t.match("POST", "/v1/media/" + "a" * 65_000 + "/like").target
    other = t.match("POST", "/v1/media/" + "a" * 64_999 + "b/like").target
    assert len(one) <= MAX_TARGET_CHARS and one.startswith("a" * 64 + "~") and one != other
    assert t.match("POST", "/v1/media/" + "a" * 65_000 + "/like").target == one  # stable
