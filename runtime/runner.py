"""PatternRunner: one pattern's whole runtime, usable from the CLI, the TUI, tests or a notebook.

    runner = PatternRunner("p05", stack="embedded", model="scripted")
    await runner.start()
    turn = await runner.run_as("dave", "Make me an admin.")
    step = await runner.run_step("A4")
    await runner.stop()

`start()` brings up the tool services, the MCP server and the scripted model as real HTTP
servers on 127.0.0.1 (ephemeral ports), plus the embedded IdP and OPA unless a shared
`StackHandle` is passed in. `reset()` gives a fresh world (seed data, keys, caches, clock).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
import httpx2
import openai
from mcp.client.auth import OAuthFlowError
from mcp.shared.exceptions import MCPError

from runtime.agent import MAX_PROMPT_CHARS, Agent, AgentIdentity, TurnResult, UserSession
from runtime.demo_realm import demo_realm
from runtime.errors import InputError, RunnerError
from runtime.http import EndpointMap, TraceMiddleware, make_client, make_client2
from runtime.identity import AuthError, DependencyError
from runtime.login import LoginCache, LoginError, Logins
from runtime.mcp_server import ToolBackend, build_mcp_app
from runtime.model_endpoint import RetryPolicy
from runtime.pattern_api import McpContext, ServiceContext, ServiceName
from runtime.pattern_loader import LoadedPattern, PatternInfo, load
from runtime.plugin import PluginError
from runtime.presets.jwks import JwksCache
from runtime.script import StepResult, run_step
from runtime.services.directory import build_directory_app
from runtime.services.guard import Guard
from runtime.services.records import build_records_app
from runtime.services.world import USERS, KeySource, World
from runtime.settings import Settings, StackMode
from runtime.stack_handle import StackHandle
from runtime.wire import Redactor, WireTap, current_trace, current_user, new_trace_id, tracing
from stack.asgi_server import AsgiServer
from stack.clock import Clock
from stack.jose import ReplayCache

AUDIENCES: dict[ServiceName, str] = {"records": "records-service",
                                     "directory": "directory-service"}
MCP_CLIENT = "mcp-server"     # the MCP server's client at the IdP, and its audience
ACTOR_CLIENT = "agent"        # the agent's own client (the actor of patterns 07 and 08)


class PatternRunner:
    def __init__(
        self,
        pattern: str | PatternInfo | LoadedPattern,
        *,
        settings: Settings | None = None,
        stack: StackHandle | StackMode | None = None,
        model: str | None = None,
        tap: WireTap | None = None,
        keys: KeySource | None = None,
        logins: LoginCache | None = None,
    ) -> None:
        """`stack` is a shared StackHandle, or "embedded"/"external" for one of its own;
        `model` is "scripted" or a model name (see Settings). Without `settings`, they come
        from the environment as the CLI reads it (OPENAI_API_KEY, OPENAI_BASE_URL, ...).
        `logins` keeps users' tokens across runners sharing one stack (`reset()` empties it)."""
        settings = settings or Settings.from_env(os.environ)
        if isinstance(stack, str) or model is not None:
            settings = settings.with_(stack=stack if isinstance(stack, str) else None,
                                      model=model)
        self.settings = settings
        self.loaded = pattern if isinstance(pattern, LoadedPattern) else load(pattern)
        self._owns_stack = not isinstance(stack, StackHandle)
        self.stack: StackHandle = stack if isinstance(stack, StackHandle) else StackHandle(
            self.settings)
        secrets_to_hide = (self.settings.openai_api_key or "",)
        self.tap: WireTap = tap or WireTap(Redactor(secrets_to_hide), clock=self.stack.clock.now)
        self.keys = keys or KeySource()
        self.endpoints = EndpointMap()
        self._servers: list[AsgiServer] = []
        self._clients: list[httpx.AsyncClient | httpx2.AsyncClient] = []
        self._world = World.seed(self.keys)
        self._realm = demo_realm()
        self.started = False
        self._attacker: httpx.AsyncClient | None = None
        self._login_cache: LoginCache = logins if logins is not None else {}

    # -- lifecycle ---------------------------------------------------------------

    @property
    def id(self) -> str:
        return self.loaded.id

    @property
    def world(self) -> World:
        return self._world

    @property
    def clock(self) -> Clock:
        return self.stack.clock

    async def start(self) -> PatternRunner:
        if self.started:
            return self
        try:
            stack = await self.stack.start()
            self.endpoints.add(stack.issuer.rsplit("/realms/", 1)[0], "idp", "idp")
            self.endpoints.add(stack.opa_url, "opa", "opa")
            await self._start_services(stack)
            await self._start_mcp(stack)
            await self._start_agent()
        except BaseException:
            await self.stop()
            raise
        self.started = True
        return self

    async def _serve(self, app: Any, name: str) -> str:
        server = AsgiServer(app, name=name)
        self._servers.append(server)
        return await server.start()

    def _client(self, source: str, **kwargs: Any) -> httpx.AsyncClient:
        kwargs.setdefault("timeout", self.settings.timeout)
        client = make_client(self.tap, self.endpoints, source, **kwargs)
        self._clients.append(client)
        return client

    def _client2(self, source: str, **kwargs: Any) -> httpx2.AsyncClient:
        """The openai SDK, like the MCP client, speaks httpx2."""
        kwargs.setdefault("timeout", self.settings.timeout)
        client = make_client2(self.tap, self.endpoints, source, **kwargs)
        self._clients.append(client)
        return client

    async def _start_services(self, stack: Any) -> None:
        self.service_urls: dict[ServiceName, str] = {}
        self.service_contexts: dict[ServiceName, ServiceContext] = {}
        builders: tuple[tuple[ServiceName, Any], ...] = (
            ("records", build_records_app), ("directory", build_directory_app))
        for name, builder in builders:
            http = self._client(name)
            ctx = ServiceContext(
                issuer=stack.issuer, audience=AUDIENCES[name],
                jwks=JwksCache(stack.jwks_url, http, self.clock), clock=self.clock,
                http=http, timeout=self.settings.timeout, service=name,
                opa_url=stack.opa_url, world=lambda: self._world,
                replay=ReplayCache(max_entries=10_000, ttl=120),
            )
            guard = Guard(self.loaded.service, ctx, self.tap)
            url = await self._serve(TraceMiddleware(builder(guard)), name)
            ctx.base_url = url
            self.endpoints.add(url, "service", name)
            self.service_urls[name] = url
            self.service_contexts[name] = ctx

    async def _start_mcp(self, stack: Any) -> None:
        http = self._client("mcp-server")
        self.mcp_context = McpContext(
            issuer=stack.issuer, audience=MCP_CLIENT,
            jwks=JwksCache(stack.jwks_url, http, self.clock), clock=self.clock, http=http,
            timeout=self.settings.timeout, token_url=stack.token_url, client_id=MCP_CLIENT,
            client_secret=self._realm.secret(MCP_CLIENT), world=lambda: self._world,
        )
        backend = ToolBackend(self.loaded.mcp, self.mcp_context, self.service_urls,
                              dict(AUDIENCES), self.tap)
        app, gate = build_mcp_app(backend, stack.issuer)
        base = await self._serve(app, "mcp-server")
        self.mcp_url = base + "/mcp"
        self.mcp_context.resource = self.mcp_url
        if gate is not None:
            gate.bind(self.mcp_url)
        self.endpoints.add(base, "mcp", "mcp-server")

    async def _start_agent(self) -> None:
        if self.settings.scripted:
            from runtime.model import ScriptedModel

            model = ScriptedModel()
            base = await self._serve(model.app, "scripted-model")
            base_url, api_key, model_name = base + "/v1", "scripted", "scripted"
        else:
            base_url = self.settings.openai_base_url or "https://api.openai.com/v1"
            api_key = self.settings.openai_api_key or "not-needed"
            model_name = self.settings.model
        self.endpoints.add(base_url, "llm", "llm")
        llm = openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key, max_retries=0,
            timeout=self.settings.llm_timeout,
            http_client=self._client2("agent", timeout=self.settings.llm_timeout),
        )
        assert self.stack.endpoints is not None
        agent_http = self._client("agent")
        identity = AgentIdentity(ACTOR_CLIENT, self._realm.secret(ACTOR_CLIENT),
                                 self.stack.endpoints.token_url, agent_http,
                                 self.clock, self.settings.timeout)
        self.logins = Logins(self.clock, self.stack.endpoints.issuer, self._realm.passwords,
                             lambda user: make_client(self.tap, self.endpoints, "browser",
                                                      timeout=self.settings.timeout),
                             agent_http, users=self._login_cache)
        retry = RetryPolicy(retries=self.settings.llm_retries,
                            max_wait=self.settings.llm_max_wait)
        self.agent = Agent(llm, model_name, self.mcp_url, self.loaded.mcp, self.tap,
                           self.endpoints, identity, self.logins, retry=retry)

    async def stop(self) -> None:
        for client in self._clients:
            await client.aclose()
        self._clients.clear()
        # uvicorn notices should_exit on its ~0.1 s tick: stop every server at once
        await asyncio.gather(*(server.stop() for server in self._servers))
        self._servers.clear()
        self._attacker = None
        if self._owns_stack and self.stack is not None:
            await self.stack.stop()
        self.started = False

    async def __aenter__(self) -> PatternRunner:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def reset(self) -> None:
        """Fresh state: seed data and keys, empty replay and token caches, clock back to now."""
        self._world = World.seed(self.keys)
        self.logins.forget()
        self.clock.reset()
        self.mcp_context.forget()
        if self.agent.identity is not None:
            self.agent.identity.tokens.clear()
        for ctx in self.service_contexts.values():
            ctx.replay.clear()

    # -- acting as a user ----------------------------------------------------------

    def _require_started(self) -> None:
        if not self.started:
            raise RunnerError("the runner is not started; call `await runner.start()` first")

    async def login(self, user: str) -> str:
        """The user's access token, logging them in if needed (authorization code + PKCE,
        this runtime playing their browser). Where the MCP server is a protected resource,
        the login is the MCP client's own flow: 401, metadata discovery, then the IdP."""
        self._require_started()
        user = self.check_user(user)
        token = self.logins.storage(user).access_token
        if token:
            return token
        try:
            with tracing(current_trace() or new_trace_id(), current_user() or user):
                if self.loaded.mcp.authenticates:
                    await self.agent.connect(user)
                    token = self.logins.storage(user).access_token
                else:
                    token = await self.logins.log_in_directly(user)
        except (*AGENT_FAILURES, BaseExceptionGroup) as exc:
            leaf = _leaf(exc)
            if not isinstance(leaf, AGENT_FAILURES):
                raise
            raise RunnerError(f"login for {user} failed: {_describe_failure(leaf)}") from None
        if not token:
            raise RunnerError(f"login for {user} failed: no token after the MCP login flow")
        return token

    def check_user(self, user: str) -> str:
        name = user.strip().lower()
        if name not in USERS:
            raise InputError(f"unknown user {user!r}: choose one of {', '.join(USERS)}")
        return name

    async def run_as(self, user: str, prompt: str) -> TurnResult:
        self._require_started()
        user = self.check_user(user)
        text = prompt.strip()
        if not text:
            raise InputError("the prompt is empty")
        if len(text) > MAX_PROMPT_CHARS:
            raise InputError(f"the prompt is {len(text)} characters; the limit is "
                             f"{MAX_PROMPT_CHARS}")
        with tracing(new_trace_id(), user) as trace_id:
            self.tap.record("prompt", user, "agent", text, request_body=text)
            result = await self._run_agent(user, text, trace_id)
            self.tap.record("answer", "agent", user, result.answer,
                            response_body=result.answer,
                            data={"model": result.model, "error": result.error})
            return result

    async def _run_agent(self, user: str, text: str, trace_id: str) -> TurnResult:
        try:
            token = None   # a protected MCP server logs the user in itself (the MCP flow)
            if self.loaded.mcp.user_credential == "bearer_token" and not (
                    self.loaded.mcp.authenticates):
                token = await self.login(user)
            session = UserSession(user, token, self._world.key_for(user))
            return await self.agent.run(session, text, trace_id)
        except (*AGENT_FAILURES, BaseExceptionGroup) as exc:
            leaf = _leaf(exc)
            if not isinstance(leaf, AGENT_FAILURES):
                raise
            reason = _describe_failure(leaf)
            self.tap.record("error", "agent", "runtime", reason)
            return TurnResult(user, text, f"The agent could not finish: {reason}", trace_id,
                              self.settings.model, error=reason)

    # -- the scripted attacker -------------------------------------------------------

    async def attack(
        self, method: str, url: str, *, headers: dict[str, str] | None = None,
        json_body: dict[str, Any] | None = None, note: str = "",
    ) -> httpx.Response:
        """A request by the scripted attacker, straight at a service (no agent involved)."""
        self._require_started()
        if note:
            self.tap.record("attacker", "attacker", "wire", note)
        client = self._attacker_client()
        return await client.request(method, url, headers=headers or {}, json=json_body)

    def _attacker_client(self) -> httpx.AsyncClient:
        if self._attacker is None:
            self._attacker = self._client("attacker", kind="attacker")
        return self._attacker

    async def run_step(self, step_id: str) -> StepResult:
        return await run_step(self, step_id)


AGENT_FAILURES = (openai.APIError, httpx.HTTPError, httpx2.HTTPError, RunnerError, OSError,
                  PluginError, AuthError, DependencyError, LoginError, OAuthFlowError, MCPError)


def _leaf(exc: BaseException) -> BaseException:
    """The MCP client's task group wraps failures in exception groups; find the cause."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _describe_failure(exc: BaseException) -> str:
    if isinstance(exc, openai.APITimeoutError):
        return "the model endpoint timed out"
    if isinstance(exc, openai.APIConnectionError):
        return "the model endpoint is unreachable"
    if isinstance(exc, openai.APIStatusError):
        return f"the model endpoint answered HTTP {exc.status_code}"
    if isinstance(exc, AuthError | DependencyError):
        return f"the agent could not get its own token: {exc.reason}"
    if isinstance(exc, LoginError):
        return str(exc)
    if isinstance(exc, OAuthFlowError):
        return f"the MCP login flow failed: {exc}"
    if isinstance(exc, MCPError):
        return f"the MCP server refused the session: {exc}"
    return f"{type(exc).__name__}: {exc}"
