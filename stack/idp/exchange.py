"""RFC 8693 token exchange with Keycloak 26 "Standard Token Exchange v2" rules.

The requester (a confidential client with `standard.token.exchange.enabled`) trades a user's
access token, in whose `aud` it must be, for a token issued to itself. `audience=` only
filters the audiences the requester's own mappers/scopes give (no upscoping); `scope=` can
not add scopes. The new token keeps the user (`sub`, user claims) with `azp` = requester.
Embedded-only extension: a valid `actor_token` (a client-credentials token) adds the
RFC 8693 `act` claim (delegation), and only when the subject token's `may_act` claim
(RFC 8693 section 4.4) names that actor: the token service decides who may act for whom.
A subject token that already carries `act` (a delegation chain) keeps it when no new actor
is named (the same delegation, for another audience), and a new actor nests the chain under
itself (RFC 8693 section 4.1) up to MAX_CHAIN actors: the chain is judged here, where it is
made. Scope may only narrow (`invalid_scope` otherwise). Why a delegation was allowed goes
back in the EXPLANATION_HEADER response header, for the wire.
Keycloak 26.7 does none of this (no `act`, `may_act` not checked), even with its experimental
delegation feature.
The error texts are Keycloak's (StandardTokenExchangeProvider / AbstractTokenExchangeProvider).
"""

from __future__ import annotations

from typing import Any

from .core import ACCESS_TOKEN_TYPE, ID_TOKEN_TYPE, IdentityProvider, TokenRequest
from .errors import OAuthError, invalid_request
from .mappers import apply_mappers
from .tokens import Grant, InvalidToken, audiences_of

MAX_CHAIN = 2   # actors in one delegation chain: the agent, and one sub-agent under it
EXPLANATION_HEADER = "X-Explorer-Delegation"


def _check_supported(req: TokenRequest) -> None:
    form = req.form
    for param in ("requested_subject", "requested_issuer", "subject_issuer"):
        if form.get(param) is not None:
            raise invalid_request(
                f"Parameter '{param}' is not supported for standard token exchange"
            )
    if not req.client.standard_token_exchange:
        raise invalid_request("Standard token exchange is not enabled for the requested client")
    if not form.get("subject_token"):
        raise invalid_request("Parameter 'subject_token' required for standard token exchange")
    if not form.get("subject_token_type"):
        raise invalid_request("Parameter 'subject_token_type' required for standard token exchange")
    if form.get("subject_token_type") != ACCESS_TOKEN_TYPE:
        raise invalid_request("Parameter 'subject_token' supports access tokens only")


def _check_sender_constraint(
    idp: IdentityProvider, req: TokenRequest, subject: dict[str, Any], jkt: str | None
) -> None:
    cnf = subject.get("cnf")
    if not isinstance(cnf, dict):
        return
    if subject.get("azp") != req.client.client_id:
        raise invalid_request(
            "Sender-constrained token exchange rejected as the token was not "
            "issued for the requesting client"
        )
    if cnf.get("jkt") is not None:
        if jkt is None:
            raise invalid_request("DPoP proof is missing")
        if jkt != cnf.get("jkt"):
            raise invalid_request("DPoP proof and token binding verification failed")


def _actor(
    idp: IdentityProvider, req: TokenRequest, subject: dict[str, Any]
) -> dict[str, Any] | None:
    token = req.form.get("actor_token")
    if token is None:   # no new actor: the subject's chain, if any, is kept as it is
        chain = subject.get("act")
        if isinstance(chain, dict):
            req.explanation.append(f"kept the subject's delegation chain {_chain_text(chain)} "
                                   "(no new actor named)")
            return chain
        return None
    if req.form.get("actor_token_type") != ACCESS_TOKEN_TYPE:
        raise invalid_request(
            "Parameter 'actor_token_type' must be urn:ietf:params:oauth:token-type:access_token"
        )
    try:
        claims = idp.tokens.verify(token, req.issuer)
    except InvalidToken:
        raise invalid_request("Invalid actor token") from None
    actor = idp.tokens.subject(claims)
    if (
        actor is None
        or actor.service_account_client is None
        or actor.service_account_client != claims.get("azp")
    ):
        raise invalid_request("Actor token must be a client credentials token")
    if not _may_act(subject.get("may_act"), actor.id, actor.service_account_client):
        raise invalid_request(
            f"Actor '{actor.service_account_client}' is not allowed to act for the subject "
            "(may_act, RFC 8693 section 4.4)"
        )
    act: dict[str, Any] = {"sub": actor.id, "client_id": actor.service_account_client}
    if isinstance(subject.get("act"), dict):  # RFC 8693 4.1: nest the earlier actor
        act["act"] = subject["act"]
    if len(_chain(act)) > MAX_CHAIN:
        raise invalid_request(
            f"Delegation chain too deep: {_chain_text(act)} names {len(_chain(act))} actors, "
            f"at most {MAX_CHAIN} are allowed"
        )
    req.explanation.append(
        f"actor {actor.service_account_client} is named by the subject token's may_act "
        f"(RFC 8693 section 4.4); chain {_chain_text(act)} is {len(_chain(act))} of at most "
        f"{MAX_CHAIN} actors"
    )
    return act


def _chain(act: dict[str, Any]) -> list[str]:
    """The actors of a chain, current first: `act`, then `act.act`, ..."""
    names: list[str] = []
    node: Any = act
    while isinstance(node, dict) and len(names) <= MAX_CHAIN + 1:
        names.append(str(node.get("client_id") or node.get("sub")))
        node = node.get("act")
    return names


def _chain_text(act: dict[str, Any]) -> str:
    return " <- ".join(_chain(act))


def _may_act(may_act: Any, actor_sub: str, actor_client: str) -> bool:
    """Does the subject's `may_act` name this actor? Every member it gives must match."""
    if not isinstance(may_act, dict) or not may_act:
        return False
    wanted = {"sub": actor_sub, "client_id": actor_client}
    named = {k: v for k, v in may_act.items() if k in wanted}
    return bool(named) and all(v == wanted[k] for k, v in named.items())


def token_exchange_grant(idp: IdentityProvider, req: TokenRequest) -> dict[str, Any]:
    _check_supported(req)
    client, form = req.client, req.form
    try:
        subject = idp.tokens.verify(form.get("subject_token") or "", req.issuer)
    except InvalidToken:
        raise invalid_request("Invalid token") from None
    user = idp.tokens.subject(subject)
    assert user is not None  # verify() checked it
    jkt = req.jkt
    _check_sender_constraint(idp, req, subject, jkt)
    requested_type = form.get("requested_token_type") or ACCESS_TOKEN_TYPE
    if requested_type not in (ACCESS_TOKEN_TYPE, ID_TOKEN_TYPE):
        raise invalid_request("requested_token_type unsupported")
    audiences = form.all("audience")
    for aud in audiences:
        target = idp.realm.clients.get(aud)
        if target is None:
            raise OAuthError(400, "invalid_client", "Audience not found")
        if not target.enabled:
            raise OAuthError(400, "invalid_client", "Client disabled")
    if client.public:
        raise OAuthError(400, "invalid_client", "Public client is not allowed to exchange token")
    if subject.get("azp") != client.client_id and client.client_id not in audiences_of(subject):
        raise OAuthError(403, "access_denied", "Client is not within the token audience")
    subject_scopes = set(str(subject.get("scope", "")).split())
    scopes, openid = idp.resolve_scopes(client, form.get("scope"), within=subject_scopes)
    act = _actor(idp, req, subject)
    if form.get("scope"):
        asked = [s for s in (form.get("scope") or "").split() if s != "openid"]
        req.explanation.append(f"scope {' '.join(asked)} is within the subject's "
                               f"({' '.join(sorted(subject_scopes))}): it may only narrow")
    sid = subject.get("sid")
    session = idp.sessions.active(sid) if isinstance(sid, str) else None
    grant = Grant(
        "token-exchange",
        client,
        user,
        scopes,
        openid=openid,
        session=session,
        audience_filter=set(audiences) or None,
        jkt=jkt,
        act=act,
    )
    granted = apply_mappers(
        grant.mappers, user, idp.realm, token="access", audience_filter=grant.audience_filter
    ).audiences
    missing = [a for a in audiences if a not in granted]
    if missing:
        raise invalid_request("Requested audience not available: " + ", ".join(missing))
    if requested_type == ID_TOKEN_TYPE:
        return {
            "access_token": idp.tokens.id_token(grant, req.issuer, None),
            "expires_in": idp.realm.access_token_lifespan,
            "token_type": "N_A",
            "issued_token_type": ID_TOKEN_TYPE,
        }
    return idp.token_response(grant, req.issuer, refresh=False, issued_token_type=ACCESS_TOKEN_TYPE)
