"""How the forward-auth service reads the original request from each proxy's check request."""

from __future__ import annotations

import pytest

from gateway.frontdoors.original_request import (
    ENVOY,
    FORWARDED,
    ORIGINAL,
    BadCheckRequest,
    normalise_path,
    read_original,
)
from gateway.settings import ForwardAuth

FA = ForwardAuth()


def test_nginx_auth_request_headers():
    o = read_original("GET", "/_gateway/authz", "", {"x-original-method": "POST", "x-original-uri": "/v1/media/m1/like?a=1&b=2"}, FA)
    assert (o.method, o.path, o.query, o.style) == ("POST", "/v1/media/m1/like", "a=1&b=2", ORIGINAL)


def test_traefik_forward_auth_headers():
    headers = {"x-forwarded-method": "POST", "x-forwarded-uri": "/v1/users/u9/follow", "x-forwarded-host": "api.example"}
    o = read_original("GET", "/", "", headers, FA)
    assert (o.method, o.path, o.query, o.style) == ("POST", "/v1/users/u9/follow", "", FORWARDED)


def test_a_check_naming_its_request_in_two_styles_is_refused():
    """Traefik passes a client's X-Original-* on, nginx a client's X-Forwarded-Uri: either could be the client's."""
    headers = {"x-original-method": "GET", "x-original-uri": "/v1/feed", "x-forwarded-method": "POST",
               "x-forwarded-uri": "/v1/media/m1/like"}
    with pytest.raises(BadCheckRequest, match="names its request twice"):
        read_original("GET", "/", "", headers, FA)


def test_envoy_check_request_is_the_original_request():
    o = read_original("POST", "/v1/media/m%31/like", "x=1", {}, FA)
    assert (o.method, o.path, o.query, o.style) == ("POST", "/v1/media/m1/like", "x=1", ENVOY)


def test_envoy_path_prefix_is_stripped_and_required():
    fa = ForwardAuth(envoy_path_prefix="/authz")
    assert read_original("POST", "/authz/v1/media/m1/like", "", {}, fa).path == "/v1/media/m1/like"
    assert read_original("GET", "/authz", "", {}, fa).path == "/"
    with pytest.raises(BadCheckRequest, match="envoy_path_prefix"):
        read_original("POST", "/authzv1/media/m1/like", "", {}, fa)


def test_configured_header_names_are_used():
    fa = ForwardAuth(original_method_headers=("x-orig-m",), original_uri_headers=("x-orig-u",))
    o = read_original("GET", "/", "", {"x-orig-m": "POST", "x-orig-u": "/x"}, fa)
    assert (o.method, o.path, o.style) == ("POST", "/x", ORIGINAL)
    # The default nginx names are no longer read: the check itself is the original (Envoy style).
    assert read_original("GET", "/check", "", {"x-original-method": "POST", "x-original-uri": "/y"}, fa).style == ENVOY


def test_absolute_form_uri():
    o = read_original("GET", "/", "", {"x-original-method": "POST", "x-original-uri": "https://api.example/v1/feed?q=1"}, FA)
    assert (o.path, o.query) == ("/v1/feed", "q=1")


@pytest.mark.parametrize("raw, path", [
    ("/v1/media/m%31/like", "/v1/media/m1/like"),
    ("//v1//media/m1/like", "/v1/media/m1/like"),
    ("/v1//media/m1/like//", "/v1/media/m1/like/"),
    ("/v1/.well-known/x", "/v1/.well-known/x"),
    ("/v1/media/m1%23/like", "/v1/media/m1#/like"),
    ("/v1/feed/", "/v1/feed/"),
    ("", "/"),
    ("/", "/"),
])
def test_paths_are_decoded_and_repeated_slashes_resolved(raw, path):
    assert normalise_path(raw, "x-original-uri") == path


@pytest.mark.parametrize("raw", [
    "/v1/media/../media/m1/like", "/v1/media/%2e%2e/like", "/v1/media/.%2E/like", "/v1/./media/m1/like", "/../../v1",
    "/a/b/..", "/v1/media/m1#/like",
])
def test_dot_segments_and_fragments_are_refused(raw):
    """nginx passes them on as they came; Starlette routes /v1/media/%2e%2e/like as a like of '..'."""
    with pytest.raises(BadCheckRequest, match="x-original-uri"):
        normalise_path(raw, "x-original-uri")
    with pytest.raises(BadCheckRequest):
        read_original("GET", "/", "", {"x-original-method": "POST", "x-original-uri": raw}, FA)


@pytest.mark.parametrize("headers, message", [
    ({"x-original-uri": "/a"}, "no method header"),
    ({"x-original-method": "POST"}, "no URI header"),
    ({"x-original-method": "PO ST", "x-original-uri": "/a"}, "not an HTTP method"),
    ({"x-original-method": "", "x-original-uri": "/a"}, "not an HTTP method"),
    ({"x-original-method": "POST", "x-original-uri": "a/b"}, "must start with '/'"),
    ({"x-original-method": "POST", "x-original-uri": "/" + "a" * 9000}, "longer than"),
    ({"x-forwarded-method": "POST"}, "x-forwarded-uri"),
])
def test_malformed_check_requests_are_named(headers, message):
    with pytest.raises(BadCheckRequest, match=message):
        read_original("GET", "/", "", headers, FA)
