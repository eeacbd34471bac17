"""The JWKS: loading with clear errors, rotation by kid from a file and from a real HTTP server."""

from __future__ import annotations

import asyncio
import json
import logging

import jwt
import pytest
from conftest import SlowOrHuge
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.auth import Authenticator, AuthError
from gateway.auth.jwks import JWKSError, KeySet, parse_jwks
from gateway.facts import RequestFacts
from gateway.settings import ConfigError, settings_from_dict
from gateway.testing import TokenMinter

NOW = 1_700_000_000.0


def facts(token: str) -> RequestFacts:
    return RequestFacts(ts=NOW, method="POST", path="/", peer="127.0.0.1", headers={"authorization": f"Bearer {token}"})


async def wait_for_generation(auth: Authenticator, above: int) -> None:
    """Wait (bounded) until the background task has installed a newer key set."""
    for _ in range(500):
        if auth.keys.generation > above:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the key set was not refreshed within 5 s")


async def reason(auth: Authenticator, token: str) -> str:
    with pytest.raises(AuthError) as info:
        await auth.authenticate(facts(token))
    return info.value.reason


@pytest.fixture
async def from_file(tmp_path):
    """(minter, its JWKS file, a started Authenticator reading that file)."""
    minter = TokenMinter()
    path = minter.write_jwks(tmp_path / "jwks.json")
    auth = Authenticator(settings_from_dict({"auth": minter.auth_settings(path)}))
    await auth.start()
    yield minter, path, auth
    await auth.close()


async def test_rotation_by_kid_from_a_rewritten_file(from_file):
    minter, path, auth = from_file
    old_token = minter.mint("alice", issued_at=NOW)
    assert (await auth.authenticate(facts(old_token))).subject == "alice"
    retired_key = minter.private_key("test-1")
    minter.add_key("test-2")
    minter.remove_key("test-1")
    minter.kid = "test-2"
    minter.write_jwks(path)
    new_token = minter.mint("alice", issued_at=NOW)
    generation = auth.keys.generation
    # the unknown kid is refused at once (never waits) and pulls the refresh forward
    assert await reason(auth, new_token) == "unknown_kid"
    await wait_for_generation(auth, generation)
    assert (await auth.authenticate(facts(new_token))).subject == "alice"
    # the retired key no longer verifies a token it has not seen before
    retired = TokenMinter(kid="test-1", private_key=retired_key)
    assert await reason(auth, retired.mint("alice", issued_at=NOW)) == "unknown_kid"
    # nor the one it had: a key withdrawn (a compromise) takes its tokens out of the cache
    assert await reason(auth, old_token) == "unknown_kid"


async def test_a_reload_that_changes_no_key_keeps_the_cache(from_file):
    minter, path, auth = from_file
    token = minter.mint("alice", issued_at=NOW)
    await auth.authenticate(facts(token))
    minter.add_key("test-2")  # a key added: nothing withdrawn
    minter.write_jwks(path)
    generation = auth.keys.generation
    await auth.keys.refresh()
    assert auth.keys.generation > generation and auth.keys.withdrawals == 0
    assert len(auth._cache) == 1 and (await auth.authenticate(facts(token))).subject == "alice"


async def test_bad_file_at_refresh_keeps_last_good_keys(from_file, caplog):
    minter, path, auth = from_file
    path.write_text("{ this is not json")
    with caplog.at_level(logging.WARNING, logger="gateway.auth"):
        assert await auth.keys.refresh() is False
    assert "keeping the 1 key(s)" in caplog.text and str(path) in caplog.text
    assert (await auth.authenticate(facts(minter.mint("alice", issued_at=NOW)))).subject == "alice"
    path.unlink()
    assert await auth.keys.refresh() is False
    assert (await auth.authenticate(facts(minter.mint("bob", issued_at=NOW)))).subject == "bob"


def _settings_for(path, minter, **extra):
    return settings_from_dict({"auth": {**minter.auth_settings(path), **extra}})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"kid": "x"}', "'keys' list"),
        ('{"keys": []}', "no key in it can verify"),
        ('{"keys": [{"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", "kid": "s"}]}', "symmetric"),
        ('{"keys": [{"kty": "RSA", "kid": "r", "n": "AQAB"}]}', "not a valid RSA key"),
    ],
)
async def test_bad_jwks_file_at_start_is_a_config_error(tmp_path, content, message):
    minter = TokenMinter()
    path = tmp_path / "jwks.json"
    path.write_text(content)
    auth = Authenticator(_settings_for(path, minter))
    with pytest.raises(ConfigError) as info:
        await auth.start()
    text = str(info.value)
    assert text.startswith(f"auth.jwks_file: {path}") and message in text and "point auth.jwks_file" in text


async def test_missing_file_names_the_resolved_path(tmp_path):
    config = tmp_path / "gateway.yaml"
    settings = settings_from_dict(
        {"auth": {"jwks_file": "keys/jwks.json", "issuer": "i", "audience": "a"}}, source=str(config)
    )
    auth = Authenticator(settings)
    with pytest.raises(ConfigError, match=rf"{tmp_path}/keys/jwks.json: cannot read it"):
        await auth.start()


def test_private_key_material_is_refused():
    minter = TokenMinter()
    jwk = minter.jwks()["keys"][0]
    jwk["d"] = jwk["n"]
    with pytest.raises(JWKSError, match="private key material"):
        parse_jwks({"keys": [jwk]}, ("RS256",))


def test_weak_rsa_key_is_refused():
    from cryptography.hazmat.primitives.asymmetric import rsa

    weak = TokenMinter(private_key=rsa.generate_private_key(public_exponent=65537, key_size=1024))
    with pytest.raises(JWKSError, match="1024 bits"):
        parse_jwks(weak.jwks(), ("RS256",))


def test_keys_are_bound_to_pinned_algorithms():
    rsa_minter, ec_minter = TokenMinter(kid="r"), TokenMinter(kid="e", algorithm="ES256")
    document = {"keys": rsa_minter.jwks()["keys"] + ec_minter.jwks()["keys"]}
    keys = parse_jwks(document, ("RS256", "ES256"))
    assert set(keys["r"]) == {"RS256"} and set(keys["e"]) == {"ES256"}
    # an RSA key without "alg" serves every pinned RSA algorithm, and only those
    bare = {k: v for k, v in rsa_minter.jwks()["keys"][0].items() if k != "alg"}
    assert set(parse_jwks({"keys": [bare]}, ("RS256", "PS256", "ES256"))["r"]) == {"RS256", "PS256"}
    # keys for other uses or algorithms are ignored, not errors
    enc = {**bare, "use": "enc", "kid": "enc"}
    assert set(parse_jwks({"keys": [bare, enc]}, ("RS256",))) == {"r"}


class JWKSServer:
    """A real HTTP JWKS endpoint whose document (or failure) the test controls."""

    def __init__(self, minter: TokenMinter) -> None:
        self.document = minter.jwks()
        self.status = 200
        self.hits = 0
        self.app = Starlette(routes=[Route("/.well-known/jwks.json", self.jwks)])

    async def jwks(self, request):
        self.hits += 1
        if self.status != 200:
            return Response("upstream trouble", status_code=self.status)
        return JSONResponse(self.document)


async def test_jwks_url_is_fetched_and_refreshed_in_the_background(serve, caplog):
    minter = TokenMinter()
    server = JWKSServer(minter)
    with serve(server.app) as base:
        settings = settings_from_dict({"auth": {
            "issuer": minter.issuer, "audience": minter.audience, "algorithms": ["RS256"],
            "jwks_url": f"{base}/.well-known/jwks.json", "jwks_refresh_s": 0.2,
        }})
        auth = Authenticator(settings)
        await auth.start()
        try:
            assert (await auth.authenticate(facts(minter.mint("alice", issued_at=NOW)))).subject == "alice"
            # the server fails for a while: the last good keys stay in use
            server.status = 503
            hits = server.hits
            for _ in range(500):
                if server.hits > hits + 1:
                    break
                await asyncio.sleep(0.01)
            assert server.hits > hits + 1
            assert (await auth.authenticate(facts(minter.mint("bob", issued_at=NOW)))).subject == "bob"
            # rotation on the server, picked up by the periodic refresh alone
            minter.add_key("test-2")
            minter.kid = "test-2"
            server.document = minter.jwks()
            server.status = 200
            generation = auth.keys.generation
            await wait_for_generation(auth, generation)
            assert (await auth.authenticate(facts(minter.mint("carol", issued_at=NOW)))).subject == "carol"
        finally:
            await auth.close()
    assert "HTTP 503" in caplog.text and "keeping the 1 key(s)" in caplog.text


async def test_jwks_url_down_at_start_is_a_config_error(serve):
    minter = TokenMinter()
    server = JWKSServer(minter)
    with serve(server.app) as base:
        url = f"{base}/.well-known/jwks.json"
    # the server is gone now: nothing listens on that port
    auth = Authenticator(settings_from_dict({"auth": {"jwks_url": url, "issuer": "i", "audience": "a"}}))
    with pytest.raises(ConfigError) as info:
        await auth.start()
    assert str(info.value).startswith(f"auth.jwks_url: {url}: cannot fetch it")
    assert "reachable" in str(info.value)


async def test_jwks_url_serving_garbage_at_start(serve):
    minter = TokenMinter()
    server = JWKSServer(minter)
    server.document = {"keys": "nope"}
    with serve(server.app) as base:
        auth = Authenticator(settings_from_dict({"auth": {"jwks_url": f"{base}/.well-known/jwks.json"}}))
        with pytest.raises(ConfigError, match="'keys' list"):
            await auth.start()


async def test_a_jwks_answer_is_bounded_in_time_and_in_size(serve):
    minter = TokenMinter()
    with serve(SlowOrHuge(json.dumps(minter.jwks()).encode())) as base:
        for path, problem in (("/drip", "no whole answer within 0.5 s"), ("/huge", "longer than 1048576 bytes")):
            auth = {**minter.auth_settings(""), "jwks_url": f"{base}{path}"}
            del auth["jwks_file"]
            settings = settings_from_dict({"auth": auth})
            keys = KeySet(settings, http_timeout_s=0.5)
            started = asyncio.get_running_loop().time()
            with pytest.raises(ConfigError, match=problem):
                await keys.start()
            assert asyncio.get_running_loop().time() - started < 3


def test_a_key_the_gateway_cannot_use_is_skipped_not_fatal(caplog):
    """An X25519 key (key agreement) or a 1024-bit RSA key beside good ones must not hold back a rotation."""
    minter = TokenMinter()
    good = minter.jwks()["keys"][0]
    x25519 = {"kty": "OKP", "crv": "X25519", "kid": "enc-1", "x": "hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"}
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    weak_jwk = {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(weak)), "kid": "weak-1"}
    with caplog.at_level(logging.WARNING, logger="gateway.auth"):
        keys = parse_jwks({"keys": [x25519, weak_jwk, good]}, ("RS256", "EdDSA"))
    assert list(keys) == [good["kid"]]
    assert "weak-1" in caplog.text and "enc-1" not in caplog.text  # a key-agreement curve is not ours: silent
    with pytest.raises(JWKSError, match="skipped: .*weak-1"):
        parse_jwks({"keys": [weak_jwk]}, ("RS256",))
