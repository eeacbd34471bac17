"""The demo's OAuth clients: the platform's own apps and its registered partner apps.

First-party apps sign people in with their password (the password grant) or
the code flow with PKCE, and get every scope. Partner apps get the code flow
only, with PKCE (S256) and narrower scopes: the platform's sanctioned way for a
third party to act for someone, as opposed to holding their password.

Which client id is which kind, and its scopes, come from the config's
``apps:`` (``apps.clients`` descriptions with ``kind`` and ``scopes``, or the
bare ``apps.first_party``/``apps.third_party`` lists); what a config does not
say comes from the table below, which also holds what only an authorization
server knows (redirect URIs) and what the mock clients of ``gateway.testing``
send (User-Agent, TLS fingerprint). Every client is public (no secret).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from authlib.oauth2.rfc6749 import ClientMixin

from gateway.settings import Settings

FIRST_PARTY = "first_party"
THIRD_PARTY = "third_party"
SCOPES = ("read", "engage")  # read the feed; engage: like, comment, follow (auth.action_scopes in the demo config)
_GRANTS = {
    FIRST_PARTY: frozenset({"password", "authorization_code", "refresh_token"}),
    THIRD_PARTY: frozenset({"authorization_code", "refresh_token"}),
}
# The demo apps' TLS stacks as the edge proxy reports them (JA4), as in gateway.fingerprint.tls.
ANDROID_TLS = "t13d1715h2_5b57614c22b0_93c746dc12af"
IOS_TLS = "t13d2014h2_a09f3c656075_e42f34c56612"


@dataclass(frozen=True, slots=True)
class DemoClient(ClientMixin):
    """One registered client, as authlib's grants ask about it."""

    client_id: str
    kind: str  # first_party or third_party
    scopes: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    user_agent: str  # what the app sends (gateway.testing's mock clients send it)
    tls: str | None = None  # the TLS fingerprint its stack presents, if the demo knows it

    @property
    def first_party(self) -> bool:
        return self.kind == FIRST_PARTY

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The scope to grant: all of the client's when none is asked; None (invalid_scope) when any asked is not its."""
        if not scope:
            return " ".join(self.scopes)
        asked = list(dict.fromkeys(scope.split()))
        if not asked or any(s not in self.scopes for s in asked):
            return None
        return " ".join(asked)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return False  # public clients: nothing to check against

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "none"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in _GRANTS[self.kind]


def _table() -> dict[str, DemoClient]:
    android = "Engage/412.0.1 (Android 14; Pixel 8; en_US)"
    ios = "Engage/412.0.1 (iOS 17.4; iPhone15,2; en_US)"
    web = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
    return {c.client_id: c for c in (
        DemoClient("engage-android", FIRST_PARTY, SCOPES, ("engage://oauth/callback",), android, ANDROID_TLS),
        DemoClient("engage-ios", FIRST_PARTY, SCOPES, ("engage://oauth/callback",), ios, IOS_TLS),
        DemoClient("engage-web", FIRST_PARTY, SCOPES, ("http://127.0.0.1:8000/oauth/callback",), web),
        DemoClient("partner-scheduler", THIRD_PARTY, ("read", "engage"),
                   ("https://scheduler.partner.example/oauth/callback",),
                   "PartnerScheduler/3.2 (+https://scheduler.partner.example/bot)"),
        DemoClient("partner-analytics", THIRD_PARTY, ("read",), ("https://analytics.partner.example/oauth/callback",),
                   "PartnerAnalytics/1.9 python-httpx/0.27"),
    )}


def demo_clients(settings: Settings | None = None) -> Mapping[str, DemoClient]:
    """The demo's clients, with kind and scopes as ``settings.apps`` describes them where it does."""
    clients = _table()
    if settings is None:
        return clients
    apps = settings.apps
    for cid in apps.first_party:
        if cid in clients:
            clients[cid] = replace(clients[cid], kind=FIRST_PARTY)
    for cid in apps.third_party:
        if cid in clients:
            clients[cid] = replace(clients[cid], kind=THIRD_PARTY)
    for app in getattr(apps, "clients", ()):  # described apps (kind, scopes, TLS), where the config has them
        for cid in app.client_ids:
            if cid in clients:
                known = clients[cid]
                platform = next((p for p in app.platforms if p in cid), app.platforms[0] if app.platforms else "")
                stacks = app.tls.get(platform, ())
                clients[cid] = replace(known, kind=app.kind, scopes=tuple(app.scopes) or known.scopes,
                                       tls=stacks[0] if stacks else known.tls)
    return clients
