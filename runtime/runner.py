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
import json
import os
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import httpx2
from mcp.client.auth import OAuthFlowError
from mcp.shared.exceptions import MCPError

from runtime import display
from runtime.agent import MAX_PROMPT_CHARS, Agent, AgentIdentity, TurnResult, UserSession
from runtime.demo_realm import demo_realm
from runtime.errors import InputError, RunnerError, not_unicode
from runtime.http import (
    HOP_DATA,
    MAX_BODY_SHOWN,
    EndpointMap,
    InboundTap,
    TraceMiddleware,
    make_client,
    make_client2,
)
from runtime.identity import AuthError, DependencyError
from runtime.login import LoginCache, LoginError, Logins
from runtime.mcp_server import ToolBackend, build_mcp_app, build_mcp_server
from runtime.model_endpoint import ModelClient, RetryPolicy
from runtime.pattern_api import AUDIENCES, McpContext, ServiceContext, ServiceName
from runtime.pattern_loader import LoadedPattern, PatternInfo, load
from runtime.plugin import PluginError
from runtime.presets.dpop import PROOF_WINDOW, REPLAY_ENTRIES
from runtime.presets.jwks import JwksCache
from runtime.replay import HttpRequest, ReplayResult, Signer, verdict
from runtime.script import StepResult, run_step
from runtime.services.directory import build_directory_app
from runtime.services.guard import Guard
from runtime.services.knowledge import build_knowledge_app
from runtime.services.records import build_records_app
from runtime.services.world import USERS, KeySource, World
from runtime.settings import DEMO_EPOCH, Settings, StackMode
from runtime.stack_handle import StackHandle
from runtime.subagent import SUB_AGENT, SubAgent, Summarizer
from runtime.subagent import SYSTEM_PROMPT as SUB_AGENT_PROMPT
from runtime.tokens import brief
from runtime.wire import Redactor, WireTap, current_trace, current_user, new_trace_id, tracing
from stack.asgi_server import AsgiServer, Observable
from stack.clock import Clock
from stack.jose import ReplayCache

MCP_CLIENT = "mcp-server"     # the MCP server's client at the IdP, and its audience
ACTOR_CLIENT = "agent"        # the agent's own client (the actor of patterns 07 and 08)
DIRECT_CALL = "none (direct call)"   # the model of a turn that is one direct tool call
MAX_LATER = 30 * 86400.0             # a replay may be sent up to a month "later"


@dataclass(frozen=True)
class ToolSchema:
    """One MCP tool: its name, description and JSON Schema for the arguments."""

    name: str
    description: str
    input_schema: dict[str, Any]


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
        inbound: bool = False,
    ) -> None:
        """`stack` is a shared StackHandle, or "embedded"/"external" for one of its own;
        `model` is "scripted" or a model name (see Settings). Without `settings`, they come
        from the environment as the CLI reads it (OPENAI_API_KEY, OPENAI_BASE_URL, ...).
        `logins` keeps users' tokens across runners sharing one stack (`reset()` empties it).
        `inbound` records requests to the MCP server (and the embedded IdP) from clients
        outside the runtime (`agent-auth serve`, the explorer's connect screen)."""
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
        self.keys = keys or KeySource(fixed=self.settings.demo)   # --demo: the same keys
        self.endpoints = EndpointMap()
        self._servers: list[AsgiServer] = []
        self._clients: list[httpx.AsyncClient | httpx2.AsyncClient] = []
        self._world = World.seed(self.keys)
        self._realm = demo_realm()
        self.started = False
        self._attacker: httpx.AsyncClient | None = None
        self._replayer: httpx.AsyncClient | None = None
        self._login_cache: LoginCache = logins if logins is not None else {}
        self._record_inbound = inbound
        self._untap_idp: Callable[[], None] | None = None

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
            self._tap_idp()
            self.endpoints.add(stack.opa_url, "opa", "opa")
            await self._start_services(stack)
            await self._start_mcp(stack)
            await self._start_agent()
        except BaseException:
            await self.stop()
            raise
        self.started = True
        return self

    def _tap_idp(self) -> None:
        """With a client of your own (`inbound`), its requests to the embedded IdP too
        (registration, login, token) go on the wire; the real Keycloak is out of reach."""
        front = getattr(self.stack.idp, "front", None)
        if self._record_inbound and isinstance(front, Observable):
            self._untap_idp = front.wrap(
                lambda app: InboundTap(app, self.tap, "idp", kind="idp"))

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
            ("records", build_records_app), ("directory", build_directory_app),
            ("knowledge", build_knowledge_app))
        for name, builder in builders:
            http = self._client(name)
            ctx = ServiceContext(
                issuer=stack.issuer, audience=AUDIENCES[name],
                jwks=JwksCache(stack.jwks_url, http, self.clock), clock=self.clock,
                http=http, timeout=self.settings.timeout, service=name,
                opa_url=stack.opa_url, world=lambda: self._world,
                replay=ReplayCache(max_entries=REPLAY_ENTRIES, ttl=PROOF_WINDOW),
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
        self._backend = backend
        app, gate = build_mcp_app(backend, stack.issuer)
        if self._record_inbound:
            app = InboundTap(app, self.tap, "mcp-server")
        base = await self._serve(app, "mcp-server")
        self.mcp_url = base + "/mcp"
        self.mcp_context.resource = self.mcp_url
        #: RFC 9728 protected resource metadata, where the MCP server is a protected resource
        self.metadata_url: str | None = None
        if gate is not None:
            gate.bind(self.mcp_url)
            self.metadata_url = gate.metadata_url
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
        llm = ModelClient(base_url, api_key, timeout=self.settings.llm_timeout,
                          http_client=self._client2("agent", timeout=self.settings.llm_timeout))
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
        self.summarizer = self._summarizer(base_url, api_key, model_name, identity, retry)
        self.agent = Agent(llm, model_name, self.mcp_url, self.loaded.mcp, self.tap,
                           self.endpoints, identity, self.logins, retry=retry,
                           local_tools=(self.summarizer,))
        self.summarizer.log_in = self.agent.connect

    def _summarizer(self, base_url: str, api_key: str, model_name: str,
                    agent: AgentIdentity, retry: RetryPolicy) -> Summarizer:
        """The sub-agent the agent hands summarizing to: the same model endpoint, its own
        client at the IdP, its own MCP session and its own name on the wire."""
        assert self.stack.endpoints is not None
        llm = ModelClient(base_url, api_key, timeout=self.settings.llm_timeout,
                          http_client=self._client2(SUB_AGENT, timeout=self.settings.llm_timeout))
        own = AgentIdentity(SUB_AGENT, self._realm.secret(SUB_AGENT),
                            self.stack.endpoints.token_url, self._client(SUB_AGENT),
                            self.clock, self.settings.timeout)
        sub = SubAgent(llm, model_name, self.mcp_url, self.loaded.mcp, self.tap,
                       self.endpoints, system_prompt=SUB_AGENT_PROMPT, retry=retry)
        return Summarizer(sub, self.loaded.mcp, agent, own, self.logins, self.tap)

    async def stop(self) -> None:
        if self._untap_idp is not None:
            self._untap_idp()
            self._untap_idp = None
        for client in self._clients:
            await client.aclose()
        self._clients.clear()
        # uvicorn notices should_exit on its ~0.1 s tick: stop every server at once
        await asyncio.gather(*(server.stop() for server in self._servers))
        self._servers.clear()
        self._attacker = self._replayer = None
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
        self.summarizer.forget()
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
        if problem := not_unicode(text):
            raise InputError(f"the prompt cannot be sent: {problem}")
        return await self._turn(user, text, lambda session, trace_id: self.agent.run(
            session, text, trace_id))

    async def _turn(self, user: str, text: str,
                    work: Callable[[UserSession, str], Awaitable[TurnResult]],
                    model: str | None = None) -> TurnResult:
        """One turn as `user`, in a trace of its own between a prompt and an answer hop:
        what the agent (or a direct call) did, or the one clear reason it could not."""
        with tracing(new_trace_id(), user) as trace_id:
            self.tap.record("prompt", user, "agent", text, request_body=text)
            try:
                token = None   # a protected MCP server logs the user in itself (the MCP flow)
                if self.loaded.mcp.user_credential == "bearer_token" and not (
                        self.loaded.mcp.authenticates):
                    token = await self.login(user)
                result = await work(UserSession(user, token, self._world.key_for(user)),
                                    trace_id)
            except (*AGENT_FAILURES, BaseExceptionGroup) as exc:
                leaf = _leaf(exc)
                if not isinstance(leaf, AGENT_FAILURES):
                    raise
                reason = _describe_failure(leaf)
                self.tap.record("error", "agent", "runtime", reason)
                result = TurnResult(user, text, f"The agent could not finish: {reason}",
                                    trace_id, model or self.settings.model, error=reason)
            self.tap.record("answer", "agent", user, result.answer,
                            response_body=result.answer,
                            data={"model": result.model, "error": result.error})
            return result

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

    # -- hands on: replay a hop, call a tool yourself ------------------------------------

    def signer(self) -> Signer:
        """The keys a replay may sign with (the IdP's only when it runs in this process, and
        the MCP server's DPoP key)."""
        keys = getattr(getattr(self.stack.idp, "provider", None), "keys", None)
        return Signer((keys.active.kid, keys.active.private_key) if keys else None,
                      lambda: self.mcp_context.dpop_key)

    async def replay(self, request: HttpRequest, notes: Sequence[str] = (), *,
                     later: float = 0.0, oracle: bool = False) -> ReplayResult:
        """Send `request` again (edited or not) in a trace of its own, on the wire as a
        replay linked to the hop it came from; the result says who decided and why.

        `later` sends it that many seconds in the future (the stack's clock moves forward
        for this request only, as the script's A4 does); `oracle` records that a token in it
        was signed with a key no attacker holds (challenges do not count such replays)."""
        self._require_started()
        request = request.checked()     # whoever built it: only what can go on the wire
        if not (0 <= later <= MAX_LATER):
            raise InputError(f"later must be between 0 and {MAX_LATER:.0f} seconds")
        if self._replayer is None:
            self._replayer = self._client("replay")
        notes = [*notes, *([f"sent {later:.0f} s later (the clock moved forward)"]
                           if later else [])]
        data = {"replay": {"of": request.of, "edits": notes, "later": later,
                           "oracle": oracle}}
        self.clock.advance(later)
        try:
            with tracing(new_trace_id(), "replay") as trace_id:
                response = await self._replayer.request(
                    request.method, request.url, headers=request.sendable_headers,
                    content=request.body.encode(), extensions={HOP_DATA: data})
        except httpx.HTTPError as exc:
            raise RunnerError(f"the replay to {request.url} failed: "
                              f"{type(exc).__name__}: {exc}") from None
        finally:
            self.clock.advance(-later)
        hops = tuple(self.tap.trace(trace_id))
        decided_by, reason = verdict(hops, response.status_code,
                                     self.endpoints.classify(request.url).kind, response.text)
        return ReplayResult(request, tuple(notes), response.status_code, decided_by, reason,
                            trace_id, hops, response.text[:MAX_BODY_SHOWN])

    async def tool_schemas(self) -> list[ToolSchema]:
        """The MCP server's tools and their argument schemas, as `tools/list` gives them."""
        self._require_started()
        return [ToolSchema(t.name, t.description or "", t.input_schema)
                for t in await build_mcp_server(self._backend).list_tools()]

    async def call_tool(self, user: str, tool: str, arguments: dict[str, Any]) -> TurnResult:
        """Call one tool as `user` under this pattern, no model in the loop (the MCP
        Inspector's way): the agent's MCP client sends exactly these arguments, with what
        the pattern adds (credentials, bound arguments)."""
        self._require_started()
        user = self.check_user(user)
        if not isinstance(arguments, dict):
            raise InputError("tool arguments must be a JSON object")
        try:   # what the MCP client will send: JSON has no NaN or Infinity (RFC 8259 §6)
            sent = json.dumps(arguments, allow_nan=False, ensure_ascii=False)
        except (ValueError, TypeError, RecursionError):
            raise InputError("tool arguments must be plain JSON: no NaN, Infinity or a "
                             "number too large for a float (1e999)") from None
        if problem := not_unicode(sent):    # and its text is UTF-8 (RFC 8259 §8.1)
            raise InputError(f"tool arguments cannot be sent: {problem}")
        names = [t.name for t in await self.tool_schemas()]
        if tool not in names:
            raise InputError(f"unknown tool {brief(tool, 40)!r}: choose one of "
                             f"{', '.join(names)}")
        text = f"(direct call, no model) {tool}({brief(json.dumps(arguments), 300)})"

        async def call(session: UserSession, trace_id: str) -> TurnResult:
            done = await self.agent.call_directly(session, tool, arguments)
            return TurnResult(user, text, done.result, trace_id, DIRECT_CALL, (done,))

        return await self._turn(user, text, call, DIRECT_CALL)

    # -- notebooks and the REPL (runtime/display.py) ---------------------------------------

    @classmethod
    def for_notebook(cls, pattern: str | PatternInfo, **kwargs: Any) -> PatternRunner:
        """Settings from the environment, fixed demo keys and, on the embedded stack, the
        demo's frozen clock: a notebook's outputs come out the same on every run."""
        runner = cls(pattern, keys=KeySource(fixed=True), **kwargs)
        if runner.settings.stack == "embedded" and runner._owns_stack:
            runner.stack.clock = Clock(fixed=DEMO_EPOCH)
        return runner

    def show(self, result: StepResult | TurnResult) -> display.View:
        """A step or a prompt: the answers, what the service saw, the hops and the tokens."""
        if isinstance(result, StepResult):
            return display.step_view(result, self.tap.hops, self.loaded.info.number)
        return display.turn_view(result, self.tap.hops)

    def show_identity(self, result: StepResult | TurnResult | None = None) -> display.View:
        """What the services saw for `result`; by default for the last prompt or attack."""
        return display.service_saw(display.result_hops(self.tap.hops, result))

    def show_summary(self, results: Iterable[StepResult]) -> display.View:
        """The closing table: each step's outcome, who decided, whom the audit names."""
        return display.summary_view(results, self.loaded.info.number)

    def show_auth_code(self) -> display.View:
        return display.code_view(self.loaded.info)

    def show_diff(self) -> display.View:
        """Both files against the previous pattern's: where the auth boundary moved."""
        return display.diff_view(display.previous(self.loaded.info), self.loaded.info)

    def show_setup(self) -> display.View:
        return display.setup_view(self.loaded.info, self.settings, self.clock.fixed,
                                  self.keys.fixed)


#: What may stop a turn or a login, to be told in one line (the model endpoint's own errors
#: arrive as ModelFailure, a RunnerError's sibling under ExplorerError, and end the turn
#: inside the agent).
AGENT_FAILURES = (httpx.HTTPError, httpx2.HTTPError, RunnerError, OSError, PluginError,
                  AuthError, DependencyError, LoginError, OAuthFlowError, MCPError)


def _leaf(exc: BaseException) -> BaseException:
    """The MCP client's task group wraps failures in exception groups; find the cause."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _describe_failure(exc: BaseException) -> str:
    if isinstance(exc, AuthError | DependencyError):
        return f"the agent could not get its own token: {exc.reason}"
    if isinstance(exc, LoginError):
        return str(exc)
    if isinstance(exc, OAuthFlowError):
        return f"the MCP login flow failed: {exc}"
    if isinstance(exc, MCPError):
        return f"the MCP server refused the session: {exc}"
    if isinstance(exc, httpx.TimeoutException | httpx2.TimeoutException):
        try:
            sent = f"{exc.request.method} {exc.request.url}"
        except RuntimeError:            # raised before a request was made
            sent = "a request"
        return f"{sent} got no answer in time ({type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}"
