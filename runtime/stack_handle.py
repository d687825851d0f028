"""The identity provider and policy engine a runner talks to: embedded or external.

Embedded (default): the Keycloak-compatible IdP and the regopy-backed OPA start in-process
on ephemeral ports. External: Keycloak and OPA at configured URLs (docker compose or the
native script); `start()` checks that they answer and says clearly when they do not.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httpx

from runtime.pattern_api import StackEndpoints
from runtime.settings import Settings
from stack.clock import Clock
from stack.errors import ExplorerError


class StackUnavailable(ExplorerError, RuntimeError):
    """The configured IdP or OPA does not answer."""


@dataclass
class StackHandle:
    settings: Settings
    clock: Clock = field(default_factory=Clock)
    endpoints: StackEndpoints | None = None
    _idp: object | None = None
    _opa: object | None = None
    _starting: asyncio.Lock | None = field(default=None, repr=False)

    @property
    def mode(self) -> str:
        return self.settings.stack

    async def start(self) -> StackEndpoints:
        """Start (or reach) the stack once: callers that arrive while it starts wait for
        that start instead of starting a second IdP and OPA."""
        if self.endpoints is not None:
            return self.endpoints
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self.endpoints is None:
                await self._start()
        assert self.endpoints is not None
        return self.endpoints

    async def _start(self) -> None:
        if self.settings.stack == "embedded":
            from stack.idp import EmbeddedIdP
            from stack.opa import EmbeddedOPA

            # each held before it starts: a stop() meanwhile stops it, and this start fails
            idp = self._idp = EmbeddedIdP(clock=self.clock)
            await idp.start()
            opa = self._opa = EmbeddedOPA()
            await opa.start()
            self.endpoints = stack_endpoints(idp.base_url, opa.base_url, self.settings.realm)
        else:
            endpoints = stack_endpoints(
                self.settings.keycloak_url, self.settings.opa_url, self.settings.realm
            )
            await check_external(endpoints, self.settings.timeout)
            self.endpoints = endpoints      # only once it answers: a retry checks again

    async def stop(self) -> None:
        servers = [s for s in (self._idp, self._opa) if s is not None]
        await asyncio.gather(*(s.stop() for s in servers))  # type: ignore[attr-defined]
        self._idp = self._opa = None
        self.endpoints = None

    @property
    def idp(self) -> object | None:
        return self._idp

    @property
    def opa(self) -> object | None:
        return self._opa


def stack_endpoints(idp_base: str, opa_base: str, realm: str) -> StackEndpoints:
    issuer = f"{idp_base.rstrip('/')}/realms/{realm}"
    return StackEndpoints(
        issuer=issuer,
        token_url=f"{issuer}/protocol/openid-connect/token",
        jwks_url=f"{issuer}/protocol/openid-connect/certs",
        opa_url=opa_base.rstrip("/"),
    )


async def probe(endpoints: StackEndpoints, timeout: float) -> dict[str, str]:
    """Health of the IdP (discovery document) and OPA (/health): 'ok' or the error."""
    results: dict[str, str] = {}
    async with httpx.AsyncClient(timeout=timeout) as http:
        checks = {
            "idp": f"{endpoints.issuer}/.well-known/openid-configuration",
            "opa": f"{endpoints.opa_url}/health",
        }
        for name, url in checks.items():
            try:
                response = await http.get(url)
                results[name] = "ok" if response.status_code == 200 else (
                    f"HTTP {response.status_code} from {url}"
                )
            except httpx.HTTPError as exc:
                results[name] = f"unreachable at {url} ({type(exc).__name__})"
    return results


async def check_external(endpoints: StackEndpoints, timeout: float) -> None:
    results = await probe(endpoints, timeout)
    bad = {k: v for k, v in results.items() if v != "ok"}
    if bad:
        lines = "; ".join(f"{'Keycloak' if k == 'idp' else 'OPA'}: {v}" for k, v in bad.items())
        raise StackUnavailable(
            f"external stack not ready ({lines}). Start it with `docker compose up -d` or "
            "`stack/native.sh up`, or use the embedded stack (--stack embedded)."
        )
