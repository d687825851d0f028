"""The battery's building blocks: an attack, its outcome, and the arena it runs in.

An `Attack` is data: an id, a family, a name, the patterns it applies to, which of those
do *not* claim to stop it (expected ALLOW there, per the teaching matrix), and an async
function that performs it against a started `PatternRunner` and says what happened.

The `Arena` wraps one started runner with what attacks need: the credential the MCP server
would send for a tool call, a way to present a (forged) token the way the pattern expects,
direct requests recorded on the wire as the attacker, the embedded IdP's signing key (an
oracle that isolates one claim check at a time), and the attacker's own keys and server.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import httpx
import jwt

from runtime.demo_realm import demo_realm
from runtime.pattern_api import ACTOR_TOKEN_HEADER, AUDIENCES, Outgoing, ServiceName, UserContext
from runtime.presets import ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE
from runtime.wire import new_trace_id, tracing
from stack.errors import ExplorerError
from stack.jose import b64url_encode, create_proof

MCP_SECRET = demo_realm().secret("mcp-server")

if TYPE_CHECKING:
    from runtime.battery.servers import AttackerServer
    from runtime.runner import PatternRunner

Verdict = Literal["ALLOW", "DENY"]
Actual = Literal["ALLOW", "DENY", "ERROR", "SKIP"]
PATTERNS_05_10: tuple[str, ...] = ("p05", "p06", "p07", "p08", "p09", "p10")
#: every pattern some attack applies to (03/04 only for prompt injection)
PATTERNS_03_10: tuple[str, ...] = ("p03", "p04", *PATTERNS_05_10)


class Skip(ExplorerError):
    """The attack cannot run in this setting (e.g. it needs the embedded IdP's key)."""


@dataclass(frozen=True)
class Outcome:
    """What an attack achieved: `allowed` means the attack got through."""

    allowed: bool
    status: int | None = None
    detail: str = ""

    @property
    def verdict(self) -> Verdict:
        return "ALLOW" if self.allowed else "DENY"


AttackFn = Callable[["Arena"], Awaitable[Outcome]]


@dataclass(frozen=True)
class Attack:
    id: str
    family: str
    name: str
    run: AttackFn
    patterns: tuple[str, ...] = PATTERNS_05_10
    #: patterns (among `patterns`) that do not claim to stop this attack: expected ALLOW
    unprotected: frozenset[str] = frozenset()
    ref: str = ""
    #: needs the embedded IdP's signing key (claim-level checks)
    oracle: bool = False
    #: the status a refusal must have (e.g. 401, never a 503 or 500); None: any refusal
    deny_status: int | None = None

    def applies(self, pattern: str) -> bool:
        return pattern in self.patterns

    def expected(self, pattern: str) -> Verdict:
        return "ALLOW" if pattern in self.unprotected else "DENY"


@dataclass(frozen=True)
class Credential:
    """What the MCP server sends to a service for one tool call, under this pattern."""

    scheme: str           # "Bearer" or "DPoP"
    token: str
    headers: dict[str, str]
    login_token: str      # the user's own token (explorer-cli), as the agent holds it

    @property
    def bound(self) -> bool:
        return self.scheme.lower() == "dpop"


@dataclass
class Kit:
    """Attacker material shared by every arena of one battery run."""

    rsa_key: Any
    ec_key: Any
    server: AttackerServer
    extra: dict[str, Any] = field(default_factory=dict)


def b64url(data: bytes) -> str:
    return b64url_encode(data)


def b64json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def split_token(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Header, claims and signature segment of a compact JWS (unverified)."""
    head, body, sig = token.split(".")
    header = json.loads(jwt.utils.base64url_decode(head))
    claims = json.loads(jwt.utils.base64url_decode(body))
    return header, claims, sig


def reason_of(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        detail = body.get("detail", body)
        if isinstance(detail, dict):
            return str(detail.get("reason") or detail.get("error_description")
                       or detail.get("error") or detail)[:200]
        return str(detail)[:200]
    return str(body)[:200]


def outcome_of(response: httpx.Response, note: str = "") -> Outcome:
    allowed = 200 <= response.status_code < 300
    detail = reason_of(response) if not allowed else (note or "accepted")
    return Outcome(allowed, response.status_code, detail)


class Arena:
    """One started runner, seen from the attacker's side."""

    def __init__(self, runner: PatternRunner, kit: Kit | None = None) -> None:
        self.runner = runner
        self._kit = kit
        self.traces: list[str] = []
        self._client: httpx.AsyncClient | None = None

    @property
    def kit(self) -> Kit:
        if self._kit is None:
            raise RuntimeError("this arena has no attacker kit (see runtime.battery.make_kit)")
        return self._kit

    # -- where things are -------------------------------------------------------------

    @property
    def pattern(self) -> str:
        return self.runner.id

    def url(self, service: ServiceName, path: str) -> str:
        return self.runner.service_urls[service] + path

    @property
    def token_url(self) -> str:
        assert self.runner.stack.endpoints is not None
        return self.runner.stack.endpoints.token_url

    @property
    def issuer(self) -> str:
        assert self.runner.stack.endpoints is not None
        return self.runner.stack.endpoints.issuer

    def now(self) -> float:
        return self.runner.clock.now()

    # -- the IdP, as an ordinary client of it -------------------------------------------

    async def login_response(self, user: str = "alice", scope: str = "openid mcp:tools"
                             ) -> dict[str, Any]:
        """A full login response (access, refresh and ID token) for `user`: authorization
        code + PKCE, as the agent logs users in."""
        return await self.runner.logins.token_response(user, scope)

    async def exchange(self, subject: str, *, audience: str | None = "records-service",
                       client_id: str = "mcp-server", secret: str | None = MCP_SECRET,
                       extra: dict[str, str] | None = None,
                       headers: dict[str, str] | None = None) -> httpx.Response:
        form = {"grant_type": TOKEN_EXCHANGE, "client_id": client_id, "subject_token": subject,
                "subject_token_type": ACCESS_TOKEN_TYPE}
        if secret is not None:
            form["client_secret"] = secret
        if audience is not None:
            form["audience"] = audience
        form.update(extra or {})
        return await self.runner.mcp_context.http.post(self.token_url, data=form,
                                                       headers=headers or {})

    async def client_credentials(self, client_id: str = "agent") -> str:
        response = await self.runner.mcp_context.http.post(self.token_url, data={
            "grant_type": "client_credentials", "client_id": client_id,
            "client_secret": demo_realm().secret(client_id)})
        response.raise_for_status()
        return str(response.json()["access_token"])

    # -- what the MCP server would send ------------------------------------------------

    async def credential(self, user: str = "alice", service: ServiceName = "records",
                         method: str = "GET", path: str = "/expenses") -> Credential:
        login = await self.runner.login(user)
        ctx = self.runner.mcp_context
        plugin = self.runner.loaded.mcp
        url = self.url(service, path)
        outgoing = Outgoing("read_data", service, AUDIENCES[service], method, url)
        identity = self.runner.agent.identity
        actor = (await identity.token() if identity and plugin.actor_credential == "actor_token"
                 else None)
        user_context = UserContext(user=user, jwt=login, actor_token=actor)
        await plugin.before_tool_call(user_context, "read_data", outgoing, ctx)
        headers = await plugin.prepare_request(user_context, {}, outgoing, ctx)
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        return Credential(scheme, token.strip(), headers, login)

    @property
    def mcp_key(self) -> Any:
        return self.runner.mcp_context.dpop_key

    def proof(self, token: str | None, method: str, url: str, **kwargs: Any) -> str:
        kwargs.setdefault("iat", self.now())
        key = kwargs.pop("key", None) or self.mcp_key
        return create_proof(key, method, url, access_token=token, **kwargs)

    def present(self, cred: Credential, token: str, service: ServiceName = "records",
                method: str = "GET", path: str = "/expenses") -> dict[str, str]:
        """Headers carrying `token` the way this pattern's services expect it (with a fresh,
        valid proof by the MCP server's key when the pattern binds tokens), so that the
        token itself is the only thing under test."""
        if cred.bound:
            return {"Authorization": f"DPoP {token}",
                    "DPoP": self.proof(token, method, self.url(service, path))}
        return {"Authorization": f"{cred.scheme or 'Bearer'} {token}"}

    # -- acting as the attacker ----------------------------------------------------------

    @property
    def client(self) -> httpx.AsyncClient:
        """The attacker's HTTP client (on the wire as the attacker). Its own generous
        timeout, so a fail-closed answer that takes the services' timeout is still seen."""
        if self._client is None:
            self._client = self.runner._client("attacker", kind="attacker", timeout=30.0)
        return self._client

    @contextmanager
    def attacker_trace(self) -> Iterator[str]:
        trace_id = new_trace_id()
        self.traces.append(trace_id)
        with tracing(trace_id, "attacker"):
            yield trace_id

    async def call(self, method: str, service: ServiceName, path: str,
                   headers: dict[str, str] | list[tuple[str, str]] | None = None,
                   json_body: dict[str, Any] | None = None, note: str = "") -> httpx.Response:
        """A direct request to a service, recorded on the wire as the scripted attacker."""
        with self.attacker_trace():
            client = self.client
            if note:
                self.runner.tap.record("attacker", "attacker", "wire", note)
            return await client.request(method, self.url(service, path), headers=headers,
                                         json=json_body)

    async def try_token(self, cred: Credential, token: str, service: ServiceName = "records",
                        method: str = "GET", path: str = "/expenses") -> Outcome:
        headers = self.present(cred, token, service, method, path)
        return outcome_of(await self.call(method, service, path, headers))

    async def mcp_call(self, tool: str, arguments: dict[str, Any],
                       bearer: str | None) -> dict[str, Any]:
        """A raw MCP `tools/call` (JSON-RPC over streamable HTTP), bypassing the agent."""
        headers = {"Accept": "application/json, text/event-stream"}
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        identity = self.runner.agent.identity
        if identity and self.runner.loaded.mcp.actor_credential == "actor_token":
            headers[ACTOR_TOKEN_HEADER] = await identity.token()   # the agent's own, as sent
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": tool, "arguments": arguments}}
        with self.attacker_trace():
            client = self.client
            response = await client.post(self.runner.mcp_url, json=body, headers=headers)
        try:
            message = response.json()
            text = message["result"]["content"][0]["text"]
            if message["result"].get("isError"):   # the SDK refused the arguments (schema)
                return {"error": {"status": 400, "reason": text[:200]}}
            result: dict[str, Any] = json.loads(text)
            return result
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            return {"error": {"status": response.status_code, "reason": response.text[:200]}}

    # -- the oracle: the embedded IdP's own signing key ------------------------------------

    def idp_keys(self) -> Any:
        idp = self.runner.stack.idp
        provider = getattr(idp, "provider", None)
        if provider is None:
            raise Skip("needs the embedded IdP's signing key")
        return provider.keys

    def idp_sign(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        """A token with a *valid* IdP signature over arbitrary claims: isolates one check."""
        active = self.idp_keys().active
        header = {"kid": active.kid, "typ": "JWT", **(headers or {})}
        return jwt.encode(claims, active.private_key, algorithm="RS256", headers=header)

    async def idp_public_jwk(self) -> dict[str, Any]:
        """The IdP's current signing key as published in its JWKS (what any attacker sees)."""
        assert self.runner.stack.endpoints is not None
        response = await self.runner.mcp_context.http.get(self.runner.stack.endpoints.jwks_url)
        keys = response.json()["keys"]
        found: dict[str, Any] = next(k for k in keys if k.get("use", "sig") == "sig")
        return found

    def audit_since(self, start: int) -> list[Any]:
        return list(self.runner.world.audit[start:])
