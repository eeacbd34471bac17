"""JWT verification: real RSA/EC keys, real tokens, every failure an AuthError with a reason."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from frontdoor_support import answer_to_a_like

from gateway.auth import Authenticator, AuthError, Principal
from gateway.facts import RequestFacts
from gateway.metrics import AUTH_FAILURES
from gateway.settings import ConfigError, Settings, settings_from_dict
from gateway.testing import TokenMinter, demo_minter

NOW = 1_700_000_000.0  # the request clock; deliberately far from wall time


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def facts(token: str | None = None, *, ts: float = NOW, scheme: str = "Bearer", **headers: str) -> RequestFacts:
    h = {"host": "api.test", **headers}
    if token is not None:
        h["authorization"] = f"{scheme} {token}"
    return RequestFacts(ts=ts, method="POST", path="/v1/media/1/like", peer="127.0.0.1", headers=h)


@pytest.fixture(scope="module")
def minter() -> TokenMinter:
    return TokenMinter()


def jwt_settings(minter: TokenMinter, tmp_path, **auth) -> Settings:
    return settings_from_dict({"auth": {**minter.auth_settings(minter.write_jwks(tmp_path / "jwks.json")), **auth}})


@pytest.fixture
async def auth(minter: TokenMinter, tmp_path):
    authenticator = Authenticator(jwt_settings(minter, tmp_path))
    await authenticator.start()
    yield authenticator
    await authenticator.close()


async def refused(auth: Authenticator, f: RequestFacts) -> AuthError:
    with pytest.raises(AuthError) as info:
        await auth.authenticate(f)
    return info.value


def failures(reason: str) -> float:
    return AUTH_FAILURES.labels(reason)._value.get()


async def test_valid_token_gives_principal(auth, minter):
    token = minter.mint("alice", session_id="s-1", client_id="engage-android", device_id="dev-1", issued_at=NOW - 10)
    p = await auth.authenticate(facts(token))
    assert isinstance(p, Principal)
    assert (p.subject, p.session_id, p.client_id, p.device_id, p.kind) == ("alice", "s-1", "engage-android", "dev-1", "jwt")
    assert p.issued_at == NOW - 10 and p.expires_at == NOW - 10 + 3600
    assert p.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert p.bound_jkt is None and p.dpop_valid is None


async def test_no_session_claim_uses_token_hash(auth, minter):
    token = minter.mint("bob", issued_at=NOW)
    p = await auth.authenticate(facts(token))
    assert p.session_id == "tok:" + hashlib.sha256(token.encode()).hexdigest()[:16]


async def test_dpop_scheme_and_case_insensitive_bearer(auth, minter):
    token = minter.mint("alice", issued_at=NOW)
    assert (await auth.authenticate(facts(token, scheme="bearer"))).subject == "alice"
    assert (await auth.authenticate(facts(token, scheme="DPoP"))).subject == "alice"


async def test_missing_token(auth):
    before = failures("missing")
    err = await refused(auth, facts())
    assert (err.reason, err.error) == ("missing", "")
    assert failures("missing") == before + 1


async def test_other_scheme_is_malformed(auth, minter):
    f = RequestFacts(ts=NOW, method="POST", path="/", peer="127.0.0.1", headers={"authorization": "Basic YWxpY2U6cHc="})
    err = await refused(auth, f)
    assert (err.reason, err.error) == ("malformed", "")  # RFC 6750 3.1: an unsupported method gets no error code


@pytest.mark.parametrize("garbage", ["x", "a.b.c", "a.b", "....", "ey.ey.ey", b64(b"[1]") + ".e30.", "tok\u00e9n", "a b"])
async def test_garbage_is_malformed(auth, garbage):
    err = await refused(auth, facts(garbage))
    assert (err.reason, err.error) == ("malformed", "invalid_token")  # RFC 6750 3.1: a malformed token


async def test_garbage_payload_is_malformed(auth, minter):
    header = b64(json.dumps({"alg": "RS256", "kid": "test-1"}).encode())
    err = await refused(auth, facts(f"{header}.%%%.sig"))
    assert err.reason == "malformed"
    err = await refused(auth, facts(f"{header}.{b64(b'not json')}.{b64(b'sig')}"))
    assert err.reason in ("malformed", "signature")


async def test_alg_none_is_refused(auth, minter):
    header = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "test-1"}).encode())
    payload = b64(json.dumps({"sub": "mallory", "iss": minter.issuer, "aud": minter.audience, "exp": NOW + 60}).encode())
    for token in (f"{header}.{payload}.", f"{header}.{payload}.{b64(b'x')}"):
        err = await refused(auth, facts(token))
        assert (err.reason, err.error) == ("algorithm", "invalid_token")
    assert "none" in err.description


async def test_hs256_signed_with_the_public_key_is_refused(auth, minter):
    """The classic confusion: HMAC with the RSA public key (PEM or JWK bytes) as the secret."""
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "test-1"}).encode())
    payload = b64(json.dumps({"sub": "mallory", "iss": minter.issuer, "aud": minter.audience, "exp": NOW + 60}).encode())
    signing_input = f"{header}.{payload}".encode()
    secret = minter.public_key_pem()
    token = f"{header}.{payload}.{b64(hmac.new(secret, signing_input, hashlib.sha256).digest())}"
    err = await refused(auth, facts(token))
    assert err.reason == "algorithm"


async def test_hs256_pinned_still_refuses_rsa_jwks(minter, tmp_path):
    """Pinning HS256 against a JWKS of RSA keys leaves nothing to verify with: a clear error at start."""
    path = minter.write_jwks(tmp_path / "jwks.json")
    settings = settings_from_dict({"auth": {**minter.auth_settings(path), "algorithms": ["HS256"]}})
    auth = Authenticator(settings)
    with pytest.raises(ConfigError, match="pinned algorithms"):
        await auth.start()


async def test_unknown_kid(auth, minter):
    other = TokenMinter(kid="elsewhere")
    err = await refused(auth, facts(other.mint("mallory", issued_at=NOW)))
    assert err.reason == "unknown_kid"


async def test_same_kid_other_key_fails_signature(auth, minter):
    impostor = TokenMinter(kid="test-1")
    err = await refused(auth, facts(impostor.mint("mallory", issued_at=NOW)))
    assert err.reason == "signature"


async def test_tampered_payload_fails_signature(auth, minter):
    header, _, sig = minter.mint("alice", issued_at=NOW).split(".")
    payload = b64(json.dumps({"sub": "admin", "iss": minter.issuer, "aud": minter.audience, "exp": NOW + 60}).encode())
    err = await refused(auth, facts(f"{header}.{payload}.{sig}"))
    assert err.reason == "signature"


async def test_single_key_serves_token_without_kid(auth, minter):
    token = jwt.encode(
        {"sub": "alice", "iss": minter.issuer, "aud": minter.audience, "iat": NOW, "exp": NOW + 60},
        minter.private_key(), algorithm="RS256",
    )
    assert (await auth.authenticate(facts(token))).subject == "alice"


async def test_expired_with_leeway_edges(auth, minter):
    token = minter.mint("alice", issued_at=NOW - 100, ttl=100)  # exp == NOW, leeway 30
    assert (await auth.authenticate(facts(token, ts=NOW + 30))).subject == "alice"
    err = await refused(auth, facts(token, ts=NOW + 31))
    assert (err.reason, err.error) == ("expired", "invalid_token")


async def test_not_yet_valid_with_leeway_edges(auth, minter):
    token = minter.mint("alice", issued_at=NOW, nbf=NOW + 100)
    err = await refused(auth, facts(token, ts=NOW + 69))
    assert err.reason == "not_yet_valid"
    assert (await auth.authenticate(facts(token, ts=NOW + 70))).subject == "alice"


async def test_issued_in_the_future(auth, minter):
    token = minter.mint("alice", issued_at=NOW + 3600)
    assert (await refused(auth, facts(token))).reason == "not_yet_valid"


async def test_times_follow_the_request_clock_not_wall_time(auth, minter):
    old = minter.mint("alice", issued_at=NOW)  # expired long ago by wall time
    assert time.time() > NOW + 3600
    assert (await auth.authenticate(facts(old, ts=NOW + 5))).subject == "alice"


async def test_exp_is_required(auth, minter):
    err = await refused(auth, facts(minter.mint("alice", issued_at=NOW, exp=None)))
    assert err.reason == "claims"


async def test_subject_is_required(auth, minter):
    err = await refused(auth, facts(minter.mint("alice", issued_at=NOW, sub=None)))
    assert err.reason == "claims"


async def test_wrong_issuer_and_audience(auth, minter):
    assert (await refused(auth, facts(minter.mint("a", issued_at=NOW, iss="https://evil.test")))).reason == "issuer"
    assert (await refused(auth, facts(minter.mint("a", issued_at=NOW, aud="other-api")))).reason == "audience"
    assert (await refused(auth, facts(minter.mint("a", issued_at=NOW, aud=None)))).reason == "audience"
    ok = minter.mint("a", issued_at=NOW, aud=["other-api", minter.audience])
    assert (await auth.authenticate(facts(ok))).subject == "a"


async def test_oversized_token(auth, minter):
    token = minter.mint("alice", issued_at=NOW, padding="x" * 9000)
    err = await refused(auth, facts(token))
    assert err.reason == "oversized"


async def test_dpop_proof_as_access_token_is_refused(auth, minter):
    from gateway.testing import DPoPKey

    proof = DPoPKey("RS256").proof("POST", "http://api.test/")
    assert (await refused(auth, facts(proof))).reason in ("malformed", "algorithm")


async def test_cache_serves_until_exp_and_never_after(auth, minter):
    token = minter.mint("alice", issued_at=NOW, ttl=60)
    first = await auth.authenticate(facts(token))
    assert await auth.authenticate(facts(token, ts=NOW + 1)) is first  # the cached object
    err = await refused(auth, facts(token, ts=NOW + 61 + 30))
    assert err.reason == "expired"
    # in the leeway span after exp the token is re-verified (not served from cache) and still passes
    again = await auth.authenticate(facts(token, ts=NOW + 70))
    assert again is not first and again.subject == "alice"


async def test_cache_is_bounded(minter, tmp_path):
    path = minter.write_jwks(tmp_path / "jwks.json")
    auth = Authenticator(settings_from_dict({"auth": {**minter.auth_settings(path), "cache_size": 3}}))
    await auth.start()
    try:
        for i in range(10):
            await auth.authenticate(facts(minter.mint(f"user-{i}", issued_at=NOW)))
        assert len(auth._cache) == 3
    finally:
        await auth.close()


async def test_verify_issued(auth, minter):
    token = minter.mint("carol", session_id="s-9", issued_at=NOW)
    p = auth.verify_issued(token, NOW)
    assert (p.subject, p.session_id) == ("carol", "s-9")
    with pytest.raises(AuthError) as info:
        auth.verify_issued(TokenMinter(kid="x").mint("carol", issued_at=NOW), NOW)
    assert info.value.reason == "unknown_kid"
    with pytest.raises(AuthError) as info:
        auth.verify_issued("not a token", NOW)
    assert info.value.reason == "malformed"


async def test_es256_issuer(tmp_path):
    minter = TokenMinter(algorithm="ES256")
    auth = Authenticator(settings_from_dict({"auth": minter.auth_settings(minter.write_jwks(tmp_path / "j.json"))}))
    await auth.start()
    try:
        assert (await auth.authenticate(facts(minter.mint("eve", issued_at=NOW)))).subject == "eve"
        rsa_minter = TokenMinter(kid="test-1")  # RS256 token under the EC key's kid
        assert (await refused(auth, facts(rsa_minter.mint("eve", issued_at=NOW)))).reason == "algorithm"
    finally:
        await auth.close()


@pytest.mark.parametrize("dpop", [True, False])
async def test_the_401_challenge_follows_rfc6750(minter, tmp_path, dpop):
    settings = jwt_settings(minter, tmp_path, dpop={"enabled": dpop})
    offer = ', DPoP realm="gateway", algs="ES256 RS256 EdDSA"' if dpop else ""
    for headers in ({}, {"authorization": "Basic YWxpY2U6cHc="}):  # no token: no error code (RFC 6750 section 3.1)
        r = await answer_to_a_like(settings, headers, now=NOW)
        assert r.status_code == 401 and r.headers["www-authenticate"] == 'Bearer realm="gateway"' + offer
    odd = TokenMinter(kid='k"\\\r\n')  # the token's own text reaches the header: no quotes, backslashes, line breaks
    r = await answer_to_a_like(settings, {"authorization": f"Bearer {odd.mint('eve', issued_at=NOW)}"}, now=NOW)
    assert r.status_code == 401 and r.headers["www-authenticate"] == (
        'Bearer realm="gateway", error="invalid_token", error_description="the token\'s signing key \'k\'///r/n\' is not known"'
        + offer
    )


async def test_demo_minter_matches_demo_jwks():
    settings = settings_from_dict({"auth": {
        "issuer": "https://demo.gateway.local", "audience": "engagement-api",
        "algorithms": ["RS256"], "jwks_file": "gateway/demo/demo-jwks.json",
    }})
    auth = Authenticator(settings)
    await auth.start()
    try:
        p = await auth.authenticate(facts(demo_minter().mint("alice", session_id="s", issued_at=NOW)))
        assert p.subject == "alice"
    finally:
        await auth.close()


async def test_no_verification_source_is_a_config_error():
    auth = Authenticator(settings_from_dict({}))
    with pytest.raises(ConfigError, match="jwks_file"):
        await auth.start()


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": "tomorrow"}, "claims"),
        ({"exp": True}, "claims"),
        ({"exp": float("nan")}, "claims"),
        ({"exp": 10**400}, "claims"),  # JSON integers are unbounded: past a float's range
        ({"iat": -(10**400)}, "claims"),
        ({"nbf": [1]}, "claims"),
        ({"sub": 12345}, "claims"),  # StringOrURI: a number is not a subject
        ({"sub": {"id": 1}}, "claims"),
        ({"aud": 5}, "audience"),
        ({"iss": None}, "issuer"),
        ({"cnf": "not-a-mapping"}, "claims"),  # a binding that cannot be read must not leave the token unbound
        ({"cnf": {"x5t#S256": "abc"}}, None),  # another confirmation method: not DPoP's to check
    ],
)
async def test_odd_claims_in_a_validly_signed_token(auth, minter, claims, reason):
    token = minter.mint("alice", issued_at=NOW, **claims)
    if reason is None:
        assert (await auth.authenticate(facts(token))).subject == "alice"
    else:
        assert (await refused(auth, facts(token))).reason == reason


@pytest.mark.parametrize(
    "header",
    [
        {"alg": ["RS256"], "kid": "test-1"},
        {"alg": "RS256", "kid": 7},
        {"alg": "RS256", "kid": "test-1", "crit": ["exp"]},
        {"alg": "RS256", "kid": "x" * 5000},
        {"alg": "RS256", "kid": "test-1", "b64": False, "crit": ["b64"]},
        {"kid": "test-1"},
    ],
)
async def test_odd_headers_are_auth_errors(auth, minter, header):
    import jwt as pyjwt

    body = {"sub": "alice", "iss": minter.issuer, "aud": minter.audience, "iat": NOW, "exp": NOW + 60}
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(body).encode())
    signature = pyjwt.get_algorithm_by_name("RS256").sign(signing_input.encode(), minter.private_key())
    err = await refused(auth, facts(signing_input + "." + b64(signature)))
    assert err.reason in ("malformed", "algorithm", "unknown_kid", "oversized")
