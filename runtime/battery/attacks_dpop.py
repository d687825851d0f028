"""DPoP attacks (RFC 9449 sections 4.3 and 11) on the bound token of pattern 08.

Stolen-token replay (A7) applies to every token pattern: 05-07 do not claim to stop it.
The rest only make sense where tokens are bound: each case starts from the real bound token
and a valid proof by the MCP server's key, then breaks exactly one thing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import jwt

from runtime.battery.core import (
    Arena,
    Attack,
    Credential,
    Outcome,
    b64json,
    outcome_of,
    split_token,
)
from stack.jose import access_token_hash, create_proof, private_jwk, public_jwk

FAMILY = "DPoP"
URL_PATH = "/expenses"


async def _bound(a: Arena) -> Credential:
    cred = await a.credential("alice")
    if not cred.bound:
        raise RuntimeError(f"{a.pattern} does not bind tokens; this attack needs DPoP")
    return cred


async def _send(a: Arena, headers: dict[str, str] | list[tuple[str, str]],
                method: str = "GET") -> Outcome:
    return outcome_of(await a.call(method, "records", URL_PATH, headers))


def _with_proof(cred: Credential, proof: str, scheme: str = "DPoP") -> dict[str, str]:
    return {"Authorization": f"{scheme} {cred.token}", "DPoP": proof}


# -- replay (every token pattern) ---------------------------------------------------------

async def token_replay(a: Arena) -> Outcome:
    """A7(a): the token captured from the records service, replayed alone."""
    cred = await a.credential("alice")
    await a.call("GET", "records", URL_PATH, cred.headers)   # the legitimate request
    stolen = {k: v for k, v in cred.headers.items() if k.lower() != "dpop"}
    return await _send(a, stolen)


async def token_and_proof_replay(a: Arena) -> Outcome:
    """A7(b): token and proof replayed together, exactly as captured."""
    cred = await a.credential("alice")
    first = await a.call("GET", "records", URL_PATH, cred.headers)
    if first.status_code != 200:
        return Outcome(False, first.status_code, "the legitimate request itself failed")
    return await _send(a, cred.headers)


# -- pattern 08 only ----------------------------------------------------------------------

async def no_proof(a: Arena) -> Outcome:
    cred = await _bound(a)
    return await _send(a, {"Authorization": f"DPoP {cred.token}"})


async def bound_as_bearer(a: Arena) -> Outcome:
    cred = await _bound(a)
    out = await _send(a, {"Authorization": f"Bearer {cred.token}"})
    if out.allowed:
        return out
    proof = a.proof(cred.token, "GET", a.url("records", URL_PATH))
    return await _send(a, _with_proof(cred, proof, scheme="Bearer"))


def proof_variant(build: Callable[[Arena, Credential, str], Any],
                  method: str = "GET") -> Callable[[Arena], Any]:
    async def run(a: Arena) -> Outcome:
        cred = await _bound(a)
        proof = build(a, cred, a.url("records", URL_PATH))
        if isinstance(proof, list):
            return await _send(a, proof, method)
        return await _send(a, _with_proof(cred, proof), method)
    return run


def _htu(transform: Callable[[str], str]) -> Callable[[Arena, Credential, str], str]:
    return lambda a, cred, url: a.proof(cred.token, "GET", transform(url))


def _other_port(url: str) -> str:
    head, _, rest = url.rpartition(":")
    port, _, path = rest.partition("/")
    return f"{head}:{int(port) + 1}/{path}"


def _iat(offset: float) -> Callable[[Arena, Credential, str], str]:
    return lambda a, cred, url: a.proof(cred.token, "GET", url, iat=a.now() + offset)


def resigned_proof(change: Callable[[dict[str, Any], dict[str, Any]], None], *,
            alg: str = "ES256", key: Any = None) -> Callable[[Arena, Credential, str], str]:
    """A proof by the MCP key whose header/claims are edited before signing."""
    def build(a: Arena, cred: Credential, url: str) -> str:
        signer = key or a.mcp_key
        header: dict[str, Any] = {"typ": "dpop+jwt", "jwk": public_jwk(signer)}
        claims: dict[str, Any] = {"jti": str(uuid.uuid4()), "htm": "GET", "htu": url,
                                  "iat": int(a.now()), "ath": access_token_hash(cred.token)}
        change(header, claims)
        return jwt.encode(claims, signer, algorithm=alg, headers=header)
    return build


def _drop(name: str) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    def change(header: dict[str, Any], claims: dict[str, Any]) -> None:
        if name == "typ":
            header["typ"] = None   # pyjwt drops a None typ (and would add "JWT" if absent)
        else:
            header.pop(name, None)
        claims.pop(name, None)
    return change


def _alg_none(a: Arena, cred: Credential, url: str) -> str:
    proof = a.proof(cred.token, "GET", url)
    header, claims, _ = split_token(proof)
    return f"{b64json({**header, 'alg': 'none'})}.{b64json(claims)}."


def _hs256(a: Arena, cred: Credential, url: str) -> str:
    header = {"typ": "dpop+jwt", "jwk": public_jwk(a.mcp_key)}
    claims = {"jti": str(uuid.uuid4()), "htm": "GET", "htu": url, "iat": int(a.now()),
              "ath": access_token_hash(cred.token)}
    return jwt.encode(claims, "secret" * 8, algorithm="HS256", headers=header)


def _private_jwk(a: Arena, cred: Credential, url: str) -> str:
    return a.proof(cred.token, "GET", url, headers={"jwk": private_jwk(a.mcp_key)})


def _other_key(a: Arena, cred: Credential, url: str) -> str:
    return create_proof(a.kit.ec_key, "GET", url, access_token=cred.token, iat=a.now())


def _tampered(a: Arena, cred: Credential, url: str) -> str:
    proof = a.proof(cred.token, "GET", url)
    header, claims, sig = split_token(proof)
    claims["jti"] = str(uuid.uuid4())
    return f"{b64json(header)}.{b64json(claims)}.{sig}"


def _kty_mismatch(a: Arena, cred: Credential, url: str) -> str:
    return a.proof(cred.token, "GET", url, headers={"jwk": public_jwk(a.kit.rsa_key)})


def _duplicate(a: Arena, cred: Credential, url: str) -> list[tuple[str, str]]:
    return [("Authorization", f"DPoP {cred.token}"),
            ("DPoP", a.proof(cred.token, "GET", url)),
            ("DPoP", a.proof(cred.token, "GET", url))]


def _oversized(a: Arena, cred: Credential, url: str) -> str:
    return a.proof(cred.token, "GET", url, claims={"pad": "A" * 10_000})


def _token_endpoint(a: Arena, cred: Credential, url: str) -> str:
    return a.proof(cred.token, "POST", a.token_url)


async def unbound_token(a: Arena) -> Outcome:
    """An unbound delegated token (exchanged without DPoP) sent with a valid proof."""
    cred = await _bound(a)
    login = await a.runner.login("alice")
    cc = await a.client_credentials()
    response = await a.exchange(login, extra={
        "actor_token": cc, "actor_token_type": "urn:ietf:params:oauth:token-type:access_token"})
    token = response.json()["access_token"]
    proof = a.proof(token, "GET", a.url("records", URL_PATH))
    out = await _send(a, {"Authorization": f"DPoP {token}", "DPoP": proof})
    del cred
    return out


async def proof_iat_after_clock(a: Arena) -> Outcome:
    """A valid proof captured now, replayed after the service clock moved 2 minutes on
    (past the replay cache's window would be a hole; the iat window must close first)."""
    cred = await _bound(a)
    proof = a.proof(cred.token, "GET", a.url("records", URL_PATH))
    a.runner.clock.advance(119)
    return await _send(a, _with_proof(cred, proof))


def _dpop(id_: str, name: str, run: Callable[[Arena], Any], *,
          patterns: tuple[str, ...] = ("p08", "p09", "p10"), unprotected: tuple[str, ...] = (),
          ref: str = "RFC 9449 4.3") -> Attack:
    return Attack(f"dpop.{id_}", FAMILY, name, run, patterns=patterns,
                  unprotected=frozenset(unprotected), ref=ref)


TOKEN_PATTERNS = ("p05", "p06", "p07", "p08", "p09", "p10")

ATTACKS: tuple[Attack, ...] = (
    _dpop("token-replay", "stolen token replayed alone (A7a)", token_replay,
          patterns=TOKEN_PATTERNS, unprotected=("p05", "p06", "p07"), ref="RFC 9449 1"),
    _dpop("token-and-proof-replay", "token and proof replayed together (A7b)",
          token_and_proof_replay, patterns=TOKEN_PATTERNS, unprotected=("p05", "p06", "p07"),
          ref="RFC 9449 11.1"),
    _dpop("no-proof", "bound token, no DPoP header", no_proof),
    _dpop("bound-as-bearer", "bound token sent as Bearer (with and without proof)",
          bound_as_bearer, ref="RFC 9449 7.1"),
    _dpop("proof-replay-late", "proof replayed 119 s later (iat window vs replay cache)",
          proof_iat_after_clock, ref="RFC 9449 11.1"),
    _dpop("htm-mismatch", "proof for POST on a GET",
          proof_variant(lambda a, c, u: a.proof(c.token, "POST", u))),
    _dpop("htu.path", "proof for another path",
          proof_variant(_htu(lambda u: u.replace("/expenses", "/notes")))),
    _dpop("htu.host", "proof for localhost instead of 127.0.0.1",
          proof_variant(_htu(lambda u: u.replace("127.0.0.1", "localhost")))),
    _dpop("htu.port", "proof for another port", proof_variant(_htu(_other_port))),
    _dpop("htu.scheme", "proof for https", proof_variant(
        _htu(lambda u: u.replace("http://", "https://")))),
    _dpop("htu.other-service", "proof for the directory service", proof_variant(
        lambda a, c, u: a.proof(c.token, "GET", a.url("directory", URL_PATH)))),
    _dpop("htu.token-endpoint", "proof made for the IdP's token endpoint",
          proof_variant(_token_endpoint)),
    _dpop("iat.stale", "proof iat 10 minutes old", proof_variant(_iat(-600))),
    _dpop("iat.future", "proof iat 2 minutes ahead", proof_variant(_iat(120))),
    _dpop("ath.missing", "proof without ath", proof_variant(resigned_proof(_drop("ath")))),
    _dpop("ath.wrong", "proof ath for another token", proof_variant(
        resigned_proof(lambda h, c: c.update(ath=access_token_hash("another-token"))))),
    _dpop("key-mismatch", "proof by the attacker's key (not cnf.jkt)",
          proof_variant(_other_key), ref="RFC 9449 4.3 step 12"),
    _dpop("private-key-in-jwk", "proof header jwk carries the private key",
          proof_variant(_private_jwk)),
    _dpop("alg.none", "proof with alg none", proof_variant(_alg_none)),
    _dpop("alg.hs256", "proof with alg HS256", proof_variant(_hs256)),
    _dpop("typ.jwt", "proof typ JWT", proof_variant(
        resigned_proof(lambda h, c: h.update(typ="JWT")))),
    _dpop("typ.missing", "proof without typ", proof_variant(resigned_proof(_drop("typ")))),
    *(_dpop(f"claim-missing.{c}", f"proof without {c}", proof_variant(resigned_proof(_drop(c))))
      for c in ("jti", "htm", "htu", "iat")),
    _dpop("jwk-missing", "proof without jwk", proof_variant(resigned_proof(_drop("jwk")))),
    _dpop("kty-mismatch", "ES256 proof carrying an RSA jwk", proof_variant(_kty_mismatch)),
    _dpop("bad-signature", "proof claims edited after signing", proof_variant(_tampered)),
    _dpop("duplicate-headers", "two valid DPoP headers", proof_variant(_duplicate)),
    _dpop("oversized-proof", "10 kB proof", proof_variant(_oversized)),
    _dpop("unbound-token", "unbound delegated token presented with a valid proof",
          unbound_token, ref="RFC 9449 7.1"),
)
