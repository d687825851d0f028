"""The one place a tool service authenticates, authorizes and audits a request.

Authentication is a FastAPI dependency, `Depends(guard.caller(action))`: it runs the
pattern's `get_identity` before FastAPI reads any body, so a request without a valid
credential gets 401 whatever it carries. Authorization runs in the handler, where the
resource is known: `await guard.authorize(request, identity, action, resource)` (a pattern
without `authorize` serves every request: nobody decided). Retrieval asks which of many
items the caller may see, `await guard.visible(...)`, and audits what it served with
`guard.served(...)`. They write the audit record and
turn failures into the one prebuilt 401 (with WWW-Authenticate), the one 403 and the one
503. Fail closed: anything the pattern raises that is not a clean decision becomes a 503 and
a DENY in the audit log.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException
from starlette.requests import Request

from runtime.identity import AuthError, DecidedBy, DependencyError, Filter, Identity
from runtime.pattern_api import ServiceContext
from runtime.plugin import PluginError, ServicePlugin
from runtime.services.world import as_json
from runtime.wire import WireTap, current_trace
from stack.errors import ExplorerError


@dataclass(frozen=True)
class AuditRecord:
    trace_id: str
    service: str
    action: str
    allowed: bool
    status: int
    user: str | None
    actor: str | None
    method: str
    verified: bool
    audience: tuple[str, ...]
    decided_by: DecidedBy
    reason: str
    resource: dict[str, Any]
    prior_actors: tuple[str, ...] = ()   # the rest of a delegation chain (informational)
    scope: tuple[str, ...] = ()          # what the credential granted (`scope`), if anything

    @property
    def attributed_to(self) -> str:
        if self.user is None:
            if self.status == 401:
                return "nobody (credential rejected)"
            return f"the {self.actor}" if self.actor else "anonymous"
        if not self.actor:
            return self.user
        chain = "".join(f", delegated by {p}" for p in self.prior_actors)
        return f"{self.user} (actor {self.actor}{chain})"


class GuardError(ExplorerError, HTTPException):
    """A refusal the service answers with (401, 403, 503...), already audited."""


class Guard:
    def __init__(self, plugin: ServicePlugin, ctx: ServiceContext, tap: WireTap) -> None:
        self.plugin, self.ctx, self.tap = plugin, ctx, tap

    def caller(self, action: str) -> Callable[[Request], Awaitable[Identity]]:
        """A FastAPI dependency that authenticates a request for `action` (audited as such)."""
        async def authenticate(request: Request) -> Identity:
            try:
                return await self.plugin.get_identity(request)
            except Exception as exc:  # noqa: BLE001 - _refuse maps each kind, fails closed
                raise self._refuse(exc, None, action, {}) from None

        return authenticate

    async def authorize(self, request: Request, identity: Identity, action: str,
                        resource: dict[str, Any]) -> None:
        """The pattern's decision on `action` over `resource`: returns when allowed."""
        try:
            decision = await self.plugin.authorize(identity, action, resource, request)
        except Exception as exc:  # noqa: BLE001 - _refuse maps each kind, fails closed
            raise self._refuse(exc, identity, action, resource) from None
        if not decision.allow:
            self._audit(identity, action, resource, 403, decision.decided_by, decision.reason)
            raise GuardError(
                403,
                detail={"error": "forbidden", "reason": decision.reason,
                        "decided_by": decision.decided_by},
            )
        self._audit(identity, action, resource, 200, decision.decided_by, decision.reason)

    async def visible(self, request: Request, identity: Identity, action: str,
                      items: list[dict[str, Any]]) -> Filter:
        """Which of `items` the caller may see, as the pattern decides (one decision for the
        whole set); a failure is the one 503 (fail closed), audited."""
        try:
            return await self.plugin.visible(identity, action, items, request)
        except Exception as exc:  # noqa: BLE001 - _refuse maps each kind, fails closed
            raise self._refuse(exc, identity, action, {"type": "items"}) from None

    def served(self, identity: Identity, action: str, decision: Filter,
               resource: dict[str, Any]) -> None:
        """Audit what a retrieval served: who filtered (or that nobody did), and what."""
        self._audit(identity, action, resource, 200, decision.decided_by, decision.reason)

    def _refuse(self, exc: Exception, identity: Identity | None, action: str,
                resource: dict[str, Any]) -> GuardError:
        """The 401 or 503 (audited) for what a pattern's code raised."""
        if isinstance(exc, AuthError):
            self._audit(identity, action, resource, 401, exc.decided_by or "service",
                        exc.reason)
            return GuardError(
                401,
                detail={"error": exc.error or "unauthorized", "reason": exc.reason},
                headers={"WWW-Authenticate": exc.www_authenticate},
            )
        decided_by: DecidedBy = "service"
        if isinstance(exc, DependencyError):
            reason, decided_by = exc.reason, exc.decided_by
        elif isinstance(exc, PluginError):
            reason = f"the pattern's service_auth broke the contract: {exc}"
        else:  # a broken pattern plugin: fail closed, say what broke
            reason = f"the pattern's service_auth failed: {type(exc).__name__}: {exc}"
        self._audit(identity, action, resource, 503, decided_by, reason)
        return GuardError(503, detail={"error": "unavailable", "reason": reason})

    def _audit(
        self, identity: Identity | None, action: str, resource: dict[str, Any], status: int,
        decided_by: DecidedBy, reason: str,
    ) -> None:
        record = AuditRecord(
            trace_id=current_trace(),
            service=self.ctx.service,
            action=action,
            allowed=status < 400,
            status=status,
            user=identity.user_id if identity else None,
            actor=identity.actor if identity else None,
            method=identity.method if identity else "none",
            verified=identity.verified if identity else False,
            audience=identity.audience if identity else (),
            decided_by=decided_by,
            reason=reason,
            resource=resource,
            prior_actors=identity.prior_actors if identity else (),
            scope=_scope_of(identity),
        )
        self.ctx.world().audit.append(record)
        verdict = "ALLOW" if record.allowed else "DENY"
        self.tap.record(
            "audit",
            self.ctx.service,
            "audit log",
            f"{verdict} {action} by {record.attributed_to} ({decided_by})",
            status=status,
            data={"audit": as_json(record), "identity": _identity_view(identity)},
        )


def _scope_of(identity: Identity | None) -> tuple[str, ...]:
    scope = identity.claims.get("scope") if identity else None
    return tuple(scope.split()) if isinstance(scope, str) else ()


def _identity_view(identity: Identity | None) -> dict[str, Any] | None:
    """What the service extracted, for the wire view (the raw token is on the service hop)."""
    if identity is None:
        return None
    view: dict[str, Any] = {
        "method": identity.method, "user_id": identity.user_id, "actor": identity.actor,
        "verified": identity.verified, "detail": identity.detail, "claims": identity.claims}
    if identity.prior_actors:
        view["prior_actors"] = list(identity.prior_actors)
    return view
