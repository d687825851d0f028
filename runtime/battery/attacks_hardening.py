"""Hardening attacks: inputs outside the classic catalogues that the secure patterns must
refuse cleanly (issue: hardening). Each family names a class of input; a refusal must carry
the status named (401 for a bad credential, 400 for bad tool arguments), never a 5xx.

- an expired user token sent to the MCP server while its exchange is still cached;
- time claims that are not finite JSON numbers (RFC 7519 section 2), in tokens and proofs;
- claims of the wrong JSON type;
- tool arguments that would reach a URL with path or query characters;
- a client's own service-account token where a user is required;
- a flood that fills the DPoP replay cache, then a replay;
- an unauthenticated request with a bad body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runtime.battery.attacks_dpop import proof_variant, resigned_proof
from runtime.battery.attacks_oauth import EXCHANGING, subject_with
from runtime.battery.core import Arena, Attack, Outcome, outcome_of, split_token
from stack.jose import ReplayCache

FAMILY = "Hardening"
USER_TOKEN_LIFETIME = 300


def mcp_outcome(result: dict[str, Any]) -> Outcome:
    """A tools/call result as an outcome: an `error` object is a refusal with its status."""
    error = result.get("error")
    if isinstance(error, dict):
        return Outcome(False, int(error.get("status") or 0), str(error.get("reason", "")))
    return Outcome(True, 200, "the tool ran")


# -- 1. the MCP server verifies the user's token before any cached exchange -------------------

async def expired_user_token_with_cached_exchange(a: Arena) -> Outcome:
    """alice's token is used 250 s after login (the exchange is cached for ~270 s more), then
    again at 400 s, when the user token itself has expired."""
    login = await a.runner.login("alice")
    a.runner.clock.advance(250)
    first = await a.mcp_call("read_data", {"kind": "expenses"}, login)
    if "error" in first:
        raise RuntimeError(f"setup: the fresh call failed: {first['error']}")
    a.runner.clock.advance(USER_TOKEN_LIFETIME - 250 + 100)
    return mcp_outcome(await a.mcp_call("read_data", {"kind": "expenses"}, login))


# -- 2. NumericDate and 3. claim types (oracle: a valid IdP signature over the edit) ---------

def signed_with(**changes: Any) -> Callable[[Arena], Any]:
    async def run(a: Arena) -> Outcome:
        cred = await a.credential()
        _, claims, _ = split_token(cred.token)
        return await a.try_token(cred, a.idp_sign({**claims, **changes}))
    return run


TIME_VALUES: dict[str, Any] = {
    "nan": float("nan"), "infinity": float("inf"), "string-infinity": "Infinity",
    "huge-int": 10**400, "bool": True, "numeric-string": "4102444800", "null": None,
    "list": [4102444800],
}
WRONG_TYPES: dict[str, dict[str, Any]] = {
    "aud-object": {"aud": {"records-service": True}},
    "aud-numbers": {"aud": [1, 2]},
    "sub-number": {"sub": 42},
    "username-list": {"preferred_username": ["alice"]},
    "azp-list": {"azp": ["mcp-server"]},
    "act-string": {"act": "agent"},
    "act-list": {"act": [{"sub": "agent"}]},
    "role-list": {"role": ["admin"]},
    "scope-number": {"scope": 7},
}


# -- 4. tool arguments that reach a URL ------------------------------------------------------

def crafted_username(username: str) -> Callable[[Arena], Any]:
    async def run(a: Arena) -> Outcome:
        login = await a.runner.login("alice")
        result = await a.mcp_call("manage_users", {"action": "set_role", "username": username,
                                                   "role": "admin"}, login)
        touched = [u.username for u in a.runner.world.users.values()
                   if u.role == "admin" and u.username != "alice" or u.disabled]
        out = mcp_outcome(result)
        if touched:
            return Outcome(True, out.status, f"the directory changed {touched}")
        return out
    return run


USERNAMES = {
    "slash": "dave/disable", "query": "dave?x=1", "dotdot": "../users/dave",
    "encoded-slash": "dave%2Fdisable", "newline": "dave\nX-Injected: 1", "long": "d" * 300,
}


# -- 5. a client's own token is not a user ---------------------------------------------------

async def mcp_server_own_token(a: Arena) -> Outcome:
    """The MCP server's client-credentials token: azp mcp-server, aud every service."""
    cred = await a.credential()
    return await a.try_token(cred, await a.client_credentials("mcp-server"))


def service_account_subject(client: str) -> Callable[[Arena], Any]:
    """The pattern's own credential, validly signed, every check but one passing: its
    subject is `client`'s service account (as if the exchange had been fed a
    client-credentials token). Only the person check can refuse it."""
    async def run(a: Arena) -> Outcome:
        cred = await a.credential()
        _, claims, _ = split_token(cred.token)
        _, account, _ = split_token(await a.client_credentials(client))
        return await a.try_token(cred, a.idp_sign({
            **claims, "sub": account["sub"],
            "preferred_username": account.get("preferred_username")}))
    return run


# -- 6. the DPoP replay cache never forgets a live proof -------------------------------------

async def replay_cache_flood(a: Arena) -> Outcome:
    """Fill the records service's replay cache (shrunk to 3 entries for the test) with fresh
    proofs, then replay the first: a cache that evicted it would let the replay in."""
    cred = await a.credential()
    ctx = a.runner.service_contexts["records"]
    saved = ctx.replay
    ctx.replay = ReplayCache(max_entries=3, ttl=saved.ttl)
    try:
        url = a.url("records", "/expenses")
        first = {"Authorization": f"DPoP {cred.token}",
                 "DPoP": a.proof(cred.token, "GET", url)}
        if (await a.call("GET", "records", "/expenses", first)).status_code != 200:
            raise RuntimeError("setup: the first, legitimate request failed")
        statuses = [(await a.call("GET", "records", "/expenses",
                                  {"Authorization": f"DPoP {cred.token}",
                                   "DPoP": a.proof(cred.token, "GET", url)})).status_code
                    for _ in range(3)]       # two more fill the cache; the last finds no room
        if statuses[-1] != 503:
            raise RuntimeError(f"setup: the cache did not fill up ({statuses})")
        return outcome_of(await a.call("GET", "records", "/expenses", first))
    finally:
        ctx.replay = saved


def proof_iat(value: Any) -> Callable[[Arena], Any]:
    """A proof by the MCP server's own key whose `iat` is not a finite number."""
    return proof_variant(resigned_proof(lambda header, claims: claims.update(iat=value)))


# -- 7. authenticate before reading the body --------------------------------------------------

def bad_body(method: str, service: str, path: str, body: Any) -> Callable[[Arena], Any]:
    async def run(a: Arena) -> Outcome:
        with a.attacker_trace():
            response = await a.client.request(method, a.url(service, path),  # type: ignore[arg-type]
                                               content=body if isinstance(body, bytes) else None,
                                               json=None if isinstance(body, bytes) else body,
                                               headers={"Content-Type": "application/json"})
        return outcome_of(response)
    return run


def _attack(id_: str, name: str, run: Callable[[Arena], Any], *, status: int,
            patterns: tuple[str, ...] = ("p05", "p06", "p07", "p08", "p09", "p10"),
            oracle: bool = False,
            ref: str = "") -> Attack:
    return Attack(f"hardening.{id_}", FAMILY, name, run, patterns=patterns, ref=ref,
                  oracle=oracle, deny_status=status)


ATTACKS: tuple[Attack, ...] = (
    _attack("expired-user-token.cached-exchange", "alice's expired token at the MCP server "
            "while its exchange is cached", expired_user_token_with_cached_exchange,
            status=401, patterns=EXCHANGING, ref="RFC 9068 4"),
    *(_attack(f"numeric-date.{claim}-{name}", f"{claim} = {value!r:.20} (validly signed)",
              signed_with(**{claim: value}), status=401, oracle=True, ref="RFC 7519 2")
      for claim in ("exp", "iat", "nbf") for name, value in TIME_VALUES.items()
      if not (claim == "nbf" and value is None)),
    Attack("control.oracle-subject", "control", "IdP-signed copy of alice's login token at "
           "the token exchange (oracle check: the IdP takes it)", subject_with(),
           patterns=EXCHANGING, unprotected=frozenset(EXCHANGING), oracle=True),
    *(_attack(f"numeric-date.subject-exp-{name}", f"subject token exp = {value!r:.20} at "
              "the IdP's token exchange", subject_with(exp=value), status=400, oracle=True,
              patterns=EXCHANGING, ref="RFC 7519 2")
      for name, value in TIME_VALUES.items()),
    *(_attack(f"claim-type.{name}", f"{next(iter(change))} of the wrong JSON type "
              "(validly signed)", signed_with(**change), status=401, oracle=True,
              ref="RFC 8725 3.11")
      for name, change in WRONG_TYPES.items()),
    *(_attack(f"tool-argument.{name}", f"set_role with username {value[:24]!r}",
              crafted_username(value), status=400) for name, value in USERNAMES.items()),
    _attack("service-account.mcp-server", "the MCP server's own client-credentials token "
            "where a user is required", mcp_server_own_token, status=401),
    *(_attack(f"service-account.subject-{client}", f"{client}'s service account as the "
              "subject of a token otherwise valid here", service_account_subject(client),
              status=401, oracle=True) for client in ("agent", "mcp-server", "summarizer")),
    *(_attack(f"dpop.iat-{name}", f"DPoP proof iat = {value!r:.20}", proof_iat(value),
              status=401, patterns=("p08", "p09", "p10"), ref="RFC 9449 4.3")
      for name, value in (("nan", float("nan")), ("infinity", float("inf")),
                          ("string", "now"), ("bool", True))),
    _attack("dpop.replay-cache-flood", "fill the replay cache, then replay the first proof",
            replay_cache_flood, status=401, patterns=("p08", "p09", "p10"), ref="RFC 9449 11.1"),
    *(_attack(f"unauthenticated-body.{name}", f"no credential, {label}",
              bad_body(method, service, path, body), status=401,
              patterns=("p02", "p03", "p04", "p05", "p06", "p07", "p08", "p09", "p10"))
      for name, label, method, service, path, body in (
          ("notes-wrong-type", "POST /notes with text 5", "POST", "records", "/notes",
           {"text": 5}),
          ("expenses-not-json", "POST /expenses with a body that is not JSON", "POST",
           "records", "/expenses", b"{not json"),
          ("role-unknown", "POST /users/bob/role with role root", "POST", "directory",
           "/users/bob/role", {"role": "root"}),
          ("approve-not-a-number", "POST /expenses/x/approve", "POST", "records",
           "/expenses/x/approve", {}),
      )),
)
