"""DPoP (RFC 9449): bound tokens need a fresh proof from the bound key, for this request and this token."""

from __future__ import annotations

import pytest
from frontdoor_support import answer_to_a_like

from gateway.auth import Authenticator, AuthError, jwk_thumbprint
from gateway.auth.dpop import normalize_htu
from gateway.facts import RequestFacts
from gateway.settings import Settings, settings_from_dict
from gateway.testing import DPoPKey, TokenMinter

NOW = 1_700_000_000.0
URL = "https://api.test/v1/media/42/like"


@pytest.fixture(scope="module")
def minter() -> TokenMinter:
    return TokenMinter()


@pytest.fixture(scope="module")
def key() -> DPoPKey:
    return DPoPKey()


def dpop_settings(minter, tmp_path, **dpop) -> Settings:
    path = minter.write_jwks(tmp_path / "jwks.json")
    return settings_from_dict({"auth": {**minter.auth_settings(path), "dpop": dpop}})


async def make_auth(minter, tmp_path, **dpop) -> Authenticator:
    auth = Authenticator(dpop_settings(minter, tmp_path, **dpop))
    await auth.start()
    return auth


@pytest.fixture
async def auth(minter, tmp_path):
    authenticator = await make_auth(minter, tmp_path)
    yield authenticator
    await authenticator.close()


def facts(token: str, proof: str | None, *, method: str = "POST", ts: float = NOW, scheme: str = "DPoP",
          host: str = "api.test", path: str = "/v1/media/42/like", query: str = "") -> RequestFacts:
    headers = {"authorization": f"{scheme} {token}", "host": host}
    if proof is not None:
        headers["dpop"] = proof
    return RequestFacts(ts=ts, method=method, path=path, query=query, peer="127.0.0.1", headers=headers,
                        extra={"scheme": "https"})


async def refused(auth, f) -> AuthError:
    with pytest.raises(AuthError) as info:
        await auth.authenticate(f)
    assert (info.value.reason, info.value.error) == ("dpop", "invalid_dpop_proof")
    return info.value


def test_thumbprint_matches_rfc7638_example():
    jwk = {
        "kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_htu_normalization():
    assert normalize_htu("HTTPS://API.test:443/a%20b?x=1#f") == "https://api.test/a b"
    assert normalize_htu("http://api.test:8080") == "http://api.test:8080/"
    assert normalize_htu("http://[::1]:80/p") == "http://[::1]/p"


async def test_valid_proof(auth, minter, key):
    token = minter.mint("alice", issued_at=NOW, cnf=key.cnf)
    p = await auth.authenticate(facts(token, key.proof("POST", URL, token, iat=NOW)))
    assert (p.bound_jkt, p.dpop_valid) == (key.thumbprint, True)
    # a query string is not part of htu; a Bearer scheme is accepted too
    p = await auth.authenticate(facts(token, key.proof("POST", URL + "?ref=feed", token, iat=NOW), scheme="Bearer", query="ref=feed"))
    assert p.dpop_valid is True


@pytest.mark.parametrize("algorithm", ["RS256", "EdDSA"])
async def test_other_proof_algorithms(auth, minter, algorithm):
    other = DPoPKey(algorithm)
    token = minter.mint("alice", issued_at=NOW, cnf=other.cnf)
    assert (await auth.authenticate(facts(token, other.proof("POST", URL, token, iat=NOW)))).dpop_valid is True


async def test_unbound_token_needs_no_proof(auth, minter):
    p = await auth.authenticate(facts(minter.mint("alice", issued_at=NOW), None, scheme="Bearer"))
    assert (p.bound_jkt, p.dpop_valid) == (None, None)


async def test_missing_proof(auth, minter, key, tmp_path):
    token = minter.mint("alice", issued_at=NOW, cnf=key.cnf)
    err = await refused(auth, facts(token, None))
    assert "no DPoP proof" in err.description
    r = await answer_to_a_like(dpop_settings(minter, tmp_path), {"authorization": f"DPoP {token}"}, now=NOW, url=URL)
    assert r.status_code == 401
    header = r.headers["www-authenticate"]
    assert header.startswith('Bearer realm="gateway", DPoP realm="gateway", error="invalid_dpop_proof"')
    assert header.endswith('algs="ES256 RS256 EdDSA"')


async def test_wrong_method(auth, minter, key):
    token = minter.mint("alice", issued_at=NOW, cnf=key.cnf)
    assert "htm" in (await refused(auth, facts(token, key.proof("GET", URL, token, iat=NOW)))).description


@pytest.mark.parametrize("htu", ["https://api.test/v1/media/43/like", "http://api.test/v1/media/42/like",
                                 "https://evil.test/v1/media/42/like", "not a url"])
async def test_wrong_uri(auth, minter, key, htu):
    token = minter.mint("alice", issued_at=NOW, cnf=key.cnf)
    assert "htu" in (await refused(auth, facts(token, key.proof("POST", htu, token, iat=NOW)))).description


async def test_stale_and_future_iat(auth, minter, key):
    token = minter.mint("alice", issued_at=NOW - 1000, cnf=key.cnf)
    assert "too old" in (await refused(auth, facts(token, key.proof("POST", URL, token, iat=NOW - 301)))).description
    assert "future" in (await refused(auth, facts(token, key.proof("POST", URL, token, iat=NOW + 31)))).description
    for iat in (10**400, -(10**400)):  # the client signs its own proof: an integer past a float's range
        err = await refused(auth, facts(token, key.proof("POST", URL, token, iat=iat)))
        assert (err.error, err.description) == ("invalid_dpop_proof", "the DPoP proof has no numeric iat")
    assert (await auth.authenticate(facts(token, key.proof("POST", URL, token, iat=NOW - 300)))).dpop_valid


async def test_replayed_jti(auth, minter, key):
    token = minter.mint("alice", issued_at=NOW, cnf=key.cnf)
    proof = key.proof("POST", URL, token, iat=NOW, jti="once")
    assert (await auth.authenticate(facts(token, proof))).dpop_valid
    assert "replay" in (await refused(auth, facts(token, proof, ts=NOW + 1))).description
    # a new proof with the same jti is still a replay within the window
    again = key.proof("POST", URL, token, iat=NOW + 2, jti="once")
    assert "replay" in (await refused(auth, facts(token, again, ts=NOW + 2))).description


async def test_wrong_ath(auth, minter, key):
    token = minter.mint("alice", issued_at=NOW, cnf=key.cnf)
    other = minter.mint("alice", issued_at=NOW + 1, cnf=key.cnf)
    assert "ath" in (await refused(auth, facts(token, key.proof("POST", URL, other, iat=NOW)))).description
    assert "ath" in (await refused(auth, facts(token, key.proof("POST", URL, None, iat=NOW)))).description


async def test_wrong_key(auth, minter, key):
    token = minter.mint("alice", issued_at=NOW, cnf=key.cnf)
    thief = DPoPKey()
    assert "other than" in (await refused(auth, facts(token, thief.proof("POST", URL, token, iat=NOW)))).description


async def test_forged_signature(auth, minter, key):
    token = minter.mint("alice", issued_at=NOW, cnf=key.cnf)
    header, payload, _ = key.proof("POST", URL, token, iat=NOW).split(".")
    _, _, other_sig = key.proof("POST", URL, token, iat=NOW).split(".")
    assert "signature" in (await refused(auth, facts(token, f"{header}.{payload}.{other_sig}"))).description


async def test_proof_header_checks(auth, minter, key):
    import jwt

    token = minter.mint("alice", issued_at=NOW, cnf=key.cnf)
    body = {"htm": "POST", "htu": URL, "iat": NOW, "jti": "j"}
    # wrong typ
    wrong_typ = jwt.encode(body, key._key, algorithm="ES256", headers={"typ": "JWT", "jwk": key.jwk})
    assert "typ" in (await refused(auth, facts(token, wrong_typ))).description
    # symmetric proof
    hs = jwt.encode(body, "k" * 32, algorithm="HS256", headers={"typ": "dpop+jwt", "jwk": {"kty": "oct", "k": "a2s"}})
    assert "algorithm" in (await refused(auth, facts(token, hs))).description
    # private key in the header
    leaky = jwt.encode(body, key._key, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": {**key.jwk, "d": "x"}})
    assert "private" in (await refused(auth, facts(token, leaky))).description
    # garbage and two proofs joined by a proxy
    assert "well-formed" in (await refused(auth, facts(token, "garbage"))).description
    proof = key.proof("POST", URL, token, iat=NOW)
    await refused(auth, facts(token, f"{proof}, {proof}"))


async def test_unproven_allowed_when_not_rejecting(minter, key, tmp_path):
    auth = await make_auth(minter, tmp_path, reject_unproven=False)
    try:
        token = minter.mint("alice", issued_at=NOW, cnf=key.cnf)
        p = await auth.authenticate(facts(token, None))
        assert (p.bound_jkt, p.dpop_valid) == (key.thumbprint, False)
        p = await auth.authenticate(facts(token, key.proof("POST", URL, token, iat=NOW)))
        assert p.dpop_valid is True
    finally:
        await auth.close()


async def test_dpop_disabled(minter, key, tmp_path):
    auth = await make_auth(minter, tmp_path, enabled=False)
    try:
        token = minter.mint("alice", issued_at=NOW, cnf=key.cnf)
        p = await auth.authenticate(facts(token, None))
        assert (p.bound_jkt, p.dpop_valid) == (key.thumbprint, None)
        r = await answer_to_a_like(dpop_settings(minter, tmp_path, enabled=False), {}, now=NOW)
        assert r.status_code == 401 and r.headers["www-authenticate"] == 'Bearer realm="gateway"'
    finally:
        await auth.close()


def test_config_errors(minter, tmp_path):
    from gateway.settings import ConfigError

    path = minter.write_jwks(tmp_path / "jwks.json")
    with pytest.raises(ConfigError, match="auth.dpop.algorithms: HS256"):
        Authenticator(settings_from_dict({"auth": {**minter.auth_settings(path), "dpop": {"algorithms": ["HS256"]}}}))
    with pytest.raises(ConfigError, match="jti_window_s"):
        Authenticator(settings_from_dict({"auth": {**minter.auth_settings(path), "dpop": {"jti_window_s": 10}}}))


def test_a_flood_of_proofs_never_makes_the_table_forget_a_live_one():
    """An LRU let 200,000 fresh proofs push a victim's out, and the victim's proof replay then passed."""
    from gateway.auth.dpop import _Refused, _SeenProofs

    seen = _SeenProofs(window_s=600.0, capacity=50, per_key=20)
    seen.add("victim", "v1", NOW)
    with pytest.raises(_Refused, match="jti replay"):
        seen.add("victim", "v1", NOW + 1)
    for i in range(20):  # one key may hold at most per_key live proofs
        seen.add("attacker", f"a{i}", NOW + 2)
    with pytest.raises(_Refused, match="more than 20"):
        seen.add("attacker", "a20", NOW + 2)
    for k in range(29):  # many keys fill the table: new proofs wait, old ones are kept
        seen.add(f"key{k}", "x", NOW + 3)
    assert len(seen) == 50
    with pytest.raises(_Refused, match="retry shortly"):
        seen.add("honest", "h1", NOW + 4)
    with pytest.raises(_Refused, match="jti replay"):
        seen.add("victim", "v1", NOW + 5)
    # a window later every entry has expired: room again, per-key counts released
    seen.add("honest", "h1", NOW + 604)
    seen.add("attacker", "a21", NOW + 604)
    assert len(seen) == 2
