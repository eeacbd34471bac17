"""authlib's OAuth 2 server on Starlette: the small glue authlib has for Flask and Django but not for Starlette.

authlib's grants are synchronous and read an already parsed request, so the
body is read here first (bounded, form-encoded, each parameter at most once on
the token endpoint), then handed over as an ``OAuth2Request``; authlib's
``(status, body, headers)`` answers become Starlette responses.
"""

from __future__ import annotations

import json
from collections import defaultdict
from urllib.parse import parse_qsl

from authlib.oauth2 import AuthorizationServer, OAuth2Error
from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

MAX_BODY_BYTES = 8192
MAX_FIELDS = 64
_FORM = "application/x-www-form-urlencoded"
_NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}


class _Payload(OAuth2Payload):
    """Parameters from the query and the form body; the body's win, as Django's integration has it."""

    def __init__(self, query: list[tuple[str, str]], form: list[tuple[str, str]]) -> None:
        self._data = {**dict(reversed(query)), **dict(reversed(form))}  # reversed: the first value of each wins
        self._datalist: defaultdict[str, list] = defaultdict(list)
        for key, value in (*query, *form):
            self._datalist[key].append(value)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list]:
        return self._datalist


class StarletteOAuth2Request(OAuth2Request):
    """An OAuth2Request read from a Starlette request; ``endpoint`` is "token" or "authorization"."""

    def __init__(self, request: Request, endpoint: str, query: list[tuple[str, str]],
                 form: list[tuple[str, str]]) -> None:
        url = str(request.url)
        # authlib refuses a request URI that is neither https nor loopback. The demo is served over plain HTTP
        # on purpose (a real authorization server sits behind TLS), so its check is shown the https form.
        super().__init__(request.method, "https://" + url[7:] if url.startswith("http://") else url,
                         headers=request.headers)
        self.uri = url
        self.endpoint = endpoint
        self.http = request
        self.payload = _Payload(query, form)
        self._args = dict(reversed(query))
        self._form = dict(reversed(form))

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


async def read_oauth_request(request: Request, endpoint: str) -> StarletteOAuth2Request:
    """The request's parameters, checked for shape; InvalidRequestError says what is wrong."""
    query = parse_qsl(request.url.query, keep_blank_values=True)
    form: list[tuple[str, str]] = []
    if request.method == "POST":
        kind = request.headers.get("content-type", _FORM).split(";", 1)[0].strip().lower()
        if kind != _FORM:
            raise InvalidRequestError(f"send the parameters form-encoded ({_FORM}), not as {kind[:60]}")
        body = bytearray()
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    raise InvalidRequestError(f"the request body is larger than {MAX_BODY_BYTES} bytes")
        except ClientDisconnect:
            raise InvalidRequestError("the request body did not arrive whole") from None
        try:
            form = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
        except UnicodeDecodeError:
            raise InvalidRequestError("the request body is not UTF-8") from None
        except ValueError:
            raise InvalidRequestError(f"the request has more than {MAX_FIELDS} parameters") from None
    params = form if endpoint in ("token", "revocation") else query + form
    seen: set[str] = set()
    for key, _ in params:
        if key in seen:  # RFC 6749 section 3.1 and 3.2
            raise InvalidRequestError(f"the parameter '{printable(key)}' is sent more than once")
        seen.add(key)
    return StarletteOAuth2Request(request, endpoint, query, form)


def printable(text: str, limit: int = 40) -> str:
    """Client text fit for an error_description (RFC 6749 allows %x20-21 / %x23-5B / %x5D-7E only)."""
    cleaned = "".join(c if 0x20 <= ord(c) <= 0x7E and c not in '"\\' else "?" for c in text[:limit])
    return cleaned + ("..." if len(text) > limit else "")


class StarletteAuthorizationServer(AuthorizationServer):
    """authlib's AuthorizationServer answering with Starlette responses."""

    def create_oauth2_request(self, request: StarletteOAuth2Request) -> OAuth2Request:
        return request  # read (asynchronously) by read_oauth_request before authlib sees it

    def handle_response(self, status: int, body: object, headers: list[tuple[str, str]]) -> Response:
        merged = {k.lower(): v for k, v in headers}
        if isinstance(body, dict):
            merged.setdefault("content-type", "application/json")
            return Response(json.dumps(body), status_code=status, headers={**merged, **_NO_STORE})
        return Response(body or b"", status_code=status, headers=merged)

    def handle_error_response(self, request: OAuth2Request, error: OAuth2Error) -> Response:
        if error.error == "invalid_client" and isinstance(request, StarletteOAuth2Request) and request.endpoint in ("token", "revocation"):
            error.status_code = 401  # RFC 6749 section 5.2: the client could not be authenticated
        return super().handle_error_response(request, error)

    def error_response(self, error: OAuth2Error) -> Response:
        """An error found before authlib had a request to hang it on (the request's own shape)."""
        status, body, headers = error()
        return self.handle_response(status, body, headers)

    def send_signal(self, name: str, *args: object, **kwargs: object) -> None:
        pass  # no signal system: nothing listens
