import json

from gateway.frontdoors.responses import render
from gateway.settings import Route
from gateway.verdict import Decision, Verdict

ROUTE = Route(path="/v1/media/{m}/like", action="like", target="m")


def test_block_is_problem_json_with_decision_id_and_no_internals():
    status, headers, body = render(Verdict("d-1", Decision.BLOCK, True, rules=["dc-sharing"], explain="secret"), ROUTE)
    doc = json.loads(body)
    assert status == 403 and doc["decision_id"] == "d-1" and doc["status"] == 403
    assert b"dc-sharing" not in body and b"secret" not in body
    assert ("x-gateway-decision-id", "d-1") in headers


def test_throttle_has_retry_after():
    status, headers, _ = render(Verdict("d", Decision.THROTTLE, True, retry_after=30), ROUTE)
    assert status == 429 and ("retry-after", "30") in headers


def test_challenge_is_rfc9470_step_up():
    status, headers, _ = render(Verdict("d", Decision.CHALLENGE, True), ROUTE)
    www = dict(headers)["www-authenticate"]
    assert status == 401 and 'error="insufficient_user_authentication"' in www


def test_unauthenticated_follows_rfc6750():
    v = Verdict("d", Decision.UNAUTHENTICATED, True, auth_error="", auth_error_description=None)
    assert dict(render(v, ROUTE)[1])["www-authenticate"] == 'Bearer realm="gateway"'
    v = Verdict("d", Decision.UNAUTHENTICATED, True, auth_error="invalid_token", auth_error_description='bad "sig"\\\r\n')
    assert dict(render(v, ROUTE)[1])["www-authenticate"] == (
        'Bearer realm="gateway", error="invalid_token", error_description="bad \'sig\'/??"'
    )


def test_a_failed_dpop_proof_is_named_on_the_dpop_challenge():
    """RFC 9449 section 7.1: the error of a proof goes on the DPoP challenge, the Bearer one stays bare."""
    algs = ("ES256", "RS256")
    v = Verdict("d", Decision.UNAUTHENTICATED, True, auth_error="invalid_dpop_proof",
                auth_error_description="the DPoP proof is too old (iat)")
    assert dict(render(v, ROUTE, algs)[1])["www-authenticate"] == (
        'Bearer realm="gateway", DPoP realm="gateway", error="invalid_dpop_proof", '
        'error_description="the DPoP proof is too old (iat)", algs="ES256 RS256"'
    )
    v = Verdict("d", Decision.UNAUTHENTICATED, True, auth_error="invalid_token", auth_error_description="expired")
    assert dict(render(v, ROUTE, algs)[1])["www-authenticate"] == (
        'Bearer realm="gateway", error="invalid_token", error_description="expired", DPoP realm="gateway", algs="ES256 RS256"'
    )


def test_absorb_answers_like_the_app_and_shadow_passes():
    status, headers, body = render(Verdict("d", Decision.ABSORB, True), ROUTE)
    assert (status, body) == (200, b'{"status": "ok"}') and "x-gateway-decision-id" not in dict(headers)
    assert render(Verdict("d", Decision.BLOCK, False), ROUTE) is None
    assert render(Verdict("d", Decision.LOG, True), ROUTE) is None
