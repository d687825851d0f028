"""OAuth and token-exchange attacks (RFC 9700, RFC 8693, the MCP security best practices).

Three kinds: what a service accepts (passthrough, audience replay, spoofed identity
headers or `user_id` arguments), what the MCP server accepts (a token meant for a service
sent back to it; the agent's own token posing as a user), and what the IdP's token
exchange grants (the IdP is the pattern's trust anchor from pattern 06 on).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from runtime.battery.core import (
    Arena,
    Attack,
    Outcome,
    outcome_of,
    reason_of,
    split_token,
)
from runtime.demo_realm import demo_realm
from runtime.presets import ACCESS_TOKEN_TYPE
from stack.jose import create_proof

FAMILY = "OAuth"
EXCHANGING = ("p06", "p07", "p08", "p09", "p10")
DELEGATING = ("p07", "p08", "p09", "p10")
SPOOF_HEADERS = ("X-User", "X-User-Id", "X-Forwarded-User", "X-Remote-User",
                 "X-Auth-Request-User", "X-Auth-Request-Preferred-Username",
                 "X-Authenticated-User", "Remote-User", "X-Preferred-Username", "X-Subject")


def idp_outcome(response: httpx.Response, what: str = "") -> Outcome:
    if response.status_code == 200:
        return Outcome(True, 200, what or "the IdP issued a token")
    return Outcome(False, response.status_code, reason_of(response))


def _others_expenses(response: httpx.Response, user: str) -> list[str]:
    try:
        items = response.json().get("expenses", [])
    except (ValueError, AttributeError):
        return []
    return sorted({str(e.get("owner")) for e in items if e.get("owner") != user})


# -- at the services --------------------------------------------------------------------

async def passthrough(a: Arena) -> Outcome:
    """Does the MCP server hand the user's own token to the service? (wire evidence, L1)"""
    turn = await a.runner.run_as("alice", "What are my expenses?")
    login = await a.runner.login("alice")
    for hop in a.runner.tap.trace(turn.trace_id):
        if hop.kind == "service" and hop.target == "records":
            sent = {k.lower(): v for k, v in hop.request_headers}.get("authorization", "")
            if sent.split(" ", 1)[-1] == login:
                return Outcome(True, hop.status, "the service received the user's own token "
                               "(aud mcp-server + every service)")
            return Outcome(False, hop.status, "the service received a different token")
    return Outcome(False, None, "no service hop")


async def login_token_direct(a: Arena) -> Outcome:
    """The user's own login token (broad audience), straight to the service."""
    login = await a.runner.login("alice")
    return outcome_of(await a.call("GET", "records", "/expenses",
                                   {"Authorization": f"Bearer {login}"}))


async def records_to_directory(a: Arena) -> Outcome:
    """A compromised records service replays what it received to the directory (with a
    fresh proof by the MCP key under 08: only the audience can stop it)."""
    cred = await a.credential("alice")
    headers = a.present(cred, cred.token, "directory", "GET", "/users")
    return outcome_of(await a.call("GET", "directory", "/users", headers))


async def back_to_mcp(a: Arena) -> Outcome:
    """What the records service received, sent back to the MCP server as a user token."""
    cred = await a.credential("alice")
    result = await a.mcp_call("manage_users", {"action": "list"}, cred.token)
    if "users" in result:
        return Outcome(True, 200, "the MCP server turned a records token into directory access")
    err = result.get("error", {})
    return Outcome(False, err.get("status"), str(err.get("reason", result))[:200])


async def cc_direct(a: Arena) -> Outcome:
    cred = await a.credential("alice")
    cc = await a.client_credentials()
    return await a.try_token(cred, cc)


async def cc_via_mcp(a: Arena) -> Outcome:
    """The agent's client-credentials token sent as if it were a user's."""
    cc = await a.client_credentials()
    start = len(a.runner.world.audit)
    result = await a.mcp_call("read_data", {"kind": "expenses"}, cc)
    humans = {r.user for r in a.audit_since(start) if r.allowed} & {"alice", "bob", "dave"}
    if result.get("expenses") or humans:
        return Outcome(True, 200, f"service treated the agent as {humans or 'a user'}")
    err = result.get("error", {})
    detail = str(err.get("reason", "")) if err else "no user data (acts as itself: "
    if not err:
        names = {r.user for r in a.audit_since(start)}
        detail += f"{', '.join(sorted(str(n) for n in names))})"
    return Outcome(False, err.get("status", 200), detail[:200])


async def spoof_headers_write(a: Arena) -> Outcome:
    """dave's credential plus headers claiming alice: disable bob."""
    cred = await a.credential("dave", "directory", "POST", "/users/bob/disable")
    headers = {**cred.headers, **dict.fromkeys(SPOOF_HEADERS, "alice")}
    start = len(a.runner.world.audit)
    response = await a.call("POST", "directory", "/users/bob/disable", headers)
    named = {r.user for r in a.audit_since(start)}
    if named - {"dave"}:
        return Outcome(True, response.status_code, f"audit names {named}")
    return outcome_of(response)


async def spoof_headers_read(a: Arena) -> Outcome:
    cred = await a.credential("alice")
    headers = {**cred.headers, **dict.fromkeys(SPOOF_HEADERS, "bob")}
    response = await a.call("GET", "records", "/expenses", headers)
    others = _others_expenses(response, "alice")
    if others:
        return Outcome(True, response.status_code, f"saw expenses of {others}")
    return Outcome(False, response.status_code, "identity headers ignored: only alice's "
                   f"expenses (HTTP {response.status_code})")


async def user_id_query(a: Arena) -> Outcome:
    cred = await a.credential("alice")
    response = await a.call("GET", "records", "/expenses?user_id=bob&owner=bob&username=bob",
                            cred.headers)
    others = _others_expenses(response, "alice")
    if others:
        return Outcome(True, response.status_code, f"saw expenses of {others}")
    return Outcome(False, response.status_code, "user_id parameter ignored")


async def user_id_body(a: Arena) -> Outcome:
    cred = await a.credential("bob", "records", "POST", "/notes")
    body = {"text": "posted as someone else?", "author": "alice", "user_id": "alice",
            "username": "alice"}
    response = await a.call("POST", "records", "/notes", cred.headers, json_body=body)
    authors = {n.author for n in a.runner.world.notes if n.text == body["text"]}
    if authors - {"bob"}:
        return Outcome(True, response.status_code, f"note attributed to {authors}")
    return Outcome(False, response.status_code, f"note author from the token: {authors}")


async def user_id_tool_argument(a: Arena) -> Outcome:
    """dave calls the MCP tool with user_id/username arguments naming alice."""
    login = await a.runner.login("dave")
    start = len(a.runner.world.audit)
    await a.mcp_call("manage_users", {"action": "set_role", "username": "dave",
                                      "role": "admin", "user_id": "alice"}, login)
    result = await a.mcp_call("read_data", {"kind": "expenses", "user_id": "alice"}, login)
    named = {r.user for r in a.audit_since(start)}
    owners = {e.get("owner") for e in result.get("expenses", [])}
    if a.runner.world.users["dave"].role == "admin" or owners - {"dave"} or \
            named - {"dave"}:
        return Outcome(True, 200, f"user_id argument honoured (audit names {named})")
    return Outcome(False, 403, f"identity from the token only (audit names {sorted(named)})")


def mcp_action(tool: str, args: dict[str, Any], check: Callable[[Arena], bool]
               ) -> Callable[[Arena], Any]:
    async def run(a: Arena) -> Outcome:
        login = await a.runner.login("alice")
        result = await a.mcp_call(tool, args, login)
        if check(a):
            return Outcome(True, 200, "done")
        err = result.get("error", {})
        return Outcome(False, err.get("status"), str(err.get("reason", result))[:200])
    return run


# -- at the IdP's token exchange ----------------------------------------------------------

def subject_with(**changes: Any) -> Callable[[Arena], Any]:
    """alice's login token, validly signed (the IdP's own key), with `changes`, offered to
    the IdP's token exchange by the MCP server: only the changed claims can be refused."""
    async def run(a: Arena) -> Outcome:
        _, claims, _ = split_token(await a.runner.login("alice"))
        return idp_outcome(await a.exchange(a.idp_sign({**claims, **changes})))
    return run


async def public_client_exchange(a: Arena) -> Outcome:
    login = await a.runner.login("alice")
    return idp_outcome(await a.exchange(login, client_id="explorer-cli", secret=None))


def bad_audience(audience: str) -> Callable[[Arena], Any]:
    async def run(a: Arena) -> Outcome:
        login = await a.runner.login("alice")
        return idp_outcome(await a.exchange(login, audience=audience))
    return run


async def scope_escalation(a: Arena) -> Outcome:
    login = await a.runner.login("alice")
    for scope in ("offline_access", "admin", "roles", "profile email offline_access"):
        response = await a.exchange(login, extra={"scope": scope})
        if response.status_code == 200:
            granted = set(str(response.json().get("scope", "")).split())
            extra = granted - set(str(split_token(login)[1].get("scope", "")).split())
            if extra:
                return Outcome(True, 200, f"scope widened by {sorted(extra)}")
    return Outcome(False, response.status_code, reason_of(response))


async def refresh_as_subject(a: Arena) -> Outcome:
    body = await a.login_response("alice")
    out = idp_outcome(await a.exchange(body["refresh_token"]))
    if out.allowed:
        return out
    typed = await a.exchange(body["refresh_token"], extra={
        "subject_token_type": "urn:ietf:params:oauth:token-type:refresh_token"})
    return idp_outcome(typed)


async def id_token_as_subject(a: Arena) -> Outcome:
    body = await a.login_response("alice")
    out = idp_outcome(await a.exchange(body["id_token"]))
    if out.allowed:
        return out
    return idp_outcome(await a.exchange(body["id_token"], extra={
        "subject_token_type": "urn:ietf:params:oauth:token-type:id_token"}))


async def long_lived(a: Arena) -> Outcome:
    login = await a.runner.login("alice")
    asked = await a.exchange(login, extra={
        "requested_token_type": "urn:ietf:params:oauth:token-type:refresh_token"})
    if asked.status_code == 200:
        return Outcome(True, 200, "exchange issued a refresh token")
    plain = await a.exchange(login)
    body = plain.json() if plain.status_code == 200 else {}
    if body.get("refresh_token") or float(body.get("expires_in", 0)) > 300:
        return Outcome(True, 200, f"long-lived result: expires_in {body.get('expires_in')}, "
                       f"refresh_token {'yes' if body.get('refresh_token') else 'no'}")
    return Outcome(False, asked.status_code, f"{reason_of(asked)}; plain exchange: "
                   f"expires_in {body.get('expires_in')}, no refresh token")


async def idp_re_exchange(a: Arena) -> Outcome:
    """IdP rule (as Keycloak 26.7): a requester may re-exchange a token whose azp it is.
    The guard against audience hopping therefore sits in the MCP server (see to-mcp)."""
    login = await a.runner.login("alice")
    first = await a.exchange(login, audience="records-service")
    if first.status_code != 200:
        return idp_outcome(first)
    return idp_outcome(await a.exchange(first.json()["access_token"],
                                        audience="directory-service"),
                       "records-service token re-exchanged for directory-service")


async def agent_exchange(a: Arena) -> Outcome:
    login = await a.runner.login("alice")
    return idp_outcome(await a.exchange(login, client_id="agent",
                                         secret=demo_realm().secret("agent")))


async def refresh_other_client(a: Arena) -> Outcome:
    body = await a.login_response("alice")
    response = await a.runner.mcp_context.http.post(a.token_url, data={
        "grant_type": "refresh_token", "refresh_token": body["refresh_token"],
        "client_id": "mcp-server", "client_secret": demo_realm().secret("mcp-server")})
    return idp_outcome(response)


def bad_actor(kind: str) -> Callable[[Arena], Any]:
    async def run(a: Arena) -> Outcome:
        login = await a.runner.login("alice")
        actor = {"user-token": login, "garbage": "garbage.actor.token",
                 "id-token": (await a.login_response("alice"))["id_token"]}[kind]
        response = await a.exchange(login, audience="directory-service", extra={
            "actor_token": actor, "actor_token_type": ACCESS_TOKEN_TYPE})
        return idp_outcome(response, f"delegated token with actor = {kind}")
    return run


async def actor_forged_by_mcp_server(a: Arena) -> Outcome:
    """The MCP server names itself as the actor, with a token it can get on its own (its
    client credentials): only the agent may act for alice (`may_act`)."""
    login = await a.runner.login("alice")
    own = await a.client_credentials("mcp-server")
    response = await a.exchange(login, audience="directory-service", extra={
        "actor_token": own, "actor_token_type": ACCESS_TOKEN_TYPE})
    return idp_outcome(response, "delegated token with the MCP server as its own actor")


async def actor_missing(a: Arena) -> Outcome:
    """Exchanged without actor_token (no `act`, azp mcp-server): disable bob for alice."""
    login = await a.runner.login("alice")
    url = a.url("directory", "/users/bob/disable")
    proof = None
    if (await a.credential()).bound:
        proof = create_proof(a.mcp_key, "POST", a.token_url, iat=a.now())
    response = await a.exchange(login, audience="directory-service",
                                headers={"DPoP": proof} if proof else None)
    if response.status_code != 200:
        return idp_outcome(response)
    token = response.json()["access_token"]
    if proof:
        headers = {"Authorization": f"DPoP {token}",
                   "DPoP": a.proof(token, "POST", url)}
    else:
        headers = {"Authorization": f"Bearer {token}"}
    return outcome_of(await a.call("POST", "directory", "/users/bob/disable", headers))


def _oauth(id_: str, name: str, run: Callable[[Arena], Any], patterns: tuple[str, ...] = (
        "p05", "p06", "p07", "p08", "p09", "p10"), unprotected: tuple[str, ...] = (),
        ref: str = "",
           oracle: bool = False) -> Attack:
    return Attack(f"oauth.{id_}", FAMILY, name, run, patterns=patterns,
                  unprotected=frozenset(unprotected), ref=ref, oracle=oracle)


def _approved(a: Arena) -> bool:
    return a.runner.world.expenses[4].status == "approved"


def _bob_disabled(a: Arena) -> bool:
    return a.runner.world.users["bob"].disabled


ATTACKS: tuple[Attack, ...] = (
    _oauth("passthrough", "MCP server passes the user's token through to the service",
           passthrough, unprotected=("p05",), ref="MCP security best practices"),
    _oauth("login-token-direct", "user's own broad login token used directly at a service",
           login_token_direct, unprotected=("p05",), ref="RFC 9700 2.3"),
    _oauth("aud-replay.records-to-directory",
           "records' token replayed to the directory (A5, fresh proof under 08)",
           records_to_directory, unprotected=("p05",), ref="RFC 9700 4.10"),
    _oauth("aud-replay.to-mcp", "records' token sent back to the MCP server (audience hop)",
           back_to_mcp, unprotected=("p05",), ref="MCP authorization: audience validation"),
    _oauth("client-as-user.direct", "agent's client-credentials token at a service",
           cc_direct),
    _oauth("client-as-user.via-mcp", "agent's client-credentials token posing as a user "
           "at the MCP server", cc_via_mcp),
    _oauth("identity-headers.write", "dave + X-User/X-Forwarded-User...: alice -> disable bob",
           spoof_headers_write),
    _oauth("identity-headers.read", "alice + X-User/X-Forwarded-User...: bob -> expenses",
           spoof_headers_read),
    _oauth("user-id.query", "?user_id=bob&owner=bob on alice's expense list", user_id_query),
    _oauth("user-id.body", "author/user_id=alice in bob's note body", user_id_body),
    _oauth("user-id.tool-argument", "dave's MCP tools/call with user_id=alice",
           user_id_tool_argument),
    _oauth("agency.self-approval", "alice approves her own expense 4 via MCP (A6a)",
           mcp_action("write_data", {"action": "approve_expense", "expense_id": 4},
                      _approved), unprotected=("p05", "p06")),
    _oauth("agency.disable-user", "agent disables bob for alice via MCP (A6b)",
           mcp_action("manage_users", {"action": "disable", "username": "bob"},
                      _bob_disabled), unprotected=("p05", "p06")),
    _oauth("exchange.aud-lacks-requester", "exchange of a token whose aud lacks mcp-server",
           subject_with(aud="records-service"), EXCHANGING, ref="RFC 8693 2.1, Keycloak STE v2",
           oracle=True),
    _oauth("exchange.public-client", "public client explorer-cli exchanges a token",
           public_client_exchange, EXCHANGING),
    _oauth("exchange.unknown-audience", "exchange for unknown audience payroll-service",
           bad_audience("payroll-service"), EXCHANGING),
    _oauth("exchange.ungrantable-audience.mcp", "exchange for audience mcp-server "
           "(not granted to the requester)", bad_audience("mcp-server"), EXCHANGING),
    _oauth("exchange.ungrantable-audience.cli", "exchange for audience explorer-cli",
           bad_audience("explorer-cli"), EXCHANGING),
    _oauth("exchange.scope-escalation", "exchange asking for offline_access/admin/roles",
           scope_escalation, EXCHANGING, ref="RFC 8693 2.1"),
    _oauth("exchange.refresh-subject", "refresh token as the subject token",
           refresh_as_subject, EXCHANGING),
    _oauth("exchange.id-token-subject", "ID token as the subject token",
           id_token_as_subject, EXCHANGING),
    _oauth("exchange.long-lived", "exchange for a refresh token / longer lifetime",
           long_lived, EXCHANGING, ref="RFC 9700 4.14"),
    _oauth("exchange.re-exchange-at-idp", "IdP re-exchanges its own records token for the "
           "directory (Keycloak rule; guarded at the MCP server)", idp_re_exchange,
           EXCHANGING, unprotected=EXCHANGING),
    _oauth("exchange.agent-client", "agent client exchanges the user's token for a service "
           "(not in its aud, or an audience it is not given)",
           agent_exchange, EXCHANGING),
    _oauth("refresh.other-client", "mcp-server redeems the user's refresh token",
           refresh_other_client, EXCHANGING, ref="RFC 9700 4.14"),
    _oauth("actor.missing", "delegation without actor: disable bob with an act-less token",
           actor_missing, DELEGATING, ref="RFC 8693 4.1"),
    _oauth("actor.user-token", "the user's own token as actor_token (self-delegation)",
           bad_actor("user-token"), DELEGATING),
    _oauth("actor.id-token", "an ID token as actor_token", bad_actor("id-token"), DELEGATING),
    _oauth("actor.garbage", "a garbage actor_token", bad_actor("garbage"), DELEGATING),
    _oauth("actor.forged-by-mcp-server", "the MCP server mints its own actor token "
           "(client credentials) to name itself actor", actor_forged_by_mcp_server,
           DELEGATING, ref="RFC 8693 4.4 may_act"),
)
