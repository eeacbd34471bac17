"""Front doors for any proxy, on the same engine as the middleware.

Each goes through the engine one way, ``gateway.frontdoors.door``: its
transport in as RequestFacts, the engine's answer back out.

- ``gateway.frontdoors.forward_auth.build_authz_app(engine)``: forward-auth checks
  (nginx ``auth_request``, Traefik ``forwardAuth``, Envoy ``ext_authz``);
- ``gateway.frontdoors.reverse_proxy.build_proxy_app(engine, upstream)``: the
  middleware in front of any HTTP backend;
- ``gateway.frontdoors.cli``: ``gateway authz`` and ``gateway proxy``.
"""
