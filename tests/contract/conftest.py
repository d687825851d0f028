"""Contract suite fixtures: "the IdP" and "OPA" are just URLs.

With AGENT_AUTH_STACK=external the suite talks to the real Keycloak and OPA at
KEYCLOAK_URL (default http://127.0.0.1:8080) and OPA_URL (default http://127.0.0.1:8181);
otherwise it starts the embedded IdP and OPA in-process. The tests themselves only speak HTTP.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest_asyncio

EXTERNAL = os.environ.get("AGENT_AUTH_STACK") == "external"


@pytest_asyncio.fixture
async def idp_url() -> AsyncIterator[str]:
    if EXTERNAL:
        yield os.environ.get("KEYCLOAK_URL", "http://127.0.0.1:8080").rstrip("/")
        return
    from stack.idp import EmbeddedIdP

    idp = EmbeddedIdP()
    await idp.start()
    try:
        yield idp.base_url
    finally:
        await idp.stop()


@pytest_asyncio.fixture
async def opa_url() -> AsyncIterator[str]:
    if EXTERNAL:
        yield os.environ.get("OPA_URL", "http://127.0.0.1:8181").rstrip("/")
        return
    from stack.opa import EmbeddedOPA

    opa = EmbeddedOPA()
    await opa.start()
    try:
        yield opa.base_url
    finally:
        await opa.stop()
