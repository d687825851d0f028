"""EmbeddedIdP served over a real socket: start/stop, issuer, verification with PyJWKClient."""

from __future__ import annotations

import asyncio

import httpx
import jwt
import pytest

from stack.clock import Clock
from stack.idp import EmbeddedIdP
from stack.idp.testing import IdPTestClient


async def test_start_serves_on_an_ephemeral_loopback_port_and_stop_closes_it():
    idp = EmbeddedIdP()
    with pytest.raises(RuntimeError):
        _ = idp.base_url
    base = await idp.start()
    try:
        assert base.startswith("http://127.0.0.1:") and idp.base_url == base
        assert idp.issuer == f"{base}/realms/agentauth" and idp.realm == "agentauth"
        async with httpx.AsyncClient() as http:
            doc = (await http.get(f"{idp.issuer}/.well-known/openid-configuration")).json()
        assert doc["issuer"] == idp.issuer
    finally:
        await idp.stop()
    assert not idp.running
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"{base}/realms/agentauth")


async def test_two_idps_get_different_ports_and_keys():
    async with EmbeddedIdP() as one, EmbeddedIdP() as two:
        assert one.base_url != two.base_url
        assert one.provider.keys.active.kid != two.provider.keys.active.kid


async def test_a_token_verifies_with_pyjwkclient_against_the_served_jwks():
    clock = Clock()
    async with EmbeddedIdP(clock=clock) as idp:
        assert idp.clock is clock
        async with IdPTestClient.remote(idp.base_url) as kc:
            token = await kc.login("alice")  # over a real socket, through the login form
        jwks = jwt.PyJWKClient(f"{idp.issuer}/protocol/openid-connect/certs")
        # PyJWKClient is synchronous; run it off the loop that serves the IdP
        key = await asyncio.to_thread(jwks.get_signing_key_from_jwt, token)
        claims = jwt.decode(
            token, key, algorithms=["RS256"], audience="records-service", issuer=idp.issuer
        )
        assert claims["preferred_username"] == "alice"


async def test_a_started_idp_pins_the_issuer_to_its_base_url():
    async with EmbeddedIdP() as idp:
        url = idp.base_url.replace("127.0.0.1", "localhost")
        async with httpx.AsyncClient() as http:
            doc = (
                await http.get(f"{url}/realms/agentauth/.well-known/openid-configuration")
            ).json()
        assert doc["issuer"] == idp.issuer
