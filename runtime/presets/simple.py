"""The trivial presets: no authentication, allow everything, and a service-side RBAC table."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from runtime.identity import ANONYMOUS, DecidedBy, Decision, Identity
from runtime.pattern_api import ServiceContext

READ_ACTIONS = frozenset({"read_expenses", "read_documents", "read_notes"})
WRITER_ACTIONS = frozenset({"submit_expense", "post_note", "list_users"})
ADMIN_ACTIONS = frozenset({"approve_expense", "set_role", "disable_user"})


async def anonymous(request: Request, ctx: ServiceContext) -> Identity:
    """Nothing is presented and nothing is checked."""
    return ANONYMOUS


async def allow_all(
    identity: Identity, action: str, resource: dict[str, Any], ctx: ServiceContext
) -> Decision:
    decided_by: DecidedBy = "nobody" if identity.method == "anonymous" else "service"
    return Decision(True, decided_by, "no authorization: every caller may do everything")


async def service_rbac(
    identity: Identity, action: str, resource: dict[str, Any], ctx: ServiceContext
) -> Decision:
    """Role-based checks written into the service: same table as stack/opa/rbac.rego."""
    role = identity.role
    if action in READ_ACTIONS:
        return Decision(True, "service", f"{action}: any role may read")
    if action in WRITER_ACTIONS:
        allowed = role in ("admin", "user")
        return Decision(allowed, "service", f"{action} needs admin or user; "
                        f"{identity.user_id} has {role}")
    if action in ADMIN_ACTIONS:
        return Decision(role == "admin", "service",
                        f"{action} needs admin; {identity.user_id} has {role}")
    return Decision(False, "service", f"unknown action {action}")
