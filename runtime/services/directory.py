"""The directory service: users, roles and account state (audience `directory-service`)."""

# No `from __future__ import annotations`: FastAPI evaluates the Annotated[..., Depends(...)]
# parameters below, and they refer to this module's local `guard`.

from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel

from runtime.identity import Identity
from runtime.services.app import read_body, service_app
from runtime.services.guard import Guard
from runtime.services.world import Role, User, as_json


class RoleIn(BaseModel):
    role: Role


def _public(user: User) -> dict[str, object]:
    return as_json(user)


def build_directory_app(guard: Guard) -> FastAPI:
    app = service_app("Acme directory service", guard.ctx)
    world = guard.ctx.world

    def target(username: str) -> User:
        user = world().users.get(username)
        if user is None:
            raise HTTPException(404, detail={"error": "not_found", "reason": f"no user {username}"})
        return user

    @app.get("/users")
    async def list_users(
        request: Request, identity: Annotated[Identity, Depends(guard.caller("list_users"))]
    ) -> dict[str, object]:
        await guard.authorize(request, identity, "list_users", {"type": "user"})
        return {"users": [_public(u) for u in world().users.values()]}

    @app.post("/users/{username}/role")
    async def set_role(
        username: str, request: Request,
        identity: Annotated[Identity, Depends(guard.caller("set_role"))],
    ) -> dict[str, object]:
        body = await read_body(request, RoleIn)     # the new role is part of the resource
        resource = {"type": "user", "username": username, "role": body.role}
        await guard.authorize(request, identity, "set_role", resource)
        user = target(username)
        user.role = body.role
        return {"user": _public(user)}

    @app.post("/users/{username}/disable")
    async def disable_user(
        username: str, request: Request,
        identity: Annotated[Identity, Depends(guard.caller("disable_user"))],
    ) -> dict[str, object]:
        await guard.authorize(request, identity, "disable_user",
                              {"type": "user", "username": username})
        user = target(username)
        user.disabled = True
        return {"user": _public(user)}

    return app
