"""A loaded pattern's two halves, called the way each was written.

The contract is the write-up's: `prepare_request(user_context, headers)`,
`before_tool_call(user_context, tool_name)` and `get_identity(request)`. The optional extras
(`outgoing` and `ctx` on either MCP hook, `authorize` on the service side) are discovered
here once, from the signatures, when the pattern loads; a signature the framework cannot
fill is refused then, with a message naming the file, the function and the parameter.
What a hook returns is checked on every call: anything but what the contract says fails
closed with `PluginError`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from runtime.errors import header_problem
from runtime.identity import Decision, Filter, Identity
from runtime.pattern_api import (
    ActorCredential,
    AuthHandler,
    Delegation,
    McpContext,
    Outgoing,
    UserContext,
    UserCredential,
)
from stack.errors import ExplorerError

MCP_EXTRAS = ("outgoing", "ctx")
USER_CREDENTIALS: tuple[UserCredential, ...] = ("none", "api_key_argument", "bearer_token")
ACTOR_CREDENTIALS: tuple[ActorCredential, ...] = ("none", "actor_token")


class PluginError(ExplorerError):
    """A pattern's code breaks the contract (when it loads, or in what a hook returns)."""


@contextmanager
def _hook(name: str) -> Iterator[None]:
    """Around every call into a pattern: a hook may refuse a request, never end the process.
    (SystemExit passes every `except Exception` and would stop the servers' event loop.)"""
    try:
        yield
    except SystemExit as exc:
        raise PluginError(f"{name} called sys.exit({exc.code!r}): a pattern refuses a "
                          "request, it does not end the process") from None


def _extras(fn: Callable[..., Any], fixed: tuple[str, ...], where: str,
            allowed: tuple[str, ...]) -> tuple[str, ...]:
    """Which optional extras `fn` takes after its `fixed` positional parameters."""
    if not inspect.iscoroutinefunction(fn):
        raise PluginError(f"{where} must be an `async def` function")
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError) as exc:
        raise PluginError(f"{where}: cannot read its signature ({exc})") from None
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    varargs = any(p.kind == p.VAR_POSITIONAL for p in params)
    if len(positional) < len(fixed) and not varargs:
        raise PluginError(f"{where} must take ({', '.join(fixed)}); it takes "
                          f"({', '.join(p.name for p in params)})")
    extras: list[str] = []
    for p in params[len(fixed):]:
        if p.kind == p.VAR_KEYWORD:
            return allowed
        if p.kind == p.VAR_POSITIONAL:
            continue
        if p.name in allowed:
            extras.append(p.name)
        elif p.default is p.empty:
            raise PluginError(f"{where} has a parameter {p.name!r} the framework cannot fill "
                              f"(optional extras: {', '.join(allowed) or 'none'})")
    return tuple(extras)


@dataclass(frozen=True)
class McpPlugin:
    """The MCP-side half: `auth_handler` from mcp_auth.py."""

    handler: AuthHandler
    before_extras: tuple[str, ...]
    prepare_extras: tuple[str, ...]
    authenticates: bool = False     # defines authenticate(token, ctx): a protected resource
    delegates: bool = False         # defines delegate(parent, delegation): task tokens

    @classmethod
    def of(cls, handler: Any, file: str) -> McpPlugin:
        for name in ("prepare_request", "before_tool_call"):
            if not callable(getattr(handler, name, None)):
                raise PluginError(f"{file}: auth_handler has no {name}() method")
        for name, allowed in (("user_credential", USER_CREDENTIALS),
                              ("actor_credential", ACTOR_CREDENTIALS)):
            value = getattr(handler, name, "none")
            if value not in allowed:
                raise PluginError(f"{file}: auth_handler.{name} is {value!r}; use one of "
                                  f"{', '.join(allowed)}")
        authenticate = getattr(handler, "authenticate", None)
        if authenticate is not None:
            _extras(authenticate, ("token", "ctx"), f"{file}: authenticate", ())
        delegate = getattr(handler, "delegate", None)
        if delegate is not None:
            _extras(delegate, ("parent", "delegation"), f"{file}: delegate", ())
        scopes = getattr(handler, "scopes", ())
        if not isinstance(scopes, tuple | list) or not all(isinstance(s, str) for s in scopes):
            raise PluginError(f"{file}: auth_handler.scopes must be a tuple of strings")
        return cls(
            handler,
            _extras(handler.before_tool_call, ("user_context", "tool_name"),
                    f"{file}: before_tool_call", MCP_EXTRAS),
            _extras(handler.prepare_request, ("user_context", "headers"),
                    f"{file}: prepare_request", MCP_EXTRAS),
            authenticate is not None,
            delegate is not None,
        )

    @property
    def user_credential(self) -> UserCredential:
        return getattr(self.handler, "user_credential", "none")  # type: ignore[no-any-return]

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(getattr(self.handler, "scopes", ()))

    async def authenticate(self, token: str, ctx: McpContext) -> Any:
        """The pattern's verdict on the bearer token of one MCP request (AuthError if not)."""
        with _hook("authenticate"):
            return await self.handler.authenticate(token, ctx)  # type: ignore[attr-defined]

    async def delegate(self, parent: UserContext, delegation: Delegation) -> UserContext:
        """What the sub-agent presents for `delegation`: the pattern's task credentials, or
        (without `delegate`) the parent's own, unchanged."""
        if not self.delegates:
            return parent
        with _hook("delegate"):
            handed = await self.handler.delegate(parent, delegation)  # type: ignore[attr-defined]
        if not isinstance(handed, UserContext):
            raise PluginError(f"delegate returned {type(handed).__name__}, not a UserContext")
        return handed

    @property
    def actor_credential(self) -> ActorCredential:
        return getattr(self.handler, "actor_credential", "none")  # type: ignore[no-any-return]

    def model_instructions(self, user: str, api_key: str) -> str:
        fn = getattr(self.handler, "model_instructions", None)
        with _hook("model_instructions"):
            text = fn(user, api_key) if callable(fn) else ""
        if not isinstance(text, str):
            raise PluginError("model_instructions() must return a string")
        return text

    def bound_arguments(self, user: str, api_key: str) -> dict[str, Any]:
        fn = getattr(self.handler, "bound_arguments", None)
        with _hook("bound_arguments"):
            bound = fn(user, api_key) if callable(fn) else {}
        if not isinstance(bound, dict) or not all(isinstance(k, str) for k in bound):
            raise PluginError("bound_arguments() must return a dict of argument names")
        return bound

    async def before_tool_call(self, user_context: UserContext, tool_name: str,
                               outgoing: Outgoing, ctx: McpContext) -> bool:
        extras = _pick(self.before_extras, outgoing=outgoing, ctx=ctx)
        with _hook("before_tool_call"):
            verdict = await self.handler.before_tool_call(user_context, tool_name, **extras)
        if not isinstance(verdict, bool):
            raise PluginError(f"before_tool_call returned {type(verdict).__name__}, not "
                              "True or False")
        return verdict

    async def prepare_request(self, user_context: UserContext, headers: dict[str, str],
                              outgoing: Outgoing, ctx: McpContext) -> dict[str, str]:
        extras = _pick(self.prepare_extras, outgoing=outgoing, ctx=ctx)
        with _hook("prepare_request"):
            result = await self.handler.prepare_request(user_context, headers, **extras)
        if not isinstance(result, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in result.items()):
            raise PluginError(f"prepare_request returned {type(result).__name__}, not the "
                              "headers (a dict of strings)")
        for name, value in result.items():
            if problem := header_problem(name, value):
                raise PluginError(f"prepare_request returned a header that cannot be sent: "
                                  f"{problem}")
        return result


def _pick(names: tuple[str, ...], **available: Any) -> dict[str, Any]:
    return {name: available[name] for name in names}


async def _allow_everything(identity: Identity, action: str, resource: dict[str, Any],
                            request: Request) -> Decision:
    return Decision(True, "nobody", "this pattern has no authorize(): every request is served")


@dataclass(frozen=True)
class ServicePlugin:
    """The service-side half: `get_identity` (and the optional `authorize`, `visible`)."""

    identity_fn: Callable[..., Any]
    authorize_fn: Callable[..., Any]
    authorize_takes_request: bool
    visible_fn: Callable[..., Any] | None = None

    @classmethod
    def of(cls, module: Any, file: str) -> ServicePlugin:
        get_identity = getattr(module, "get_identity", None)
        if not callable(get_identity):
            raise PluginError(f"{file} must define get_identity(request)")
        _extras(get_identity, ("request",), f"{file}: get_identity", ())
        visible = getattr(module, "visible", None)
        if visible is not None:
            _extras(visible, ("identity", "action", "items", "request"), f"{file}: visible", ())
        authorize = getattr(module, "authorize", None)
        if authorize is None:
            return cls(get_identity, _allow_everything, True, visible)
        if not inspect.iscoroutinefunction(authorize):
            raise PluginError(f"{file}: authorize must be an `async def` function")
        params = inspect.signature(authorize).parameters.values()
        takes_request = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                            for p in params) >= 4
        fixed = ("identity", "action", "resource", "request")[:4 if takes_request else 3]
        _extras(authorize, fixed, f"{file}: authorize", ())
        return cls(get_identity, authorize, takes_request, visible)

    async def get_identity(self, request: Request) -> Identity:
        with _hook("get_identity"):
            identity = await self.identity_fn(request)
        if not isinstance(identity, Identity):
            raise PluginError(f"get_identity returned {type(identity).__name__}, not an "
                              "Identity")
        return identity

    async def authorize(self, identity: Identity, action: str, resource: dict[str, Any],
                        request: Request) -> Decision:
        args = (identity, action, resource, request)
        with _hook("authorize"):
            decision = await self.authorize_fn(*(args if self.authorize_takes_request
                                                 else args[:3]))
        if not isinstance(decision, Decision):
            raise PluginError(f"authorize returned {type(decision).__name__}, not a Decision")
        return decision

    async def visible(self, identity: Identity, action: str, items: list[dict[str, Any]],
                      request: Request) -> Filter:
        """Which of `items` (each with an `id`) the caller may see; every one when the
        pattern has no `visible` (nobody filtered)."""
        ids = frozenset(str(item["id"]) for item in items)
        if self.visible_fn is None:
            return Filter(ids, "nobody", f"no retrieval filter: all {len(ids)} indexed "
                          "chunks are ranked, whoever asks (the index was built from every "
                          "document)")
        with _hook("visible"):
            decision = await self.visible_fn(identity, action, items, request)
        if not isinstance(decision, Filter):
            raise PluginError(f"visible returned {type(decision).__name__}, not a Filter")
        return Filter(decision.visible & ids, decision.decided_by, decision.reason,
                      decision.policy_input)
