"""stack/jose/dpop.py: proofs are created right and every RFC 9449 section 4.3 check bites."""

from __future__ import annotations

import threading

import jwt
import pytest

from stack.jose import (
    DPoPError,
    ReplayCache,
    access_token_hash,
    create_proof,
    generate_ec_key,
    generate_rsa_key,
    jwk_thumbprint,
    normalize_htu,
    private_jwk,
    public_jwk,
    verify_proof,
)

NOW = 1_800_000_000.0
HTU = "https://idp.example/realms/agentauth/protocol/openid-connect/token"


@pytest.fixture(scope="module")
def ec_key():
    return generate_ec_key()


@pytest.fixture(scope="module")
def rsa_key():
    return generate_rsa_key()


def verify(proof: str, **kw):
    args = {"htm": "POST", "htu": HTU, "now": NOW, "replay": ReplayCache()}
    args.update(kw)
    return verify_proof(proof, **args)


def reason(proof: str, **kw) -> str:
    with pytest.raises(DPoPError) as exc:
        verify(proof, **kw)
    return exc.value.reason


def test_rfc7638_thumbprint_matches_the_rfc_example():
    jwk = {
        "kty": "RSA",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1"
            "L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4"
            "QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbO"
            "pbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csF"
            "Cur-kEgU8awapJzKnqDKgw"
        ),
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_thumbprint_ignores_optional_members_and_refuses_unknown_key_types(ec_key):
    jwk = public_jwk(ec_key)
    assert jwk_thumbprint({**jwk, "kid": "x", "use": "sig"}) == jwk_thumbprint(jwk)
    with pytest.raises(DPoPError):
        jwk_thumbprint({"kty": "XYZ"})
    with pytest.raises(DPoPError):
        jwk_thumbprint({"kty": "EC", "crv": "P-256"})


def test_ath_is_base64url_sha256_of_the_token():
    # RFC 9449 section 7.1 example token and its ath
    assert access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU") == (
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    )


@pytest.mark.parametrize("key_name", ["ec_key", "rsa_key"])
def test_a_good_proof_verifies_and_returns_the_key_thumbprint(request, key_name):
    key = request.getfixturevalue(key_name)
    proof = create_proof(key, "post", HTU + "?x=1#frag", iat=NOW)
    header = jwt.get_unverified_header(proof)
    payload = jwt.decode(proof, options={"verify_signature": False})
    assert header["typ"] == "dpop+jwt" and "d" not in header["jwk"]
    assert payload["htm"] == "POST" and payload["htu"] == HTU
    assert verify(proof) == jwk_thumbprint(public_jwk(key))


def test_an_eddsa_proof_verifies_and_its_key_cannot_pose_as_es256():
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    proof = create_proof(key, "POST", HTU, iat=NOW)
    assert jwt.get_unverified_header(proof)["alg"] == "EdDSA"
    assert verify(proof) == jwk_thumbprint(public_jwk(key))
    assert (
        reason(
            create_proof(generate_ec_key(), "POST", HTU, iat=NOW, headers={"jwk": public_jwk(key)})
        )
        == "jwk"
    )


def test_ath_is_checked_when_an_access_token_is_presented(ec_key):
    proof = create_proof(ec_key, "GET", HTU, access_token="tok-1", iat=NOW)
    assert verify(proof, htm="GET", access_token="tok-1")
    assert (
        reason(
            create_proof(ec_key, "GET", HTU, access_token="tok-1", iat=NOW),
            htm="GET",
            access_token="tok-2",
        )
        == "ath"
    )
    assert reason(create_proof(ec_key, "GET", HTU, iat=NOW), htm="GET", access_token="t") == "ath"


def test_ath_without_an_access_token_is_refused_at_the_token_endpoint(ec_key):
    assert reason(create_proof(ec_key, "POST", HTU, access_token="tok", iat=NOW)) == "ath"


def test_a_replayed_jti_is_refused(ec_key):
    cache = ReplayCache()
    proof = create_proof(ec_key, "POST", HTU, iat=NOW)
    verify(proof, replay=cache)
    assert reason(proof, replay=cache) == "replay"


def test_the_same_jti_from_a_fresh_cache_passes_so_the_cache_is_what_stops_replay(ec_key):
    proof = create_proof(ec_key, "POST", HTU, iat=NOW)
    verify(proof)
    verify(proof)  # each call gets its own empty cache


def test_wrong_htm_is_refused(ec_key):
    assert reason(create_proof(ec_key, "GET", HTU, iat=NOW)) == "htm"


@pytest.mark.parametrize(
    "proof_htu",
    [
        "https://idp.example/realms/agentauth/protocol/openid-connect/userinfo",
        "http://idp.example/realms/agentauth/protocol/openid-connect/token",
        "https://evil.example/realms/agentauth/protocol/openid-connect/token",
        "https://idp.example:8443/realms/agentauth/protocol/openid-connect/token",
        "not a url",
    ],
)
def test_wrong_htu_is_refused(ec_key, proof_htu):
    assert reason(create_proof(ec_key, "POST", HTU, iat=NOW, claims={"htu": proof_htu})) == "htu"


def test_htu_comparison_normalises_case_default_port_query_and_fragment(ec_key):
    odd = "HTTPS://IDP.Example:443/realms/agentauth/protocol/openid-connect/token?a=1#b"
    assert verify(create_proof(ec_key, "POST", HTU, iat=NOW, claims={"htu": odd}))
    assert normalize_htu("http://A.b:80") == "http://a.b/"
    with pytest.raises(ValueError):
        normalize_htu("ftp://a.b/")


@pytest.mark.parametrize("offset", [-66, 6, 3600])
def test_iat_outside_the_window_is_refused_both_sides(ec_key, offset):
    assert reason(create_proof(ec_key, "POST", HTU, iat=NOW + offset)) == "iat"


@pytest.mark.parametrize("offset", [-64, 0, 4])
def test_iat_inside_the_window_is_accepted(ec_key, offset):
    assert verify(create_proof(ec_key, "POST", HTU, iat=NOW + offset))


def test_non_numeric_iat_is_refused(ec_key):
    assert reason(create_proof(ec_key, "POST", HTU, claims={"iat": "now"})) in ("iat", "malformed")


def test_wrong_typ_is_refused(ec_key):
    assert reason(create_proof(ec_key, "POST", HTU, iat=NOW, headers={"typ": "JWT"})) == "typ"


def test_alg_none_is_refused(ec_key):
    header = {"typ": "dpop+jwt", "jwk": public_jwk(ec_key)}
    proof = jwt.encode(
        {"jti": "1", "htm": "POST", "htu": HTU, "iat": NOW}, None, algorithm="none", headers=header
    )
    assert reason(proof) == "alg"


def test_hs256_is_refused_even_with_a_matching_symmetric_jwk():
    secret = b"k" * 32
    jwk = {"kty": "oct", "k": "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s"}
    proof = jwt.encode(
        {"jti": "1", "htm": "POST", "htu": HTU, "iat": NOW},
        secret,
        algorithm="HS256",
        headers={"typ": "dpop+jwt", "jwk": jwk},
    )
    assert reason(proof) == "alg"


def test_a_private_key_in_the_jwk_header_is_refused(ec_key):
    proof = create_proof(ec_key, "POST", HTU, iat=NOW, headers={"jwk": private_jwk(ec_key)})
    with pytest.raises(DPoPError) as exc:
        verify(proof)
    assert exc.value.reason == "jwk" and "private" in str(exc.value)


def test_a_missing_jwk_is_refused(ec_key):
    assert reason(create_proof(ec_key, "POST", HTU, iat=NOW, headers={"jwk": None})) == "jwk"


def test_a_jwk_that_does_not_fit_the_alg_is_refused(ec_key, rsa_key):
    proof = create_proof(ec_key, "POST", HTU, iat=NOW, headers={"jwk": public_jwk(rsa_key)})
    assert reason(proof) == "jwk"
    p384 = generate_ec_key("P-384")
    assert (
        reason(create_proof(ec_key, "POST", HTU, iat=NOW, headers={"jwk": public_jwk(p384)}))
        == "jwk"
    )


def test_a_signature_by_another_key_is_refused(ec_key):
    other = generate_ec_key()
    proof = create_proof(other, "POST", HTU, iat=NOW, headers={"jwk": public_jwk(ec_key)})
    assert reason(proof) == "signature"


def test_a_tampered_payload_is_refused(ec_key):
    head, _body, sig = create_proof(ec_key, "POST", HTU, iat=NOW).split(".")
    forged = jwt.encode({"jti": "x", "htm": "POST", "htu": HTU, "iat": NOW}, "k" * 32).split(".")[1]
    assert reason(f"{head}.{forged}.{sig}") == "signature"


def test_the_key_must_match_the_expected_thumbprint(ec_key):
    proof = create_proof(ec_key, "POST", HTU, iat=NOW)
    assert reason(proof, expected_jkt="not-the-key") == "jkt"
    assert verify(
        create_proof(ec_key, "POST", HTU, iat=NOW), expected_jkt=jwk_thumbprint(public_jwk(ec_key))
    )


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "e30.e30.", "x" * 20_000])
def test_garbage_is_a_dpop_error_not_a_crash(garbage):
    with pytest.raises(DPoPError):
        verify(garbage)


def test_missing_jti_htm_htu_are_refused(ec_key):
    for claim in ("jti", "htm", "htu"):
        proof = create_proof(ec_key, "POST", HTU, iat=NOW, claims={claim: None})
        assert reason(proof) in (claim, "malformed")


def test_a_nonce_is_checked_when_the_server_demands_one(ec_key):
    assert verify(create_proof(ec_key, "POST", HTU, iat=NOW, nonce="n1"), nonce="n1")
    assert reason(create_proof(ec_key, "POST", HTU, iat=NOW, nonce="n2"), nonce="n1") == "nonce"


def test_replay_cache_forgets_entries_after_the_ttl():
    cache = ReplayCache(max_entries=100, ttl=10)
    assert not cache.seen("a", NOW)
    assert cache.seen("a", NOW + 9)
    assert not cache.seen("a", NOW + 10.5)
    cache.seen("b", NOW + 30)
    assert len(cache) == 1  # "a" purged on the way


def test_replay_cache_rejects_nonsense_limits():
    with pytest.raises(ValueError):
        ReplayCache(max_entries=0)
    with pytest.raises(ValueError):
        ReplayCache(ttl=0)


def test_replay_cache_admits_a_jti_exactly_once_across_threads():
    cache = ReplayCache(max_entries=1000, ttl=100)
    fresh: list[bool] = []
    lock = threading.Lock()

    def worker():
        for i in range(200):
            result = not cache.seen(f"k{i}", NOW)
            with lock:
                fresh.append(result)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fresh.count(True) == 200
