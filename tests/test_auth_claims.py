"""Claim types: a validly signed token (or an introspection answer) whose claims have the wrong JSON type is refused.

The claims the config maps (subject, session, client, device) are StringOrURI;
exp, nbf and iat are finite NumericDates between the epoch and year 9999;
cnf.jkt is a thumbprint string. Anything else is a 401 invalid_token, counted
under the reason 'claims', never a 500 and never a token let through.
"""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from frontdoor_support import app_headers, demo_settings
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.auth import Authenticator, AuthError, Principal
from gateway.demo.app import build_protected_demo
from gateway.facts import RequestFacts
from gateway.metrics import AUTH_FAILURES, REGISTRY
from gateway.settings import settings_from_dict
from gateway.testing import TokenMinter, demo_minter

NOW = 1_700_000_000.0
LAST_SECOND_OF_9999 = 253_402_300_799
MAPPING = {"subject": "sub", "session": "sid", "client": "azp", "device": "did"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def facts(token: str, ts: float = NOW) -> RequestFacts:
    return RequestFacts(ts=ts, method="POST", path="/v1/media/1/like", peer="127.0.0.1",
                        headers={"host": "api.test", "authorization": f"Bearer {token}"})


def signed(minter: TokenMinter, payload_json: str) -> str:
    """A token over exactly this payload text, signed with the minter's key: JSON literals PyJWT would not write."""
    header = b64(json.dumps({"alg": "RS256", "kid": minter.kid, "typ": "JWT"}).encode())
    signing_input = f"{header}.{b64(payload_json.encode())}"
    signature = jwt.get_algorithm_by_name("RS256").sign(signing_input.encode(), minter.private_key())
    return f"{signing_input}.{b64(signature)}"


def base_claims(minter: TokenMinter) -> dict:
    return {"iss": minter.issuer, "aud": minter.audience, "sub": "alice", "iat": int(NOW), "exp": int(NOW) + 600}


def failures() -> float:
    return AUTH_FAILURES.labels("claims")._value.get()


@pytest.fixture(scope="module")
def minter() -> TokenMinter:
    return TokenMinter()


@pytest.fixture
async def auth(minter: TokenMinter, tmp_path):
    """Verifies the minter's JWTs, with the client claim mapped to azp."""
    path = minter.write_jwks(tmp_path / "jwks.json")
    authenticator = Authenticator(settings_from_dict({"auth": {**minter.auth_settings(path), "claims": MAPPING}}))
    await authenticator.start()
    yield authenticator
    await authenticator.close()


async def assert_refused(auth: Authenticator, token: str, claim: str, wrong: str, *, ts: float = NOW) -> AuthError:
    """The token is a 401 invalid_token, counted as 'claims', whose description names the claim and the fault."""
    before = failures()
    with pytest.raises(AuthError) as info:
        await auth.authenticate(facts(token, ts))
    err = info.value
    assert (err.reason, err.error) == ("claims", "invalid_token"), err.description
    assert f"'{claim}'" in err.description and wrong in err.description, err.description
    assert len(err.description) < 160
    assert failures() == before + 1  # the 401's challenge: test_wrong_claim_types_over_http_are_a_logged_401
    return err


@pytest.mark.parametrize(
    ("claims", "claim", "wrong"),
    [
        ({"sub": 123456789}, "sub", "a number, not a string"),
        ({"sub": 1.5}, "sub", "a number, not a string"),
        ({"sub": True}, "sub", "a boolean, not a string"),
        ({"sid": {"id": "s-1", "admin": True}}, "sid", "an object, not a string"),
        ({"did": ["dev-1", "dev-2"]}, "did", "an array, not a string"),
        ({"azp": True}, "azp", "a boolean, not a string"),
        ({"azp": 42}, "azp", "a number, not a string"),
        ({"exp": 1e300}, "exp", "out of range"),
        ({"exp": LAST_SECOND_OF_9999 + 1}, "exp", "out of range"),
        ({"exp": str(int(NOW) + 600)}, "exp", "a string, not a number"),
        ({"exp": True}, "exp", "a boolean, not a number"),  # True is an int in Python, not a NumericDate
        ({"exp": {"at": NOW}}, "exp", "an object, not a number"),
        ({"iat": -1}, "iat", "out of range"),
        ({"iat": -1e300}, "iat", "out of range"),
        ({"iat": 1e300}, "iat", "out of range"),
        ({"iat": False}, "iat", "a boolean, not a number"),
        ({"nbf": -5}, "nbf", "out of range"),
        ({"nbf": 10**400}, "nbf", "not a finite number"),  # JSON integers are unbounded
        ({"cnf": {"jkt": 12345}}, "cnf.jkt", "a number"),
        ({"cnf": {"jkt": ["a", "b"]}}, "cnf.jkt", "an array"),
        ({"cnf": {"jkt": ""}}, "cnf.jkt", "an empty string"),
        ({"cnf": ["jkt"]}, "cnf", "an array, not an object"),
    ],
)
async def test_wrong_claim_types_in_a_validly_signed_jwt_are_refused(auth, minter, claims, claim, wrong):
    token = minter.mint("alice", session_id="s-1", device_id="dev-1", issued_at=NOW, **{"azp": "engage-android", **claims})
    err = await assert_refused(auth, token, claim, wrong)
    assert "123456789" not in err.description and "dev-2" not in err.description  # the value is not echoed
    await assert_refused(auth, token, claim, wrong)  # not cached: refused again, counted again


@pytest.mark.parametrize(
    ("literal", "claim", "wrong"),
    [
        ('"nbf": NaN', "nbf", "not a finite number"),  # Python's json (and so PyJWT) reads NaN and Infinity
        ('"exp": Infinity', "exp", "not a finite number"),
        ('"iat": -Infinity', "iat", "not a finite number"),
        ('"exp": 1e400', "exp", "not a finite number"),  # a float literal past range parses as inf
        ('"exp": null', "exp", "null, not a number"),
        ('"sid": null', "sid", "null, not a string"),
        ('"azp": null', "azp", "null, not a string"),
        ('"sub": null', "sub", "null, not a string"),
    ],
)
async def test_json_literals_python_parses_are_refused(auth, minter, literal, claim, wrong):
    body = {k: v for k, v in base_claims(minter).items() if k != claim}
    payload = json.dumps(body)[:-1] + ", " + literal + "}"
    await assert_refused(auth, signed(minter, payload), claim, wrong)


async def test_a_good_token_still_passes(auth, minter):
    token = minter.mint("alice", session_id="s-1", device_id="dev-1", issued_at=NOW, azp="engage-android",
                        exp=NOW + 60.5, nbf=0)  # a fractional exp is a NumericDate too (RFC 7519 section 2)
    p = await auth.authenticate(facts(token))
    assert isinstance(p, Principal)
    assert (p.subject, p.session_id, p.client_id, p.device_id) == ("alice", "s-1", "engage-android", "dev-1")
    assert p.expires_at == NOW + 60.5 and p.bound_jkt is None


async def test_the_last_second_of_9999_is_still_a_date(auth, minter):
    token = minter.mint("alice", issued_at=NOW, exp=LAST_SECOND_OF_9999)
    assert (await auth.authenticate(facts(token))).expires_at == LAST_SECOND_OF_9999


async def test_claims_the_config_does_not_map_keep_any_type(auth, minter):
    """client_id is not mapped here (azp is): it is the issuer's business, not a field the gateway reads."""
    token = minter.mint("alice", issued_at=NOW, client_id=7, scope=["read", "write"], cnf={"x5t#S256": "abc"})
    p = await auth.authenticate(facts(token))
    assert p.subject == "alice" and p.client_id is None and p.bound_jkt is None


async def test_a_token_from_the_token_endpoint_is_checked_the_same(auth, minter):
    with pytest.raises(AuthError) as info:
        auth.verify_issued(minter.mint("alice", issued_at=NOW, sid={"x": 1}), NOW)
    assert info.value.reason == "claims" and "'sid'" in info.value.description


# -- introspection: the same checks on an RFC 7662 answer ---------------------------


class Introspection:
    """An authorization server whose answers the test writes, token by token."""

    def __init__(self) -> None:
        self.answers: dict[str, dict] = {}
        self.app = Starlette(routes=[Route("/introspect", self.introspect, methods=["POST"])])

    async def introspect(self, request):
        form = parse_qs((await request.body()).decode())
        return JSONResponse(self.answers.get(form.get("token", [""])[0], {"active": False}))


@pytest.fixture
def server() -> Introspection:
    return Introspection()


@pytest.fixture
async def opaque_auth(serve, server):
    with serve(server.app) as base:
        settings = settings_from_dict({"auth": {
            "issuer": "https://as.test", "audience": "api", "claims": MAPPING,
            "introspection": {"url": f"{base}/introspect", "timeout_s": 2.0, "cache_ttl_s": 60},
        }})
        authenticator = Authenticator(settings)
        await authenticator.start()
        yield authenticator
        await authenticator.close()


def active(**claims) -> dict:
    answer = {"active": True, "sub": "alice", "sid": "s-7", "azp": "partner-scheduler", "iss": "https://as.test",
              "aud": "api", "exp": NOW + 600, "iat": NOW - 5}
    answer.update(claims)
    return answer


@pytest.mark.parametrize(
    ("claims", "claim", "wrong"),
    [
        ({"sub": 31337}, "sub", "a number, not a string"),
        ({"sid": {"id": 1}}, "sid", "an object, not a string"),
        ({"azp": False}, "azp", "a boolean, not a string"),
        ({"did": [1]}, "did", "an array, not a string"),
        ({"exp": 1e300}, "exp", "out of range"),
        ({"exp": "soon"}, "exp", "a string, not a number"),
        ({"exp": True}, "exp", "a boolean, not a number"),
        ({"iat": -100}, "iat", "out of range"),
        ({"cnf": {"jkt": 1}}, "cnf.jkt", "a number"),
    ],
)
async def test_wrong_claim_types_in_an_introspection_answer_are_refused(opaque_auth, server, claims, claim, wrong):
    server.answers["opaque-1"] = active(**claims)
    await assert_refused(opaque_auth, "opaque-1", claim, wrong)


async def test_a_good_introspection_answer_still_passes(opaque_auth, server):
    server.answers["opaque-2"] = active(did="dev-9")
    p = await opaque_auth.authenticate(facts("opaque-2"))
    assert (p.subject, p.session_id, p.client_id, p.device_id, p.kind) == ("alice", "s-7", "partner-scheduler", "dev-9", "opaque")


# -- end to end: a real HTTP request through the gateway ------------------------------


def read_log(path) -> list[dict]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not (path.exists() and path.read_text().strip()):
        time.sleep(0.05)
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("claims", "claim", "wrong"),
    [
        ({"sub": 12345}, "sub", "a number, not a string"),
        ({"sid": {"admin": True}}, "sid", "an object, not a string"),
        ({"exp": 1e300}, "exp", "out of range"),
        ({"exp": True}, "exp", "a boolean, not a number"),
    ],
)
def test_wrong_claim_types_over_http_are_a_logged_401(tmp_path, serve, claims, claim, wrong):
    log = tmp_path / "decisions.jsonl"
    settings = demo_settings(tmp_path, log_sink=str(log))
    token = demo_minter().mint("alice", client_id="engage-android", device_id="dev-1", issued_at=time.time(), **claims)
    labels = {"reason": "claims"}
    before = REGISTRY.get_sample_value("gateway_auth_failures_total", labels) or 0.0
    with serve(build_protected_demo(settings=settings)) as url:
        r = httpx.post(f"{url}/v1/media/m1/like", headers=app_headers(token))
    assert r.status_code == 401
    www = r.headers["www-authenticate"]
    assert www.startswith('Bearer realm="gateway"') and 'error="invalid_token"' in www
    assert f"the token's '{claim}' claim" in www and wrong in www
    assert REGISTRY.get_sample_value("gateway_auth_failures_total", labels) == before + 1
    entries = read_log(log)
    assert [e["decision"] for e in entries] == ["unauthenticated"]
    assert entries[0]["subject"] is None and "claims" in entries[0]["explain"]
