"""Routes for bearer tokens: create (admin), list by accessor, revoke."""

from __future__ import annotations

from . import bodies
from .routing import Operation, Query

OPERATIONS = [
    Operation("POST", "/v1/auth/tokens",
              lambda api, c: api.create_token(c.body.identity, ttl=c.body.ttl, display_name=c.body.display_name),
              "Create a bearer token for an identity", "createToken", status=201, body=bodies.TokenCreate,
              response="NewToken", tag="auth",
              description="Needs `create` on `sys/tokens` (the admin has it). A token minted by anyone but a holder "
                          "of the `root` policy can do nothing its minter cannot, and never outlives the minter's "
                          "token. `ttl` defaults to the operator's token TTL; above the maximum it is "
                          "`400 ttl_exceeds_max`. `dynamic:` identities never get tokens. The token is shown only "
                          "in this answer."),
    Operation("GET", "/v1/auth/tokens", lambda api, c: api.list_tokens(c.query["identity"]),
              "List tokens by accessor (never the tokens themselves)", "listTokens", response="TokenList",
              query=(Query("identity", "Only tokens of this identity."),), tag="auth"),
    Operation("DELETE", "/v1/auth/tokens/{accessor}", lambda api, c: api.revoke_token(c.path["accessor"]),
              "Revoke a token by its accessor", "revokeToken", status=204, errors=(404,), tag="auth",
              description="Also revokes every token minted from it, however far down."),
]
